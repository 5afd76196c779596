"""Extract one D-dimensional spiking feature per 533,328 us snippet and write the official feature layout.

    OUT/features_video/<extractor>/<modality>/<Video>_x264.npy          [n_snippets, D] float32 (firing rates)
    OUT/features_video/<extractor>/<modality>/<Video>_x264.npy.sha256   SHA-256 of the extractor checkpoint
    OUT/train_split.txt, OUT/test_split.txt, OUT/GT/gt-ucf-dic.pickle, OUT/Temporal_Anomaly_Annotation.txt
                                                                         copied from the events root
    OUT/extractor_info.json                                              backbone, checkpoint and source

The folder names default to the layout's defaults (Spikingformer / feature_hardvs) so that `ucfdvs train`
finds the features without options; `extractor_info.json` says which backbone produced them. A test video's
snippet count follows its GT frame count (ceil(frames / 16)); other videos use their last event time. A
snippet's feature is computed from the backbone's window of frames ending with the snippet (its own 533,328 us
and, with the default backbone, the snippet before it), every snippet starting from rest.
Without a checkpoint argument, ROOT/extractor.pt (in the events root) is used if present.

One task per video (`extract_video`), run in-process, on a local Dask cluster or on an existing one
(`ucfdvs.train.task_runner`). A video streams its events (npz members in chunks) through the snippet windows
(`SnippetWindows`) into the backbone, batch by batch, so memory does not grow with its length; its features
and then the checkpoint hash beside them are written atomically. A rerun skips every video whose features
exist with the same checkpoint hash (resume), so an interrupted or partly failed run is finished by running it
again. A failing video is reported and the others go on; the run then ends with a `UserError` listing them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from spikingjelly.activation_based import functional
from tqdm import tqdm

from ucfdvs.atomic import atomic_path
from ucfdvs.errors import UserError
from ucfdvs.events import Geometry
from ucfdvs.train.extractor.backbone import SpikingBackbone
from ucfdvs.train.extractor.checkpoint import load_extractor
from ucfdvs.train.extractor.event_frames import (
    SnippetWindows, check_events_root, event_path, iter_recording, snippets_for_frames, stream_snippet_windows,
)
from ucfdvs.train.layout import DEFAULT_EXTRACTOR, DEFAULT_MODALITY, SPLITS, FeatureLayout, load_ground_truth, read_split
from ucfdvs.train.synthetic_events import read_geometry
from ucfdvs.train.task_runner import run_tasks
from ucfdvs.train.torch_threads import torch_threads

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = "extractor.pt"
"""Checkpoint looked for in the events root when none is given."""
BATCH_SNIPPETS = 64
"""Snippets per backbone batch (zero-padded to this size)."""
HASH_SUFFIX = ".sha256"
"""Beside <Video>.npy: <Video>.npy.sha256 holds the SHA-256 of the checkpoint that made it."""
CRASH_ONCE_ENV = "UCFDVS_TEST_CRASH_ONCE"
"""Test hook: "STEM:MARKER" makes the process extracting STEM exit at once if MARKER does not exist (it is
created first), as a worker killed mid-run would."""
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


def default_backbone(seed: int = 0) -> SpikingBackbone:
    """An untrained backbone with seeded random weights (for throughput measurements; its deep layers barely spike)."""
    torch.manual_seed(seed)
    model = SpikingBackbone().eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


@dataclass(frozen=True)
class VideoJob:
    """One video to extract: its events file, where its features go, and the checkpoint to use."""

    stem: str
    events: Path
    features: Path
    checkpoint: Path
    checkpoint_sha256: str
    geometry: Geometry
    n_frames: int | None


_MODELS: dict[tuple[str, str], SpikingBackbone] = {}


def _model(job: VideoJob) -> SpikingBackbone:
    """The job's backbone, loaded once per process (Dask workers keep it between tasks)."""
    key = (str(job.checkpoint), job.checkpoint_sha256)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = load_extractor(job.checkpoint)[0]
    return _MODELS[key]


def _crash_hook(stem: str) -> None:
    spec = os.environ.get(CRASH_ONCE_ENV)
    if spec:
        target, _, marker = spec.partition(":")
        if target == stem and not Path(marker).exists():
            Path(marker).touch()
            os._exit(3)


def video_features(model: SpikingBackbone, path: Path, geometry: Geometry, n_frames: int | None) -> tuple[np.ndarray, int]:
    """Features [n_snippets, D] float32 of one recording (npz or RAW), streamed, and its number of events."""
    config = model.config
    n_snippets = None if n_frames is None else snippets_for_frames(n_frames)
    windows = SnippetWindows(geometry, Geometry(config.width, config.height), config.frame_us,
                             config.snippet_frames, config.frames, n_snippets)
    features, batch = [], []
    for window in stream_snippet_windows(iter_recording(path, geometry), windows):
        batch.append(window)
        if len(batch) == BATCH_SNIPPETS:
            features.append(snippet_features(model, np.stack(batch), BATCH_SNIPPETS))
            batch = []
    if batch:
        features.append(snippet_features(model, np.stack(batch), BATCH_SNIPPETS))
    return np.concatenate(features), windows.events


