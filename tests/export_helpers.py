"""Helpers for the export tests and examples: a tiny reference MSF whose populations spike."""

from __future__ import annotations

import torch

from ucfdvs.train.model.msf import MSF, MSFConfig

TINY_MSF = MSFConfig(feature_dim=32, dim=8, gcn_hidden=4, dilations=(1, 2, 4))


def active_msf(seed: int = 0) -> MSF:
    """A random tiny MSF in eval mode, weights scaled so that the global branch, the graph layers
    and TIM all spike (a trained checkpoint on the synthetic data leaves them nearly silent)."""
    torch.manual_seed(seed)
    model = MSF(TINY_MSF)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
        model.tim.mix.bias.fill_(0.8)
        for block in model.local.blocks:
            block.bn.running_mean.uniform_(-0.5, 0.5)
            block.bn.running_var.uniform_(0.5, 2.0)
            block.bn.weight.uniform_(0.5, 1.5)
            block.bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


def features(batch: int, steps: int, dim: int = 32, seed: int = 1) -> torch.Tensor:
    """Non-negative random features `[B, T, D]` (like the softplus synthetic features)."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, steps, dim, generator=g) * 2.0
