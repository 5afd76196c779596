"""Event-camera data: the event array type, npz and Prophesee RAW (EVT 2.0 / 3.0) I/O, and frame integration."""

from ucfdvs.events.event_array import (
    EVENT_DTYPE,
    IMX636_GEOMETRY,
    Geometry,
    StreamCheck,
    empty_events,
    find_violation,
    make_events,
    validate_events,
)
from ucfdvs.events.evt3_writer import Evt3Writer, write_evt3
from ucfdvs.events.frames import (
    DEFAULT_DURATION_US,
    frame_index_by_duration,
    frame_segments,
    frames_by_count,
    frames_by_duration,
    integrate_segments,
    scale_coordinates,
)
from ucfdvs.events.npz_io import iter_npz, read_npz, write_npz
from ucfdvs.events.raw import iter_raw, read_raw
from ucfdvs.events.raw_header import RawHeader, read_raw_header

__all__ = [
    "EVENT_DTYPE",
    "Evt3Writer",
    "IMX636_GEOMETRY",
    "DEFAULT_DURATION_US",
    "Geometry",
    "RawHeader",
    "StreamCheck",
    "empty_events",
    "find_violation",
    "frame_index_by_duration",
    "frame_segments",
    "frames_by_count",
    "frames_by_duration",
    "integrate_segments",
    "iter_npz",
    "iter_raw",
    "make_events",
    "read_npz",
    "read_raw",
    "read_raw_header",
    "scale_coordinates",
    "validate_events",
    "write_evt3",
    "write_npz",
]
