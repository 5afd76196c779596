"""Rendered synthetic surveillance scenes: linear intensity frames [F, H, W] for the DVS simulator.

A scene is a static textured background under a global illumination gain, Gaussian blobs (people, vehicles,
objects: position, size and contrast per rendered frame) and radial effects (flashes, fire, an expanding
explosion ring: centre, radius, width and amplitude per frame):

    I[f] = max(background * gain[f] + sum_b amp_b[f] G_b[f] + sum_e amp_e[f] R_e[f], 0.01)

Normal activity with slow structure, in every video:
- a scene activity level A(t) in [0, 1]: piecewise-constant regimes (quiet, ordinary, busy) lasting
  20-90 s each, smoothed over about 3 s; a pool of up to 5 walkers (gait bob, varying speed) of which
  walker k is present while A(t) > k / 5, fading in and out over about a second, so a street fills
  and empties over tens of seconds; up to 2 vehicles whose passes follow the same level;
- joggers: normal fast runners across the frame, a Poisson number (one per 40 s on average), 2-5 s each
  (normal events that look unusual);
- slow illumination drift (period 8-30 s) and short lighting-flicker episodes (one per 15 s).

Anomalies: each anomaly class has a distinct motion signature (see `ANOMALY_SIGNATURES`) that acts inside
its annotated intervals only. An interval [start, stop) is cut into consecutive episodes of 3-8 s and the
signature is played once per episode, so a long interval holds a long activity (a fight that goes on, a
fire that keeps flickering); all of it is multiplied by an envelope E(t) that builds up from 0.2 to 1
over 1-3 s (2-6 snippets), holds, and fades back to 0.2 over 1-4 s before `stop`:

    E(t) = 0.2 + 0.8 * min(smoothstep((t - start) / rise), smoothstep((stop - t) / fade))

(rise and fade shrunk proportionally when the interval is shorter than rise + fade). Positions are in
pixels, speeds scale with the frame width, times in seconds; everything is drawn from the generator
passed in, so a scene is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ucfdvs.events import Geometry
from ucfdvs.train.ucf_classes import ANOMALY_CLASSES

ANOMALY_SIGNATURES: dict[str, str] = {
    "Abuse": "a large blob striking a small, shaking one at ~1.5 Hz",
    "Arrest": "one blob chasing another fast, catching it, both then walking slowly together",
    "Arson": "a growing bright region flickering at random, a blob leaving",
    "Assault": "an attacker lunging at ~2.5 Hz at a victim who then falls (flattens and drops)",
    "Burglary": "a dark door patch opening, a blob moving in stop-and-go steps into it",
    "Explosion": "a global flash, a fast expanding bright ring and a slowly growing dark smoke blob",
    "Fighting": "two blobs close together, their distance oscillating at ~3 Hz with jitter",
    "RoadAccidents": "two fast elongated blobs from both sides meeting, a flash, both stopping",
    "Robbery": "a blob approaching another, a short struggle, then running away fast",
    "Shooting": "repeated small muzzle flashes and bystanders suddenly dispersing fast",
    "Shoplifting": "a lingering blob with a small fast hand motion; a small object disappears",
    "Stealing": "a blob reaching a static object, then both moving away together",
    "Vandalism": "repeated strikes at a fixed object whose contrast drops with each strike, debris flashes",
}


@dataclass
class Scene:
    """Everything needed to render one video: per-frame arrays have length F (rendered frames)."""

    geometry: Geometry
    times: np.ndarray  # [F] seconds
    background: np.ndarray  # [H, W] linear intensity
    gain: np.ndarray  # [F]
    blobs: list[np.ndarray] = field(default_factory=list)  # each [5, F]: cx, cy, sx, sy, amp
    effects: list[tuple[float, float, np.ndarray]] = field(default_factory=list)  # (cx, cy, [3, F]: radius, width, amp)

    def add_blob(self, cx: np.ndarray, cy: np.ndarray, sx: np.ndarray | float, sy: np.ndarray | float,
                 amp: np.ndarray | float) -> None:
        """Add a Gaussian blob; arguments are per-frame arrays [F] or constants (pixels, linear contrast)."""
        n = self.times.size
        self.blobs.append(np.stack([np.broadcast_to(np.asarray(v, np.float64), (n,)) for v in (cx, cy, sx, sy, amp)]))

    def add_effect(self, cx: float, cy: float, radius: np.ndarray | float, width: np.ndarray | float,
                   amp: np.ndarray | float) -> None:
        """Add a radial effect exp(-(r - radius)^2 / (2 width^2)) at (cx, cy) in pixels."""
        n = self.times.size
        self.effects.append((float(cx), float(cy), np.stack(
            [np.broadcast_to(np.asarray(v, np.float64), (n,)) for v in (radius, width, amp)])))

    def render(self, start: int, stop: int) -> np.ndarray:
        """Linear intensity frames [stop - start, H, W] (float64) of rendered frames start..stop-1."""
        width, height = self.geometry
        xs = np.arange(width, dtype=np.float64)
        ys = np.arange(height, dtype=np.float64)
        frames = self.gain[start:stop, None, None] * self.background[None]
        if self.blobs:
            b = np.stack(self.blobs)[:, :, start:stop]  # [B, 5, C]
            active = np.any(b[:, 4] != 0, axis=1)
            b = b[active]
            if b.size:
                gx = np.exp(-0.5 * ((xs[None, None] - b[:, 0, :, None]) / b[:, 2, :, None]) ** 2)
                gy = np.exp(-0.5 * ((ys[None, None] - b[:, 1, :, None]) / b[:, 3, :, None]) ** 2)
                frames = frames + np.einsum("bc,bcy,bcx->cyx", b[:, 4], gy, gx, optimize=True)
        for cx, cy, params in self.effects:
            chunk = params[:, start:stop]
            live = np.flatnonzero(chunk[2] != 0)
            if live.size == 0:
                continue
            r = np.hypot(xs[None, :] - cx, ys[:, None] - cy)
            radius, sigma, amp = (chunk[i, live, None, None] for i in range(3))
            frames[live] += amp * np.exp(-0.5 * ((r[None] - radius) / sigma) ** 2)
        return np.maximum(frames, 0.01)


def _smooth_texture(geometry: Geometry, rng: np.random.Generator) -> np.ndarray:
    """A static background [H, W] in [0.2, 0.8]: a few random low-frequency gratings."""
    width, height = geometry
    xs, ys = np.meshgrid(np.arange(width) / width, np.arange(height) / height)
    image = np.zeros((height, width))
    for _ in range(6):
        kx, ky = rng.uniform(-6, 6, 2)
        image += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * (kx * xs + ky * ys) + rng.uniform(0, 2 * np.pi))
    image = (image - image.min()) / max(np.ptp(image), 1e-9)
    return 0.2 + 0.6 * image


def _normal_gain(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Illumination gain [F]: slow drift plus flicker episodes (~one per 15 s, 0.4-1 s of 6-12 Hz, +-15 %)."""
    gain = 1.0 + 0.05 * np.sin(2 * np.pi * times / rng.uniform(8, 30) + rng.uniform(0, 2 * np.pi))
    duration = float(times[-1]) if times.size else 0.0
    for onset in rng.uniform(0, max(duration, 1e-9), rng.poisson(duration / 15.0)):
        length, freq = rng.uniform(0.4, 1.0), rng.uniform(6, 12)
        inside = (times >= onset) & (times < onset + length)
        gain[inside] *= 1 + 0.15 * np.sign(np.sin(2 * np.pi * freq * (times[inside] - onset)))
    return gain


