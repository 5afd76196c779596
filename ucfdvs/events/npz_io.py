"""Read and write the official UCF-Crime-DVS event file form: an .npz with exactly the keys t, x, y, p.

t is in microseconds; x, y are pixel coordinates; p is polarity 0/1. `iter_npz` streams the four members out of
the zip archive (stored or deflated) chunk by chunk: each member's .npy header is parsed with numpy's format
reader (`numpy.lib.format`, no pickles), then `chunk_events` values of each member are read, converted and
validated together, so memory stays bounded whatever the recording's length. `read_npz` concatenates them.
Errors name the file and, inside the data, the index of the first offending event.
"""

from __future__ import annotations

import contextlib
import zipfile
import zlib
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from ucfdvs.atomic import atomic_path
from ucfdvs.errors import UserError
from ucfdvs.events.event_array import (
    EVENT_DTYPE, EVENT_FIELDS, IMX636_GEOMETRY, Geometry, StreamCheck, validate_events,
)

_REQUIRED = set(EVENT_FIELDS)
DEFAULT_CHUNK_EVENTS = 1 << 20
"""Events per chunk of `iter_npz` (15 MB as `EVENT_DTYPE`, up to 32 MB of member bytes)."""
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, NotImplementedError)


def _as_field(values: np.ndarray, field: str, path: Path, first: int = 0) -> np.ndarray:
    """Convert one chunk of an npz array (its first value is event `first`) to its `EVENT_DTYPE` field type,
    refusing lossy conversions."""
    target = EVENT_DTYPE[field]
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    if values.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if bad.size:
            raise UserError(f"event {first + int(bad[0])}: array {field!r} holds non-integer values", path)
    if values.size:
        lo, hi = values.min(), values.max()
        info = np.iinfo(target)
        if lo < info.min or hi > info.max:
            bad = int(np.flatnonzero((values < info.min) | (values > info.max))[0])
            raise UserError(f"event {first + bad}: {field}={values[bad]} does not fit {target}", path)
    return values.astype(target)


def _member_header(stream: IO[bytes], field: str, path: Path) -> tuple[np.dtype, int]:
    """Parse the .npy header of member `field`: (dtype, length); only 1-D numeric arrays are accepted."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    if len(shape) != 1:
        raise UserError(f"array {field!r} must be 1-D, got shape {shape}", path)
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None:
        raise UserError(f"array {field!r} has non-numeric dtype {dtype}", path)
    return dtype, int(shape[0])


def _open_members(archive: zipfile.ZipFile, stack: contextlib.ExitStack, path: Path) -> dict:
    """Open the t, x, y, p members: {field: (stream, dtype, length)}; refuses other or missing keys."""
    keys = {name[:-4] if name.endswith(".npy") else name for name in archive.namelist()}
    missing, extra = sorted(_REQUIRED - keys), sorted(keys - _REQUIRED)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing key(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected key(s) {', '.join(extra)}")
        raise UserError("npz must hold exactly t, x, y, p: " + "; ".join(parts), path)
    names = {name[:-4] if name.endswith(".npy") else name: name for name in archive.namelist()}
    members = {}
    for field in EVENT_FIELDS:
        stream = stack.enter_context(archive.open(names[field]))
        members[field] = (stream, *_member_header(stream, field, path))
    lengths = {field: length for field, (_, _, length) in members.items()}
    if len(set(lengths.values())) != 1:
        raise UserError(f"arrays t, x, y, p have different lengths {lengths}", path)
    return members


def _read_values(stream: IO[bytes], dtype: np.dtype, count: int, field: str, first: int, path: Path) -> np.ndarray:
    data = stream.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise UserError(f"event {first + len(data) // dtype.itemsize}: array {field!r} ends early", path)
    return np.frombuffer(data, dtype=dtype)


def iter_npz(
    path: str | Path, geometry: Geometry = IMX636_GEOMETRY, chunk_events: int = DEFAULT_CHUNK_EVENTS
) -> Iterator[np.ndarray]:
    """Yield the events of an npz event file (keys exactly t, x, y, p) as validated [<= chunk_events]
    `EVENT_DTYPE` chunks, streamed from the archive.

    `geometry` is the sensor size the coordinates are checked against (default 1280x720). Raises `UserError`
    naming the file (and the event index inside the data) for a corrupt archive, other keys, non-numeric or
    non-1-D arrays, lossy values, unsorted times, coordinates outside `geometry`, p not in {0, 1}, no events.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("no such file", path)
    check = StreamCheck(geometry, path)
    done = 0
    try:
        with contextlib.ExitStack() as stack:
            try:
                archive = stack.enter_context(zipfile.ZipFile(path))
            except zipfile.BadZipFile:
                with open(path, "rb") as f:
                    if f.read(6) == b"\x93NUMPY":
                        raise UserError("not an npz archive (a single .npy array?)", path) from None
                raise
            members = _open_members(archive, stack, path)
            length = members["t"][2]
            while done < length:
                count = min(chunk_events, length - done)
                fields = {field: _as_field(_read_values(stream, dtype, count, field, done, path), field, path, done)
                          for field, (stream, dtype, _) in members.items()}
                check.check_fields(*(fields[field] for field in EVENT_FIELDS))
                events = np.empty(count, dtype=EVENT_DTYPE)
                for field in EVENT_FIELDS:
                    events[field] = fields[field]
                done += count
                yield events
    except UserError:
        raise
    except _READ_ERRORS as exc:
        where = f" (after event {done})" if done else ""
        raise UserError(f"not a readable npz file{where} ({type(exc).__name__}: {exc})", path) from exc
    check.finish()


def read_npz(path: str | Path, geometry: Geometry = IMX636_GEOMETRY) -> np.ndarray:
    """Load an npz event file (keys exactly t, x, y, p) as a validated `EVENT_DTYPE` array of shape [N].

    `geometry` is the sensor size the coordinates are checked against (default 1280x720); see `iter_npz`.
    """
    chunks = list(iter_npz(path, geometry))
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def write_npz(path: str | Path, events: np.ndarray, geometry: Geometry = IMX636_GEOMETRY, compress: bool = False) -> None:
    """Validate `events` ([N] `EVENT_DTYPE`) and write them atomically as an npz with keys t, x, y, p.

    The field dtypes are kept (t int64 us, x/y uint16, p uint8), so `read_npz` returns an identical array.
    """
    path = Path(path)
    validate_events(events, geometry, path)
    save = np.savez_compressed if compress else np.savez
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            save(f, **{k: np.ascontiguousarray(events[k]) for k in EVENT_FIELDS})
