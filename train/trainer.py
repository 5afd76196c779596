"""Weakly supervised training of MSF (or the linear baseline); `ucfdvs train`.

A run folder holds `config.json`, `metrics.csv` (one row per evaluation, for plotting),
`last.pt` (to resume) and `best.pt` (best frame AUC on the test split).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from ucfdvs.atomic import atomic_path
from ucfdvs.train.checkpoint import load_checkpoint, save_checkpoint
from ucfdvs.errors import UserError
from ucfdvs.train.evaluate import TestSet
from ucfdvs.train.layout import FeatureLayout, load_split
from ucfdvs.train.loss import LossParts, mil_loss
from ucfdvs.train.model.neurons import select_backend
from ucfdvs.train.model.registry import build_model
from ucfdvs.train.sampling import Batch, BatchSampler

log = logging.getLogger(__name__)

RUN_FILES = ("config.json", "metrics.csv", "last.pt", "best.pt")
METRIC_COLUMNS = ("iteration", "loss", "mil", "smoothness", "auc_all", "auc_abnormal", "far_all", "far_normal", "elapsed_s")


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (defaults: the paper's protocol)."""

    arch: str = "msf"
    iterations: int = 3000
    eval_every: int = 100
    lr: float = 1e-4
    weight_decay: float = 5e-4
    seed: int = 1213
    per_class: int = 30
    snippets: int = 16


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, device: torch.device) -> LossParts:
    """One weakly supervised step on a batch: forward, top-k MIL loss, backward, optimizer update."""
    model.train()
    lengths = batch.lengths.to(device)
    scores = model(batch.features.to(device), lengths)
    parts = mil_loss(scores, lengths, batch.labels.to(device))
    optimizer.zero_grad(set_to_none=True)
    parts.total.backward()
    optimizer.step()
    return parts


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def prepare_run_folder(out: Path, resume: Path | None, force: bool) -> None:
    """Refuse a folder that already holds a run unless resuming or `force` (which clears the run files only)."""
    if out.exists() and not out.is_dir():
        raise UserError("exists and is not a folder", out)
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if existing and resume is None:
        if not force:
            raise UserError(f"already holds a run ({', '.join(existing)}); pass --force to replace it", out)
        for name in existing:
            (out / name).unlink()
    out.mkdir(parents=True, exist_ok=True)


def _write_metrics(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def _read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def train(
    data: FeatureLayout,
    out: Path,
    config: TrainConfig = TrainConfig(),
    device: torch.device = torch.device("cpu"),
    resume: Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Train, evaluating every `eval_every` iterations and keeping the best checkpoint by frame AUC.

    Returns the best evaluation's metrics with its iteration.
    """
    prepare_run_folder(out, resume, force)
    train_videos = load_split(data, "train")
    feature_dim = train_videos[0].features.shape[1]
    test_set = TestSet(data, feature_dim)
    torch.manual_seed(config.seed)
    sampler = BatchSampler(train_videos, config.per_class, config.snippets, config.seed)

    if resume is not None:
        checkpoint = load_checkpoint(resume, expect_arch=config.arch)
        model = checkpoint.model
        if model.feature_dim != feature_dim:
            raise UserError(f"model expects D={model.feature_dim}, the data has D={feature_dim}", resume)
        start, best_auc = checkpoint.iteration, checkpoint.best_auc
        if "sampler" not in checkpoint.training_state:
            raise UserError("holds no training state (resume from the run's last.pt)", resume)
        sampler.set_state(checkpoint.training_state["sampler"])
        torch.set_rng_state(checkpoint.training_state["torch_rng"])
        rows = _read_metrics(out / "metrics.csv")
        rows = [row for row in rows if int(row["iteration"]) <= start]
    else:
        model = build_model(config.arch, {"feature_dim": feature_dim})
        start, best_auc, rows = 0, float("-inf"), []
    model.to(device)
    select_backend(model, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if resume is not None and checkpoint.optimizer_state is not None:
        optimizer.load_state_dict(checkpoint.optimizer_state)

    with atomic_path(out / "config.json") as tmp:
        tmp.write_text(json.dumps({**asdict(config), "data": str(data.root), "device": str(device)}, indent=2) + "\n")

    begin = time.perf_counter()
    best_row: dict = next((row for row in rows if float(row["auc_all"]) == best_auc), {})
    bar = tqdm(range(start, config.iterations), initial=start, total=config.iterations, desc="train", disable=not progress)
    for iteration in bar:
        parts = train_step(model, optimizer, sampler.sample(), device)
        done = iteration + 1
        if done % config.eval_every == 0 or done == config.iterations:
            metrics, _ = test_set.evaluate(model, device)
            row = {
                "iteration": done,
                "loss": parts.total.detach().item(),
                "mil": parts.mil.detach().item(),
                "smoothness": parts.smoothness.detach().item(),
                **{key: metrics[key] for key in METRIC_COLUMNS[4:8]},
                "elapsed_s": round(time.perf_counter() - begin, 3),
            }
            rows.append(row)
            _write_metrics(out / "metrics.csv", rows)
            state = {"sampler": sampler.state(), "torch_rng": torch.get_rng_state()}
            if metrics["auc_all"] > best_auc:
                best_auc, best_row = metrics["auc_all"], row
                save_checkpoint(out / "best.pt", model, config.arch, iteration=done, best_auc=best_auc)
            save_checkpoint(
                out / "last.pt", model, config.arch, iteration=done, best_auc=best_auc,
                optimizer=optimizer, training_state=state,
            )
            bar.set_postfix(loss=f"{parts.total.detach().item():.3f}", auc=f"{metrics['auc_all']:.4f}", best=f"{best_auc:.4f}")
            log.info("iteration %d: auc_all %.4f (best %.4f)", done, metrics["auc_all"], best_auc)
    return {key: float(value) for key, value in best_row.items()}
