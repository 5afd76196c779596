"""MSF, the reference multi-scale spiking fusion model (faithful to the paper's released code).

    x [B, T, D] -> local  (3 x dilated conv -> BN -> LIF -> dropout)  [B, T, 3C]
                -> global (1x1 conv -> LIF -> dropout -> SpikingGCN -> LIF)  [B, T, C]
    concat [B, T, 3C + C = D] -> TIM -> + x (residual) -> Linear(D, 1) -> sigmoid -> scores [B, T]

Defaults: D = 256, C = 64, GCN hidden 32, dilations (1, 2, 4), dropout 0.8.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ucfdvs.train.model.local_branch import LocalBranch
from ucfdvs.train.model.neurons import reset_states
from ucfdvs.train.model.spiking_gcn import GlobalBranch, valid_mask
from ucfdvs.train.model.tim import TemporalInteraction


@dataclass(frozen=True)
class MSFConfig:
    """Hyper-parameters of MSF; `feature_dim` must equal `len(dilations) * dim + dim`."""

    feature_dim: int = 256
    dim: int = 64
    gcn_hidden: int = 32
    dilations: tuple[int, ...] = (1, 2, 4)
    dropout: float = 0.8
    similarity_threshold: float = 0.7
    tim_alpha: float = 0.6
    tim_in_threshold: float = 0.3
    tim_out_threshold: float = 0.5

    def __post_init__(self) -> None:
        fused = (len(self.dilations) + 1) * self.dim
        if fused != self.feature_dim:
            raise ValueError(f"fused width {fused} must equal feature_dim {self.feature_dim} for the residual")


class MSF(nn.Module):
    """Multi-scale spiking fusion: `[B, T, D]` features (+ true lengths `[B]`) -> `[B, T]` scores in (0, 1)."""

    def __init__(self, config: MSFConfig = MSFConfig()) -> None:
        super().__init__()
        self.config = config
        self.feature_dim = config.feature_dim
        self.local = LocalBranch(config.feature_dim, config.dim, config.dilations, config.dropout)
        self.global_ = GlobalBranch(
            config.feature_dim, config.dim, config.gcn_hidden, config.dropout, config.similarity_threshold
        )
        self.tim = TemporalInteraction(
            config.feature_dim, config.tim_alpha, config.tim_in_threshold, config.tim_out_threshold
        )
        self.head = nn.Linear(config.feature_dim, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        reset_states(self)
        batch, steps, _ = x.shape
        if lengths is None:
            lengths = torch.full((batch,), steps, device=x.device)
        valid = valid_mask(lengths, steps)
        fused = torch.cat([self.local(x), self.global_(x, valid)], dim=-1)
        interacted = self.tim(fused)
        return torch.sigmoid(self.head(interacted + x)).squeeze(-1)

    def hyperparameters(self) -> dict:
        return asdict(self.config)
