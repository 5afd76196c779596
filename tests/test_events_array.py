"""The event dtype and its validation."""

from __future__ import annotations

import numpy as np
import pytest

from ucfdvs.errors import UserError
from ucfdvs.events import EVENT_DTYPE, Geometry, empty_events, make_events, validate_events

GEO = Geometry(64, 32)


def good_events() -> np.ndarray:
    return make_events(np.array([0, 5, 5, 9]), np.array([0, 63, 1, 2]), np.array([0, 31, 1, 2]), np.array([0, 1, 1, 0]))


def test_dtype_fields_and_types() -> None:
    assert EVENT_DTYPE.names == ("t", "x", "y", "p")
    assert [EVENT_DTYPE[k] for k in EVENT_DTYPE.names] == [np.int64, np.uint16, np.uint16, np.uint8]
    assert empty_events(3).dtype == EVENT_DTYPE


def test_valid_events_pass() -> None:
    validate_events(good_events(), GEO, "f.npz")


@pytest.mark.parametrize(
    "field, index, value, message",
    [
        ("t", 2, 4, "event 2: t decreases (4 < 5)"),
        ("x", 1, 64, "event 1: x=64 outside width 64"),
        ("y", 3, 40, "event 3: y=40 outside height 32"),
        ("p", 0, 2, "event 0: polarity p=2 is not 0 or 1"),
    ],
)
def test_each_rule_names_file_and_event(field: str, index: int, value: int, message: str) -> None:
    events = good_events()
    events[field][index] = value
    with pytest.raises(UserError) as err:
        validate_events(events, GEO, "some/file.npz")
    assert str(err.value) == f"some/file.npz: {message}"


def test_empty_and_wrong_dtype() -> None:
    with pytest.raises(UserError, match="f.raw: no events"):
        validate_events(empty_events(0), GEO, "f.raw")
    with pytest.raises(UserError, match="dtype"):
        validate_events(np.zeros(3, dtype=np.int64), GEO, "f.raw")


def test_make_events_length_mismatch() -> None:
    with pytest.raises(ValueError):
        make_events(np.arange(3), np.arange(2), np.arange(3), np.arange(3))
