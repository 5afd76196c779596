"""Write events as a Prophesee EVT 3.0 RAW file that `read_raw` (and Metavision) decode back exactly.

Layout: an ASCII header (`% evt 3.0`, `% format EVT3;height=H;width=W`, `% geometry WxH`, `% end`), then 16-bit
little-endian words. Time: EVT_TIME_HIGH when bits 23..12 of t change (followed by EVT_TIME_LOW), EVT_TIME_LOW
when bits 11..0 change. EVT_ADDR_Y when the row changes. Events of one (t, y, p) run that fall in one
32-aligned block of x are written as VECT_BASE_X + VECT_12 + VECT_12 + VECT_8 (32 pixels, the grouping
Metavision's decoder expects) when there are at least five of them, all distinct, and the block lies inside the
sensor; otherwise as one EVT_ADDR_X word each. The encoding is vectorised with numpy.

Within one timestamp the writer orders events by (y, p, x); that order is what the reader returns. Times must
be >= 0 and sorted; long gaps are bridged with extra TIME_HIGH words so
wraps decode exactly, with OpenEB's rule and with `evt3`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ucfdvs.atomic import atomic_path
from ucfdvs.errors import UserError
from ucfdvs.events.event_array import Geometry, StreamCheck, validate_events
from ucfdvs.events.evt3 import ADDR_X, ADDR_Y, TIME_HIGH, TIME_LOW, VECT_12, VECT_8, VECT_BASE_X

_VECTOR_SPAN = 32
_MIN_VECTOR_EVENTS = 5
_LADDER = np.array([0, 2047, 4094, 4095], dtype=np.int64)
"""TIME_HIGH values (modulo 4096) a long time step passes through: steps of at most 2047, wraps from 4095 to 0."""
_CHUNK_EVENTS = 1 << 20


def _header(geometry: Geometry) -> bytes:
    width, height = geometry
    return (
        "% evt 3.0\n"
        f"% format EVT3;height={height};width={width}\n"
        f"% geometry {width}x{height}\n"
        "% integrator_name ucfdvs\n"
        "% end\n"
    ).encode("ascii")


@dataclass
class _EncoderState:
    """What the decoder will remember after the words written so far."""

    high: int = -1
    low: int = -1
    y: int = -1


def _time_high_ladder(prev: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TIME_HIGH values (absolute, t >> 12) that lead from `prev` [n] to `high` [n] (prev < high), per step.

    The ladder is every value in (prev, high) that is 0, 2047, 4094 or 4095 modulo 4096, then `high`: steps are
    at most 2047 and the 12-bit word wraps only from 4095 to 0, which OpenEB (a drop >= 2048) and `evt3` (a drop
    >= 4094, as real sensors produce) both decode as a wrap. Returns (count [n], values [count.sum()] grouped
    by step in increasing order).
    """
    first, last = prev // 4096, (high - 1) // 4096
    n_candidates = 4 * (last - first + 1)
    step = np.repeat(np.arange(prev.size), n_candidates)
    j = np.arange(step.size) - np.repeat(np.cumsum(n_candidates) - n_candidates, n_candidates)
    candidate = 4096 * (first[step] + j // 4) + _LADDER[j % 4]
    keep = (candidate > prev[step]) & (candidate < high[step])
    step = np.concatenate([step[keep], np.arange(prev.size)])
    values = np.concatenate([candidate[keep], high])
    order = np.lexsort((values, step))
    return np.bincount(step, minlength=prev.size), values[order]


def _encode(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray, width: int, state: _EncoderState) -> np.ndarray:
    """EVT 3.0 words (uint16) for events sorted by (t, y, p, x), continuing from `state` (updated in place)."""
    n = t.size
    t = t.astype(np.int64)
    x = x.astype(np.int64)
    y = y.astype(np.int64)
    p = p.astype(np.int64)
    high, low = t >> 12, t & 0xFFF
    prev_high = np.empty(n, dtype=np.int64)
    prev_high[1:] = high[:-1]
    prev_low = np.empty(n, dtype=np.int64)
    prev_low[1:] = low[:-1]
    prev_y = np.empty(n, dtype=np.int64)
    prev_y[1:] = y[:-1]
    prefix: list[int] = []
    if state.high < 0:
        if high[0] >= 1 << 12:
            prefix.append(TIME_HIGH << 12)
            prev_high[0] = 0
        else:
            prev_high[0] = high[0] - 1
    else:
        prev_high[0] = state.high
    prev_low[0], prev_y[0] = state.low, state.y

    # Words in front of each event: TIME_HIGH ladder (`_time_high_ladder`) + TIME_LOW, ADDR_Y.
    new_high = high != prev_high
    th = np.flatnonzero(new_high)
    n_high = np.zeros(n, dtype=np.int64)
    n_high[th], values = _time_high_ladder(prev_high[th], high[th])
    n_low = (new_high | (low != prev_low)).astype(np.int64)
    n_y = (y != prev_y).astype(np.int64)

    # Vector groups: events of one (t, y, p) run in one 32-aligned block of x, at least 5, no repeated x.
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (t[1:] != t[:-1]) | (y[1:] != y[:-1]) | (p[1:] != p[:-1])
    block = x // _VECTOR_SPAN
    new_group = new_run.copy()
    new_group[1:] |= block[1:] != block[:-1]
    starts = np.flatnonzero(new_group)
    sizes = np.diff(starts, append=n)
    repeat = np.zeros(n, dtype=np.int64)
    repeat[1:] = (x[1:] == x[:-1]) & ~new_group[1:]
    has_repeat = np.add.reduceat(repeat, starts) > 0
    base = block[starts] * _VECTOR_SPAN
    is_vector = (sizes >= _MIN_VECTOR_EVENTS) & ~has_repeat & (base + _VECTOR_SPAN <= width)
    group = np.cumsum(new_group) - 1
    in_vector = is_vector[group]
    n_own = np.where(in_vector, 0, 1)
    n_own[starts[is_vector]] = 4

    counts = n_high + n_low + n_y + n_own
    offset = np.cumsum(counts) - counts + len(prefix)
    words = np.empty(int(counts.sum()) + len(prefix), dtype=np.int64)
    words[: len(prefix)] = prefix

    k = np.arange(int(n_high.sum())) - np.repeat(np.cumsum(n_high[th]) - n_high[th], n_high[th]) + 1
    words[np.repeat(offset[th], n_high[th]) + k - 1] = (TIME_HIGH << 12) | (values & 0xFFF)
    pos = offset + n_high
    tl = np.flatnonzero(n_low)
    words[pos[tl]] = (TIME_LOW << 12) | low[tl]
    pos = pos + n_low
    ya = np.flatnonzero(n_y)
    words[pos[ya]] = (ADDR_Y << 12) | y[ya]
    pos = pos + n_y
    single = np.flatnonzero(~in_vector)
    words[pos[single]] = (ADDR_X << 12) | (p[single] << 11) | x[single]
    vec_starts = starts[is_vector]
    if vec_starts.size:
        bits = np.left_shift(1, x - block * _VECTOR_SPAN)
        mask = np.bitwise_or.reduceat(bits, starts)[is_vector]
        at = pos[vec_starts]
        words[at] = (VECT_BASE_X << 12) | (p[vec_starts] << 11) | base[is_vector]
        words[at + 1] = (VECT_12 << 12) | (mask & 0xFFF)
        words[at + 2] = (VECT_12 << 12) | ((mask >> 12) & 0xFFF)
        words[at + 3] = (VECT_8 << 12) | ((mask >> 24) & 0xFF)

    state.high, state.low, state.y = int(high[-1]), int(low[-1]), int(y[-1])
    return words.astype("<u2")


def _reader_order(events: np.ndarray, geometry: Geometry) -> np.ndarray:
    """`events` (time-sorted) ordered by (t, y, p, x), the order in which the reader returns them."""
    t = events["t"]
    within = (events["y"].astype(np.int64) * 2 + events["p"]) * geometry.width + events["x"]
    if np.all((t[1:] != t[:-1]) | (within[1:] >= within[:-1])):
        return events
    bits = int(2 * geometry.height * geometry.width).bit_length()
    if int(t[-1] - t[0]) < 1 << (62 - bits):
        order = np.argsort(((t - t[0]) << bits) | within, kind="stable")
    else:
        order = np.lexsort((within, t))
    return events[order]


class Evt3Writer:
    """Write an EVT 3.0 RAW file chunk by chunk (bounded memory), atomically: the file appears at `path` only
    when the `with` block ends without error.

    Each chunk ([N] `EVENT_DTYPE`, t >= 0 in us) must continue the previous ones in time (checked with
    `StreamCheck`, errors name the event index in the whole stream); events with equal times are ordered by
    (y, p, x) within their chunk, which is the order the reader returns them in.
    """

    def __init__(self, path: str | Path, geometry: Geometry) -> None:
        self.path = Path(path)
        self.geometry = Geometry(int(geometry[0]), int(geometry[1]))
        if self.geometry.width > 2048 or self.geometry.height > 2048:
            raise UserError(f"EVT 3.0 addresses at most 2048x2048 pixels, not {self.geometry.width}x"
                            f"{self.geometry.height}", self.path)
        self.check = StreamCheck(self.geometry, self.path)
        self.state = _EncoderState()
        self._atomic = atomic_path(self.path)
        self._file = None

    def __enter__(self) -> "Evt3Writer":
        tmp = self._atomic.__enter__()
        self._file = open(tmp, "wb")
        self._file.write(_header(self.geometry))
        return self

    def write(self, events: np.ndarray) -> None:
        """Append one time-sorted chunk."""
        if self.check.count == 0 and events.size and int(events["t"][0]) < 0:
            raise UserError(f"event 0: negative time {int(events['t'][0])} us cannot be written to EVT 3.0", self.path)
        self.check(events)
        ordered = _reader_order(events, self.geometry)
        for start in range(0, ordered.size, _CHUNK_EVENTS):
            part = ordered[start : start + _CHUNK_EVENTS]
            _encode(part["t"], part["x"], part["y"], part["p"], self.geometry.width, self.state).tofile(self._file)

    def __exit__(self, kind, value, traceback) -> bool:
        self._file.close()
        if kind is None:
            try:
                self.check.finish()
            except BaseException as err:  # e.g. no events: the temporary file goes, the error goes on
                self._atomic.__exit__(type(err), err, err.__traceback__)
                raise
        return bool(self._atomic.__exit__(kind, value, traceback))


def write_evt3(path: str | Path, events: np.ndarray, geometry: Geometry) -> None:
    """Write time-sorted events ([N] `EVENT_DTYPE`, t >= 0 in us) as an EVT 3.0 RAW file, atomically.

    `read_raw(path)` returns the same events, ordered by (t, y, p, x) within each timestamp.
    """
    path = Path(path)
    validate_events(events, Geometry(int(geometry[0]), int(geometry[1])), path)
    with Evt3Writer(path, geometry) as writer:
        writer.write(events)
