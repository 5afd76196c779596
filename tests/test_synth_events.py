"""Synthetic DVS recordings: the pixel model's basics, determinism, validity, the layout and bad inputs."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from ucfdvs.train.dvs_simulator import DVSConfig, DVSSimulator
from ucfdvs.events import Geometry, read_npz, read_raw
from ucfdvs.train.layout import FeatureLayout, read_split
from ucfdvs.train.synthetic_events import SMALL_CONFIG, recording, simulate_scene_events, video_names, write_synthetic_events
from ucfdvs.train.ucf_classes import ANOMALY_CLASSES, FRAME_US, class_of, is_normal

CLEAN = DVSConfig(threshold_sigma=0.0, refractory_us=0, leak_hz=0.0, shot_noise_hz=0.0)


@pytest.fixture(scope="session")
def small_events(tmp_path_factory: pytest.TempPathFactory):
    """The --small synthetic event set (14 videos of 4-6 snippets at 80x45), written once."""
    root = tmp_path_factory.mktemp("events") / "small"
    write_synthetic_events(root, SMALL_CONFIG, seed=5, progress=False)
    return root


def _simulator(config: DVSConfig, shape: tuple[int, int] = (3, 4)) -> DVSSimulator:
    return DVSSimulator(Geometry(shape[1], shape[0]), config, np.random.default_rng(0))


def test_brightness_step_gives_the_expected_on_then_off_events():
    sim = _simulator(CLEAN)
    low, high = np.full((3, 4), 0.5), np.full((3, 4), 0.5 * np.exp(0.75))
    sim.reset(low, 0, random_phase=False)
    contrast = np.log(high[0, 0] + CLEAN.eps) - np.log(low[0, 0] + CLEAN.eps)
    expected = int(np.floor(contrast / CLEAN.threshold_on))
    up = sim.step(high, 10_000)
    assert expected == 3 and len(up) == expected * 12
    assert np.all(up["p"] == 1) and np.all(np.bincount(up["y"].astype(int) * 4 + up["x"]) == expected)
    assert np.all((up["t"] > 0) & (up["t"] <= 10_000)) and np.all(np.diff(up["t"]) >= 0)
    down = sim.step(low, 20_000)
    assert len(down) == expected * 12 and np.all(down["p"] == 0)
    assert len(sim.step(low, 30_000)) == 0


def test_below_threshold_change_gives_no_events():
    sim = _simulator(CLEAN)
    sim.reset(np.full((3, 4), 0.5), 0, random_phase=False)
    assert len(sim.step(np.full((3, 4), 0.5 * np.exp(0.15)), 10_000)) == 0


def test_refractory_period_is_respected():
    config = DVSConfig(threshold_sigma=0.0, refractory_us=3_000, leak_hz=0.0, shot_noise_hz=0.0)
    sim = _simulator(config, (1, 1))
    sim.reset(np.full((1, 1), 0.1), 0, random_phase=False)
    events = sim.step(np.full((1, 1), 0.1 * np.exp(2.05)), 10_000)  # 10 crossings 1 ms apart
    assert 1 < len(events) < 10
    assert np.all(np.diff(events["t"]) >= 3_000)
    later = sim.step(np.full((1, 1), 0.1 * np.exp(4.1)), 11_000)
    assert len(later) == 0 or later["t"][0] - events["t"][-1] >= 3_000


def test_refractory_holds_per_pixel_in_a_whole_scene():
    config = SMALL_CONFIG
    video = recording(config, 1, "train", 0, "Fighting001_x264", "Fighting")
    pixel = video.events["y"].astype(np.int64) * config.width + video.events["x"]
    signal_times = {}
    for p in np.unique(pixel)[:200]:
        signal_times[p] = video.events["t"][pixel == p]
    # Shot noise bypasses the refractory period, so only a bound on how often it can break it is checked.
    gaps = np.concatenate([np.diff(t) for t in signal_times.values()])
    assert np.mean(gaps < config.dvs.refractory_us) < 0.01


def test_recordings_are_deterministic_for_a_seed():
    a = recording(SMALL_CONFIG, 3, "test", 1, "Explosion001_x264", "Explosion")
    b = recording(SMALL_CONFIG, 3, "test", 1, "Explosion001_x264", "Explosion")
    c = recording(SMALL_CONFIG, 4, "test", 1, "Explosion001_x264", "Explosion")
    assert np.array_equal(a.events, b.events) and a.intervals == b.intervals
    assert len(c.events) != len(a.events) or not np.array_equal(c.events, a.events)


def test_a_window_of_a_scene_is_simulated_alone():
    def window_events(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return simulate_scene_events(SMALL_CONFIG, "Explosion", 96, [(16, 80)], rng, window=(32, 48))

    events = window_events(0)
    assert events.size > 100 and np.all(np.diff(events["t"]) >= 0)
    assert events["t"][0] >= 0 and events["t"][-1] < 16 * FRAME_US
    assert np.array_equal(events, window_events(0)) and not np.array_equal(events, window_events(1))


def test_written_set_is_valid_and_npz_equals_raw(small_events):
    geometry = Geometry(SMALL_CONFIG.width, SMALL_CONFIG.height)
    layout = FeatureLayout(small_events)
    stems = read_split(layout, "train") + read_split(layout, "test")
    assert len(stems) == SMALL_CONFIG.n_train + SMALL_CONFIG.n_test
    for stem in stems:
        events = read_npz(small_events / "events" / f"{stem}.npz", geometry)
        assert events.size > 100
        assert np.all(np.diff(events["t"]) >= 0) and events["t"][0] >= 0
        assert events["x"].max() < geometry.width and events["y"].max() < geometry.height
        assert set(np.unique(events["p"]).tolist()) <= {0, 1}
        raw, raw_geometry = read_raw(small_events / "raw" / f"{stem}.raw")
        assert raw_geometry == geometry
        assert np.array_equal(raw, events)


def test_ground_truth_annotation_and_classes(small_events):
    layout = FeatureLayout(small_events)
    info = json.loads((small_events / "synthetic_intervals.json").read_text())
    with open(layout.gt_path, "rb") as handle:
        gt = pickle.load(handle)
    test = read_split(layout, "test")
    assert sorted(gt) == sorted(test + read_split(layout, "train"))  # every video annotated (UCF-Crime's: test only)
    annotation = (small_events / "Temporal_Anomaly_Annotation.txt").read_text().splitlines()
    assert len(annotation) == len(test)
    for stem, entry in info.items():
        assert entry["class"] == class_of(stem)
        assert entry["class"] in ANOMALY_CLASSES or is_normal(stem)
        assert bool(entry["intervals"]) != is_normal(stem)
        for start, end in entry["intervals"]:
            assert 0 <= start < end <= entry["n_frames"]
        if stem in gt:
            labels = gt[stem]
            assert len(labels) == entry["n_frames"]
            expected = np.zeros(entry["n_frames"], dtype=np.uint8)
            for start, end in entry["intervals"]:
                expected[start:end] = 1
            assert np.array_equal(labels, expected)
        events = read_npz(small_events / "events" / f"{stem}.npz", Geometry(SMALL_CONFIG.width, SMALL_CONFIG.height))
        assert events["t"][-1] < entry["n_frames"] * FRAME_US
    names = video_names(SMALL_CONFIG)
    assert any(is_normal(s) for s, _ in names["test"]) and any(not is_normal(s) for s, _ in names["test"])
