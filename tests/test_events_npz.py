"""The official UCF-Crime-DVS npz form: keys exactly t, x, y, p."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ucfdvs.errors import UserError
from ucfdvs.events import EVENT_DTYPE, Geometry, make_events, read_npz, write_npz

GEO = Geometry(1280, 720)


def random_events(n: int = 5000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        np.sort(rng.integers(0, 10**10, n)),
        rng.integers(0, 1280, n),
        rng.integers(0, 720, n),
        rng.integers(0, 2, n),
    )


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_exact(tmp_path: Path, compress: bool) -> None:
    events = random_events()
    path = tmp_path / "clip.npz"
    write_npz(path, events, GEO, compress=compress)
    back = read_npz(path, GEO)
    assert back.dtype == EVENT_DTYPE
    assert np.array_equal(back, events)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["p", "t", "x", "y"]
    assert [p.name for p in tmp_path.iterdir()] == ["clip.npz"]


def test_writer_refuses_bad_events_and_leaves_nothing(tmp_path: Path) -> None:
    events = random_events(10)
    events["t"][5] = -1
    path = tmp_path / "bad.npz"
    with pytest.raises(UserError, match="bad.npz: event 5: t decreases"):
        write_npz(path, events, GEO)
    assert list(tmp_path.iterdir()) == []


def test_path_without_npz_suffix_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "events.bin"
    write_npz(path, random_events(10), GEO)
    assert path.exists() and np.array_equal(read_npz(path, GEO), random_events(10))


def test_foreign_dtypes_are_converted(tmp_path: Path) -> None:
    path = tmp_path / "official.npz"
    np.savez(
        path,
        t=np.array([0.0, 10.0, 20.0]),
        x=np.array([1, 2, 3], dtype=np.int32),
        y=np.array([4, 5, 6], dtype=np.int64),
        p=np.array([True, False, True]),
    )
    events = read_npz(path, GEO)
    assert events["t"].tolist() == [0, 10, 20] and events["p"].tolist() == [1, 0, 1]


def write_arrays(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def base_arrays() -> dict[str, np.ndarray]:
    return {"t": np.array([1, 2, 3]), "x": np.array([1, 2, 3]), "y": np.array([1, 2, 3]), "p": np.array([0, 1, 0])}


def test_missing_key(tmp_path: Path) -> None:
    arrays = base_arrays()
    del arrays["p"]
    path = write_arrays(tmp_path / "m.npz", **arrays)
    with pytest.raises(UserError, match=r"m\.npz: .*missing key\(s\) p"):
        read_npz(path, GEO)


def test_extra_key(tmp_path: Path) -> None:
    path = write_arrays(tmp_path / "e.npz", **base_arrays(), label=np.array([1]))
    with pytest.raises(UserError, match=r"e\.npz: .*unexpected key\(s\) label"):
        read_npz(path, GEO)


def test_corrupt_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    path.write_bytes(b"this is not a zip archive at all" * 10)
    with pytest.raises(UserError, match=r"c\.npz: not a readable npz"):
        read_npz(path, GEO)


def test_corrupt_truncated(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    write_npz(good, random_events(), GEO)
    path = tmp_path / "cut.npz"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UserError, match=r"cut\.npz: not a readable npz"):
        read_npz(path, GEO)


def test_single_npy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.arange(4))
    with pytest.raises(UserError, match=r"a\.npy: not an npz archive"):
        read_npz(path, GEO)


def test_pickled_object_array_is_refused(tmp_path: Path) -> None:
    arrays = base_arrays()
    arrays["t"] = np.array([1, "a", None], dtype=object)
    path = write_arrays(tmp_path / "o.npz", **arrays)
    with pytest.raises(UserError, match=r"o\.npz: "):
        read_npz(path, GEO)


@pytest.mark.parametrize(
    "field, values, message",
    [
        ("t", np.array([3, 2, 1]), "event 1: t decreases"),
        ("x", np.array([1, 1280, 3]), "event 1: x=1280 outside width 1280"),
        ("y", np.array([-1, 2, 3]), "event 0: y=-1 does not fit uint16"),
        ("p", np.array([0, 2, 1]), "event 1: polarity p=2"),
        ("t", np.array([0.5, 1.0, 2.0]), "non-integer"),
        ("x", np.array([1, 2]), "different lengths"),
    ],
)
def test_bad_contents(tmp_path: Path, field: str, values: np.ndarray, message: str) -> None:
    arrays = base_arrays()
    arrays[field] = values
    path = write_arrays(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserError, match=r"bad\.npz: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        read_npz(path, GEO)


def test_empty_and_missing_file(tmp_path: Path) -> None:
    empty = {k: np.zeros(0, dtype=np.int64) for k in "txyp"}
    path = write_arrays(tmp_path / "z.npz", **empty)
    with pytest.raises(UserError, match=r"z\.npz: no events"):
        read_npz(path, GEO)
    with pytest.raises(UserError, match="nope.npz: no such file"):
        read_npz(tmp_path / "nope.npz", GEO)
