"""Read and write the official UCF-Crime-DVS event file form: an .npz with exactly the keys t, x, y, p.

t is in microseconds; x, y are pixel coordinates; p is polarity 0/1. Loaded with `allow_pickle=False`.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ucfdvs.atomic import atomic_path
from ucfdvs.errors import UserError
from ucfdvs.events.event_array import EVENT_DTYPE, EVENT_FIELDS, IMX636_GEOMETRY, Geometry, validate_events

_REQUIRED = set(EVENT_FIELDS)


def _as_field(values: np.ndarray, field: str, path: Path) -> np.ndarray:
    """Convert one npz array to its `EVENT_DTYPE` field type, refusing lossy conversions."""
    target = EVENT_DTYPE[field]
    if values.ndim != 1:
        raise UserError(f"array {field!r} must be 1-D, got shape {values.shape}", path)
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise UserError(f"array {field!r} holds non-integer values", path)
    elif values.dtype.kind not in "iu":
        raise UserError(f"array {field!r} has non-numeric dtype {values.dtype}", path)
    if values.size:
        lo, hi = values.min(), values.max()
        info = np.iinfo(target)
        if lo < info.min or hi > info.max:
            bad = int(np.flatnonzero((values < info.min) | (values > info.max))[0])
            raise UserError(f"event {bad}: {field}={values[bad]} does not fit {target}", path)
    return values.astype(target)


def read_npz(path: str | Path, geometry: Geometry = IMX636_GEOMETRY) -> np.ndarray:
    """Load an npz event file (keys exactly t, x, y, p) as a validated `EVENT_DTYPE` array of shape [N].

    `geometry` is the sensor size the coordinates are checked against (default 1280x720).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("no such file", path)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise UserError("not an npz archive (a single .npy array?)", path)
        with data:
            keys = set(data.files)
            missing, extra = sorted(_REQUIRED - keys), sorted(keys - _REQUIRED)
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"missing key(s) {', '.join(missing)}")
                if extra:
                    parts.append(f"unexpected key(s) {', '.join(extra)}")
                raise UserError("npz must hold exactly t, x, y, p: " + "; ".join(parts), path)
            arrays = {k: data[k] for k in EVENT_FIELDS}
    except UserError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
        raise UserError(f"not a readable npz file ({type(exc).__name__}: {exc})", path) from exc
    lengths = {k: a.shape[0] if a.ndim else -1 for k, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise UserError(f"arrays t, x, y, p have different lengths {lengths}", path)
    events = np.empty(lengths["t"], dtype=EVENT_DTYPE)
    for field in EVENT_FIELDS:
        events[field] = _as_field(arrays[field], field, path)
    validate_events(events, geometry, path)
    return events


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
