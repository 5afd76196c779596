"""The top-k MIL + smoothness loss against a hand-computed example."""

import math

import pytest
import torch

from ucfdvs.train.loss import mil_loss


def test_loss_hand_computed():
    scores = torch.tensor(
        [
            [0.2, 0.9, 0.4, 0.1, 0.3],  # anomalous, length 5 -> k = 2: 0.9, 0.4
            [0.3, 0.1, 0.2, 0.0, 0.0],  # normal, length 3 -> k = 1: 0.3; padding ignored
        ]
    )
    lengths = torch.tensor([5, 3])
    labels = torch.tensor([1.0, 0.0])
    parts = mil_loss(scores, lengths, labels)
    mil_anomalous = (-math.log(0.9) - math.log(0.4)) / 2
    mil_normal = -math.log(1 - 0.3)
    mil = (mil_anomalous + mil_normal) / 2
    mean = 0.2
    variance = ((0.3 - mean) ** 2 + (0.1 - mean) ** 2 + (0.2 - mean) ** 2) / 2  # unbiased
    assert parts.mil.item() == pytest.approx(mil, rel=1e-6)
    assert parts.smoothness.item() == pytest.approx(variance, rel=1e-5)
    assert parts.total.item() == pytest.approx(mil + 80 * variance, rel=1e-6)


def test_padding_does_not_count():
    base = torch.tensor([[0.5, 0.6, 0.7, 0.0]])
    other = torch.tensor([[0.5, 0.6, 0.7, 0.99]])
    lengths, labels = torch.tensor([3]), torch.tensor([0.0])
    assert mil_loss(base, lengths, labels).total.item() == pytest.approx(mil_loss(other, lengths, labels).total.item())


def test_gradient_reaches_only_topk_and_normal_scores():
    scores = torch.tensor([[0.2, 0.9, 0.4, 0.1]], requires_grad=True)
    mil_loss(scores, torch.tensor([4]), torch.tensor([1.0])).total.backward()
    assert scores.grad[0, 1] != 0
    assert torch.all(scores.grad[0, [0, 2, 3]] == 0)
