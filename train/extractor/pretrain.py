"""Pretrain the spiking extractor on 14-way classification of labelled synthetic clips.

A clip is the backbone's input window: `frames` consecutive bins of `frame_us` of one recording (by default
8 x 133,332 us, a snippet and the snippet before it). Labels come from ROOT/synthetic_intervals.json: a window
of an anomalous video covered >= 75 % by an annotated interval gets the video's class; windows of normal videos,
and windows of anomalous videos outside every interval, are Normal; other windows are not used.

Training clips are every bin offset of the train split's videos and, for a synthetic root (ROOT/events_info.json
present), a bank of `bank_per_class` clips per class from fresh scenes simulated with the root's settings and
another seed (`clip_bank`). Most windows of a data set are Normal, so batches are drawn class-balanced (Normal
`normal_share` of the time, the 13 anomaly classes equally), with random left-right flips.

Evaluation uses the snippet-aligned windows of the test split (those `extract` feeds the backbone; videos never
seen in pretraining). The main metric is the class-balanced accuracy (mean recall over the classes present); the
plain accuracy is reported next to that of always answering the train split's most frequent class (Normal), both
for the head's own decisions and for decisions adjusted to the train split's class frequencies (`prior_shift`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score
from spikingjelly.activation_based import functional
from torch import nn
from tqdm import tqdm

from ucfdvs.errors import UserError
from ucfdvs.train.extractor.backbone import CLASSES, BackboneConfig, SpikingBackbone
from ucfdvs.train.extractor.checkpoint import save_extractor
from ucfdvs.train.extractor.event_frames import binary_bins, check_events_root, load_events
from ucfdvs.train.layout import FeatureLayout, read_split
from ucfdvs.train.dvs_simulator import DVSConfig
from ucfdvs.train.synthetic_events import (
    INFO_FILE, INTERVALS_FILE, SyntheticEventConfig, read_geometry, simulate_scene_events, video_length,
)
from ucfdvs.train.synthetic_features import FeatureWorld
from ucfdvs.train.ucf_classes import FRAME_US, FRAMES_PER_SNIPPET, NORMAL_CLASS

logger = logging.getLogger(__name__)

MIN_COVERAGE = 0.75


@dataclass(frozen=True)
class PretrainConfig:
    """`iterations` batches of `batch_size` clips, Adam with linear decay; `bank_per_class` extra clips per class
    (`clip_bank`, synthetic roots only); Normal clips make up `normal_share` of each batch on average."""

    iterations: int = 3000
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    bank_per_class: int = 40
    normal_share: float = 0.3


@dataclass
class ClipSet:
    """Binary bins of several recordings and the clips cut from them: (recording, first bin, class index)."""

    bins: list[np.ndarray]  # per recording [n_bins, 2, H, W] uint8
    clips: np.ndarray  # [N, 3] int64

    def batch(self, rows: np.ndarray, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Input [B, T, 2, H, W] float32 and labels [B] int64 of clip rows `rows`."""
        x = np.stack([self.bins[v][b:b + frames] for v, b, _ in self.clips[rows]])
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(self.clips[rows, 2].copy())


def _read_intervals(root: Path) -> dict[str, dict]:
    path = root / INTERVALS_FILE
    if not path.is_file():
        raise UserError("pretraining needs per-video classes and intervals (written by synth-events)", path)
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise UserError(f"not valid JSON ({err})", path) from None


def clip_set(root: Path, split: str, config: BackboneConfig, stride: int) -> ClipSet:
    """Clips of one split starting every `stride` bins, labelled as in the module docstring."""
    geometry = read_geometry(root)
    info = _read_intervals(root)
    size = (config.width, config.height)
    frames_per_bin = config.frame_us // FRAME_US
    bins, clips = [], []
    for stem in read_split(FeatureLayout(root), split):
        if stem not in info:
            raise UserError(f"no entry for {stem}", root / INTERVALS_FILE)
        entry = info[stem]
        n_frames = int(entry["n_frames"])
        n_bins = -(-n_frames // frames_per_bin)
        labels = np.zeros(n_bins * frames_per_bin + FRAMES_PER_SNIPPET, dtype=np.float64)
        for start, end in entry["intervals"]:
            labels[start:end] = 1.0
        class_index = CLASSES.index(entry["class"]) if entry["class"] in CLASSES else CLASSES.index(NORMAL_CLASS)
        video = len(bins)
        bins.append(binary_bins(load_events(root, stem, geometry), geometry, size, config.frame_us, n_bins))
        for first in range(0, n_bins - config.frames + 1, stride):
            coverage = labels[first * frames_per_bin:(first + config.frames) * frames_per_bin].mean()
            if coverage >= MIN_COVERAGE:
                clips.append((video, first, class_index))
            elif coverage == 0:
                clips.append((video, first, CLASSES.index(NORMAL_CLASS)))
    if not clips:
        raise UserError(f"no labelled clips in the {split} split", root)
    return ClipSet(bins, np.asarray(clips, dtype=np.int64))


def synthetic_config(root: Path) -> SyntheticEventConfig | None:
    """The generator settings of a synthetic root (from events_info.json), or None for other data."""
    path = root / INFO_FILE
    if not path.is_file():
        return None
    try:
        values = dict(json.loads(path.read_text())["config"])
        values["dvs"] = DVSConfig(**values["dvs"])
        return SyntheticEventConfig(**values)
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"not a valid {INFO_FILE} ({err})", path) from None


