"""Decode Prophesee EVT 3.0 RAW files with the maintained `evt3` package (Rust), checked and wrapped.

Why `evt3`: it equals our spec-checked numpy decoder (`evt3.py`, the test oracle) on every event of the real
Gen4.1 recording and of the writer's round trips (time wraps included), and on every byte-mutated real file
of the fuzz set where both decode; it runs at about 10 times its speed (benchmarks/event_throughput.py).
`faery` also reads EVT 3.0, but its times differ from OpenEB's from the first back-to-back TIME_LOW words of
the real recording on (as expelliarmus did). EVT 2.0 stays with our numpy decoder: `faery` decodes the real
EVT 2.0 file identically and faster, but where time goes back in a corrupt file it silently clamps it to the
previous time instead of failing (benchmarks/decoder_fuzz.py), which no check of its output can detect.

`evt3.decode_file_batches` streams the file in batches of `batch_bytes` input bytes. It neither shifts time
nor checks the events, so each batch becomes an `EVENT_DTYPE` array, Metavision's time shift is applied
(the first TIME_HIGH word, read from the file, as in the numpy decoder) and `StreamCheck` validates it.
Whatever the library raises (Rust panics included) becomes a one-line `UserError` naming the file and the
number of events decoded before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.events.event_array import EVENT_DTYPE, Geometry, StreamCheck
from ucfdvs.events.evt3 import TIME_HIGH
from ucfdvs.events.raw_header import RawHeader

DEFAULT_BATCH_BYTES = 1 << 20
"""Input bytes per `evt3` batch (512 k words, a few 100 k events): the batch's arrays stay in cache while they
are checked and packed, about twice as fast as evt3's default of 8 MB (benchmarks/event_throughput.py)."""

_SCAN_WORDS = 1 << 16


def metavision_shift(path: Path, header: RawHeader) -> int:
    """Microseconds Metavision subtracts from EVT 3.0 times with time shifting: (first TIME_HIGH - 1) << 12, or 0
    when the first TIME_HIGH is 0 or there is none."""
    with open(path, "rb") as f:
        f.seek(header.data_offset)
        while True:
            words = np.fromfile(f, dtype="<u2", count=_SCAN_WORDS)
            if words.size == 0:
                return 0
            found = np.flatnonzero((words >> 12) == TIME_HIGH)
            if found.size:
                return max(int(words[found[0]] & 0xFFF) - 1, 0) << 12


def _events(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray, shift: int) -> np.ndarray:
    events = np.empty(t.size, dtype=EVENT_DTYPE)
    events["t"] = t.view(np.int64)
    if shift:
        events["t"] -= shift
    events["x"] = x
    events["y"] = y
    events["p"] = p
    return events


def iter_raw_library(
    path: Path, header: RawHeader, geometry: Geometry, time_shift: bool, batch_bytes: int = DEFAULT_BATCH_BYTES
) -> Iterator[np.ndarray]:
    """Yield validated [N] `EVENT_DTYPE` batches (t in us) of an EVT 3.0 file decoded by `evt3`.

    Raises `UserError` naming `path` and an event index for time going back, addresses outside `geometry` or
    a failing library; it does not check for an empty file (the caller does).
    """
    import evt3

    shift = metavision_shift(path, header) if time_shift else 0
    check = StreamCheck(geometry, path)
    batches = None
    while True:
        try:
            if batches is None:
                batches = evt3.decode_file_batches(str(path), batch_bytes=batch_bytes)
            batch = next(batches)
        except StopIteration:
            return
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as err:  # Rust panics (pyo3 PanicException) derive from BaseException
            message = str(err).splitlines()[0] if str(err) else ""
            raise UserError(
                f"evt3 failed to decode after event {check.count} "
                f"({type(err).__name__}: {message})", path,
            ) from None
        check.check_fields(batch.t.view(np.int64) - shift if shift else batch.t.view(np.int64), batch.x, batch.y,
                           batch.p)
        yield _events(batch.t, batch.x, batch.y, batch.p, shift)
