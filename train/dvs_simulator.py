"""A vectorised DVS pixel model in the manner of ESIM / v2e, fed with rendered intensity frames.

Per pixel i (all pixels at once, numpy), between two rendered frames at times t0 < t1 (us):

- The pixel remembers the log intensity `m_i` at its last event (the "memory").
- Log intensity is taken as L = log(I + eps) and assumed to change linearly from L0 to L1 over (t0, t1].
- With per-pixel contrast thresholds theta_on_i, theta_off_i (nominal values with Gaussian mismatch,
  sigma `threshold_sigma`, clipped at `min_threshold`), the k-th ON crossing is at level
  m_i + k theta_on_i (k = 1..n, n = floor((L1 - m_i) / theta_on_i)), OFF alike below. Each crossing gets the
  time where the linear ramp passes its level (ESIM's interpolation); crossings caused only by leak (L not
  moving towards them) are put at t1.
- Refractory period: a pixel emits no event sooner than `refractory_us` after its previous one; the events
  kept are the earliest admissible crossing and then every s-th crossing (s = the smallest stride that
  respects the period), and the memory moves to the level of the last event emitted.
- Leak (v2e's "leak events"): each memory drifts down by theta_on_i * leak_rate_i per second (rate with
  mismatch; a random initial phase), so a static pixel emits ON events at about `leak_hz`.
- Shot noise ("background activity"): Poisson events at `shot_noise_hz` per pixel, random polarity, uniform
  time in the interval; they do not touch the memory.

Times are integers in us, in (t0, t1]: a crossing at real time tau is stamped ceil(tau) (at least t0 + 1), and
refractory is checked against the stamped previous time, so consecutive events of one pixel are >=
`refractory_us` apart (shot-noise events excepted).
Events of one call come out sorted by t (then by pixel index); polarity 1 = ON, 0 = OFF.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ucfdvs.events import EVENT_DTYPE, Geometry


@dataclass(frozen=True)
class DVSConfig:
    """Pixel parameters (contrast thresholds in natural-log units, times in us, rates in Hz per pixel).

    Defaults follow v2e's "clean"-to-"noisy" range: thresholds 0.2 +- 0.03, 0.5 ms refractory,
    0.1 Hz leak and 0.05 Hz shot noise per pixel.
    """

    threshold_on: float = 0.2
    threshold_off: float = 0.2
    threshold_sigma: float = 0.03
    min_threshold: float = 0.01
    refractory_us: int = 500
    leak_hz: float = 0.1
    leak_sigma: float = 0.1
    shot_noise_hz: float = 0.05
    eps: float = 1e-3

    def __post_init__(self) -> None:
        if min(self.threshold_on, self.threshold_off, self.min_threshold) <= 0:
            raise ValueError("contrast thresholds must be > 0")
        if self.refractory_us < 0 or self.leak_hz < 0 or self.shot_noise_hz < 0 or self.threshold_sigma < 0:
            raise ValueError("refractory_us, leak_hz, shot_noise_hz and threshold_sigma must be >= 0")


class DVSSimulator:
    """The state of every pixel of one sensor; call `reset` with the first frame, then `step` per frame."""

    def __init__(self, geometry: Geometry, config: DVSConfig, rng: np.random.Generator) -> None:
        self.geometry = Geometry(int(geometry[0]), int(geometry[1]))
        self.config = config
        self.rng = rng
        n = self.geometry.width * self.geometry.height
        self.theta_on = np.maximum(rng.normal(config.threshold_on, config.threshold_sigma, n), config.min_threshold)
        self.theta_off = np.maximum(rng.normal(config.threshold_off, config.threshold_sigma, n), config.min_threshold)
        self.leak_per_us = self.theta_on * config.leak_hz * np.maximum(rng.normal(1.0, config.leak_sigma, n), 0.0) * 1e-6
        self.memory = np.zeros(n)
        self.previous = np.zeros(n)
        self.last_t = np.full(n, np.iinfo(np.int64).min // 2, dtype=np.int64)
        self.t = 0

    def log_intensity(self, frame: np.ndarray) -> np.ndarray:
        """Flattened log(I + eps) of a linear intensity frame [H, W] (float)."""
        height, width = self.geometry.height, self.geometry.width
        if frame.shape != (height, width):
            raise ValueError(f"frame shape {frame.shape} differs from the sensor's ({height}, {width})")
        return np.log(np.maximum(frame.reshape(-1).astype(np.float64), 0.0) + self.config.eps)

    def reset(self, frame: np.ndarray, t_us: int, random_phase: bool = True) -> None:
        """Start at intensity `frame` [H, W] at time `t_us`.

        Memories start at the frame's log intensity, offset (if `random_phase`) by U(-1/2, 1/2) thresholds so that
        leak events of different pixels do not come in lockstep.
        """
        log = self.log_intensity(frame)
        self.previous = log
        offset = self.rng.uniform(-0.5, 0.5, log.size) * self.theta_on if random_phase else 0.0
        self.memory = log + offset
        self.last_t[:] = np.iinfo(np.int64).min // 2
        self.t = int(t_us)

    def step(self, frame: np.ndarray, t_us: int) -> np.ndarray:
        """Advance to intensity `frame` [H, W] at time `t_us` (> previous); the events in (t_prev, t_us], sorted."""
        t0, t1 = self.t, int(t_us)
        if t1 <= t0:
            raise ValueError(f"time must increase: {t1} <= {t0}")
        dt = float(t1 - t0)
        new = self.log_intensity(frame)
        old = self.previous
        self.memory -= self.leak_per_us * dt
        diff = new - self.memory
        n_on = np.floor(diff / self.theta_on)
        n_off = np.floor(-diff / self.theta_off)
        count = np.where(n_on > 0, n_on, np.maximum(n_off, 0.0))
        pixels = np.flatnonzero(count > 0)
        signal = self._crossings(pixels, count[pixels], n_on[pixels] > 0, old[pixels], new[pixels], t0, dt)
        noise = self._shot_noise(t0, t1)
        self.previous = new
        self.t = t1
        return _sorted_events(signal, noise, self.geometry.width)

    def _crossings(
        self, pixels: np.ndarray, count: np.ndarray, on: np.ndarray, old: np.ndarray, new: np.ndarray, t0: int, dt: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel index, time (us) and polarity of the events that thresholds and refractory allow."""
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8))
        if pixels.size == 0:
            return empty
        sign = np.where(on, 1.0, -1.0)
        theta = np.where(on, self.theta_on[pixels], self.theta_off[pixels])
        memory = self.memory[pixels]
        ramp = new - old
        towards = ramp * sign > 1e-12
        safe_ramp = np.where(towards, ramp, 1.0)
        # Fraction of the interval at crossing k (k = 0..n-1): f0 + k * g; leak-only crossings sit at the end.
        f0 = np.where(towards, (memory + sign * theta - old) / safe_ramp, 1.0)
        g = np.where(towards, sign * theta / safe_ramp, 0.0)
        time0 = np.maximum(t0 + np.clip(f0, 0.0, 1.0) * dt, t0 + 1.0)
        spacing = np.minimum(g * dt, (t0 + dt - time0) / np.maximum(count - 1, 1))
        earliest = (self.last_t[pixels] + self.config.refractory_us).astype(np.float64)
        refractory = float(self.config.refractory_us)
        with np.errstate(divide="ignore", invalid="ignore"):
            first = np.where(time0 >= earliest, 0.0, np.ceil((earliest - time0) / spacing))
            stride = np.where(spacing >= refractory, 1.0, np.ceil(refractory / spacing))
        first = np.where(np.isfinite(first), first, count)
        stride = np.where(np.isfinite(stride) & (stride >= 1), stride, count + 1)
        emitted = np.where(first < count, 1 + np.floor((count - 1 - first) / stride), 0).astype(np.int64)
        keep = emitted > 0
        last_k = first + (emitted - 1) * stride
        moved = pixels[keep]
        self.memory[moved] = memory[keep] + sign[keep] * (last_k[keep] + 1) * theta[keep]
        total = int(emitted.sum())
        if total == 0:
            return empty
        owner = np.repeat(np.arange(pixels.size), emitted)
        within = np.arange(total) - np.repeat(np.cumsum(emitted) - emitted, emitted)
        k = first[owner] + within * stride[owner]
        times = np.ceil(np.minimum(time0[owner] + k * spacing[owner], float(t0) + dt) - 1e-9).astype(np.int64)
        self.last_t[moved] = times[np.cumsum(emitted)[keep] - 1]
        return pixels[owner].astype(np.int64), times, on[owner].astype(np.uint8)

    def _shot_noise(self, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Background-activity events: pixel index, time (us) in (t0, t1], random polarity."""
        n_pixels = self.geometry.width * self.geometry.height
        count = int(self.rng.poisson(self.config.shot_noise_hz * n_pixels * (t1 - t0) * 1e-6))
        pixels = self.rng.integers(0, n_pixels, count, dtype=np.int64)
        times = self.rng.integers(t0 + 1, t1 + 1, count, dtype=np.int64)
        polarity = self.rng.integers(0, 2, count, dtype=np.uint8)
        return pixels, times, polarity


def _sorted_events(
    signal: tuple[np.ndarray, np.ndarray, np.ndarray], noise: tuple[np.ndarray, np.ndarray, np.ndarray], width: int
) -> np.ndarray:
    """Merge (pixel, t, p) triples into an `EVENT_DTYPE` array sorted by (t, y, p, x), the RAW reader's order."""
    pixels = np.concatenate([signal[0], noise[0]])
    times = np.concatenate([signal[1], noise[1]])
    polarity = np.concatenate([signal[2], noise[2]])
    y, x = np.divmod(pixels, width)
    order = np.lexsort((x, polarity, y, times))
    events = np.empty(order.size, dtype=EVENT_DTYPE)
    events["t"] = times[order]
    events["x"] = x[order]
    events["y"] = y[order]
    events["p"] = polarity[order]
    return events