def extract_video(job: VideoJob) -> dict:
    """Extract and write one video's features, then its checkpoint hash (each atomically); returns its counts."""
    started = time.perf_counter()
    _crash_hook(job.stem)
    with torch_threads(1):
        features, events = video_features(_model(job), job.events, job.geometry, job.n_frames)
    with atomic_path(job.features) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, features)
    with atomic_path(job.features.with_name(job.features.name + HASH_SUFFIX)) as tmp:
        tmp.write_text(job.checkpoint_sha256 + "\n")
    return {"events": events, "snippets": int(len(features)), "seconds": time.perf_counter() - started}


def is_done(features: Path, checkpoint_sha256: str) -> bool:
    """Whether `features` exist and were made by the checkpoint with this hash."""
    marker = features.with_name(features.name + HASH_SUFFIX)
    return features.is_file() and marker.is_file() and marker.read_text().strip() == checkpoint_sha256


def _check_output(out: Path, layout: FeatureLayout, force: bool) -> None:
    """Accept a missing or empty folder, or one that holds features in this layout (to resume); else need force."""
    if out.exists() and not out.is_dir():
        raise UserError("exists and is not a folder", out)
    if out.is_dir() and any(out.iterdir()) and not layout.feature_dir.is_dir() and not force:
        raise UserError("output folder is not empty and holds no features to resume (pass --force to write into "
                        "it)", out)


def extract_features(events_root: str | Path, out: str | Path, checkpoint: str | Path | None = None,
                     extractor: str = DEFAULT_EXTRACTOR, modality: str = DEFAULT_MODALITY, force: bool = False,
                     progress: bool = True, workers: int = 1, scheduler: str | None = None) -> dict:
    """Write features of every video of both splits under `out`, one task per video; returns counts and rates.

    Videos already extracted with the same checkpoint are skipped unless `force`. `workers` processes on a
    local Dask cluster (1: in this process), or the cluster at `scheduler`. Raises `UserError` after the run
    if any video failed, naming them (their errors are logged as they happen).
    """
    root = Path(events_root)
    out = Path(out)
    check_events_root(root)
    layout = FeatureLayout(out, extractor, modality)
    _check_output(out, layout, force)
    source = FeatureLayout(root)
    stems = [stem for split in SPLITS for stem in read_split(source, split)]
    ground_truth = load_ground_truth(source)
    if checkpoint is None:
        checkpoint = root / DEFAULT_CHECKPOINT
        if not checkpoint.is_file():
            raise UserError("no extractor checkpoint given and none in the events root; run pretrain-extractor "
                            f"--events {root} --out {checkpoint} first, or pass --checkpoint", checkpoint)
    checkpoint = Path(checkpoint).resolve()
    model, metrics = load_extractor(checkpoint)
    sha = _sha256(checkpoint)
    _MODELS.clear()
    _MODELS[(str(checkpoint), sha)] = model  # tasks run in this process (workers=1) reuse it
    geometry = read_geometry(root)
    layout.feature_dir.mkdir(parents=True, exist_ok=True)
    jobs = [VideoJob(stem, event_path(root, stem).resolve(), layout.feature_path(stem).resolve(), checkpoint, sha,
                     geometry, len(ground_truth[stem]) if stem in ground_truth else None) for stem in stems]
    todo = [job for job in jobs if force or not is_done(job.features, sha)]
    started = time.perf_counter()
    totals = {"events": 0, "snippets": 0}
    failed: dict[str, str] = {}
    bar = tqdm(total=len(todo), desc="extract", unit="video", disable=not progress)
    try:
        for job, result, error in run_tasks(extract_video, todo, workers, scheduler):
            if error is not None:
                failed[job.stem] = error
                bar.write(f"failed: {job.stem}: {error}")
                logger.warning("%s failed: %s", job.stem, error)
            else:
                totals["events"] += result["events"]
                totals["snippets"] += result["snippets"]
            bar.update(1)
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    summary = {"videos": len(jobs), "extracted": len(todo) - len(failed), "skipped": len(jobs) - len(todo),
               "failed": len(failed), "events": totals["events"], "snippets": totals["snippets"],
               "seconds": seconds, "events_per_second": totals["events"] / max(seconds, 1e-9),
               "snippets_per_second": totals["snippets"] / max(seconds, 1e-9),
               "workers": workers, "scheduler": scheduler}
    if failed:
        errors = "; ".join(failed[stem] for stem in sorted(failed))
        raise UserError(f"{len(failed)} of {len(todo)} videos failed (the others are written; a rerun retries "
                        f"only these): {errors}")
    _write_metadata(root, out, source, layout, model, metrics, checkpoint, sha, summary)
    return summary


def _write_metadata(root: Path, out: Path, source: FeatureLayout, layout: FeatureLayout, model: SpikingBackbone,
                    metrics: dict, checkpoint: Path, sha: str, summary: dict) -> None:
    """Copy the split files and GT, and write extractor_info.json (each atomically)."""
    for name in COPIED:
        if (root / name).is_file():
            with atomic_path(out / name) as tmp:
                shutil.copyfile(root / name, tmp)
    with atomic_path(layout.gt_path) as tmp:
        shutil.copyfile(source.gt_path, tmp)
    info = {"backbone": model.config.as_dict(), "checkpoint": str(checkpoint), "checkpoint_sha256": sha,
            "pretrain_metrics": metrics, "events_root": str(root), "feature_dim": model.config.feature_dim,
            "n_videos": summary["videos"], "last_run": summary}
    with atomic_path(out / "extractor_info.json") as tmp:
        tmp.write_text(json.dumps(info, indent=1))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
