"""Frame integration must equal SpikingJelly's functions on the same events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from spikingjelly.datasets import integrate_events_by_fixed_duration, integrate_events_by_fixed_frames_number

from train.events import (
    DEFAULT_DURATION_US,
    Geometry,
    frame_segments,
    frames_by_count,
    frames_by_duration,
    make_events,
    read_raw,
    scale_coordinates,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EVT2_FILE = DATA / "prophesee_gen3_evt2_sample.raw"
EVT3_FILE = DATA / "prophesee_gen41_evt3_sample.raw"


def as_dict(events: np.ndarray) -> dict[str, np.ndarray]:
    return {k: events[k] for k in ("t", "x", "y", "p")}


def synthetic(n: int = 20_011, geometry: Geometry = Geometry(34, 26), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        np.sort(rng.integers(0, 1_000_000, n)),
        rng.integers(0, geometry.width, n),
        rng.integers(0, geometry.height, n),
        rng.integers(0, 2, n),
    )


@pytest.fixture(scope="module")
def real() -> tuple[np.ndarray, Geometry]:
    if not EVT2_FILE.exists():
        pytest.skip(f"{EVT2_FILE} not present")
    return read_raw(EVT2_FILE)


@pytest.mark.parametrize("split_by", ["number", "time"])
@pytest.mark.parametrize("frames", [1, 3, 7, 16])
def test_fixed_frames_number_equals_spikingjelly_on_real_data(real, split_by: str, frames: int) -> None:
    events, geo = real
    ours = frames_by_count(events, frames, geo, split_by)
    theirs = integrate_events_by_fixed_frames_number(as_dict(events), split_by, frames, geo.height, geo.width)
    assert ours.dtype == np.float32 and ours.shape == (frames, 2, geo.height, geo.width)
    assert np.array_equal(ours, theirs)
    assert ours.sum() == events.size


@pytest.mark.parametrize("split_by", ["number", "time"])
@pytest.mark.parametrize("frames", [2, 5, 9, 13])
@pytest.mark.parametrize("seed", [0, 1])
def test_fixed_frames_number_uneven_splits(split_by: str, frames: int, seed: int) -> None:
    geo = Geometry(34, 26)
    events = synthetic(20_011 + seed, geo, seed)
    theirs = integrate_events_by_fixed_frames_number(as_dict(events), split_by, frames, geo.height, geo.width)
    assert np.array_equal(frames_by_count(events, frames, geo, split_by), theirs)


@pytest.mark.parametrize("duration", [999, 5_000, 33_333])
def test_fixed_duration_equals_spikingjelly(real, duration: int) -> None:
    events, geo = real
    theirs = integrate_events_by_fixed_duration(as_dict(events), duration, geo.height, geo.width)
    ours = frames_by_duration(events, geo, duration)
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)


@pytest.mark.parametrize("duration", [0, 1, 7_777, 10**7])
def test_fixed_duration_edge_cases(duration: int) -> None:
    geo = Geometry(34, 26)
    events = synthetic(3_000, geo, 5)
    events["t"] //= 1000
    theirs = integrate_events_by_fixed_duration(as_dict(events), duration, geo.height, geo.width)
    ours = frames_by_duration(events, geo, duration)
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)


def test_default_duration_is_one_snippet() -> None:
    assert DEFAULT_DURATION_US == 533_328
    events = synthetic(5000)
    events["t"] = np.linspace(0, 2 * DEFAULT_DURATION_US, events.size).astype(np.int64)
    geo = Geometry(34, 26)
    frames = frames_by_duration(events, geo)
    theirs = integrate_events_by_fixed_duration(as_dict(events), DEFAULT_DURATION_US, geo.height, geo.width)
    assert frames.shape[0] == 2 and np.array_equal(frames, theirs)


def test_gen41_recording_full_resolution() -> None:
    if not EVT3_FILE.exists():
        pytest.skip(f"{EVT3_FILE} not present")
    events, geo = read_raw(EVT3_FILE)
    ours = frames_by_count(events, 4, geo, "time")
    theirs = integrate_events_by_fixed_frames_number(as_dict(events), "time", 4, geo.height, geo.width)
    assert np.array_equal(ours, theirs)


def test_empty_time_window_gives_zero_frame() -> None:
    events = make_events(np.array([0, 1, 2, 100]), np.array([0, 1, 2, 3]), np.zeros(4), np.array([0, 1, 0, 1]))
    frames = frames_by_count(events, 4, Geometry(4, 1), "time")
    assert frames[:, :, 0, :].sum(axis=(1, 2)).tolist() == [3, 0, 0, 1]
    j_l, j_r = frame_segments(events["t"], 4, "time")
    assert j_l.tolist() == [0, 3, 3, 3] and j_r.tolist() == [3, 3, 3, 4]


def test_channels_follow_polarity() -> None:
    events = make_events(np.array([0, 1, 2]), np.array([1, 1, 2]), np.array([0, 0, 1]), np.array([0, 0, 1]))
    frames = frames_by_count(events, 1, Geometry(3, 2))
    assert frames[0, 0, 0, 1] == 2 and frames[0, 1, 1, 2] == 1 and frames.sum() == 3


def test_downsampling_is_nearest_mapping_and_sum_pooling_for_integer_factors() -> None:
    geo = Geometry(40, 20)
    events = synthetic(10_000, geo, 3)
    full = frames_by_count(events, 3, geo)
    small = frames_by_count(events, 3, geo, target_size=Geometry(10, 5))
    pooled = full.reshape(3, 2, 5, 4, 10, 4).sum(axis=(3, 5))
    assert small.shape == (3, 2, 5, 10) and np.array_equal(small, pooled)
    odd = frames_by_count(events, 3, geo, target_size=Geometry(7, 3))
    x, y = scale_coordinates(events["x"], events["y"], geo, Geometry(7, 3))
    assert x.max() < 7 and y.max() < 3 and odd.sum() == events.size
    assert odd[0, 0, 0, 0] == np.count_nonzero((x[: 10_000 // 3] == 0) & (y[: 10_000 // 3] == 0) & (events["p"][: 10_000 // 3] == 0))


def test_duration_frames_downsampled_match_full_then_pooled() -> None:
    geo = Geometry(40, 20)
    events = synthetic(10_000, geo, 4)
    full = frames_by_duration(events, geo, 100_000)
    small = frames_by_duration(events, geo, 100_000, target_size=Geometry(20, 10))
    assert np.array_equal(small, full.reshape(full.shape[0], 2, 10, 2, 20, 2).sum(axis=(3, 5)))


def test_bad_arguments() -> None:
    events = synthetic(100)
    with pytest.raises(ValueError):
        frames_by_count(events, 0, Geometry(34, 26))
    with pytest.raises(ValueError):
        frames_by_count(events, 2, Geometry(34, 26), "bogus")
    with pytest.raises(ValueError):
        frames_by_duration(events, Geometry(34, 26), -1)
    with pytest.raises(ValueError, match="exceed"):
        frames_by_count(events, 2, Geometry(30, 26))
