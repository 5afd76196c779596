"""`msf-released`: each behaviour of the released code it claims, and the paper variant's contrast."""

from __future__ import annotations

import pytest
import torch

from ucfdvs.errors import UserError
from ucfdvs.train.checkpoint import load_checkpoint, save_checkpoint
from ucfdvs.train.model.msf import MSF
from ucfdvs.train.model.neurons import CarriedStateLIF, StrictLIFNode, lif
from ucfdvs.train.model.registry import build_model

SMALL = {"feature_dim": 32, "dim": 8, "gcn_hidden": 4}


def released(seed: int = 0) -> MSF:
    torch.manual_seed(seed)
    model = build_model("msf-released", SMALL)
    with torch.no_grad():
        for block in model.local.blocks:  # spread BN outputs so that the local sites fire
            block.bn.weight.fill_(2.0)
    return model.eval()


def hand_lif(currents: torch.Tensor, v: torch.Tensor, threshold: float = 1.0, tau: float = 1.6):
    """SpikingJelly LIF (decay_input, hard reset to 0) over `[T, B, C]` from membrane `v` `[B, C]`."""
    spikes = []
    for current in currents:
        v = v + (current - v) / tau
        s = (v >= threshold).to(current.dtype)
        v = v * (1 - s)
        spikes.append(s)
    return torch.stack(spikes), v


def test_one_shared_neuron_per_group_in_the_released_call_order() -> None:
    model = released()
    branch, gcn = model.shared
    assert isinstance(branch, CarriedStateLIF) and isinstance(gcn, CarriedStateLIF) and branch is not gcn
    assert all(block.lif is branch for block in model.local.blocks)
    assert model.global_.lif_in is branch and model.global_.lif_out is branch
    g = model.global_.gcn
    assert g.similarity_branch.lif1 is g.similarity_branch.lif2 is g.distance_branch.lif1 is g.distance_branch.lif2 is gcn
    order = []
    hooks = [m.register_forward_pre_hook(lambda _m, _a, n=name: order.append(n)) for name, m in [
        ("loc1", model.local.blocks[0].conv), ("loc2", model.local.blocks[1].conv), ("loc4", model.local.blocks[2].conv),
        ("g_in", model.global_.project), ("s1", g.similarity_branch.gc1), ("d1", g.distance_branch.gc1),
        ("s2", g.similarity_branch.gc2), ("d2", g.distance_branch.gc2), ("mix", g.mix)]]
    model(torch.rand(2, 7, 32))
    for h in hooks:
        h.remove()
    assert order == ["loc1", "loc2", "loc4", "g_in", "s1", "d1", "s2", "d2", "mix"]
    paper = build_model("msf", SMALL)
    assert paper.local.blocks[0].lif is not paper.local.blocks[1].lif and paper.shared == []


def test_each_site_starts_from_the_membrane_the_previous_site_ended_with() -> None:
    model = released()
    x = torch.rand(2, 9, 32) * 2
    blocks = model.local.blocks
    with torch.no_grad():
        currents = [b.bn(b.conv(x.transpose(1, 2))).permute(2, 0, 1) for b in blocks]  # [T, B, C]
        out = model.local(x)  # the three local sites, in turn, from v = 0
    model(x)  # resets the state first
    v = torch.zeros(2, 8)
    carried = []
    for k, current in enumerate(currents):
        spikes, v_end = hand_lif(current, v)
        assert torch.equal(out[:, :, 8 * k: 8 * (k + 1)], spikes.transpose(0, 1)), k
        carried.append(v)
        v = v_end
    assert carried[1].abs().sum() > 0  # the second site really starts elsewhere than 0
    fresh, _ = hand_lif(currents[1], torch.zeros(2, 8))
    assert not torch.equal(fresh.transpose(0, 1), out[:, :, 8:16])


def test_gradients_flow_through_the_carried_membrane() -> None:
    model = released().train()
    x = torch.rand(3, 8, 32) * 2
    model.local.blocks[0].dropout.p = model.local.blocks[1].dropout.p = 0.0
    from ucfdvs.train.model.neurons import reset_states

    reset_states(model)
    model.shared[0].lengths = torch.tensor([8, 8, 8])
    model.local.blocks[0](x)
    second = model.local.blocks[1](x)  # depends on block 0's weights only through the carried v
    second.sum().backward()
    assert model.local.blocks[0].conv.weight.grad is not None
    assert model.local.blocks[0].conv.weight.grad.abs().sum() > 0


