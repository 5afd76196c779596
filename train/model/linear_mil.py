"""The simplest weakly supervised scorer: one linear map per snippet and a sigmoid (a baseline for MSF)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LinearMILConfig:
    feature_dim: int = 256


class LinearMIL(nn.Module):
    """`[B, T, D]` features -> `[B, T]` scores = sigmoid(x w + b); lengths are accepted and unused."""

    def __init__(self, config: LinearMILConfig = LinearMILConfig()) -> None:
        super().__init__()
        self.config = config
        self.feature_dim = config.feature_dim
        self.head = nn.Linear(config.feature_dim, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.head(x)).squeeze(-1)

    def hyperparameters(self) -> dict:
        return asdict(self.config)
