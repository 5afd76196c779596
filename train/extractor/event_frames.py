"""Event recordings of a dataset root, as binary input frames for the extractor.

A recording's events (t in us from its start) are cut into consecutive bins of `frame_us` (133,332 us =
4 video frames at 30 fps, so 4 bins = one 533,328 us snippet), counted per pixel and polarity at the
extractor's resolution (nearest-index downsampling, `ucfdvs.events.scale_coordinates`) and thresholded:
1 where a pixel had at least one event in that bin, else 0. A snippet's input is the window of bins that ends
with it (`snippet_windows`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.events import Geometry, integrate_segments, read_npz

EVENTS_DIR = "events"


def event_path(root: Path, stem: str) -> Path:
    """ROOT/events/<stem>.npz."""
    return root / EVENTS_DIR / f"{stem}.npz"


def check_events_root(root: Path) -> None:
    """Refuse a dataset root without an events/ folder (one-line `UserError` naming it)."""
    if not root.is_dir():
        raise UserError("events dataset folder not found", root)
    if not (root / EVENTS_DIR).is_dir():
        raise UserError("no events/ folder (expected events/<Video>_x264.npz)", root / EVENTS_DIR)


def load_events(root: Path, stem: str, geometry: Geometry) -> np.ndarray:
    """A recording's events [N] (validated; zero events or a corrupt file raise `UserError` naming the file)."""
    return read_npz(event_path(root, stem), geometry)


def binary_bins(events: np.ndarray, geometry: Geometry, size: Geometry, frame_us: int, n_bins: int) -> np.ndarray:
    """Binary frames [n_bins, 2, H, W] uint8 of bins [k * frame_us, (k + 1) * frame_us), k = 0..n_bins-1."""
    edges = np.arange(n_bins + 1, dtype=np.int64) * frame_us
    index = np.searchsorted(events["t"], edges, side="left")
    counts = integrate_segments(events, index[:-1], index[1:], geometry, size)
    return (counts > 0).astype(np.uint8)


def snippet_count(events: np.ndarray, snippet_us: int, n_frames: int | None = None) -> int:
    """Snippets of a video: ceil(n_frames / 16) when its 30 fps frame count is known, else ceil((t_last + 1) / snippet_us)."""
    if n_frames is not None:
        return max(1, -(-int(n_frames) // 16))
    return max(1, -(-(int(events["t"][-1]) + 1) // snippet_us))


def snippet_windows(bins: np.ndarray, n_snippets: int, snippet_bins: int, frames: int) -> np.ndarray:
    """Input [n_snippets, frames, 2, H, W] of each snippet: the `frames` bins ending with the snippet's last bin.

    `bins` [>= max(frames, n_snippets * snippet_bins), 2, H, W]; a window that would start before bin 0 (too little
    past, e.g. the first snippet) starts at bin 0 instead.
    """
    ends = np.arange(1, n_snippets + 1) * snippet_bins
    starts = np.maximum(ends - frames, 0)
    return bins[starts[:, None] + np.arange(frames)]
