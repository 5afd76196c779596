"""Pretrain the spiking extractor on 14-way classification of labelled synthetic clips.

A clip is 4 consecutive 133,332 us bins (one snippet's length) of one recording. Labels come from
ROOT/synthetic_intervals.json: an anomalous video's window covered >= 75 % by an annotated interval gets
the video's class; windows of normal videos, and windows of anomalous videos outside every interval, are
Normal; other windows are not used. Training clips come from the train split and, for a synthetic root
(ROOT/events_info.json present), from a bank of extra short labelled recordings simulated with the root's
sensor settings and a different seed: per class `bank_per_class` recordings of `bank_snippets` snippets,
anomalous from start to end. Training uses every bin offset, random horizontal flips and balanced
sampling (Normal drawn `normal_share` of the time, the 13 anomaly classes equally); accuracy is measured on
snippet-aligned clips of the test split, i.e. on videos never seen in pretraining.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from spikingjelly.activation_based import functional
from torch import nn
from tqdm import tqdm

from train.errors import UserError
from train.extractor.backbone import CLASSES, BackboneConfig, SpikingBackbone
from train.extractor.checkpoint import save_extractor
from train.extractor.event_frames import binary_bins, check_events_root, load_events
from train.layout import FeatureLayout, read_split
from train.dvs_simulator import DVSConfig
from train.synthetic_events import INFO_FILE, INTERVALS_FILE, SyntheticEventConfig, read_geometry, simulate_scene_events
from train.ucf_classes import FRAME_US, FRAMES_PER_SNIPPET, NORMAL_CLASS

logger = logging.getLogger(__name__)

MIN_COVERAGE = 0.75


@dataclass(frozen=True)
class PretrainConfig:
    """Optimisation settings: `iterations` batches of `batch_size` clips, Adam with linear decay."""

    iterations: int = 3000
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    bank_per_class: int = 48
    bank_snippets: int = 4
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
    """Clips of one split every `stride` bins, labelled as in the module docstring."""
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


def clip_bank(events: SyntheticEventConfig, backbone: BackboneConfig, per_class: int, n_snippets: int,
              seed: int, progress: bool = True) -> ClipSet:
    """Extra labelled clips: `per_class` short recordings per class, every window of `backbone.frames` bins."""
    frames_per_bin = backbone.frame_us // FRAME_US
    n_frames = n_snippets * FRAMES_PER_SNIPPET
    n_bins = n_frames // frames_per_bin
    bins, clips = [], []
    jobs = [(c, i) for c in range(len(CLASSES)) for i in range(per_class)]
    for class_index, i in tqdm(jobs, desc="clip bank", unit="clip", disable=not progress, leave=False):
        rng = np.random.default_rng([seed, 101, class_index, i])
        name = CLASSES[class_index]
        intervals = [] if name == NORMAL_CLASS else [(0, n_frames)]
        recorded = simulate_scene_events(events, name, n_frames, intervals, rng)
        video = len(bins)
        bins.append(binary_bins(recorded, events.geometry, (backbone.width, backbone.height), backbone.frame_us, n_bins))
        clips.extend((video, first, class_index) for first in range(n_bins - backbone.frames + 1))
    return ClipSet(bins, np.asarray(clips, dtype=np.int64))


def _merge(first: ClipSet, second: ClipSet) -> ClipSet:
    shifted = second.clips.copy()
    shifted[:, 0] += len(first.bins)
    return ClipSet(first.bins + second.bins, np.concatenate([first.clips, shifted]))


@torch.no_grad()
def evaluate_clips(model: SpikingBackbone, clips: ClipSet, batch_size: int = 64) -> dict[str, float]:
    """14-way accuracy, class-balanced accuracy and anomaly-vs-normal accuracy of `clips`."""
    model.eval()
    predictions = []
    for start in range(0, len(clips.clips), batch_size):
        x, _ = clips.batch(np.arange(start, min(start + batch_size, len(clips.clips))), model.config.frames)
        predictions.append(model(x)[1].argmax(1).numpy())
        functional.reset_net(model)
    predicted = np.concatenate(predictions)
    truth = clips.clips[:, 2]
    normal = CLASSES.index(NORMAL_CLASS)
    recalls = {CLASSES[c]: float(np.mean(predicted[truth == c] == c)) for c in np.unique(truth)}
    return {
        "clip_accuracy": float(np.mean(predicted == truth)),
        "balanced_accuracy": float(np.mean(list(recalls.values()))),
        "anomaly_vs_normal_accuracy": float(np.mean((predicted == normal) == (truth == normal))),
        "n_clips": int(truth.size),
        "per_class_recall": recalls,
    }


def pretrain_extractor(events_root: str | Path, out: str | Path, config: PretrainConfig = PretrainConfig(),
                       backbone: BackboneConfig = BackboneConfig(), progress: bool = True) -> dict:
    """Train a backbone on train-split clips, evaluate on test-split clips, save it to `out`; returns the metrics."""
    root = Path(events_root)
    check_events_root(root)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_set = clip_set(root, "train", backbone, stride=1)
    events_config = synthetic_config(root)
    if events_config is not None and config.bank_per_class > 0:
        bank = clip_bank(events_config, backbone, config.bank_per_class, config.bank_snippets, config.seed + 7919, progress)
        train_set = _merge(train_set, bank)
    test_set = clip_set(root, "test", backbone, stride=backbone.frames)
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
    metrics = evaluate_clips(model, test_set)
    metrics.update({"train_clips": int(len(train_set.clips)), "train_seconds": seconds,
                    "train_class_counts": {CLASSES[c]: int(n) for c, n in enumerate(counts) if n}})
    metrics["train_accuracy"] = evaluate_clips(model, _subset(train_set, rng, 512))["clip_accuracy"]
    save_extractor(out, model, metrics)
    logger.info("clip accuracy %.3f on %d test clips", metrics["clip_accuracy"], metrics["n_clips"])
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