def test_released_scores_do_not_depend_on_padding_or_batch_neighbours() -> None:
    model = released(3)
    a, b = torch.rand(1, 20, 32) * 2, torch.rand(1, 13, 32) * 2
    together = model(torch.cat([a, torch.cat([b, torch.zeros(1, 7, 32)], 1)]), torch.tensor([20, 13]))
    assert torch.allclose(together[0], model(a)[0], atol=1e-6)
    assert torch.allclose(together[1, :13], model(b)[0], atol=1e-6)


def test_dropout_before_the_head_in_training_mode_only() -> None:
    model = released()
    seen = []
    model.head.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    x = torch.rand(4, 10, 32) + 0.5  # residual > 0: the head input is never 0 without dropout
    model.eval()
    model(x)
    assert bool((seen[-1] != 0).all())
    model.train()
    torch.manual_seed(0)
    model(x)
    zero = float((seen[-1] == 0).float().mean())
    assert 0.75 < zero < 0.85  # Dropout(0.8)
    assert isinstance(model.head_dropout, torch.nn.Dropout) and model.head_dropout.p == 0.8
    assert isinstance(build_model("msf", SMALL).head_dropout, torch.nn.Identity)


def test_tim_weight_is_bias_free_and_neurons_strict() -> None:
    model = released()
    assert model.tim.mix.bias is None and build_model("msf", SMALL).tim.mix.bias is not None
    assert isinstance(model.tim.lif_in, StrictLIFNode) and isinstance(model.tim.lif_out, StrictLIFNode)
    assert (model.tim.lif_in.v_threshold, model.tim.lif_out.v_threshold) == (0.3, 0.5)


@pytest.mark.parametrize("training", [True, False])
def test_strict_threshold_and_quadratic_gate(training: bool) -> None:
    x = torch.tensor([0.8])
    threshold = float(x / 1.6)  # the membrane after one step, exactly
    strict, sj = StrictLIFNode(threshold), lif(threshold, step_mode="s")
    strict.train(training)
    sj.train(training)
    assert strict(x).item() == 0.0 and sj(x).item() == 1.0
    node = StrictLIFNode(0.5).train()
    x = torch.tensor([0.96], requires_grad=True)  # v = 0.6: 0.1 above threshold
    node(x).sum().backward()
    # d s / d v = alpha - alpha^2 |v - th| = 2 - 4 * 0.1 = 1.6; d v / d x = 1 / 1.6
    assert x.grad.item() == pytest.approx(1.0, abs=1e-5)


def test_checkpoints_record_the_variant(tmp_path) -> None:
    path = tmp_path / "released.pt"
    save_checkpoint(path, released(), "msf-released")
    loaded = load_checkpoint(path)
    assert loaded.arch == "msf-released" and loaded.model.config.variant == "released"
    assert loaded.model.shared and loaded.model.tim.mix.bias is None
    with pytest.raises(UserError, match="holds architecture 'msf-released', expected 'msf'"):
        load_checkpoint(path, expect_arch="msf")
    with pytest.raises(UserError, match="needs variant 'paper'"):
        build_model("msf", {**SMALL, "variant": "released"})
    with pytest.raises(UserError, match="unknown architecture"):
        build_model("msf-paper")


def test_released_converts_each_shared_site_to_its_own_population() -> None:
    from ucfdvs.export.convert import convert

    model = convert(released(), 2)
    nodes = model.net.nodes
    sites = ["loc1", "loc2", "loc4", "g", "s1", "d1", "s2", "d2", "gout"]
    assert all(nodes[name].kind == "lif" for name in sites)
    assert nodes["tim_mix"].kind == "linear"
    scores = model(torch.rand(2, 12, 32) * 2, torch.tensor([12, 9]))
    assert scores.shape == (2, 12) and bool(((scores > 0) & (scores < 1)).all())
    with pytest.raises(UserError, match="ablated"):
        convert(build_model("msf-released", {**SMALL, "use_tim": False}))


def test_onnx_export_refuses_the_released_variant(tmp_path) -> None:
    from ucfdvs.export.onnx_export import export_onnx

    with pytest.raises(UserError, match="msf-released"):
        export_onnx(released(), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
