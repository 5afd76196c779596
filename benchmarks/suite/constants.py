"""Published energy and resource constants, one documented table (``benchmarks/energy_constants.json``).

Every constant has a value, a unit and a ``source`` (paper / brief, or "assumption" where no
published figure exists: :attr:`Constant.origin`).  ``load_constants(path)`` reads the default
table or a user's copy; a user file must list every key with a number >= 0 (``null`` only where
the default is nullable); anything else is refused with a one-line :class:`UserError` naming the
file and the key.
"""

from __future__ import annotations

import json
from importlib import resources
import math
from dataclasses import dataclass
from pathlib import Path

from ucfdvs.errors import UserError

DEFAULT_NAME = "ucfdvs.benchmarks/energy_constants.json"
SCHEMA = "ucfdvs-energy-constants/1"


@dataclass(frozen=True)
class Constant:
    """One figure: ``value`` (None = no published figure), ``unit``, ``source``."""

    value: float | None
    unit: str
    source: str
    nullable: bool = False

    @property
    def origin(self) -> str:
        """``assumption`` when ``source`` starts with "assumption", "ours" or "no published", else ``published``."""
        return "assumption" if self.source.lower().startswith(("assumption", "ours", "no published")) else "published"


@dataclass(frozen=True)
class Constants:
    """The whole table: ``table[key]`` -> :class:`Constant`; ``path``: where it was read."""

    table: dict[str, Constant]
    path: str

    def __getitem__(self, key: str) -> float:
        """The numeric value (raises KeyError for an unknown key; None for a nullable missing figure)."""
        return self.table[key].value  # type: ignore[return-value]

    def get(self, key: str) -> float | None:
        return self.table[key].value

    def source(self, key: str) -> str:
        return self.table[key].source

    def unit(self, key: str) -> str:
        return self.table[key].unit

    def as_json(self) -> dict:
        return {k: {"value": c.value, "unit": c.unit, "source": c.source} for k, c in self.table.items()}


def _read(path: Path | None) -> dict:
    """The ``constants`` object of a table: the user's file, or the packaged default when ``path`` is None."""
    try:
        if path is None:
            data = json.loads(resources.files("ucfdvs.benchmarks").joinpath("energy_constants.json").read_text())
        elif not path.is_file():
            raise UserError("constants file not found", path)
        else:
            data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"not a readable JSON constants file ({err})", path) from None
    if not isinstance(data, dict) or not isinstance(data.get("constants"), dict):
        raise UserError('expected a JSON object with a "constants" object (copy benchmarks/energy_constants.json)', path)
    return data["constants"]


def _parse(path: Path, raw: dict, defaults: dict[str, Constant] | None) -> dict[str, Constant]:
    table: dict[str, Constant] = {}
    keys = list(defaults) if defaults is not None else list(raw)
    if defaults is not None:
        unknown = sorted(set(raw) - set(defaults))
        if unknown:
            raise UserError(f"unknown constant {unknown[0]!r} (known: {', '.join(defaults)})", path)
    for key in keys:
        base = defaults.get(key) if defaults is not None else None
        if key not in raw:
            raise UserError(f"missing constant {key!r} (every key of benchmarks/energy_constants.json is required)", path)
        entry = raw[key]
        if not isinstance(entry, dict) or "value" not in entry:
            raise UserError(f"constant {key!r} has no value (expected {{\"value\": ..., \"unit\": ..., \"source\": ...}})", path)
        value = entry["value"]
        nullable = bool(base.nullable if base is not None else entry.get("nullable", False))
        if value is None:
            if not nullable:
                raise UserError(f"constant {key!r} is missing its value (null)", path)
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise UserError(f"constant {key!r} must be a finite number, got {value!r}", path)
            if value < 0:
                raise UserError(f"constant {key!r} is negative ({value})", path)
            value = float(value)
        unit = entry.get("unit", base.unit if base is not None else "")
        source = entry.get("source") or (base.source if base is not None else "")
        if not source:
            raise UserError(f"constant {key!r} has no source", path)
        if base is not None and unit != base.unit:
            raise UserError(f"constant {key!r} must be in {base.unit!r}, file says {unit!r}", path)
        table[key] = Constant(value, str(unit), str(source), nullable)
    return table


def load_constants(path: str | Path | None = None) -> Constants:
    """The default table, or a user's full copy of it checked against the default's keys and units."""
    defaults = _parse(DEFAULT_NAME, _read(None), None)
    if path is None:
        return Constants(defaults, DEFAULT_NAME)
    path = Path(path)
    return Constants(_parse(path, _read(path), defaults), str(path))
