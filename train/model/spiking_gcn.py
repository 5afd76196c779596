"""MSF's global branch: a spiking graph convolution network over the snippets of one video.

Two adjacencies, both `[B, T, T]` and restricted to each video's true length:
- feature similarity: cosine similarity of snippets, values <= 0.7 set to 0, softmax over each
  row (the zeroed entries keep their exp(0) weight, as in the released code);
- distance: exp(-|i - j| / e), fixed by position.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ucfdvs.train.model.neurons import lif


def valid_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """`[B, T]` boolean mask of the snippets inside each video's true length."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def similarity_adjacency(x: torch.Tensor, valid: torch.Tensor, threshold: float) -> torch.Tensor:
    """Row-softmax of thresholded cosine similarity, `[B, T, C]` -> `[B, T, T]`; padding rows and columns are 0."""
    unit = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    similarity = unit @ unit.transpose(1, 2)
    similarity = torch.where(similarity > threshold, similarity, torch.zeros_like(similarity))
    pair_valid = valid[:, :, None] & valid[:, None, :]
    similarity = similarity.masked_fill(~valid[:, None, :], float("-inf"))
    adjacency = torch.softmax(similarity, dim=-1)
    return torch.where(pair_valid, adjacency, torch.zeros_like(adjacency))


def distance_adjacency(valid: torch.Tensor) -> torch.Tensor:
    """exp(-|i - j| / e) between snippets of one video, `[B, T, T]`; padding rows and columns are 0."""
    steps = valid.shape[1]
    position = torch.arange(steps, device=valid.device, dtype=torch.float32)
    adjacency = torch.exp(-(position[:, None] - position[None, :]).abs() / math.e)
    pair_valid = valid[:, :, None] & valid[:, None, :]
    return adjacency[None] * pair_valid


class GraphConvolution(nn.Module):
    """`adj @ (x W)` plus a residual: identity when sizes match, else Conv1d (kernel 5, padding 2) over snippets.

    `[B, T, C_in]`, `[B, T, T]` -> `[B, T, C_out]`.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        nn.init.xavier_uniform_(self.weight)
        self.residual = nn.Identity() if in_dim == out_dim else nn.Conv1d(in_dim, out_dim, 5, padding=2)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        if isinstance(self.residual, nn.Identity):
            residual = x
        else:
            residual = self.residual(x.transpose(1, 2)).transpose(1, 2)
        return adjacency @ (x @ self.weight) + residual


def graph_spikes(layer: GraphConvolution, neuron: nn.Module, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """`neuron(layer(x, adjacency))` over snippets: `[B, T, C_in]` -> `[B, T, C_out]` spikes."""
    return neuron(layer(x, adjacency).transpose(0, 1)).transpose(0, 1)


class SpikingGraphBranch(nn.Module):
    """Two graph convolutions (C -> H -> H), each followed by LIF; `[B, T, C]` -> `[B, T, H]` spikes."""

    def __init__(self, in_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.gc1 = GraphConvolution(in_dim, hidden_dim)
        self.lif1 = lif()
        self.gc2 = GraphConvolution(hidden_dim, hidden_dim)
        self.lif2 = lif()


class SpikingGCN(nn.Module):
    """Similarity and distance branches concatenated and mixed by Linear(2H, C): `[B, T, C]` -> `[B, T, C]`.

    Layers run in the released code's order: similarity 1, distance 1, similarity 2, distance 2 (it
    matters only when the four LIF sites share one carried-state neuron, as in `msf-released`).
    """

    def __init__(self, dim: int, hidden_dim: int, similarity_threshold: float) -> None:
        super().__init__()
        self.similarity_threshold = similarity_threshold
        self.similarity_branch = SpikingGraphBranch(dim, hidden_dim)
        self.distance_branch = SpikingGraphBranch(dim, hidden_dim)
        self.mix = nn.Linear(2 * hidden_dim, dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        sim, dist = self.similarity_branch, self.distance_branch
        sim_adj = similarity_adjacency(x, valid, self.similarity_threshold)
        dist_adj = distance_adjacency(valid)
        sim_h = graph_spikes(sim.gc1, sim.lif1, x, sim_adj)
        dist_h = graph_spikes(dist.gc1, dist.lif1, x, dist_adj)
        similarity = graph_spikes(sim.gc2, sim.lif2, sim_h, sim_adj)
        distance = graph_spikes(dist.gc2, dist.lif2, dist_h, dist_adj)
        return self.mix(torch.cat([similarity, distance], dim=-1))


class GlobalBranch(nn.Module):
    """Conv1d 1x1 (no bias) -> LIF -> dropout -> SpikingGCN -> LIF: `[B, T, D]` -> `[B, T, C]` spikes."""

    def __init__(self, in_dim: int, dim: int, hidden_dim: int, dropout: float, similarity_threshold: float) -> None:
        super().__init__()
        self.project = nn.Conv1d(in_dim, dim, kernel_size=1, bias=False)
        self.lif_in = lif()
        self.dropout = nn.Dropout(dropout)
        self.gcn = SpikingGCN(dim, hidden_dim, similarity_threshold)
        self.lif_out = lif()

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        current = self.project(x.transpose(1, 2)).permute(2, 0, 1)  # [T, B, C]
        spikes = self.dropout(self.lif_in(current).transpose(0, 1))  # [B, T, C]
        return self.lif_out(self.gcn(spikes, valid).transpose(0, 1)).transpose(0, 1)
