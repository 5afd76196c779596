"""Integrate events into frames `[T, 2, H, W]` (float32 event counts; channel 0 = p 0, channel 1 = p 1).

Segmenting follows SpikingJelly 0.0.0.0.14 (`spikingjelly.datasets`) exactly:
- `frames_by_count(..., split_by='number')`: frame i holds events [i * (N // T), (i + 1) * (N // T)); the last
  frame also takes the remainder (`cal_fixed_frames_number_segment_index`).
- `frames_by_count(..., split_by='time')`: dt = (t[-1] - t[0]) // T (us); frame i holds events with
  t0 + i * dt <= t < t0 + (i + 1) * dt; the last frame runs to the end. SpikingJelly raises on an empty
  window; here an empty window gives an all-zero frame.
- `frames_by_duration`: frame k starts at its first event (time s) and holds the events with t - s <= duration_us,
  as `integrate_events_by_fixed_duration`; the number of frames depends on the data.

Spatial downsampling maps coordinates by nearest index, x_out = x * W_out // W_in and y_out = y * H_out // H_in,
and sums the events that land on one output pixel. When W_in and H_in are integer multiples of W_out and H_out,
this equals sum pooling by the integer factor.

Each frame counts a contiguous slice of the (time-sorted) events: with `np.bincount` when the slice is dense
(more than 1/8 event per output cell), otherwise by sorting the slice's pixel indices and writing only the
touched cells, so sparse full-resolution frames cost O(n log n) in events rather than O(H * W).
"""

from __future__ import annotations

import numpy as np

from train.events.event_array import Geometry

DEFAULT_DURATION_US = 533_328
"""One UCF-Crime-DVS snippet: 16 frames at 30 fps, in microseconds."""

SPLIT_MODES = ("number", "time")

_DENSE_FRACTION = 8


def scale_coordinates(
    x: np.ndarray, y: np.ndarray, geometry: Geometry, target_size: Geometry
) -> tuple[np.ndarray, np.ndarray]:
    """Map pixel coordinates of a `geometry` sensor onto a `target_size` grid: x * W_out // W_in (int64 arrays)."""
    w_in, h_in = int(geometry[0]), int(geometry[1])
    w_out, h_out = int(target_size[0]), int(target_size[1])
    if min(w_in, h_in, w_out, h_out) <= 0:
        raise ValueError(f"sizes must be positive, got {geometry} -> {target_size}")
    return x.astype(np.int64) * w_out // w_in, y.astype(np.int64) * h_out // h_in


def frame_segments(t: np.ndarray, n_frames: int, split_by: str = "number") -> tuple[np.ndarray, np.ndarray]:
    """Event index ranges [j_l[i], j_r[i]) of `n_frames` frames over sorted times `t` (us), SpikingJelly semantics.

    Returns two int64 arrays of shape [n_frames].
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    n = int(t.size)
    if split_by == "number":
        di = n // n_frames
        j_l = np.arange(n_frames, dtype=np.int64) * di
        j_r = j_l + di
    elif split_by == "time":
        if n == 0:
            raise ValueError("split_by='time' needs at least one event")
        t0 = np.int64(t[0])
        dt = (np.int64(t[-1]) - t0) // n_frames
        t_l = dt * np.arange(n_frames, dtype=np.int64) + t0
        j_l = np.searchsorted(t, t_l, side="left").astype(np.int64)
        j_r = np.searchsorted(t, t_l + dt, side="left").astype(np.int64)
        j_r = np.maximum(j_r, j_l)
    else:
        raise ValueError(f"split_by must be one of {SPLIT_MODES}, got {split_by!r}")
    j_r[-1] = n
    return j_l, j_r


def frame_index_by_duration(t: np.ndarray, duration_us: int = DEFAULT_DURATION_US) -> tuple[np.ndarray, np.ndarray]:
    """Event index ranges [j_l[k], j_r[k]) of fixed-duration frames over sorted times `t` (us).

    Frame k starts at its first event s = t[j_l[k]] and ends before the first event with t - s > duration_us.
    """
    if duration_us < 0:
        raise ValueError(f"duration_us must be >= 0, got {duration_us}")
    n = int(t.size)
    starts: list[int] = []
    ends: list[int] = []
    left = 0
    while left < n:
        right = int(np.searchsorted(t, t[left] + duration_us, side="right"))
        starts.append(left)
        ends.append(right)
        left = right
    return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def _flat_index(events: np.ndarray, geometry: Geometry, target_size: Geometry | None) -> tuple[np.ndarray, int, int]:
    """Per-event index into a flattened [2, H, W] frame, and the output H, W."""
    x, y = events["x"], events["y"]
    if x.size and (int(x.max()) >= geometry[0] or int(y.max()) >= geometry[1]):
        raise ValueError(f"event coordinates exceed the {geometry[0]}x{geometry[1]} geometry")
    if target_size is not None:
        x, y = scale_coordinates(x, y, geometry, target_size)
        width, height = int(target_size[0]), int(target_size[1])
    else:
        width, height = int(geometry[0]), int(geometry[1])
    flat = (events["p"] != 0).astype(np.intp) * (height * width)
    flat += y.astype(np.intp) * width
    flat += x.astype(np.intp)
    return flat, height, width


def integrate_segments(
    events: np.ndarray,
    j_l: np.ndarray,
    j_r: np.ndarray,
    geometry: Geometry,
    target_size: Geometry | None = None,
) -> np.ndarray:
    """Count events [j_l[i], j_r[i]) into frame i: float32 array [T, 2, H, W] (H, W of `target_size` if given)."""
    flat, height, width = _flat_index(events, geometry, target_size)
    size = 2 * height * width
    frames = np.zeros((len(j_l), 2, height, width), dtype=np.float32)
    out = frames.reshape(len(j_l), size)
    for i, (lo, hi) in enumerate(zip(j_l.tolist(), j_r.tolist())):
        if hi - lo > size // _DENSE_FRACTION:
            out[i] = np.bincount(flat[lo:hi], minlength=size)
        elif hi > lo:
            pixels = np.sort(flat[lo:hi])
            first = np.flatnonzero(np.diff(pixels, prepend=pixels[0] - 1))
            out[i, pixels[first]] = np.diff(first, append=pixels.size)
    return frames


def frames_by_count(
    events: np.ndarray,
    n_frames: int,
    geometry: Geometry,
    split_by: str = "number",
    target_size: Geometry | None = None,
) -> np.ndarray:
    """Integrate time-sorted events ([N] `EVENT_DTYPE`) into `n_frames` frames: float32 [T, 2, H, W].

    `split_by` is 'number' (equal event counts) or 'time' (equal time spans), as SpikingJelly's
    `integrate_events_by_fixed_frames_number`. `target_size` (width, height) downsamples by nearest mapping.
    """
    j_l, j_r = frame_segments(events["t"], n_frames, split_by)
    return integrate_segments(events, j_l, j_r, geometry, target_size)


def frames_by_duration(
    events: np.ndarray,
    geometry: Geometry,
    duration_us: int = DEFAULT_DURATION_US,
    target_size: Geometry | None = None,
) -> np.ndarray:
    """Integrate time-sorted events into frames of `duration_us` microseconds each: float32 [T, 2, H, W].

    Same segmentation as SpikingJelly's `integrate_events_by_fixed_duration` (see `frame_index_by_duration`).
    """
    j_l, j_r = frame_index_by_duration(events["t"], duration_us)
    return integrate_segments(events, j_l, j_r, geometry, target_size)
