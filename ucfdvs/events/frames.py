"""Integrate events into frames `[T, 2, H, W]` (float32 event counts; channel 0 = p 0, channel 1 = p != 0).

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

Speed (benchmarks/event_throughput.py) comes from one uint32 cell index per event, computed in cache-sized
blocks; `np.add.at` with a float32 scalar, which numpy >= 1.25 runs as a tight scatter loop (older numpy: same
result, slower); segment bounds by a binary search that does not copy the strided time field; and an output that
the kernel zero-fills lazily in huge pages (`_zeros`), so the dense [T, 2, H, W] array is written about once.
"""

from __future__ import annotations

import contextlib
import mmap

import numpy as np

from ucfdvs.events.event_array import Geometry
from ucfdvs.timebase import SNIPPET_US

DEFAULT_DURATION_US = SNIPPET_US
"""One UCF-Crime-DVS snippet: 16 frames at 30 fps, in microseconds."""

SPLIT_MODES = ("number", "time")

_BLOCK = 1 << 17
"""Events per block in `_pixel_index`: 1.7 MB of records plus 1.5 MB of temporaries, which stay in L2/L3 cache."""

_SEARCH_STRIDE = 4096
"""Sampling step of the coarse time array in `_search`."""

_DENSE_FRACTION = 8
"""A frame with more than one event per `_DENSE_FRACTION` output cells counts as dense in `integrate_segments`."""

_HUGE_PAGE = 1 << 21
"""Bytes of one transparent huge page on x86-64 and arm64 (4 KiB base pages)."""


def scale_coordinates(
    x: np.ndarray, y: np.ndarray, geometry: Geometry, target_size: Geometry
) -> tuple[np.ndarray, np.ndarray]:
    """Map pixel coordinates of a `geometry` sensor onto a `target_size` grid: x * W_out // W_in (int64 arrays)."""
    w_in, h_in, w_out, h_out = _checked_sizes(geometry, target_size)
    return x.astype(np.int64) * w_out // w_in, y.astype(np.int64) * h_out // h_in


def _checked_sizes(geometry: Geometry, target_size: Geometry) -> tuple[int, int, int, int]:
    """(W_in, H_in, W_out, H_out) as ints; ValueError unless all are positive."""
    sizes = int(geometry[0]), int(geometry[1]), int(target_size[0]), int(target_size[1])
    if min(sizes) <= 0:
        raise ValueError(f"sizes must be positive, got {geometry} -> {target_size}")
    return sizes


def _coarse_times(t: np.ndarray) -> np.ndarray:
    """Every `_SEARCH_STRIDE`-th time of sorted `t` (us), contiguous: the first level of `_search`."""
    return np.ascontiguousarray(t[::_SEARCH_STRIDE])


def _search(t: np.ndarray, coarse: np.ndarray, value: int, side: str) -> int:
    """np.searchsorted(t, value, side) via `coarse` = `_coarse_times(t)` and one window of `_SEARCH_STRIDE` times.

    np.searchsorted copies a strided `t` (a field of the event array) whole, 8 ms per 5 M events; this reads
    one window of `_SEARCH_STRIDE` times, after N / `_SEARCH_STRIDE` once for `coarse`.
    """
    k = int(np.searchsorted(coarse, value, side))
    lo = max(k - 1, 0) * _SEARCH_STRIDE
    return lo + int(np.searchsorted(t[lo : k * _SEARCH_STRIDE], value, side))


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
        j_r[-1] = n
    elif split_by == "time":
        if n == 0:
            raise ValueError("split_by='time' needs at least one event")
        t0 = int(t[0])
        dt = (int(t[-1]) - t0) // n_frames
        coarse = _coarse_times(t)
        j_l = np.array([_search(t, coarse, t0 + i * dt, "left") for i in range(n_frames)], dtype=np.int64)
        j_r = np.append(j_l[1:], n)
    else:
        raise ValueError(f"split_by must be one of {SPLIT_MODES}, got {split_by!r}")
    return j_l, j_r


