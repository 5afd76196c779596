"""Training batches: 30 anomalous + 30 normal videos, each cut to 16 snippets.

Anomalous videos are sampled stratified over their whole length (one random snippet from each of
16 equal segments), normal videos by a random contiguous crop. Videos shorter than 16 snippets are
kept whole and zero-padded; their true length travels with the batch for the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ucfdvs.train.layout import Video


@dataclass(frozen=True)
class Batch:
    features: torch.Tensor  # [B, T, D] float32
    lengths: torch.Tensor  # [B] int64
    labels: torch.Tensor  # [B] float32, 1 anomalous


def stratified_indices(n_snippets: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """One random index from each of `count` equal segments of `[0, n_snippets)` (all of them if fewer)."""
    if n_snippets <= count:
        return np.arange(n_snippets)
    edges = np.linspace(0, n_snippets, count + 1).astype(np.int64)
    return edges[:-1] + (rng.random(count) * (edges[1:] - edges[:-1])).astype(np.int64)


def crop_indices(n_snippets: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """A random contiguous window of `count` snippets (all of them if fewer)."""
    if n_snippets <= count:
        return np.arange(n_snippets)
    start = int(rng.integers(0, n_snippets - count + 1))
    return np.arange(start, start + count)


class BatchSampler:
    """Draws balanced batches from a training split (without replacement within one batch)."""

    def __init__(
        self, videos: list[Video], per_class: int = 30, snippets: int = 16, seed: int = 1213
    ) -> None:
        self.anomalous = [v for v in videos if v.is_anomalous]
        self.normal = [v for v in videos if not v.is_anomalous]
        if not self.anomalous or not self.normal:
            raise ValueError("the training split needs both anomalous and normal videos")
        self.per_class = per_class
        self.snippets = snippets
        self.rng = np.random.default_rng(seed)

    def _pick(self, pool: list[Video]) -> list[Video]:
        replace = len(pool) < self.per_class
        return [pool[i] for i in self.rng.choice(len(pool), self.per_class, replace=replace)]

    def sample(self) -> Batch:
        chosen = [(v, stratified_indices) for v in self._pick(self.anomalous)]
        chosen += [(v, crop_indices) for v in self._pick(self.normal)]
        dim = chosen[0][0].features.shape[1]
        features = np.zeros((len(chosen), self.snippets, dim), dtype=np.float32)
        lengths = np.zeros(len(chosen), dtype=np.int64)
        for row, (video, pick) in enumerate(chosen):
            index = pick(video.n_snippets, self.snippets, self.rng)
            features[row, : len(index)] = video.features[index]
            lengths[row] = len(index)
        labels = np.array([v.is_anomalous for v, _ in chosen], dtype=np.float32)
        return Batch(torch.from_numpy(features), torch.from_numpy(lengths), torch.from_numpy(labels))

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
