"""MSF's local branch: dilated temporal convolutions over the snippet axis."""

from __future__ import annotations

import torch
from torch import nn

from ucfdvs.train.model.neurons import lif


class DilatedConvBlock(nn.Module):
    """Conv1d over snippets (kernel 3, dilation d, padding d) -> BatchNorm1d -> LIF -> dropout.

    `[B, T, C_in]` -> `[B, T, C_out]` spikes. The kernel is centred: snippet t sees t - d, t, t + d.
    """

    def __init__(self, in_dim: int, out_dim: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size=3, dilation=dilation, padding=dilation)
        self.bn = nn.BatchNorm1d(out_dim)
        self.lif = lif()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        current = self.bn(self.conv(x.transpose(1, 2)))  # [B, C, T]
        spikes = self.lif(current.permute(2, 0, 1))  # [T, B, C]
        return self.dropout(spikes.transpose(0, 1))


class LocalBranch(nn.Module):
    """Three dilated blocks (dilations 1, 2, 4) concatenated: `[B, T, D]` -> `[B, T, 3 * C]`."""

    def __init__(self, in_dim: int, out_dim: int, dilations: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(DilatedConvBlock(in_dim, out_dim, d, dropout) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([block(x) for block in self.blocks], dim=-1)
