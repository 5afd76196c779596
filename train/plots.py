"""PNG figures of evaluation results (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from ucfdvs.atomic import atomic_path  # noqa: E402
from ucfdvs.train.metrics import ScoredVideo  # noqa: E402


def _save(figure: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], path: str | Path) -> None:
    """Frame-level ROC curves: name -> (frame labels, frame scores, AUC)."""
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    for name, (labels, scores, auc) in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        axis.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axis.set(xlabel="false positive rate (frames)", ylabel="true positive rate (frames)", title="Frame-level ROC")
    axis.legend(loc="lower right", fontsize=8)
    _save(figure, Path(path))


def plot_video_scores(video: ScoredVideo, path: str | Path, others: dict[str, np.ndarray] | None = None) -> None:
    """Anomaly score per frame of one video, ground-truth anomalous frames shaded."""
    frames = np.arange(len(video.frame_labels))
    figure, axis = plt.subplots(figsize=(7, 2.4))
    anomalous = video.frame_labels.astype(bool)
    axis.fill_between(frames, 0, 1, where=anomalous, color="tab:red", alpha=0.15, step="mid", label="ground truth")
    axis.plot(frames, video.frame_scores, color="tab:blue", linewidth=1.2, label="score")
    for name, frame_scores in (others or {}).items():
        axis.plot(frames, frame_scores[: len(frames)], linewidth=1.0, label=name)
    axis.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    axis.set(ylim=(0, 1.02), xlim=(0, max(1, len(frames) - 1)), xlabel="frame (30 fps)", ylabel="score")
    axis.set_title(f"{video.stem} ({video.class_name})", fontsize=9)
    axis.legend(loc="upper right", fontsize=7)
    _save(figure, Path(path))
