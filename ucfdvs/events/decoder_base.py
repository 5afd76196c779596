"""What the EVT 2.0 and EVT 3.0 decoders share: running state, its vectorised look-up, and checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.events.event_array import Geometry, find_violation


def pick_state(values: np.ndarray, index: np.ndarray, fallback: int) -> np.ndarray:
    """values[index] where index >= 0, else `fallback` (also when `values` is empty)."""
    if values.size == 0:
        return np.full(index.shape, fallback, dtype=np.int64)
    return np.where(index >= 0, values[np.maximum(index, 0)], fallback)


class RawDecoderBase:
    """Time state carried across chunks (TIME_HIGH value, wrap count, last time) and the event checks."""

    word_bytes = 4

    def __init__(self, geometry: Geometry, path: str | Path, time_shift: bool = False) -> None:
        self.geometry = geometry
        self.path = Path(path)
        self.time_shift = time_shift
        self.started = False
        self.shift = 0
        self.high = 0
        self.loop = 0
        self.last_t = -1

    def _check(self, t: np.ndarray, x: np.ndarray, y: np.ndarray, word: np.ndarray, byte_offset: int) -> None:
        """Raise `UserError` with the byte offset of the first event whose time goes back or is off-sensor."""
        if t.size == 0:
            return
        if (t[0] >= self.last_t and int(x.max()) < self.geometry.width and int(y.max()) < self.geometry.height
                and not np.any(t[1:] < t[:-1])):
            return
        violation = find_violation(t, x, y, self.geometry, self.last_t if self.last_t >= 0 else None)
        if violation is not None:
            i, what = violation
            offset = byte_offset + int(word[i]) * self.word_bytes
            raise UserError(f"byte offset {offset}: event {what}", self.path)
