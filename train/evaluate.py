"""Scoring test videos and computing frame-level metrics; `ucfdvs eval`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ucfdvs.atomic import atomic_dir
from ucfdvs.train.layout import FeatureLayout, Video, frame_labels_for, load_ground_truth, load_split
from ucfdvs.train.metrics import ScoredVideo, frame_metrics, json_ready
from ucfdvs.train.plots import plot_roc, plot_video_scores


@torch.no_grad()
def score_videos(
    model: nn.Module, videos: list[Video], device: torch.device, batch_size: int = 16, progress: bool = False
) -> dict[str, np.ndarray]:
    """Snippet scores `[n_snippets]` for each video, batching videos of similar length (padding never changes a score)."""
    model.eval()
    order = sorted(range(len(videos)), key=lambda i: videos[i].n_snippets)
    scores: dict[str, np.ndarray] = {}
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="scoring", unit="batch", disable=not progress, leave=False):
        chunk = [videos[i] for i in order[start : start + batch_size]]
        steps = max(v.n_snippets for v in chunk)
        features = torch.zeros(len(chunk), steps, chunk[0].features.shape[1])
        for row, video in enumerate(chunk):
            features[row, : video.n_snippets] = torch.from_numpy(video.features)
        lengths = torch.tensor([v.n_snippets for v in chunk])
        output = model(features.to(device), lengths.to(device)).float().cpu().numpy()
        for row, video in enumerate(chunk):
            scores[video.stem] = output[row, : video.n_snippets].astype(np.float32)
    return {v.stem: scores[v.stem] for v in videos}


def scored_videos(
    videos: list[Video], scores: dict[str, np.ndarray], gt: dict[str, np.ndarray], gt_path: Path
) -> list[ScoredVideo]:
    """Pair each test video's scores with its checked ground truth."""
    return [ScoredVideo(v.stem, scores[v.stem], frame_labels_for(gt, v, gt_path), v.class_name) for v in videos]


class TestSet:
    """The test split with its ground truth, loaded and checked once."""

    def __init__(self, layout: FeatureLayout, feature_dim: int | None = None) -> None:
        self.layout = layout
        self.videos = load_split(layout, "test", feature_dim)
        self.gt = load_ground_truth(layout)
        for video in self.videos:
            frame_labels_for(self.gt, video, layout.gt_path)

    def evaluate(self, model: nn.Module, device: torch.device, progress: bool = False) -> tuple[dict, list[ScoredVideo]]:
        scores = score_videos(model, self.videos, device, progress=progress)
        scored = scored_videos(self.videos, scores, self.gt, self.layout.gt_path)
        return frame_metrics(scored), scored


def pick_plot_videos(scored: list[ScoredVideo], count: int) -> list[ScoredVideo]:
    """A fixed selection for per-video plots: about two thirds anomalous videos, the rest normal."""
    anomalous = [v for v in scored if v.is_anomalous]
    normal = [v for v in scored if not v.is_anomalous]
    n_anomalous = min(len(anomalous), max(1, (2 * count) // 3))
    return anomalous[:n_anomalous] + normal[: count - n_anomalous]


def write_evaluation(
    out: Path, metrics: dict, scored: list[ScoredVideo], extra: dict, plots: int = 8, force: bool = False
) -> None:
    """Write `metrics.json`, `scores.npz`, `roc.png` and `videos/<stem>.png` into `out`, all or nothing."""
    with atomic_dir(out, force=force) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(json_ready({**metrics, **extra}), indent=2, sort_keys=True) + "\n")
        np.savez(tmp / "scores.npz", **{v.stem: v.scores for v in scored})
        labels = np.concatenate([v.frame_labels for v in scored])
        frame_scores = np.concatenate([v.frame_scores for v in scored])
        plot_roc({"model": (labels, frame_scores, metrics["auc_all"])}, tmp / "roc.png")
        for video in pick_plot_videos(scored, plots):
            plot_video_scores(video, tmp / "videos" / f"{video.stem}.png")
