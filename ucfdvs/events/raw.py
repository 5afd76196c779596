"""Read Prophesee RAW files (EVT 2.0 or EVT 3.0) in bounded-memory chunks.

`iter_raw` yields one `EVENT_DTYPE` array per chunk, so memory stays bounded for multi-GB recordings;
`read_raw` concatenates them. Times are microseconds; with `time_shift=True` they start near 0 as in Metavision
(see evt2.py / evt3.py). Two engines give the same events:
- "library" (default): EVT 3.0 with the `evt3` package (raw_libraries.py), batches of `batch_bytes` input
  bytes, errors inside the data naming the event index; EVT 2.0 with our numpy decoder (see raw_libraries.py
  for why not `faery`);
- "numpy": our vectorised decoders (evt3.py, evt2.py), chunks of `chunk_words` words, errors inside the data
  naming the byte offset of the word; the test oracle `evt3` is checked against.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.events.event_array import Geometry
from ucfdvs.events.evt2 import Evt2Decoder
from ucfdvs.events.evt3 import Evt3Decoder
from ucfdvs.events.raw_header import RawHeader, read_raw_header
from ucfdvs.events.raw_libraries import DEFAULT_BATCH_BYTES, iter_raw_library

log = logging.getLogger(__name__)

DEFAULT_CHUNK_WORDS = 1 << 20

_WORD = {"evt2": np.dtype("<u4"), "evt3": np.dtype("<u2")}
ENGINES = ("library", "numpy")


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
    engine: str = "library",
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> Iterator[np.ndarray]:
    """Yield the CD events of a RAW file chunk by chunk, each a [N] `EVENT_DTYPE` array (t in us).

    `geometry` overrides the sensor size given by the header; `engine` is "library" (batches of `batch_bytes`
    input bytes) or "numpy" (chunks of `chunk_words` words). Raises `UserError` naming the file for a bad
    header, a file cut mid-word (with its byte offset), time going backwards or addresses outside the sensor
    (with the event index, or the byte offset with the numpy engine), and, at the end, for a file without
    events. Chunks may be empty.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    path = Path(path)
    header = read_raw_header(path)
    geo = _geometry(header, geometry, path)
    word = _WORD[header.encoding]
    size = path.stat().st_size
    remainder = (size - header.data_offset) % word.itemsize
    if remainder:
        cut = size - remainder
        raise UserError(
            f"truncated: file ends mid-word at byte offset {cut} ({remainder} stray byte(s) after the last "
            f"complete {word.itemsize}-byte {header.encoding.upper()} word)",
            path,
        )
    count = 0
    for events in _decode(path, header, geo, time_shift, chunk_words, engine, batch_bytes):
        count += events.size
        yield events
    if count == 0:
        raise UserError("no events in file", path)


def _decode(path: Path, header: RawHeader, geo: Geometry, time_shift: bool, chunk_words: int, engine: str,
            batch_bytes: int) -> Iterator[np.ndarray]:
    """The chunks of the chosen engine (see `iter_raw`)."""
    if engine == "library" and header.encoding == "evt3":
        yield from iter_raw_library(path, header, geo, time_shift, batch_bytes)
        return
    word = _WORD[header.encoding]
    decoder = (Evt3Decoder if header.encoding == "evt3" else Evt2Decoder)(geo, path, time_shift)
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
    engine: str = "library",
) -> tuple[np.ndarray, Geometry]:
    """Read all CD events of a RAW file: ([N] `EVENT_DTYPE` array with t in us, sensor `Geometry`).

    Raises `UserError` naming the file if it holds no events or is malformed (see `iter_raw`).
    """
    path = Path(path)
    header = read_raw_header(path)
    geo = _geometry(header, geometry, path)
    chunks = [chunk for chunk in iter_raw(path, geo, time_shift, chunk_words, engine) if chunk.size]
    return (chunks[0] if len(chunks) == 1 else np.concatenate(chunks)), geo
