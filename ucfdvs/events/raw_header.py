"""Parse the ASCII header of a Prophesee RAW file.

The header is a run of lines starting with `%` (normally `% key value`). It ends after a `% end` line or at the
first byte that is not `%`. The event encoding comes from `% evt 2.0|3.0` or `% format EVT2|EVT3;...`; the sensor
size from `% format ...;width=W;height=H`, `% geometry WxH`, `% width W` / `% height H`, or, for old files
that carry none of these, from the camera plugin name (as OpenEB does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ucfdvs.errors import UserError
from ucfdvs.events.event_array import Geometry

ENCODINGS = ("evt2", "evt3")

_EVT_VERSIONS = {"2.0": "evt2", "3.0": "evt3"}
_FORMAT_NAMES = {"EVT2": "evt2", "EVT3": "evt3"}

# Sensor size of legacy camera plugins, from OpenEB's raw_constants.h (hal_psee_plugins).
_PLUGIN_GEOMETRY = {
    "hal_plugin_gen3_fx3": Geometry(640, 480),
    "hal_plugin_gen31_fx3": Geometry(640, 480),
    "hal_plugin_gen31_evk2": Geometry(640, 480),
    "hal_plugin_gen31_evk3": Geometry(640, 480),
    "hal_plugin_gen4_fx3": Geometry(1280, 720),
    "hal_plugin_gen4_evk2": Geometry(1280, 720),
    "hal_plugin_gen41_evk2": Geometry(1280, 720),
    "hal_plugin_gen41_evk3": Geometry(1280, 720),
}

_MAX_HEADER_BYTES = 1 << 20


@dataclass(frozen=True)
class RawHeader:
    """What the header says: `encoding` ('evt2' or 'evt3'), `geometry` (None if unknown),
    `data_offset` (byte where event words start) and all `fields` (key -> value text)."""

    encoding: str
    geometry: Geometry | None
    data_offset: int
    fields: dict[str, str] = field(default_factory=dict)


def _header_bytes(path: Path) -> tuple[bytes, int]:
    """Return the raw header text and the byte offset where binary data starts."""
    lines: list[bytes] = []
    offset = 0
    with open(path, "rb") as f:
        while True:
            first = f.read(1)
            if first != b"%":
                break
            line = first + f.readline()
            offset += len(line)
            if offset > _MAX_HEADER_BYTES:
                raise UserError(f"header longer than {_MAX_HEADER_BYTES} bytes", path)
            lines.append(line)
            if line.rstrip(b"\r\n").strip() == b"% end":
                break
    return b"".join(lines), offset


def _parse_int(text: str, what: str, path: Path) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"header {what} {text!r} is not an integer", path) from None
    if value <= 0:
        raise UserError(f"header {what} {value} is not positive", path)
    return value


def read_raw_header(path: str | Path) -> RawHeader:
    """Read and check the header of the RAW file at `path`; raise `UserError` if it names no known encoding."""
    path = Path(path)
    if not path.is_file():
        raise UserError("no such file", path)
    text, data_offset = _header_bytes(path)
    fields: dict[str, str] = {}
    for raw_line in text.decode("latin-1").splitlines():
        body = raw_line[1:].strip()
        if not body or body == "end":
            continue
        key, _, value = body.partition(" ")
        fields[key.strip()] = value.strip()

    encoding = None
    width = height = None
    if "format" in fields:
        name, *options = fields["format"].split(";")
        name = name.strip()
        if name not in _FORMAT_NAMES:
            raise UserError(f"unsupported event format {name!r} in header (supported: EVT2, EVT3)", path)
        encoding = _FORMAT_NAMES[name]
        for option in options:
            key, _, value = option.partition("=")
            if key.strip() == "width":
                width = _parse_int(value.strip(), "width", path)
            elif key.strip() == "height":
                height = _parse_int(value.strip(), "height", path)
    if "evt" in fields:
        version = fields["evt"]
        if version not in _EVT_VERSIONS:
            raise UserError(f"unsupported event format version 'evt {version}' (supported: 2.0, 3.0)", path)
        if encoding is not None and encoding != _EVT_VERSIONS[version]:
            raise UserError(f"header contradicts itself: format {fields['format']!r} but evt {version}", path)
        encoding = _EVT_VERSIONS[version]
    if encoding is None:
        raise UserError("not a Prophesee RAW file: header has no '% evt' or '% format' line", path)

    if width is None and "geometry" in fields:
        match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", fields["geometry"])
        if match is None:
            raise UserError(f"header geometry {fields['geometry']!r} is not WIDTHxHEIGHT", path)
        width, height = _parse_int(match[1], "width", path), _parse_int(match[2], "height", path)
    lower = {k.lower(): v for k, v in fields.items()}
    if width is None and "width" in lower and "height" in lower:
        width = _parse_int(lower["width"], "width", path)
        height = _parse_int(lower["height"], "height", path)
    geometry = Geometry(width, height) if width is not None and height is not None else None
    if geometry is None and fields.get("plugin_name") in _PLUGIN_GEOMETRY:
        geometry = _PLUGIN_GEOMETRY[fields["plugin_name"]]
    return RawHeader(encoding=encoding, geometry=geometry, data_offset=data_offset, fields=fields)
