"""Event recordings of a dataset root, as binary input frames for the extractor.

A recording's events (t in us from its start) are cut into consecutive bins of `frame_us` (133,332 us =
4 video frames at 30 fps, so 4 bins = one 533,328 us snippet), counted per pixel and polarity at the
extractor's resolution (nearest-index downsampling, `ucfdvs.events.scale_coordinates`) and thresholded:
1 where a pixel had at least one event in that bin, else 0. A snippet's input is the window of `frames` bins
that ends with it; a window that would start before bin 0 starts at bin 0 instead (the first snippets see bins
after their own).

`stream_snippet_windows` builds those windows from a stream of event chunks (`iter_recording`: npz members or
RAW batches, read in bounded memory), holding only the bins of the windows not yet complete, so a recording of
any length is never in memory whole; `binary_bins` integrates a whole recording at once (pretraining clips).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.events import Geometry, integrate_segments, iter_npz, iter_raw, read_npz

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


def snippets_for_frames(n_frames: int) -> int:
    """Snippets covering a video of `n_frames` 30 fps frames: ceil(n_frames / 16), at least 1."""
    return max(1, -(-int(n_frames) // 16))


def snippet_count(t_last: int, snippet_us: int, n_frames: int | None = None) -> int:
    """Snippets of a video: ceil(n_frames / 16) when its 30 fps frame count is known, else
    ceil((t_last + 1) / snippet_us) from its last event time `t_last` (us)."""
    if n_frames is not None:
        return snippets_for_frames(n_frames)
    return max(1, -(-(int(t_last) + 1) // snippet_us))


def snippet_windows(bins: np.ndarray, n_snippets: int, snippet_bins: int, frames: int) -> np.ndarray:
    """Input [n_snippets, frames, 2, H, W] of each snippet from a whole recording's `bins`
    [>= max(frames, n_snippets * snippet_bins), 2, H, W] (see the module docstring)."""
    ends = np.arange(1, n_snippets + 1) * snippet_bins
    starts = np.maximum(ends - frames, 0)
    return bins[starts[:, None] + np.arange(frames)]


def iter_recording(path: Path, geometry: Geometry) -> Iterator[np.ndarray]:
    """Validated event chunks of one recording in bounded memory, checked against the sensor `geometry`: an npz
    (`iter_npz`) or, for a `.raw` path, a Prophesee RAW file (`iter_raw`)."""
    if path.suffix == ".raw":
        return iter_raw(path, geometry)
    return iter_npz(path, geometry)


class SnippetWindows:
    """Binary input windows [frames, 2, H, W] uint8 of consecutive snippets, built from time-sorted event chunks.

    Bin k holds events with k * frame_us <= t < (k + 1) * frame_us (events before 0 or from bin `n_bins` on are
    dropped); snippet i ends with bin (i + 1) * snippet_bins and its window starts `frames` bins earlier, or at 0.
    `add` a chunk, take the windows complete so far with `ready`, and the rest with `finish`; the snippet count is
    `n_snippets` if given, else `snippet_count` of the last event time.
    Only bins of windows not yet returned are kept.
    """

    def __init__(self, geometry: Geometry, size: Geometry, frame_us: int, snippet_bins: int, frames: int,
                 n_snippets: int | None = None) -> None:
        self.geometry, self.size = geometry, size
        self.frame_us, self.snippet_bins, self.frames = frame_us, snippet_bins, frames
        self.n_bins = None if n_snippets is None else max(n_snippets * snippet_bins, frames)
        self.n_snippets = n_snippets
        self.bins: dict[int, np.ndarray] = {}
        self.complete = 0
        self.next_snippet = 0
        self.events = 0
        self.t_last = -1

    def _start(self, snippet: int) -> int:
        return max((snippet + 1) * self.snippet_bins - self.frames, 0)

    def add(self, events: np.ndarray) -> None:
        """Count a time-sorted chunk (following the previous ones) into its bins."""
        if events.size == 0:
            return
        self.events += int(events.size)
        self.t_last = int(events["t"][-1])
        index = events["t"] // self.frame_us
        present = index[np.flatnonzero(np.diff(index, prepend=index[0] - 1))]  # sorted: the distinct bins
        present = present[(present >= self._start(self.next_snippet))]
        if self.n_bins is not None:
            present = present[present < self.n_bins]
        if present.size:
            j_l = np.searchsorted(index, present, side="left")
            j_r = np.searchsorted(index, present, side="right")
            counts = integrate_segments(events, j_l, j_r, self.geometry, self.size)
            for k, frame in zip(present.tolist(), counts > 0):
                if k in self.bins:
                    self.bins[k] |= frame
                else:
                    self.bins[k] = frame.astype(np.uint8)
        self.complete = max(self.complete, int(index[-1]))

    def _window(self, snippet: int) -> np.ndarray:
        start = self._start(snippet)
        window = np.zeros((self.frames, 2, self.size[1], self.size[0]), dtype=np.uint8)
        for k in range(start, start + self.frames):
            if k in self.bins:
                window[k - start] = self.bins[k]
        return window

    def _take(self, last: int, limit: float) -> list[np.ndarray]:
        out = []
        while self.next_snippet < last and self._start(self.next_snippet) + self.frames <= limit:
            out.append(self._window(self.next_snippet))
            self.next_snippet += 1
        keep_from = self._start(self.next_snippet)
        for k in [k for k in self.bins if k < keep_from]:
            del self.bins[k]
        return out

    def ready(self) -> list[np.ndarray]:
        """Windows of the next snippets whose bins are all complete (a later event exists)."""
        last = self.n_snippets if self.n_snippets is not None else np.iinfo(np.int64).max
        return self._take(last, self.complete)

    def finish(self) -> list[np.ndarray]:
        """Windows of the remaining snippets, up to `n_snippets` or, if that was not given, up to
        `snippet_count` of the last event time."""
        last = self.n_snippets if self.n_snippets is not None else snippet_count(
            self.t_last, self.snippet_bins * self.frame_us)
        return self._take(last, float("inf"))


def stream_snippet_windows(chunks: Iterable[np.ndarray], windows: SnippetWindows) -> Iterator[np.ndarray]:
    """Yield each snippet's window [frames, 2, H, W] uint8 in order as the chunks arrive (see `SnippetWindows`)."""
    for chunk in chunks:
        windows.add(chunk)
        yield from windows.ready()
    yield from windows.finish()
