"""Extractor checkpoints: backbone configuration, weights and pretraining metrics (loaded with weights_only=True)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from ucfdvs.atomic import atomic_path
from ucfdvs.errors import UserError
from ucfdvs.train.extractor.backbone import BackboneConfig, SpikingBackbone

EXTRACTOR_FORMAT = "ucfdvs-extractor/2"
"""Version 2: context frames before the snippet and the max-over-space readout (version 1 checkpoints are refused)."""


def save_extractor(path: str | Path, model: SpikingBackbone, metrics: dict[str, Any] | None = None) -> None:
    """Write the backbone (config + state dict) and its metrics atomically."""
    payload = {
        "format": EXTRACTOR_FORMAT,
        "backbone": model.config.as_dict(),
        "state_dict": model.state_dict(),
        "metrics": metrics or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_extractor(path: str | Path) -> tuple[SpikingBackbone, dict[str, Any]]:
    """The frozen backbone (eval mode, no gradients) and its metrics; bad files raise `UserError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError("extractor checkpoint not found", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise UserError(f"not a readable extractor checkpoint ({type(err).__name__})", path) from None
    if not isinstance(payload, dict) or payload.get("format") != EXTRACTOR_FORMAT:
        raise UserError(f"not an extractor checkpoint (format is not {EXTRACTOR_FORMAT})", path)
    try:
        model = SpikingBackbone(BackboneConfig.from_dict(payload["backbone"]))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise UserError(f"extractor checkpoint does not match the backbone ({err})", path) from None
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, dict(payload.get("metrics", {}))
