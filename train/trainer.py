"""Weakly supervised training of MSF (or the linear baseline); `ucfdvs train`.

A validation set is carved from the training split (by video, stratified by class, seed recorded,
`layout.split_validation`). Every `eval_every` iterations the model is scored on the validation set
and on the test split; `best.pt` keeps the best frame AUC on the split named by `select_on`
(`val` by default; `test` is the released code's protocol and optimistic).

A run folder holds `config.json` (the configuration, the validation videos and where their frame
labels come from), `metrics.csv` (one row per evaluation: validation and test side by side),
`last.pt` (to resume) and `best.pt`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from ucfdvs.atomic import atomic_path
from ucfdvs.train.checkpoint import load_checkpoint, save_checkpoint
from ucfdvs.errors import UserError
from ucfdvs.train.evaluate import EvalSet, TestSet, validation_set
from ucfdvs.train.layout import FeatureLayout, Video, load_split, split_validation
from ucfdvs.train.loss import LossParts, mil_loss
from ucfdvs.train.model.neurons import select_backend
from ucfdvs.train.model.registry import build_model
from ucfdvs.train.sampling import Batch, BatchSampler

log = logging.getLogger(__name__)

RUN_FILES = ("config.json", "metrics.csv", "last.pt", "best.pt")
EVAL_KEYS = ("auc_all", "auc_abnormal", "far_all", "far_normal")
METRIC_COLUMNS = (
    "iteration", "loss", "mil", "smoothness",
    *(f"val_{key}" for key in EVAL_KEYS), *(f"test_{key}" for key in EVAL_KEYS), "elapsed_s",
)
SELECT_ON = ("val", "test")
ABLATIONS: dict[str, dict[str, bool]] = {
    "full": {},
    "local": {"use_global": False},
    "global": {"use_local": False},
    "no-tim": {"use_tim": False},
}
"""MSF ablations: the local branch only, the global branch only, without TIM, the full model."""
PAPER_ITERATIONS = 32_200  # the released code: 20 epochs of 1,610 iterations
PAPER_EVAL_EVERY = 200


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters.

    Optimiser, learning rate, weight decay, seed, batch (30 + 30 videos of 16 snippets) are the
    released code's; the schedule is shorter by default (3,000 iterations, evaluation every 100):
    `paper_schedule()` (`--schedule paper`) gives the released 32,200 and 200. `val_fraction` of
    each class's training videos (at least one) is held out for validation, drawn with `val_seed`;
    `select_on` picks the split that chooses `best.pt`; `ablation` (MSF only) one of `ABLATIONS`.
    """

    arch: str = "msf"
    iterations: int = 3000
    eval_every: int = 100
    lr: float = 1e-4
    weight_decay: float = 5e-4
    seed: int = 1213
    per_class: int = 30
    snippets: int = 16
    select_on: str = "val"
    val_fraction: float = 0.1
    val_seed: int = 0
    ablation: str = "full"

    def __post_init__(self) -> None:
        if self.ablation not in ABLATIONS:
            raise ValueError(f"ablation must be one of {tuple(ABLATIONS)}, got {self.ablation!r}")
        if self.ablation != "full" and not self.arch.startswith("msf"):
            raise ValueError(f"ablation {self.ablation!r} applies to MSF only, not {self.arch!r}")
        if self.select_on not in SELECT_ON:
            raise ValueError(f"select_on must be one of {SELECT_ON}, got {self.select_on!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


def paper_schedule(config: TrainConfig) -> TrainConfig:
    """`config` with the released code's schedule: 32,200 iterations, evaluation every 200."""
    return replace(config, iterations=PAPER_ITERATIONS, eval_every=PAPER_EVAL_EVERY)


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


def training_and_validation(data: FeatureLayout, config: TrainConfig,
                            feature_dim: int | None = None) -> tuple[list[Video], EvalSet | None]:
    """(training videos, validation set): the train split less a validation set carved from it
    (`config.val_fraction`, `config.val_seed`, `layout.split_validation`). A split too small to
    carve one is a `UserError` when `config.select_on` is `val`; with `test` all of it trains and
    the validation set is None."""
    train_videos = load_split(data, "train", feature_dim)
    try:
        rest, val_videos = split_validation(train_videos, config.val_fraction, config.val_seed, data.split_path("train"))
    except UserError:
        if config.select_on == "val":
            raise
        return train_videos, None
    return rest, validation_set(val_videos, data)


def split_metrics(model: nn.Module, device: torch.device, val_set: EvalSet | None,
                  test_set: EvalSet | None) -> dict[str, float]:
    """`val_<key>` and `test_<key>` for every key of `EVAL_KEYS` (NaN where a split is missing or lacks it)."""
    row: dict[str, float] = {}
    for name, split in (("val", val_set), ("test", test_set)):
        metrics = split.evaluate(model, device)[0] if split is not None else {}
        row.update({f"{name}_{key}": metrics.get(key, float("nan")) for key in EVAL_KEYS})
    return row


def train(
    data: FeatureLayout,
    out: Path,
    config: TrainConfig = TrainConfig(),
    device: torch.device = torch.device("cpu"),
    resume: Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Train, evaluating on validation and test every `eval_every` iterations; `best.pt` keeps the
    best frame AUC on `config.select_on`.

    Returns the selected evaluation's row (iteration, losses, `val_*` and `test_*` metrics).
    """
    train_videos, val_set = training_and_validation(data, config)
    feature_dim = train_videos[0].features.shape[1]
    test_set = TestSet(data, feature_dim)
    prepare_run_folder(out, resume, force)
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
        model = build_model(config.arch, {"feature_dim": feature_dim, **ABLATIONS[config.ablation]})
        start, best_auc, rows = 0, float("-inf"), []
    model.to(device)
    select_backend(model, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if resume is not None and checkpoint.optimizer_state is not None:
        optimizer.load_state_dict(checkpoint.optimizer_state)

    validation = {"val_videos": [v.stem for v in val_set.videos] if val_set else [],
                  "val_labels": val_set.labels if val_set else None}
    with atomic_path(out / "config.json") as tmp:
        tmp.write_text(json.dumps({**asdict(config), "data": str(data.root), "device": str(device), **validation}, indent=2) + "\n")

    begin = time.perf_counter()
    selected = f"{config.select_on}_auc_all"
    if rows and selected not in rows[0]:
        raise UserError(f"metrics.csv has no {selected} column (written by an older version): start a new run", out / "metrics.csv")
    best_row: dict = next((row for row in rows if float(row[selected]) == best_auc), {})
    bar = tqdm(range(start, config.iterations), initial=start, total=config.iterations, desc="train", disable=not progress)
    for iteration in bar:
        parts = train_step(model, optimizer, sampler.sample(), device)
        done = iteration + 1
        if done % config.eval_every == 0 or done == config.iterations:
            row = {
                "iteration": done,
                "loss": parts.total.detach().item(),
                "mil": parts.mil.detach().item(),
                "smoothness": parts.smoothness.detach().item(),
                **split_metrics(model, device, val_set, test_set),
                "elapsed_s": round(time.perf_counter() - begin, 3),
            }
            rows.append(row)
            _write_metrics(out / "metrics.csv", rows)
            state = {"sampler": sampler.state(), "torch_rng": torch.get_rng_state()}
            if row[selected] > best_auc or not best_row:
                best_auc, best_row = row[selected], row
                save_checkpoint(out / "best.pt", model, config.arch, iteration=done, best_auc=best_auc)
            save_checkpoint(
                out / "last.pt", model, config.arch, iteration=done, best_auc=best_auc,
                optimizer=optimizer, training_state=state,
            )
            bar.set_postfix(loss=f"{parts.total.detach().item():.3f}", auc=f"{row[selected]:.4f}", best=f"{best_auc:.4f}")
            log.info("iteration %d: %s %.4f (best %.4f)", done, selected, row[selected], best_auc)
    return {key: float(value) for key, value in best_row.items()}
