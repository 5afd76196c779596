"""The reference LIF neuron against hand-computed values."""

import pytest
import torch

from ucfdvs.train.model.neurons import lif, reset_states


def hand_lif(inputs, threshold=1.0, tau=1.6):
    """v <- v + (x - v) / tau; spike when v >= threshold; hard reset to 0."""
    v, spikes, voltages = 0.0, [], []
    for x in inputs:
        v = v + (x - v) / tau
        s = 1.0 if v >= threshold else 0.0
        voltages.append(v)
        spikes.append(s)
        v = 0.0 if s else v
    return spikes, voltages


def test_lif_matches_hand_computed_trace():
    inputs = [2.0, 0.0, 1.0, 1.0, 1.0, 1.6, 1.6]
    layer = lif()
    spikes = layer(torch.tensor(inputs).reshape(-1, 1, 1)).flatten().tolist()
    # v: 1.25 (spike, reset), 0, 0.625, 0.859375, 0.947265625, 1.192..(spike), 1.0 exactly (spike: >=)
    assert spikes == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert spikes == hand_lif(inputs)[0]


def test_lif_membrane_after_each_step():
    layer = lif(step_mode="s")
    expected = [0.625, 0.859375, 0.947265625]
    for value in expected:
        layer(torch.ones(1, 1))
        assert layer.v.item() == pytest.approx(value, abs=1e-7)


def test_threshold_and_reset_state():
    layer = lif(v_threshold=0.3, step_mode="s")
    assert layer(torch.tensor([[0.47]])).item() == 0.0  # v = 0.29375 < 0.3
    layer.reset()
    assert layer(torch.tensor([[0.5]])).item() == 1.0  # v = 0.3125 >= 0.3
    assert layer.v.item() == 0.0
    layer(torch.tensor([[0.1]]))
    reset_states(layer)
    assert layer.v == 0.0


def test_multi_step_equals_single_step():
    torch.manual_seed(0)
    x = torch.rand(20, 3, 5) * 2
    multi = lif()(x)
    single = lif(step_mode="s")
    stepped = torch.stack([single(x[t]) for t in range(20)])
    assert torch.equal(multi, stepped)
    assert multi.sum() > 0


def test_surrogate_gradient_flows():
    x = torch.full((4, 1, 1), 0.9, requires_grad=True)
    lif()(x).sum().backward()
    assert x.grad.abs().sum() > 0
