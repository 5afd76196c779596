"""Scoring videos and computing frame-level metrics on the test split or a validation set; `ucfdvs eval`."""

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
from ucfdvs.train.ucf_classes import FRAMES_PER_SNIPPET


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
    """Pair each video's scores with its checked ground truth (over the frames its snippets cover)."""
    scored = []
    for video in videos:
        labels, left_out = frame_labels_for(gt, video, gt_path)
        scored.append(ScoredVideo(video.stem, scores[video.stem], labels, video.class_name, left_out))
    return scored


def video_label_frames(videos: list[Video]) -> dict[str, np.ndarray]:
    """Weak frame labels: every frame a video's snippets cover gets the video's label, `{stem: [16 n]}`."""
    return {v.stem: np.full(FRAMES_PER_SNIPPET * v.n_snippets, int(v.is_anomalous), np.int8) for v in videos}


class EvalSet:
    """Videos with frame labels, loaded and checked once: the test split or a validation set.

    `labels` says where the frame labels come from: `frame` (the GT pickle) or `video` (the video
    label on every frame, for validation videos the GT does not annotate, as in UCF-Crime's train split).
    """

    def __init__(self, videos: list[Video], gt: dict[str, np.ndarray], gt_path: Path, labels: str = "frame") -> None:
        self.videos = videos
        self.gt = gt
        self.gt_path = gt_path
        self.labels = labels
        self.left_out = {v.stem: frame_labels_for(gt, v, gt_path)[1] for v in videos}

    @property
    def left_out_total(self) -> int:
        """Ground-truth frames past the last snippet (a dropped partial clip), summed over the videos."""
        return int(sum(self.left_out.values()))

    def evaluate(self, model: nn.Module, device: torch.device, progress: bool = False) -> tuple[dict, list[ScoredVideo]]:
        scores = score_videos(model, self.videos, device, progress=progress)
        scored = scored_videos(self.videos, scores, self.gt, self.gt_path)
        return frame_metrics(scored), scored


class TestSet(EvalSet):
    """The test split with its ground truth."""

    def __init__(self, layout: FeatureLayout, feature_dim: int | None = None) -> None:
        self.layout = layout
        super().__init__(load_split(layout, "test", feature_dim), load_ground_truth(layout), layout.gt_path)


def validation_set(videos: list[Video], layout: FeatureLayout) -> EvalSet:
    """Validation videos with the GT's frame labels when it annotates all of them, else their video labels."""
    gt = load_ground_truth(layout)
    if all(v.stem in gt for v in videos):
        return EvalSet(videos, gt, layout.gt_path, "frame")
    return EvalSet(videos, video_label_frames(videos), layout.gt_path, "video")


def left_out_report(evaluation: EvalSet) -> dict:
    """`gt_frames_left_out` (total) and `gt_frames_left_out_per_video` (videos with any) for metrics.json."""
    return {"gt_frames_left_out": evaluation.left_out_total,
            "gt_frames_left_out_per_video": {stem: n for stem, n in evaluation.left_out.items() if n}}


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
