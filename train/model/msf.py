"""MSF, the multi-scale spiking fusion model, in two variants: `msf` (the paper's figure) and
`msf-released` (the released code's design choices, its two bugs fixed).

    x [B, T, D] -> local  (3 x dilated conv -> BN -> LIF -> dropout)  [B, T, 3C]
                -> global (1x1 conv -> LIF -> dropout -> SpikingGCN -> LIF)  [B, T, C]
    concat [B, T, 3C + C = D] -> TIM -> + x (residual) [-> dropout] -> Linear(D, 1) -> sigmoid -> scores [B, T]

Defaults: D = 256, C = 64, GCN hidden 32, dilations (1, 2, 4), dropout 0.8.

Variant `paper` (`--model msf`): every LIF site its own neuron (as the paper's figure draws them), no
dropout before the classifier, TIM's W with a bias and SpikingJelly neurons.

Variant `released` (`--model msf-released`), as the released code builds it:
- one shared `CarriedStateLIF` for the five LIF sites of the local and global branches, called in
  the released order (local d=1, 2, 4, global input, global output) and one for the four SpikingGCN
  sites (similarity 1, distance 1, similarity 2, distance 2): each site starts from the membrane the
  previous site ended with, gradients flow through that carried state; all are reset per batch;
- Dropout(dropout) on TIM's output plus the residual before the classifier (training mode only);
- TIM's W without bias, TIM's neurons with BrainCog's conventions (`StrictLIFNode`).
Its two bugs are fixed: TIM's W mixes channels of one video, not neighbouring videos of the batch,
and evaluation runs in eval mode (no dropout, BatchNorm's running statistics).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ucfdvs.train.model.local_branch import LocalBranch
from ucfdvs.train.model.neurons import CarriedStateLIF, reset_states
from ucfdvs.train.model.spiking_gcn import GlobalBranch, valid_mask
from ucfdvs.train.model.tim import TemporalInteraction

VARIANTS = ("paper", "released")


@dataclass(frozen=True)
class MSFConfig:
    """Hyper-parameters of MSF; `feature_dim` must equal `len(dilations) * dim + dim`.

    `variant`: `paper` or `released` (see the module docstring); `use_local`, `use_global`,
    `use_tim`: the ablations of the benchmark (a branch left out contributes zeros of its width;
    without TIM the fused spikes go straight to the residual).
    """

    feature_dim: int = 256
    dim: int = 64
    gcn_hidden: int = 32
    dilations: tuple[int, ...] = (1, 2, 4)
    dropout: float = 0.8
    similarity_threshold: float = 0.7
    tim_alpha: float = 0.6
    tim_in_threshold: float = 0.3
    tim_out_threshold: float = 0.5
    variant: str = "paper"
    use_local: bool = True
    use_global: bool = True
    use_tim: bool = True

    def __post_init__(self) -> None:
        fused = (len(self.dilations) + 1) * self.dim
        if fused != self.feature_dim:
            raise ValueError(f"fused width {fused} must equal feature_dim {self.feature_dim} for the residual")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown MSF variant {self.variant!r} (known: {', '.join(VARIANTS)})")
        if not (self.use_local or self.use_global):
            raise ValueError("an MSF needs the local or the global branch")


class MSF(nn.Module):
    """Multi-scale spiking fusion: `[B, T, D]` features (+ true lengths `[B]`) -> `[B, T]` scores in (0, 1)."""

    def __init__(self, config: MSFConfig = MSFConfig()) -> None:
        super().__init__()
        self.config = config
        self.feature_dim = config.feature_dim
        released = config.variant == "released"
        self.local = LocalBranch(config.feature_dim, config.dim, config.dilations, config.dropout)
        self.global_ = GlobalBranch(
            config.feature_dim, config.dim, config.gcn_hidden, config.dropout, config.similarity_threshold
        )
        self.tim = TemporalInteraction(
            config.feature_dim, config.tim_alpha, config.tim_in_threshold, config.tim_out_threshold, released
        )
        self.head_dropout = nn.Dropout(config.dropout) if released else nn.Identity()
        self.head = nn.Linear(config.feature_dim, 1)
        self.shared: list[CarriedStateLIF] = []
        if released:
            branch_lif, gcn_lif = CarriedStateLIF(), CarriedStateLIF()
            for block in self.local.blocks:
                block.lif = branch_lif
            self.global_.lif_in = self.global_.lif_out = branch_lif
            for graph_branch in (self.global_.gcn.similarity_branch, self.global_.gcn.distance_branch):
                graph_branch.lif1 = graph_branch.lif2 = gcn_lif
            self.shared = [branch_lif, gcn_lif]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        reset_states(self)
        batch, steps, _ = x.shape
        if lengths is None:
            lengths = torch.full((batch,), steps, device=x.device)
        for neuron in self.shared:
            neuron.lengths = lengths
        valid = valid_mask(lengths, steps)
        width = self.config.dim
        local = self.local(x) if self.config.use_local else x.new_zeros(batch, steps, len(self.config.dilations) * width)
        global_ = self.global_(x, valid) if self.config.use_global else x.new_zeros(batch, steps, width)
        fused = torch.cat([local, global_], dim=-1)
        interacted = self.tim(fused) if self.config.use_tim else fused
        return torch.sigmoid(self.head(self.head_dropout(interacted + x))).squeeze(-1)

    def hyperparameters(self) -> dict:
        return asdict(self.config)
