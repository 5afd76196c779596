"""The one event representation used across the toolkit, and its validation.

Events are a 1-D numpy structured array of dtype `EVENT_DTYPE` (tonic style):
`t` int64 microseconds, `x` uint16 column, `y` uint16 row, `p` uint8 polarity (0 = OFF, 1 = ON).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ucfdvs.errors import UserError

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.uint16), ("y", np.uint16), ("p", np.uint8)])
"""Structured dtype of one event: t (int64, us), x (uint16), y (uint16), p (uint8, 0/1)."""

EVENT_FIELDS = ("t", "x", "y", "p")


class Geometry(NamedTuple):
    """Sensor size in pixels: `width` (x range) and `height` (y range)."""

    width: int
    height: int


IMX636_GEOMETRY = Geometry(1280, 720)
"""Prophesee IMX636 / Gen4.1 sensor (UCF-Crime-DVS recordings)."""


def empty_events(n: int = 0) -> np.ndarray:
    """A zero-filled event array of length `n`, dtype `EVENT_DTYPE`."""
    return np.zeros(n, dtype=EVENT_DTYPE)


def make_events(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pack four equal-length 1-D arrays (t in us, x, y, p) into an `EVENT_DTYPE` array (values cast, not checked)."""
    n = len(t)
    if not (len(x) == len(y) == len(p) == n):
        raise ValueError(f"t, x, y, p lengths differ: {n}, {len(x)}, {len(y)}, {len(p)}")
    events = np.empty(n, dtype=EVENT_DTYPE)
    events["t"] = t
    events["x"] = x
    events["y"] = y
    events["p"] = p
    return events


def find_violation(
    t: np.ndarray, x: np.ndarray, y: np.ndarray, geometry: Geometry, previous_t: int | None = None
) -> tuple[int, str] | None:
    """First event breaking time order or the sensor bounds, as (index, description), or None.

    `t` in us must be non-decreasing (and >= `previous_t` if given); 0 <= x < width; 0 <= y < height.
    Of several problems, the one at the lowest index is reported.
    """
    if t.size == 0:
        return None
    before = np.empty_like(t)
    before[0] = t[0] if previous_t is None else previous_t
    before[1:] = t[:-1]
    found = []
    for bad, kind in (
        (np.flatnonzero(t < before), "t"),
        (np.flatnonzero(x >= geometry.width), "x"),
        (np.flatnonzero(y >= geometry.height), "y"),
    ):
        if bad.size:
            found.append((int(bad[0]), kind))
    if not found:
        return None
    i, kind = min(found)
    if kind == "t":
        return i, f"t decreases ({int(t[i])} < {int(before[i])})"
    if kind == "x":
        return i, f"x={int(x[i])} outside width {geometry.width}"
    return i, f"y={int(y[i])} outside height {geometry.height}"


class StreamCheck:
    """Validates consecutive chunks of one event stream as `validate_events` does the whole array.

    Call it on each [N] `EVENT_DTYPE` chunk in order; it raises `UserError` naming `path` and the index of the
    first offending event in the whole stream (time going back across chunks included). `finish()` raises if
    no chunk held an event.
    """

    def __init__(self, geometry: Geometry, path: str | Path | None = None) -> None:
        self.geometry = geometry
        self.path = path
        self.count = 0
        self.last_t: int | None = None

    def __call__(self, events: np.ndarray) -> None:
        self.check_fields(events["t"], events["x"], events["y"], events["p"])

    def check_fields(self, t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> None:
        """The same check on the four fields of a chunk as separate equal-length arrays (t in us, any integer
        dtype that orders as the final times). One reduction per field; the offending event is searched only when
        one fails."""
        n = int(t.size)
        if n == 0:
            return
        fine = (self.last_t is None or int(t[0]) >= self.last_t) and int(x.max()) < self.geometry.width
        fine = fine and int(y.max()) < self.geometry.height and int(p.max()) <= 1
        if not (fine and (n == 1 or not np.any(t[1:] < t[:-1]))):
            t = t.astype(np.int64)
            violation = find_violation(t, x, y, self.geometry, self.last_t)
            if violation is not None:
                raise UserError(f"event {self.count + violation[0]}: {violation[1]}", self.path)
            i = int(np.flatnonzero(p > 1)[0])
            raise UserError(f"event {self.count + i}: polarity p={int(p[i])} is not 0 or 1", self.path)
        self.last_t = int(t[-1])
        self.count += n

    def finish(self) -> None:
        """Raise `UserError` if the stream held no events."""
        if self.count == 0:
            raise UserError("no events", self.path)


def validate_events(events: np.ndarray, geometry: Geometry, path: str | Path | None = None) -> None:
    """Check an event array; raise `UserError` naming `path` and the first offending event.

    Rules: dtype `EVENT_DTYPE`, 1-D, at least one event, t non-decreasing, 0 <= x < width,
    0 <= y < height, p in {0, 1}.
    """
    if events.dtype != EVENT_DTYPE:
        raise UserError(f"events have dtype {events.dtype}, expected {EVENT_DTYPE}", path)
    if events.ndim != 1:
        raise UserError(f"events must be a 1-D array, got shape {events.shape}", path)
    if events.size == 0:
        raise UserError("no events", path)
    violation = find_violation(events["t"], events["x"], events["y"], geometry)
    if violation is not None:
        raise UserError(f"event {violation[0]}: {violation[1]}", path)
    bad = np.flatnonzero(events["p"] > 1)
    if bad.size:
        i = int(bad[0])
        raise UserError(f"event {i}: polarity p={int(events['p'][i])} is not 0 or 1", path)