ENVELOPE_FLOOR = 0.2
MAX_WALKERS = 5


def smoothstep(x: np.ndarray) -> np.ndarray:
    """3x^2 - 2x^3 on [0, 1], clipped outside."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def activity_level(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scene activity A(t) [F] in [0, 1]: regimes of 20-90 s (levels 0.15-1), smoothed over about 3 s."""
    duration = float(times[-1]) if times.size else 0.0
    edges, levels = [0.0], [rng.uniform(0.15, 1.0)]
    while edges[-1] <= duration:
        edges.append(edges[-1] + rng.uniform(20.0, 90.0))
        levels.append(rng.uniform(0.15, 1.0))
    level = np.asarray(levels)[np.searchsorted(edges, times, side="right") - 1]
    width = max(1, int(round(3.0 / max(_dt(times), 1e-9))))
    kernel = np.ones(width) / width
    padded = np.concatenate([np.full(width, level[0]), level, np.full(width, level[-1])])
    return np.convolve(padded, kernel, mode="same")[width:-width]


def presence(level: np.ndarray, rank: float, times: np.ndarray) -> np.ndarray:
    """Amplitude factor [F] of the actor of rank `rank` in (0, 1): 1 while level > rank, ramping over ~1 s."""
    return smoothstep((level - rank) / 0.1) if times.size > 1 else np.ones(times.size)


