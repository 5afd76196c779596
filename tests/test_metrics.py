"""Frame-level metrics on a tiny hand-checked case."""

import numpy as np
import pytest

from ucfdvs.train.metrics import ScoredVideo, frame_metrics, snippet_to_frame_scores


def test_frame_repetition_and_cut():
    assert snippet_to_frame_scores(np.array([0.1, 0.7]), 20).tolist() == [0.1] * 16 + [0.7] * 4
    with pytest.raises(ValueError):
        snippet_to_frame_scores(np.array([0.1]), 17)


def test_metrics_hand_checked():
    # Anomalous video: 2 snippets, 20 frames, first 16 anomalous: frames 16 x 0.9 (pos), 4 x 0.2 (neg).
    anomalous = ScoredVideo("Fighting001_x264", np.array([0.9, 0.2]), np.array([1] * 16 + [0] * 4), "Fighting")
    # Normal video: 1 snippet, 10 frames at 0.95 (neg).
    normal = ScoredVideo("Normal_Videos_001_x264", np.array([0.95]), np.zeros(10, int), "Normal")
    metrics = frame_metrics([anomalous, normal])
    # Positives (0.9) beat the 4 negatives at 0.2 and lose to the 10 at 0.95: 64 / (16 * 14).
    assert metrics["auc_all"] == pytest.approx(64 / 224)
    assert metrics["auc_abnormal"] == pytest.approx(1.0)
    assert metrics["far_all"] == pytest.approx(10 / 14)
    assert metrics["far_normal"] == pytest.approx(1.0)
    assert metrics["auc_Fighting"] == pytest.approx(64 / 224)


def test_alarm_threshold_is_inclusive():
    video = ScoredVideo("Normal_Videos_002_x264", np.array([0.5, 0.49]), np.zeros(32, int), "Normal")
    assert frame_metrics([video])["far_normal"] == pytest.approx(0.5)