def frame_index_by_duration(t: np.ndarray, duration_us: int = DEFAULT_DURATION_US) -> tuple[np.ndarray, np.ndarray]:
    """Event index ranges [j_l[k], j_r[k]) of fixed-duration frames over sorted times `t` (us).

    Frame k starts at its first event s = t[j_l[k]] and ends before the first event with t - s > duration_us.
    """
    if duration_us < 0:
        raise ValueError(f"duration_us must be >= 0, got {duration_us}")
    n = int(t.size)
    coarse = _coarse_times(t)
    starts: list[int] = []
    ends: list[int] = []
    left = 0
    while left < n:
        right = _search(t, coarse, int(t[left]) + duration_us, "right")
        starts.append(left)
        ends.append(right)
        left = right
    return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def _pixel_index(events: np.ndarray, geometry: Geometry, target_size: Geometry | None) -> tuple[np.ndarray, int, int]:
    """Per-event cell index (c * H + y) * W + x of a flattened [2, H, W] frame ([N] uint32), and the output H, W.

    c = min(p, 1), i.e. p != 0 for unsigned p; x, y are mapped as `scale_coordinates` when `target_size` is
    given. int64 replaces uint32 only when an intermediate could exceed 2**32 (no real sensor). Computed in
    blocks of `_BLOCK` events, so the strided field reads and the temporaries stay in cache.
    """
    w_in, h_in, width, height = _checked_sizes(geometry, target_size or geometry)
    largest = max(2 * height * width, w_in * width, h_in * height)
    dtype = np.uint32 if largest <= 2**32 else np.int64
    pix = np.empty(events.size, dtype=dtype)
    for start in range(0, events.size, _BLOCK):
        block = events[start : start + _BLOCK]
        x = block["x"].astype(dtype)
        y = block["y"].astype(dtype)
        if int(x.max()) >= w_in or int(y.max()) >= h_in:
            raise ValueError(f"event coordinates exceed the {w_in}x{h_in} geometry")
        if target_size is not None:
            np.multiply(x, width, out=x)
            np.floor_divide(x, w_in, out=x)
            np.multiply(y, height, out=y)
            np.floor_divide(y, h_in, out=y)
        row = block["p"].astype(dtype)
        np.minimum(row, 1, out=row)
        np.multiply(row, height, out=row)
        row += y
        out = pix[start : start + _BLOCK]
        np.multiply(row, width, out=out)
        out += x
    return pix, height, width


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    """float32 zeros of `shape`; from 2 MiB up, anonymous memory advised to use transparent huge pages (Linux).

    The kernel zero-fills each huge page on its first write, so the array is written once and untouched pages
    never; np.empty + fill writes it twice, and np.zeros (calloc, 4 KiB page faults) is 3-5x slower at
    118 MB. Where huge pages are unavailable the memory is still lazily zeroed, as np.zeros.
    """
    nbytes = 4 * int(np.prod(shape))
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is None or nbytes < _HUGE_PAGE:
        return np.zeros(shape, dtype=np.float32)
    buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    with contextlib.suppress(OSError):
        buffer.madvise(advice)
    return np.frombuffer(buffer, dtype=np.float32).reshape(shape)


def integrate_segments(
    events: np.ndarray,
    j_l: np.ndarray,
    j_r: np.ndarray,
    geometry: Geometry,
    target_size: Geometry | None = None,
) -> np.ndarray:
    """Count events [j_l[i], j_r[i]) into frame i: float32 array [T, 2, H, W] (H, W of `target_size` if given).

    All events' coordinates are checked against `geometry` (ValueError). Counts are exact up to 2**24 events per
    cell and frame. A sparse frame is counted in place; a dense one in a reused scratch frame that stays in
    cache, then copied (fewer cache misses than scattering into fresh memory).
    """
    pix, height, width = _pixel_index(events, geometry, target_size)
    size = 2 * height * width
    frames = _zeros((len(j_l), 2, height, width))
    out = frames.reshape(len(j_l), size)
    one = np.float32(1)
    scratch: np.ndarray | None = None
    for i, (lo, hi) in enumerate(zip(j_l.tolist(), j_r.tolist())):
        if (hi - lo) * _DENSE_FRACTION <= size:
            np.add.at(out[i], pix[lo:hi], one)
            continue
        if scratch is None:
            scratch = np.empty(size, dtype=np.float32)
        scratch.fill(0)
        np.add.at(scratch, pix[lo:hi], one)
        out[i] = scratch
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
