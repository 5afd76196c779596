"""Frame-level evaluation: AUC and false-alarm rate, with scikit-learn.

Each snippet score is repeated 16 times (one per video frame at 30 fps) and cut to the length of
the ground truth. A frame is an alarm when its score is >= 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score

from ucfdvs.train.ucf_classes import FRAMES_PER_SNIPPET

ALARM_THRESHOLD = 0.5


@dataclass(frozen=True)
class ScoredVideo:
    """One evaluated video: snippet scores `[n_snippets]`, frame labels `[n_frames]` over the frames
    the snippets cover, its class, and the GT frames past the last snippet that were left out."""

    stem: str
    scores: np.ndarray
    frame_labels: np.ndarray
    class_name: str
    left_out_frames: int = 0

    @property
    def is_anomalous(self) -> bool:
        return self.class_name != "Normal"

    @property
    def frame_scores(self) -> np.ndarray:
        return snippet_to_frame_scores(self.scores, len(self.frame_labels))


def snippet_to_frame_scores(scores: np.ndarray, n_frames: int) -> np.ndarray:
    """Repeat each snippet score 16 times and cut to `n_frames`: `[n_snippets]` -> `[n_frames]`."""
    frames = np.repeat(np.asarray(scores, dtype=np.float64), FRAMES_PER_SNIPPET)
    if len(frames) < n_frames:
        raise ValueError(f"{len(scores)} snippet scores cover {len(frames)} frames, fewer than {n_frames}")
    return frames[:n_frames]


def false_alarm_rate(labels: np.ndarray, scores: np.ndarray, threshold: float = ALARM_THRESHOLD) -> float:
    """FP / (FP + TN) over the frames, alarms being scores >= threshold."""
    tn, fp, _, _ = confusion_matrix(labels, scores >= threshold, labels=[0, 1]).ravel()
    return float(fp / (fp + tn)) if fp + tn else float("nan")


def json_ready(metrics: dict) -> dict:
    """Metrics with NaN (an undefined AUC or FAR, e.g. no normal video) as None, so the JSON stays valid."""
    return {key: None if isinstance(value, float) and np.isnan(value) else value for key, value in metrics.items()}


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else float("nan")


def frame_metrics(videos: list[ScoredVideo]) -> dict[str, float]:
    """`auc_all`, `auc_abnormal`, `far_all`, `far_normal` and `auc_<Class>` for each anomaly class.

    `auc_<Class>` is the frame AUC over that class's videos together with all normal videos.
    """
    labels = {v.stem: v.frame_labels.astype(np.int64) for v in videos}
    scores = {v.stem: v.frame_scores for v in videos}

    def gather(selected: list[ScoredVideo]) -> tuple[np.ndarray, np.ndarray]:
        if not selected:
            return np.zeros(0, np.int64), np.zeros(0)
        return (
            np.concatenate([labels[v.stem] for v in selected]),
            np.concatenate([scores[v.stem] for v in selected]),
        )

    anomalous = [v for v in videos if v.is_anomalous]
    normal = [v for v in videos if not v.is_anomalous]
    all_labels, all_scores = gather(videos)
    abnormal_labels, abnormal_scores = gather(anomalous)
    normal_labels, normal_scores = gather(normal)
    result = {
        "auc_all": _auc(all_labels, all_scores),
        "auc_abnormal": _auc(abnormal_labels, abnormal_scores),
        "far_all": false_alarm_rate(all_labels, all_scores),
        "far_normal": false_alarm_rate(normal_labels, normal_scores) if normal else float("nan"),
    }
    for name in sorted({v.class_name for v in anomalous}):
        class_labels, class_scores = gather([v for v in anomalous if v.class_name == name] + normal)
        result[f"auc_{name}"] = _auc(class_labels, class_scores)
    return result
