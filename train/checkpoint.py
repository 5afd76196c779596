"""Checkpoints that say what they hold: architecture, hyper-parameters, weights and training state.

Loaded with `torch.load(weights_only=True)`, so a checkpoint cannot run code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ucfdvs.atomic import atomic_path
from ucfdvs.errors import UserError
from ucfdvs.train.model.registry import build_model

CHECKPOINT_FORMAT = "ucfdvs-checkpoint/1"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (in eval mode) and the rest of the payload."""

    model: nn.Module
    arch: str
    iteration: int = 0
    best_auc: float = float("nan")
    optimizer_state: dict | None = None
    training_state: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    arch: str,
    *,
    iteration: int = 0,
    best_auc: float = float("nan"),
    optimizer: torch.optim.Optimizer | None = None,
    training_state: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch,
        "hyperparameters": model.hyperparameters(),
        "state_dict": model.state_dict(),
        "iteration": iteration,
        "best_auc": best_auc,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "training_state": training_state or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_checkpoint(path: str | Path, expect_arch: str | None = None) -> Checkpoint:
    """Rebuild the model a checkpoint holds; a clear `UserError` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise UserError("checkpoint not found", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated or foreign files
        raise UserError(f"not a readable checkpoint (truncated or not a torch file: {str(err).splitlines()[0]})", path) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"not a ucfdvs checkpoint (expected format {CHECKPOINT_FORMAT})", path)
    arch = payload.get("arch")
    if expect_arch is not None and arch != expect_arch:
        raise UserError(f"holds architecture {arch!r}, expected {expect_arch!r}", path)
    try:
        model = build_model(arch, payload.get("hyperparameters"))
    except UserError as err:
        raise UserError(str(err), path) from None
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise UserError("holds no weights", path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise UserError(
            f"weights do not match architecture {arch!r} (missing {missing[:3]}, unexpected {unexpected[:3]})", path
        )
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise UserError(
                f"weight {key} has shape {tuple(state[key].shape)}, architecture {arch!r} needs {tuple(value.shape)}",
                path,
            )
    model.load_state_dict(state)
    model.eval()
    return Checkpoint(
        model=model,
        arch=arch,
        iteration=int(payload.get("iteration", 0)),
        best_auc=float(payload.get("best_auc", float("nan"))),
        optimizer_state=payload.get("optimizer"),
        training_state=payload.get("training_state") or {},
        sha256=file_sha256(path),
    )
