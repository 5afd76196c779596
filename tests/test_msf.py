"""MSF module shapes, the TIM recurrence, per-video independence and spike recording."""

import pytest
import torch

from ucfdvs.train.model.local_branch import LocalBranch
from ucfdvs.train.model.msf import MSF, MSFConfig
from ucfdvs.train.model.neurons import record_spikes, spiking_layer_names
from ucfdvs.train.model.spiking_gcn import GlobalBranch, distance_adjacency, similarity_adjacency, valid_mask
from ucfdvs.train.model.tim import TemporalInteraction


def hand_lif_step(v, x, threshold, tau=1.6):
    v = v + (x - v) / tau
    s = (v >= threshold).float()
    return v * (1 - s), s


def test_branch_shapes():
    x = torch.rand(3, 11, 256)
    assert LocalBranch(256, 64, (1, 2, 4), 0.8)(x).shape == (3, 11, 192)
    valid = valid_mask(torch.tensor([11, 7, 3]), 11)
    assert GlobalBranch(256, 64, 32, 0.8, 0.7)(x, valid).shape == (3, 11, 64)
    assert MSF()(x, torch.tensor([11, 7, 3])).shape == (3, 11)


def test_adjacencies():
    valid = valid_mask(torch.tensor([4, 2]), 4)
    distance = distance_adjacency(valid)
    assert distance[0, 0, 2].item() == pytest.approx(torch.exp(torch.tensor(-2 / 2.718281828)).item(), rel=1e-6)
    assert distance[1, 0, 2] == 0 and distance[1, 3, 3] == 0
    x = torch.tensor([[[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.0, 0.0]]] * 2)
    similarity = similarity_adjacency(x, valid, 0.7)
    assert torch.allclose(similarity[0].sum(-1), torch.ones(4))
    # Row 0: cos with itself 1, with row 1 ~0.995, others 0 (thresholded), softmax over the 4 entries.
    expected = torch.softmax(torch.tensor([1.0, 1 / (1.01**0.5), 0.0, 0.0]), 0)
    assert torch.allclose(similarity[0, 0], expected, atol=1e-6)
    assert torch.allclose(similarity[1, 0, 2:], torch.zeros(2)) and torch.allclose(similarity[1, 0].sum(), torch.tensor(1.0))


def test_tim_recurrence_by_hand():
    torch.manual_seed(1)
    tim = TemporalInteraction(4, alpha=0.6, in_threshold=0.3, out_threshold=0.5)
    with torch.no_grad():
        tim.mix.weight.copy_(torch.randn(4, 4))
        tim.mix.bias.copy_(torch.tensor([0.5, -0.2, 0.9, 0.1]))
    z = (torch.rand(2, 9, 4) > 0.5).float()
    out = tim(z)
    for b in range(2):
        h, v_in, v_out = z[b, 0], torch.zeros(4), torch.zeros(4)
        assert torch.equal(out[b, 0], h)
        for t in range(1, 9):
            v_in, u = hand_lif_step(v_in, tim.mix(h), 0.3)
            v_out, h = hand_lif_step(v_out, 0.6 * u + 0.4 * z[b, t], 0.5)
            assert torch.equal(out[b, t], h.detach()), (b, t)
    assert out.sum() > 0


def test_tim_does_not_mix_videos():
    tim = TemporalInteraction(8, 0.6, 0.3, 0.5)
    z = (torch.rand(2, 12, 8) > 0.4).float()
    changed = z.clone()
    changed[1] = 1 - changed[1]
    assert torch.equal(tim(z)[0], tim(changed)[0])


def test_msf_scores_independent_of_batch_and_padding():
    torch.manual_seed(2)
    model = MSF().eval()
    a, b = torch.rand(1, 20, 256), torch.rand(1, 13, 256)
    alone = model(a)
    padded_b = torch.cat([b, torch.zeros(1, 7, 256)], dim=1)
    together = model(torch.cat([a, padded_b]), torch.tensor([20, 13]))
    assert torch.allclose(together[0], alone[0], atol=1e-6)
    assert torch.allclose(together[1, :13], model(b)[0], atol=1e-6)


def test_msf_config_checks_residual_width():
    with pytest.raises(ValueError):
        MSFConfig(feature_dim=128)


def test_every_spiking_layer_is_named_and_recorded():
    model = MSF().eval()
    names = spiking_layer_names(model)
    assert len(names) == 11 and "tim.lif_out" in names and "global_.gcn.distance_branch.lif2" in names
    with record_spikes(model) as records:
        model(torch.rand(2, 6, 256) * 3)
    assert set(records) == set(names)
    assert records["local.blocks.0.lif"][0].shape == (6, 2, 64)
    assert len(records["tim.lif_in"]) == 5 and records["tim.lif_in"][0].shape == (2, 256)
    assert all(torch.all((r == 0) | (r == 1)) for rs in records.values() for r in rs)
