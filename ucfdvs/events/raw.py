"""Read Prophesee RAW files (EVT 2.0 or EVT 3.0) in bounded-memory chunks.

`iter_raw` yields one `EVENT_DTYPE` array per chunk of `chunk_words` words (about 2 bytes/word for EVT 3.0,
4 for EVT 2.0), so memory stays bounded for multi-GB recordings; `read_raw` concatenates them.
Times are microseconds; with `time_shift=True` they start near 0 as in Metavision (see evt2.py / evt3.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.events.event_array import EVENT_DTYPE, Geometry
from ucfdvs.events.evt2 import Evt2Decoder
from ucfdvs.events.evt3 import Evt3Decoder
from ucfdvs.events.raw_header import RawHeader, read_raw_header

log = logging.getLogger(__name__)

DEFAULT_CHUNK_WORDS = 1 << 20

_WORD = {"evt2": np.dtype("<u4"), "evt3": np.dtype("<u2")}


def _geometry(header: RawHeader, geometry: Geometry | None, path: Path) -> Geometry:
    if geometry is not None:
        return Geometry(int(geometry[0]), int(geometry[1]))
    if header.geometry is None:
        raise UserError("header gives no sensor size (no format/geometry line, unknown plugin); pass geometry", path)
    return header.geometry


def iter_raw(
    path: str | Path,
    geometry: Geometry | None = None,
    time_shift: bool = False,
    chunk_words: int = DEFAULT_CHUNK_WORDS,
) -> Iterator[np.ndarray]:
    """Yield the CD events of a RAW file chunk by chunk, each a [N] `EVENT_DTYPE` array (t in us).

    `geometry` overrides the sensor size given by the header. Raises `UserError` naming the file for a bad
    header, a file cut mid-word (with its byte offset), time going backwards or addresses outside the sensor.
    Chunks may be empty.
    """
    path = Path(path)
    header = read_raw_header(path)
    geo = _geometry(header, geometry, path)
    word = _WORD[header.encoding]
    decoder = (Evt3Decoder if header.encoding == "evt3" else Evt2Decoder)(geo, path, time_shift)
    size = path.stat().st_size
    remainder = (size - header.data_offset) % word.itemsize
    if remainder:
        cut = size - remainder
        raise UserError(
            f"truncated: file ends mid-word at byte offset {cut} ({remainder} stray byte(s) after the last "
            f"complete {word.itemsize}-byte {header.encoding.upper()} word)",
            path,
        )
    offset = header.data_offset
    with open(path, "rb") as f:
        f.seek(offset)
        while True:
            words = np.fromfile(f, dtype=word, count=chunk_words)
            if words.size == 0:
                break
            yield decoder.decode(words, offset)
            offset += words.size * word.itemsize
    dropped = getattr(decoder, "dropped", 0)
    if dropped:
        log.debug("%s: %d event word(s) without row, vector base or CD origin skipped", path, dropped)


def read_raw(
    path: str | Path,
    geometry: Geometry | None = None,
    time_shift: bool = False,
    chunk_words: int = DEFAULT_CHUNK_WORDS,
) -> tuple[np.ndarray, Geometry]:
    """Read all CD events of a RAW file: ([N] `EVENT_DTYPE` array with t in us, sensor `Geometry`).

    Raises `UserError` naming the file if it holds no events or is malformed (see `iter_raw`).
    """
    path = Path(path)
    header = read_raw_header(path)
    geo = _geometry(header, geometry, path)
    chunks = list(iter_raw(path, geo, time_shift, chunk_words))
    events = np.concatenate(chunks) if chunks else np.empty(0, dtype=EVENT_DTYPE)
    if events.size == 0:
        raise UserError("no events in file", path)
    return events, geo