def clip_bank(events: SyntheticEventConfig, backbone: BackboneConfig, per_class: int, seed: int,
              progress: bool = True) -> ClipSet:
    """Extra labelled clips, `per_class` per class, each from a fresh scene.

    A scene gets a video length and anomalous intervals drawn as for the data set; the clip (`backbone.frames`
    bins) lies inside one of its intervals (anomalies) or anywhere (Normal), and only the clip is rendered.
    """
    window = backbone.frames * backbone.frame_us // FRAME_US
    size = (backbone.width, backbone.height)
    bins = []
    jobs = [(c, i) for c in range(len(CLASSES)) for i in range(per_class)]
    for class_index, i in tqdm(jobs, desc="clip bank", unit="clip", disable=not progress, leave=False):
        rng = np.random.default_rng([seed, 101, class_index, i])
        name = CLASSES[class_index]
        n_frames = video_length(events, rng)
        intervals = [] if name == NORMAL_CLASS else FeatureWorld._intervals(n_frames, rng)
        low, high = intervals[rng.integers(len(intervals))] if intervals else (0, n_frames)
        first = int(rng.integers(low, max(high - window, low) + 1))
        recorded = simulate_scene_events(events, name, n_frames, intervals, rng, window=(first, first + window))
        bins.append(binary_bins(recorded, events.geometry, size, backbone.frame_us, backbone.frames))
    clips = np.array([(video, 0, class_index) for video, (class_index, _) in enumerate(jobs)], dtype=np.int64)
    return ClipSet(bins, clips.reshape(-1, 3))


def _merge(first: ClipSet, second: ClipSet) -> ClipSet:
    shifted = second.clips.copy()
    shifted[:, 0] += len(first.bins)
    return ClipSet(first.bins + second.bins, np.concatenate([first.clips, shifted]))


@torch.no_grad()
def clip_logits(model: SpikingBackbone, clips: ClipSet, batch_size: int = 64) -> np.ndarray:
    """Class logits [N, 14] float32 of every clip."""
    model.eval()
    logits = []
    for start in range(0, len(clips.clips), batch_size):
        x, _ = clips.batch(np.arange(start, min(start + batch_size, len(clips.clips))), model.config.frames)
        logits.append(model(x)[1].numpy())
        functional.reset_net(model)
    return np.concatenate(logits)


def clip_metrics(truth: np.ndarray, predicted: np.ndarray, majority: int) -> dict:
    """Balanced and plain accuracy, the plain accuracy of always answering class `majority`, anomaly-vs-normal
    accuracy and per-class recall and clip counts, of class indices `truth` and `predicted` [N]."""
    normal = CLASSES.index(NORMAL_CLASS)
    present = np.unique(truth)
    recalls = recall_score(truth, predicted, labels=present, average=None, zero_division=0)
    return {
        "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
        "accuracy": float(accuracy_score(truth, predicted)),
        "majority_accuracy": float(np.mean(truth == majority)),
        "majority_class": CLASSES[majority],
        "anomaly_vs_normal_accuracy": float(accuracy_score(truth == normal, predicted == normal)),
        "n_clips": int(truth.size),
        "per_class_recall": {CLASSES[c]: float(r) for c, r in zip(present, recalls)},
        "per_class_clips": {CLASSES[c]: int(np.sum(truth == c)) for c in present},
    }


def prior_shift(natural_counts: np.ndarray, sampled_share: np.ndarray) -> np.ndarray:
    """Logit adjustment [14] from the training batches' class shares to the data set's class frequencies.

    Balanced sampling trains the head for a balanced class prior; adding log(natural / sampled) (natural counts
    Laplace-smoothed) to the logits gives decisions for the data set's prior, i.e. for plain accuracy.
    """
    natural = (natural_counts + 1.0) / (natural_counts.sum() + len(natural_counts))
    return np.log(natural) - np.log(np.maximum(sampled_share, 1e-12))


