"""Frame integration must equal SpikingJelly's functions on the same events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from spikingjelly.datasets import integrate_events_by_fixed_duration, integrate_events_by_fixed_frames_number

import ucfdvs.events.frames as frames_module
from ucfdvs.events import (
    DEFAULT_DURATION_US,
    Geometry,
    frame_index_by_duration,
    frame_segments,
    frames_by_count,
    frames_by_duration,
    integrate_segments,
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


def test_time_split_boundary_events_start_the_next_frame() -> None:
    geo = Geometry(5, 4)
    t = np.array([0, 9, 10, 10, 19, 20, 29, 30, 39, 40])
    events = make_events(t, np.arange(10) % 5, np.arange(10) % 4, np.arange(10) % 2)
    j_l, j_r = frame_segments(events["t"], 4, "time")
    assert j_l.tolist() == [0, 2, 5, 7] and j_r.tolist() == [2, 5, 7, 10]
    theirs = integrate_events_by_fixed_frames_number(as_dict(events), "time", 4, geo.height, geo.width)
    assert np.array_equal(frames_by_count(events, 4, geo, "time"), theirs)


@pytest.mark.parametrize("duration", [10, 30, 33, 35])
def test_duration_not_dividing_the_recording_and_boundary_events(duration: int) -> None:
    geo = Geometry(5, 4)
    t = np.array([0, 10, 10, 11, 30, 33, 45, 66, 66, 99, 100])
    events = make_events(t, np.arange(t.size) % 5, np.arange(t.size) % 4, np.arange(t.size) % 2)
    theirs = integrate_events_by_fixed_duration(as_dict(events), duration, geo.height, geo.width)
    ours = frames_by_duration(events, geo, duration)
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    j_l, j_r = frame_index_by_duration(events["t"], duration)
    assert np.all(t[j_r - 1] - t[j_l] <= duration) and np.all(t[j_r[:-1]] - t[j_l[:-1]] > duration)


def test_sparse_and_dense_frames_in_one_call_equal_spikingjelly() -> None:
    geo = Geometry(64, 48)
    rng = np.random.default_rng(7)
    n = 40_000
    t = np.sort(np.concatenate([rng.integers(0, 1_000, n - 200), rng.integers(1_000, 16_000, 200)]))
    events = make_events(t, rng.integers(0, geo.width, n), rng.integers(0, geo.height, n), rng.integers(0, 2, n))
    ours = frames_by_count(events, 16, geo, "time")
    per_frame = ours.sum(axis=(1, 2, 3))
    assert per_frame.max() * 8 > 2 * geo.width * geo.height > 8 * per_frame.min() > 0
    theirs = integrate_events_by_fixed_frames_number(as_dict(events), "time", 16, geo.height, geo.width)
    assert np.array_equal(ours, theirs)


def test_full_resolution_output_is_a_plain_writable_array() -> None:
    geo = Geometry(1280, 720)
    events = synthetic(5_000, geo, 2)
    ours = frames_by_count(events, 3, geo)
    assert ours.dtype == np.float32 and ours.shape == (3, 2, 720, 1280)
    assert ours.flags.c_contiguous and ours.flags.writeable
    theirs = integrate_events_by_fixed_frames_number(as_dict(events), "number", 3, geo.height, geo.width)
    assert np.array_equal(ours, theirs)
    ours += 1
    assert ours.sum() == events.size + ours.size


def test_blocks_of_the_index_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    geo = Geometry(34, 26)
    events = synthetic(1_000, geo, 9)
    monkeypatch.setattr(frames_module, "_BLOCK", 7)
    theirs = integrate_events_by_fixed_frames_number(as_dict(events), "number", 5, geo.height, geo.width)
    assert np.array_equal(frames_by_count(events, 5, geo), theirs)
    events["x"][-1] = 40
    with pytest.raises(ValueError, match="exceed"):
        frames_by_count(events, 5, geo)


def test_nonzero_polarity_above_one_counts_as_on() -> None:
    geo = Geometry(4, 3)
    p = np.array([0, 1, 2, 255, 0, 7])
    events = make_events(np.arange(6), np.array([0, 1, 2, 3, 0, 1]), np.array([0, 1, 2, 0, 1, 2]), p)
    theirs = integrate_events_by_fixed_frames_number(as_dict(events), "number", 2, geo.height, geo.width)
    ours = frames_by_count(events, 2, geo)
    assert np.array_equal(ours, theirs) and ours[:, 1].sum() == 4


def test_zero_events() -> None:
    geo = Geometry(4, 3)
    events = make_events(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    assert np.array_equal(frames_by_count(events, 3, geo), np.zeros((3, 2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="at least one event"):
        frames_by_count(events, 3, geo, "time")
    assert frames_by_duration(events, geo, 100).shape == (0, 2, 3, 4)
    assert integrate_segments(events, np.zeros(0, np.int64), np.zeros(0, np.int64), geo).shape == (0, 2, 3, 4)


def test_partial_segments_and_upsampling_beyond_uint32() -> None:
    geo = Geometry(65_536, 2)
    x_in = np.array([0, 65_535, 40_000, 65_535])
    events = make_events(np.arange(4), x_in, np.array([0, 1, 1, 1]), np.array([0, 1, 1, 1]))
    target = Geometry(70_000, 2)
    ours = integrate_segments(events, np.array([1, 0]), np.array([3, 1]), geo, target)
    x, y = scale_coordinates(events["x"], events["y"], geo, target)
    assert ours.shape == (2, 2, 2, 70_000) and ours.sum() == 3
    assert ours[0, 1, y[1], x[1]] == 1 and ours[0, 1, y[2], x[2]] == 1 and ours[1, 0, 0, 0] == 1


@pytest.mark.parametrize("n", [1, 3, 4, 5, 8, 9, 50])
def test_two_level_time_search_equals_searchsorted(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setattr(frames_module, "_SEARCH_STRIDE", 4)
    t = np.sort(np.random.default_rng(n).integers(0, 12, n))
    times = make_events(t, np.zeros(n), np.zeros(n), np.zeros(n))["t"]
    coarse = frames_module._coarse_times(times)
    for value in range(-1, 14):
        for side in ("left", "right"):
            assert frames_module._search(times, coarse, value, side) == np.searchsorted(t, value, side)
