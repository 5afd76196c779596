"""The official feature layout, written by the synthetic generator and read back."""

import filecmp
import pickle

import numpy as np

from conftest import TINY
from ucfdvs.train.layout import FeatureLayout, frame_labels_for, load_ground_truth, load_split, read_split
from ucfdvs.train.synthetic_features import SyntheticFeatureConfig, class_counts, generate, write_synthetic_features
from ucfdvs.train.ucf_classes import ANOMALY_CLASSES, class_of


def test_layout_round_trip(tiny_data):
    layout = FeatureLayout(tiny_data)
    assert layout.feature_dir == tiny_data / "features_video" / "Spikingformer" / "feature_hardvs"
    train, test = load_split(layout, "train"), load_split(layout, "test")
    assert len(train) == 64 and len(test) == 8
    assert {v.stem for v in train}.isdisjoint(v.stem for v in test)
    assert sum(not v.is_anomalous for v in train) == 32
    assert all(v.features.dtype == np.float32 and v.features.shape[1] == 256 for v in train + test)
    assert all(8 <= v.n_snippets <= 60 for v in train + test)
    assert any(v.n_snippets < 16 for v in train + test)
    assert (tiny_data / "test_split.txt").read_text().splitlines()[0].endswith("_x264.npy")
    gt = load_ground_truth(layout)
    assert set(gt) == {v.stem for v in train + test}  # UCF-Crime's annotates test only; ours both
    for video in test:
        labels, left_out = frame_labels_for(gt, video, layout.gt_path)
        assert 16 * (video.n_snippets - 1) < len(labels) <= 16 * video.n_snippets and left_out == 0
        assert labels.any() == video.is_anomalous


def test_annotation_matches_ground_truth(tiny_data):
    gt = load_ground_truth(FeatureLayout(tiny_data))
    for line in (tiny_data / "Temporal_Anomaly_Annotation.txt").read_text().splitlines():
        stem, class_name, *bounds = line.split()
        assert class_of(stem) == class_name
        expected = np.zeros(len(gt[stem]), np.int8)
        for start, end in zip(bounds[::2], bounds[1::2]):
            if int(start) >= 0:
                expected[int(start) : int(end) + 1] = 1
        assert np.array_equal(gt[stem], expected)


def test_generator_is_deterministic(tmp_path):
    write_synthetic_features(tmp_path / "a", TINY, seed=5)
    write_synthetic_features(tmp_path / "b", TINY, seed=5)
    write_synthetic_features(tmp_path / "c", TINY, seed=6)
    names = read_split(FeatureLayout(tmp_path / "a"), "train")
    a, b, c = (FeatureLayout(tmp_path / x) for x in "abc")
    assert all(filecmp.cmp(a.feature_path(n), b.feature_path(n), shallow=False) for n in names)
    assert not np.array_equal(np.load(a.feature_path(names[0])), np.load(c.feature_path(names[0])))
    with open(a.gt_path, "rb") as fa, open(b.gt_path, "rb") as fb:
        assert pickle.load(fa).keys() == pickle.load(fb).keys()


def test_class_structure_of_default_size():
    counts = class_counts(200, {name: 1 for name in ANOMALY_CLASSES})
    assert sum(counts.values()) == 200 and min(counts.values()) >= 15
    videos = generate(SyntheticFeatureConfig(n_train=60, n_test=30, median_snippets=20, min_snippets=8), 0)
    classes = {v.class_name for v in videos["train"]}
    assert classes == set(ANOMALY_CLASSES) | {"Normal"}
    for video in videos["train"]:
        if video.class_name != "Normal":
            assert 1 <= len(video.intervals) <= 2
            assert all(0 <= s < e <= video.n_frames for s, e in video.intervals)
            starts = sorted(video.intervals)
            assert all(a[1] <= b[0] for a, b in zip(starts, starts[1:]))