def envelope(times: np.ndarray, start: float, stop: float, rng: np.random.Generator) -> np.ndarray:
    """An anomaly's build-up and fade [F] (module docstring): 0.2 -> 1 over 1-3 s, 1 -> 0.2 over 1-4 s."""
    rise, fade = rng.uniform(1.0, 3.0), rng.uniform(1.0, 4.0)
    scale = min(1.0, (stop - start) / (rise + fade))
    up = smoothstep((times - start) / (rise * scale))
    down = smoothstep((stop - times) / (fade * scale))
    return ENVELOPE_FLOOR + (1.0 - ENVELOPE_FLOOR) * np.minimum(up, down)


def episodes(start: float, stop: float, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Consecutive [a, b) of 3-8 s covering [start, stop); a remainder under 1.5 s joins the last one."""
    bounds = [start]
    while stop - bounds[-1] > 8.0:
        bounds.append(bounds[-1] + rng.uniform(3.0, 8.0))
    if len(bounds) > 1 and stop - bounds[-1] < 1.5:
        bounds.pop()
    return list(zip(bounds, bounds[1:] + [stop]))


def _add_walkers(scene: Scene, rng: np.random.Generator, level: np.ndarray) -> None:
    """People crossing the frame (wrapping round off-screen), with varying speed and a vertical gait bob;
    walker k of `MAX_WALKERS` is present while the activity level exceeds k / MAX_WALKERS."""
    width, height = scene.geometry
    t = scene.times
    for rank in range(MAX_WALKERS):
        speed = rng.uniform(0.05, 0.12) * width * rng.choice([-1, 1])
        speed_t = speed * (1 + 0.3 * np.sin(2 * np.pi * t / rng.uniform(3, 8) + rng.uniform(0, 6.3)))
        span = width + 0.2 * width
        cx = np.mod(rng.uniform(0, span) + np.cumsum(speed_t) * _dt(t), span) - 0.1 * width
        cy = rng.uniform(0.35, 0.85) * height + 0.01 * height * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t)
        amp = rng.choice([-1, 1]) * rng.uniform(0.25, 0.5)
        scene.add_blob(cx, cy, 0.018 * width, 0.08 * height, amp * presence(level, rank / MAX_WALKERS, t))


def _add_vehicles(scene: Scene, rng: np.random.Generator, level: np.ndarray) -> None:
    """Cars passing along a road band, fast and elongated, with random gaps between passes; the first drives
    while the activity level exceeds 0.3, the second while it exceeds 0.7."""
    width, height = scene.geometry
    t = scene.times
    for rank in (0.3, 0.7):
        speed = rng.uniform(0.25, 0.45) * width * rng.choice([-1, 1])
        span = width * rng.uniform(2.0, 4.0)
        cx = np.mod(rng.uniform(0, span) + speed * t, span) - 0.15 * width
        cx = cx if speed > 0 else width - cx
        scene.add_blob(cx, rng.uniform(0.15, 0.3) * height, 0.05 * width, 0.05 * height,
                       rng.choice([-1, 1]) * rng.uniform(0.3, 0.6) * presence(level, rank, t))


def _add_joggers(scene: Scene, rng: np.random.Generator) -> None:
    """Normal fast runners: Poisson count (one per 40 s), each crossing the frame in 2-5 s."""
    width, height = scene.geometry
    t = scene.times
    duration = float(t[-1]) if t.size else 0.0
    for onset in rng.uniform(0, max(duration, 1e-9), rng.poisson(duration / 40.0)):
        crossing = rng.uniform(2.0, 5.0)
        inside, u = _window(t, onset, onset + crossing)
        direction = rng.choice([-1, 1])
        cx = 0.5 * width + direction * (u / crossing - 0.5) * 1.2 * width
        cy = rng.uniform(0.4, 0.85) * height + 0.015 * height * np.sin(2 * np.pi * 3.0 * u)
        scene.add_blob(cx, cy, 0.018 * width, 0.08 * height, _on(inside, rng.choice([-1, 1]) * rng.uniform(0.3, 0.5)))


def _dt(times: np.ndarray) -> float:
    return float(times[1] - times[0]) if times.size > 1 else 0.0


def _window(times: np.ndarray, start: float, stop: float) -> tuple[np.ndarray, np.ndarray]:
    """Mask of frames inside [start, stop) and the local time u = t - start (s)."""
    return (times >= start) & (times < stop), times - start


def _on(mask: np.ndarray, values: np.ndarray | float) -> np.ndarray:
    """Per-frame amplitude that is `values` inside the interval and 0 outside."""
    return np.where(mask, values, 0.0)


def _place(rng: np.random.Generator, geometry: Geometry) -> tuple[float, float]:
    width, height = geometry
    return rng.uniform(0.25, 0.75) * width, rng.uniform(0.4, 0.75) * height


def _person(geometry: Geometry, scale: float = 1.0) -> tuple[float, float]:
    return 0.02 * geometry.width * scale, 0.085 * geometry.height * scale


Signature = Callable[[Scene, float, float, np.random.Generator], None]


def _fighting(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    cx, cy = _place(rng, scene.geometry)
    sx, sy = _person(scene.geometry)
    gap = 2.5 * sx * (1 + 0.5 * np.sin(2 * np.pi * rng.uniform(2.5, 3.5) * u)) + rng.normal(0, 0.3 * sx, u.size)
    jitter = 0.04 * scene.geometry.height * np.sin(2 * np.pi * 2.1 * u)
    scene.add_blob(cx - gap / 2, cy + jitter, sx, sy, _on(mask, 0.5))
    scene.add_blob(cx + gap / 2, cy - jitter, sx, sy, _on(mask, -0.45))


def _assault(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    cx, cy = _place(rng, scene.geometry)
    sx, sy = _person(scene.geometry)
    lunge = 3 * sx - 1.8 * sx * np.maximum(np.sin(2 * np.pi * 2.5 * u), 0)
    scene.add_blob(cx - lunge, cy, sx, sy, _on(mask, 0.5))
    fallen = np.clip((u - 0.5 * (stop - start)) / 0.4, 0, 1)
    scene.add_blob(cx, cy + 0.6 * sy * fallen, sx * (1 + 1.5 * fallen), sy * (1 - 0.6 * fallen), _on(mask, -0.45))


def _abuse(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    cx, cy = _place(rng, scene.geometry)
    sx, sy = _person(scene.geometry, 1.2)
    strike = 2.5 * sx - 1.2 * sx * np.maximum(np.sin(2 * np.pi * 1.5 * u), 0) ** 2
    scene.add_blob(cx - strike, cy - 0.1 * sy, sx, sy, _on(mask, 0.5))
    shake = 0.3 * sx * np.sin(2 * np.pi * 7 * u) * np.maximum(np.sin(2 * np.pi * 1.5 * u), 0)
    scene.add_blob(cx + shake, cy + 0.2 * sy, 0.6 * sx, 0.6 * sy, _on(mask, -0.4))


def _explosion(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    cx, cy = _place(rng, scene.geometry)
    width = scene.geometry.width
    scene.gain += _on(mask, 1.2 * np.exp(-u / 0.25))
    scene.add_effect(cx, cy, 0.6 * width * u, 0.02 * width + 0.05 * width * u, _on(mask & (u < 1.5), 1.5 * np.exp(-u / 0.6)))
    smoke = np.clip(u / 3, 0, 1)
    scene.add_blob(cx, cy - 0.1 * scene.geometry.height * smoke, 0.03 * width + 0.12 * width * smoke,
                   0.05 * width + 0.08 * width * smoke, _on(mask, -0.35 * smoke))


def _road_accident(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    width, height = scene.geometry
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.45, 0.7) * height
    impact = min(1.2, 0.4 * (stop - start))
    travel = 0.6 * width * np.maximum(impact - u, 0)
    scene.add_blob(cx - 0.05 * width - travel, cy, 0.05 * width, 0.045 * height, _on(mask, 0.55))
    scene.add_blob(cx + 0.05 * width + travel, cy + 0.02 * height, 0.05 * width, 0.045 * height, _on(mask, -0.5))
    after = u - impact
    scene.add_effect(cx, cy, 0.0, 0.04 * width, _on(mask & (after >= 0) & (after < 0.3), 1.0))


def _robbery(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    cx, cy = _place(rng, scene.geometry)
    sx, sy = _person(scene.geometry)
    duration = stop - start
    approach = np.clip(1 - u / (0.3 * duration), 0, 1)
    flee = np.clip(u - 0.55 * duration, 0, None)
    struggle = ((u > 0.3 * duration) & (u < 0.55 * duration)) * 0.5 * sx * np.sin(2 * np.pi * 4 * u)
    direction = rng.choice([-1, 1])
    robber = cx - direction * (2 * sx + 0.3 * scene.geometry.width * approach) + direction * 0.5 * scene.geometry.width * flee + struggle
    scene.add_blob(robber, cy, sx, sy, _on(mask, 0.5))
    scene.add_blob(cx + 0.3 * struggle, cy, sx, sy, _on(mask, -0.45))


def _shooting(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    width, height = scene.geometry
    cx, cy = _place(rng, scene.geometry)
    shots = np.sort(rng.uniform(0.1, min(1.5, stop - start), rng.integers(3, 7)))
    flash = np.zeros(u.size)
    for shot in shots:
        flash += (u >= shot) & (u < shot + 0.035)
    scene.add_effect(cx, cy, 0.0, 0.015 * width, _on(mask, 2.0 * np.minimum(flash, 1)))
    sx, sy = _person(scene.geometry)
    run = np.clip(u - shots[0], 0, None)
    for angle in rng.uniform(0, 2 * np.pi, rng.integers(3, 5)):
        r0 = rng.uniform(0.08, 0.15) * width
        radius = r0 + 0.5 * width * run
        scene.add_blob(cx + radius * np.cos(angle), cy + 0.3 * radius * np.sin(angle), sx, sy,
                       _on(mask, rng.choice([-1, 1]) * 0.45))


def _arrest(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    width = scene.geometry.width
    _, cy = _place(rng, scene.geometry)
    sx, sy = _person(scene.geometry)
    direction = rng.choice([-1, 1])
    catch = 0.4 * (stop - start)
    x0 = 0.5 * width - direction * 0.3 * width
    target = x0 + direction * np.where(u < catch, 0.35 * width * u, 0.35 * width * catch + 0.03 * width * (u - catch))
    gap = 0.25 * width * np.clip(1 - u / catch, 0, 1) + 1.5 * sx
    scene.add_blob(target, cy, sx, sy, _on(mask, -0.45))
    scene.add_blob(target - direction * gap, cy, 1.1 * sx, sy, _on(mask, 0.5))


def _arson(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    width = scene.geometry.width
    cx, cy = _place(rng, scene.geometry)
    grow = np.clip(u / 2.5, 0.1, 1)
    flicker = rng.uniform(0.4, 1.6, u.size)
    scene.add_effect(cx, cy, 0.0, 0.02 * width + 0.06 * width * grow, _on(mask, 0.9 * grow * flicker))
    sx, sy = _person(scene.geometry)
    scene.add_blob(cx + 0.3 * width * np.clip(u - 1.0, 0, None), cy, sx, sy, _on(mask & (u < 4), 0.4))


def _burglary(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    width, height = scene.geometry
    door_x, door_y = rng.uniform(0.2, 0.8) * width, 0.5 * height
    opening = np.clip((u - 0.3 * (stop - start)) / 0.8, 0, 1)
    scene.add_blob(door_x, door_y, 0.005 * width + 0.03 * width * opening, 0.15 * height, _on(mask, -0.45 * opening))
    sx, sy = _person(scene.geometry)
    steps = np.floor(u / 0.6) + np.clip(np.mod(u, 0.6) / 0.3, 0, 1)
    side = rng.choice([-1, 1])
    px = door_x + side * np.maximum(0.25 * width - 0.04 * width * steps, 0)
    scene.add_blob(px, door_y + 0.02 * height, sx, sy, _on(mask, 0.45 * (1 - 0.8 * (px == door_x))))


def _shoplifting(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    cx, cy = _place(rng, scene.geometry)
    sx, sy = _person(scene.geometry)
    scene.add_blob(cx + 0.2 * sx * np.sin(2 * np.pi * 0.3 * u), cy, sx, sy, _on(mask, 0.4))
    bursts = (np.mod(u, 1.5) < 0.5).astype(np.float64)
    hand = 1.3 * sx + 0.6 * sx * np.sin(2 * np.pi * 4 * u) * bursts
    scene.add_blob(cx + hand, cy - 0.1 * sy, 0.4 * sx, 0.2 * sy, _on(mask, 0.5))
    gone = u > 0.6 * (stop - start)
    scene.add_blob(cx + 2.2 * sx, cy - 0.1 * sy, 0.4 * sx, 0.25 * sy, _on(mask & ~gone, -0.5))


def _stealing(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    width = scene.geometry.width
    ox, oy = _place(rng, scene.geometry)
    sx, sy = _person(scene.geometry)
    reach = 0.4 * (stop - start)
    direction = rng.choice([-1, 1])
    arrive = ox - direction * 0.3 * width * np.clip(1 - u / reach, 0, 1)
    leave = direction * 0.12 * width * np.clip(u - reach - 0.5, 0, None)
    scene.add_blob(arrive + leave - direction * sx, oy, sx, sy, _on(mask, 0.45))
    scene.add_blob(ox + leave, oy + 0.3 * sy, 1.5 * sx, 0.35 * sy, _on(mask, -0.4))


def _vandalism(scene: Scene, start: float, stop: float, rng: np.random.Generator) -> None:
    mask, u = _window(scene.times, start, stop)
    width = scene.geometry.width
    tx, ty = _place(rng, scene.geometry)
    sx, sy = _person(scene.geometry)
    swing = np.maximum(np.sin(2 * np.pi * 2 * u), 0) ** 3
    scene.add_blob(tx - 2.2 * sx + 1.0 * sx * swing, ty, sx, sy, _on(mask, 0.5))
    hits = np.floor(2 * u)
    scene.add_blob(tx, ty, 1.2 * sx, 0.5 * sy, _on(mask, -0.5 * np.exp(-0.15 * hits)))
    debris = (np.mod(u, 0.5) > 0.12) & (np.mod(u, 0.5) < 0.17)
    scene.add_effect(tx, ty, 0.03 * width, 0.01 * width, _on(mask & debris, 0.7))


SIGNATURES: dict[str, Signature] = {
    "Abuse": _abuse,
    "Arrest": _arrest,
    "Arson": _arson,
    "Assault": _assault,
    "Burglary": _burglary,
    "Explosion": _explosion,
    "Fighting": _fighting,
    "RoadAccidents": _road_accident,
    "Robbery": _robbery,
    "Shooting": _shooting,
    "Shoplifting": _shoplifting,
    "Stealing": _stealing,
    "Vandalism": _vandalism,
}
assert tuple(SIGNATURES) == ANOMALY_CLASSES


def build_scene(
    geometry: Geometry,
    duration_s: float,
    fps: float,
    class_name: str,
    intervals_s: list[tuple[float, float]],
    rng: np.random.Generator,
) -> Scene:
    """A scene of `duration_s` seconds rendered at `fps`: normal activity plus `class_name`'s signature in each interval.

    `class_name` is "Normal" or one of `ANOMALY_CLASSES`; `intervals_s` are [start, stop) in seconds.
    """
    n_frames = int(np.floor(duration_s * fps)) + 1
    times = np.arange(n_frames, dtype=np.float64) / fps
    scene = Scene(geometry, times, _smooth_texture(geometry, rng), _normal_gain(times, rng))
    level = activity_level(times, rng)
    _add_walkers(scene, rng, level)
    _add_vehicles(scene, rng, level)
    _add_joggers(scene, rng)
    if class_name != "Normal":
        signature = SIGNATURES[class_name]
        for start, stop in intervals_s:
            shape = envelope(times, start, stop, rng)
            for first, last in episodes(start, stop, rng):
                n_blobs, n_effects, gain = len(scene.blobs), len(scene.effects), scene.gain.copy()
                signature(scene, first, last, rng)
                for blob in scene.blobs[n_blobs:]:
                    blob[4] *= shape
                for _, _, params in scene.effects[n_effects:]:
                    params[2] *= shape
                scene.gain = gain + (scene.gain - gain) * shape
    return scene
