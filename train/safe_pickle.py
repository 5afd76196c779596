"""A restricted unpickler for the ground-truth pickle, which is untrusted input.

It rebuilds dicts, lists, tuples, strings, numbers and numeric numpy arrays; any other global
(a class, a function) is refused, so loading cannot run code.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ucfdvs.errors import UserError

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, where)
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, where)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise pickle.UnpicklingError(f"{where}: array of dtype {value.dtype} is not numeric")
    elif not isinstance(value, (str, int, float, bool, np.generic)) and value is not None:
        raise pickle.UnpicklingError(f"{where}: refused object of type {type(value).__name__}")


def load_restricted_pickle(path: str | Path) -> Any:
    """Load a pickle holding only dicts, lists, tuples, scalars and numeric numpy arrays."""
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found", path)
    try:
        value = _RestrictedUnpickler(io.BytesIO(path.read_bytes())).load()
        _check_plain(value, "pickle")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise UserError(f"not a plain ground-truth pickle ({err})", path) from None
    return value