def evaluate(model: SpikingBackbone, clips: ClipSet, natural_counts: np.ndarray, sampled_share: np.ndarray) -> dict:
    """`clip_metrics` of `clips` (majority: the most frequent class of `natural_counts` [14]) and
    `accuracy_prior_adjusted`, the plain accuracy of the logits shifted by `prior_shift`."""
    logits = clip_logits(model, clips)
    truth = clips.clips[:, 2]
    metrics = clip_metrics(truth, logits.argmax(1), int(natural_counts.argmax()))
    adjusted = (logits + prior_shift(natural_counts, sampled_share)).argmax(1)
    metrics["accuracy_prior_adjusted"] = float(accuracy_score(truth, adjusted))
    return metrics


def pretrain_extractor(events_root: str | Path, out: str | Path, config: PretrainConfig = PretrainConfig(),
                       backbone: BackboneConfig = BackboneConfig(), progress: bool = True) -> dict:
    """Train a backbone on train-split clips, evaluate on test-split clips, save it to `out`; returns the metrics."""
    root = Path(events_root)
    check_events_root(root)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_set = clip_set(root, "train", backbone, stride=1)
    natural_counts = np.bincount(train_set.clips[:, 2], minlength=len(CLASSES)).astype(np.float64)
    events_config = synthetic_config(root)
    if events_config is not None and config.bank_per_class > 0:
        bank = clip_bank(events_config, backbone, config.bank_per_class, config.seed + 7919, progress)
        train_set = _merge(train_set, bank)
    test_set = clip_set(root, "test", backbone, stride=backbone.snippet_frames)
    counts = np.bincount(train_set.clips[:, 2], minlength=len(CLASSES)).astype(np.float64)
    weights = _sampling_weights(train_set.clips[:, 2], counts, config.normal_share)
    model = SpikingBackbone(backbone)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 1.0 - i / config.iterations)
    loss_fn = nn.CrossEntropyLoss()
    started = time.perf_counter()
    bar = tqdm(range(config.iterations), desc="pretrain-extractor", unit="batch", disable=not progress)
    for _ in bar:
        model.train()
        rows = rng.choice(len(train_set.clips), size=config.batch_size, p=weights)
        x, y = train_set.batch(rows, backbone.frames)
        flip = torch.from_numpy(rng.random(len(rows)) < 0.5)
        x[flip] = x[flip].flip(-1)
        loss = loss_fn(model(x)[1], y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        functional.reset_net(model)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - started
    sampled = np.bincount(train_set.clips[:, 2], weights=weights, minlength=len(CLASSES))
    metrics = evaluate(model, test_set, natural_counts, sampled)
    seen = _subset(train_set, rng, 1024)
    seen_accuracy = balanced_accuracy_score(seen.clips[:, 2], clip_logits(model, seen).argmax(1))
    metrics.update({"train_balanced_accuracy": float(seen_accuracy), "train_clips": int(len(train_set.clips)),
                    "train_seconds": seconds,
                    "train_class_counts": {CLASSES[c]: int(n) for c, n in enumerate(counts) if n}})
    save_extractor(out, model, metrics)
    logger.info("balanced accuracy %.3f, accuracy %.3f (majority %.3f) on %d test clips", metrics["balanced_accuracy"],
                metrics["accuracy"], metrics["majority_accuracy"], metrics["n_clips"])
    return metrics


def _sampling_weights(labels: np.ndarray, counts: np.ndarray, normal_share: float) -> np.ndarray:
    """Per-clip probabilities: Normal clips get `normal_share` in all, the anomaly classes share the rest equally."""
    normal = CLASSES.index(NORMAL_CLASS)
    present = np.flatnonzero(counts)
    anomalies = [c for c in present if c != normal]
    share = np.zeros(len(counts))
    if anomalies:
        share[anomalies] = (1.0 - normal_share if counts[normal] else 1.0) / len(anomalies)
    if counts[normal]:
        share[normal] = normal_share if anomalies else 1.0
    weights = share[labels] / counts[labels]
    return weights / weights.sum()


def _subset(clips: ClipSet, rng: np.random.Generator, n: int) -> ClipSet:
    rows = rng.choice(len(clips.clips), size=min(n, len(clips.clips)), replace=False)
    return ClipSet(clips.bins, clips.clips[rows])
