"""Architectures by name, so a checkpoint can say what it holds and be rebuilt from it.

`msf` and `msf-released` are the two MSF variants (`MSFConfig.variant` `paper` and `released`);
a checkpoint's hyper-parameters must name the variant its architecture stands for.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ucfdvs.errors import UserError
from ucfdvs.train.model.linear_mil import LinearMIL, LinearMILConfig
from ucfdvs.train.model.msf import MSF, MSFConfig

ARCHITECTURES: dict[str, tuple[type[nn.Module], type, dict[str, Any]]] = {
    "msf": (MSF, MSFConfig, {"variant": "paper"}),
    "msf-released": (MSF, MSFConfig, {"variant": "released"}),
    "linear": (LinearMIL, LinearMILConfig, {}),
}


def build_model(arch: str, hyperparameters: dict[str, Any] | None = None) -> nn.Module:
    """A fresh model of architecture `arch` (`msf`, `msf-released` or `linear`) with the given hyper-parameters."""
    if arch not in ARCHITECTURES:
        raise UserError(f"unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})")
    model_cls, config_cls, fixed = ARCHITECTURES[arch]
    values = dict(hyperparameters or {})
    for key, value in fixed.items():
        if values.setdefault(key, value) != value:
            raise UserError(f"architecture {arch!r} needs {key} {value!r}, the hyper-parameters say {values[key]!r}")
    if "dilations" in values:
        values["dilations"] = tuple(values["dilations"])
    try:
        config = config_cls(**values)
    except (TypeError, ValueError) as err:
        raise UserError(f"bad hyper-parameters for {arch}: {err}") from None
    return model_cls(config)
