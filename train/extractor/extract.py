"""Extract one D-dimensional spiking feature per 533,328 us snippet and write the official feature layout.

    OUT/features_video/<extractor>/<modality>/<Video>_x264.npy   [n_snippets, D] float32 (firing rates)
    OUT/train_split.txt, OUT/test_split.txt, OUT/GT/gt-ucf-dic.pickle, OUT/Temporal_Anomaly_Annotation.txt
                                                                  copied from the events root
    OUT/extractor_info.json                                       backbone, checkpoint and source

The folder names default to the layout's defaults (Spikingformer / feature_hardvs) so that `ucfdvs train`
finds the features without options; `extractor_info.json` says which backbone produced them. A test video's
snippet count follows its GT frame count (ceil(frames / 16)); other videos use their last event time. A
snippet's feature is computed from the backbone's window of frames ending with the snippet (its own 533,328 us
and, with the default backbone, the snippet before it), every snippet starting from rest.
Without a checkpoint argument, ROOT/extractor.pt (in the events root) is used if present.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from spikingjelly.activation_based import functional
from tqdm import tqdm

from ucfdvs.atomic import atomic_dir, check_output_dir
from ucfdvs.errors import UserError
from ucfdvs.train.extractor.backbone import SpikingBackbone
from ucfdvs.train.extractor.checkpoint import load_extractor
from ucfdvs.train.extractor.event_frames import binary_bins, check_events_root, load_events, snippet_count, snippet_windows
from ucfdvs.train.layout import DEFAULT_EXTRACTOR, DEFAULT_MODALITY, SPLITS, FeatureLayout, load_ground_truth, read_split
from ucfdvs.train.synthetic_events import read_geometry
from ucfdvs.train.ucf_classes import SNIPPET_US

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = "extractor.pt"
"""Checkpoint looked for in the events root when none is given."""
BATCH_SNIPPETS = 512
"""Snippets gathered (over videos) before running the backbone."""
COPIED = ("train_split.txt", "test_split.txt", "Temporal_Anomaly_Annotation.txt")


@torch.no_grad()
def snippet_features(model: SpikingBackbone, snippets: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Features [n, D] float32 of binary snippet frames [n, T, 2, H, W]; every snippet starts from rest.

    Batches are zero-padded to `batch_size`: SpikingJelly's scripted LIF kernels are slow for the first calls
    with each new input shape, so one fixed shape is much faster than one shape per video.
    """
    out = []
    for start in range(0, len(snippets), batch_size):
        chunk = snippets[start:start + batch_size]
        x = torch.zeros((batch_size, *snippets.shape[1:]), dtype=torch.float32)
        x[:len(chunk)] = torch.from_numpy(chunk.astype(np.float32))
        out.append(model.features(x)[:len(chunk)].numpy())
        functional.reset_net(model)
    return np.concatenate(out).astype(np.float32)


def video_snippets(root: Path, stem: str, model: SpikingBackbone, n_frames: int | None) -> np.ndarray:
    """Binary input frames [n_snippets, T, 2, H, W] uint8 of one recording (`snippet_windows`)."""
    config = model.config
    geometry = read_geometry(root)
    events = load_events(root, stem, geometry)
    n = snippet_count(events, SNIPPET_US, n_frames)
    n_bins = max(n * config.snippet_frames, config.frames)
    bins = binary_bins(events, geometry, (config.width, config.height), config.frame_us, n_bins)
    return snippet_windows(bins, n, config.snippet_frames, config.frames)


def default_backbone(seed: int = 0) -> SpikingBackbone:
    """An untrained backbone with seeded random weights (for throughput measurements; its deep layers barely spike)."""
    torch.manual_seed(seed)
    model = SpikingBackbone().eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def extract_features(events_root: str | Path, out: str | Path, checkpoint: str | Path | None = None,
                     extractor: str = DEFAULT_EXTRACTOR, modality: str = DEFAULT_MODALITY, force: bool = False,
                     progress: bool = True) -> dict:
    """Write features of every video of both splits under `out` (all or nothing); returns counts and timing."""
    root = Path(events_root)
    check_events_root(root)
    check_output_dir(out, force)
    source = FeatureLayout(root)
    stems = {split: read_split(source, split) for split in SPLITS}
    ground_truth = load_ground_truth(source)
    if checkpoint is None:
        checkpoint = root / DEFAULT_CHECKPOINT
        if not checkpoint.is_file():
            raise UserError("no extractor checkpoint given and none in the events root; run pretrain-extractor "
                            f"--events {root} --out {checkpoint} first, or pass --checkpoint", checkpoint)
    model, metrics = load_extractor(checkpoint)
    started = time.perf_counter()
    n_snippets = 0
    with atomic_dir(out, force=force) as tmp:
        layout = FeatureLayout(tmp, extractor, modality)
        layout.feature_dir.mkdir(parents=True)
        jobs = [stem for split in SPLITS for stem in stems[split]]
        pending: list[tuple[str, np.ndarray]] = []
        for index, stem in enumerate(tqdm(jobs, desc="extract", unit="video", disable=not progress)):
            labels = ground_truth.get(stem)
            pending.append((stem, video_snippets(root, stem, model, None if labels is None else len(labels))))
            if sum(len(s) for _, s in pending) >= BATCH_SNIPPETS or index == len(jobs) - 1:
                n_snippets += _write_features(model, pending, layout)
                pending = []
        for name in COPIED:
            if (root / name).is_file():
                shutil.copyfile(root / name, tmp / name)
        layout.gt_path.parent.mkdir(parents=True)
        shutil.copyfile(source.gt_path, layout.gt_path)
        seconds = time.perf_counter() - started
        info = {"backbone": model.config.as_dict(), "checkpoint": str(checkpoint),
                "checkpoint_sha256": _sha256(Path(checkpoint)),
                "pretrain_metrics": metrics, "events_root": str(root), "feature_dim": model.config.feature_dim,
                "n_videos": len(jobs), "n_snippets": n_snippets, "seconds": seconds}
        (tmp / "extractor_info.json").write_text(json.dumps(info, indent=1))
    return {"videos": len(jobs), "snippets": n_snippets, "seconds": seconds,
            "snippets_per_second": n_snippets / max(seconds, 1e-9)}


def _write_features(model: SpikingBackbone, pending: list[tuple[str, np.ndarray]], layout: FeatureLayout) -> int:
    """Run the snippets of several videos as one stream of fixed-size batches and save each video's features."""
    features = snippet_features(model, np.concatenate([snippets for _, snippets in pending]))
    start = 0
    for stem, snippets in pending:
        np.save(layout.feature_path(stem), features[start:start + len(snippets)])
        start += len(snippets)
    return start


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
