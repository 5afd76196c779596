"""The weakly supervised objective: top-k MIL binary cross-entropy plus normal-video smoothness.

For video b with true length n_b, k_b = ceil(n_b / 4):

    mil    = mean_b  mean_{i in top-k_b(scores_b)}  BCE(score_i, label_b)
    smooth = mean over normal videos b of  var(scores_b[:n_b])      (unbiased variance)
    loss   = mil + 80 * smooth

Vectorised over the batch; padded snippets (index >= n_b) never count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

TOPK_DIVISOR = 4
SMOOTHNESS_WEIGHT = 80.0


@dataclass(frozen=True)
class LossParts:
    total: torch.Tensor
    mil: torch.Tensor
    smoothness: torch.Tensor


def mil_loss(
    scores: torch.Tensor,
    lengths: torch.Tensor,
    labels: torch.Tensor,
    topk_divisor: int = TOPK_DIVISOR,
    smoothness_weight: float = SMOOTHNESS_WEIGHT,
) -> LossParts:
    """Loss of a batch: scores `[B, T]` in (0, 1), true lengths `[B]` (>= 1), video labels `[B]` (0 normal, 1 anomalous)."""
    steps = scores.shape[1]
    position = torch.arange(steps, device=scores.device)[None, :]
    valid = position < lengths[:, None]
    ranked = scores.masked_fill(~valid, -1.0).sort(dim=1, descending=True).values
    k = torch.div(lengths + topk_divisor - 1, topk_divisor, rounding_mode="floor")
    selected = position < k[:, None]
    targets = labels.to(scores.dtype)[:, None].expand_as(ranked)
    bce = F.binary_cross_entropy(ranked.clamp(1e-7, 1 - 1e-7), targets, reduction="none")
    per_video = (bce * selected).sum(dim=1) / k
    mil = per_video.mean()

    normal = labels == 0
    n = lengths.to(scores.dtype)
    mean = (scores * valid).sum(dim=1) / n
    variance = (((scores - mean[:, None]) ** 2) * valid).sum(dim=1) / (n - 1).clamp_min(1)
    smoothness = (variance * normal).sum() / normal.sum().clamp_min(1)
    return LossParts(mil + smoothness_weight * smoothness, mil, smoothness)
