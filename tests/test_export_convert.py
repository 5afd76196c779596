"""Conversion exactness pieces and the streaming model's hop timing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ucfdvs.export.convert import (
    DISTANCE_DECAY, GraphBuilder, add_conv_taps, add_graph_layer, convert, fold_batchnorm, layout,
)
from ucfdvs.export.streaming_msf import StreamingNet, NodeSpec
from export_helpers import active_msf, features
from ucfdvs.errors import UserError
from ucfdvs.train.model.linear_mil import LinearMIL
from ucfdvs.train.model.spiking_gcn import distance_adjacency


@pytest.fixture(autouse=True)
def _one_thread():
    """Per-step streaming ops are far faster single-threaded (and the machine is shared)."""
    from ucfdvs.train.torch_threads import torch_threads

    with torch_threads(1):
        yield


def test_batchnorm_folding_is_exact() -> None:
    block = active_msf().local.blocks[1]
    x = features(2, 12).double().transpose(1, 2)
    conv, bn = block.conv.double(), block.bn.double()
    w, b = fold_batchnorm(conv, bn)
    folded = torch.nn.functional.conv1d(x, w, b, padding=conv.padding, dilation=conv.dilation)
    assert torch.allclose(folded, bn(conv(x)), atol=1e-12)


@pytest.mark.parametrize("dilation", [1, 2, 4])
def test_conv_delay_taps_reproduce_centred_conv_shifted_by_latency(dilation: int) -> None:
    block = active_msf().local.blocks[{1: 0, 2: 1, 4: 2}[dilation]]
    w, b = fold_batchnorm(block.conv, block.bn)
    phase = 6
    g = GraphBuilder()
    x = g.input("x", 32)
    g.output("y", 8, *add_conv_taps(g, "c", x, w, b, dilation, 0, phase))
    net = g.build().double()
    steps = 20
    xs = features(3, steps).double()
    out = net(torch.cat([xs, xs.new_zeros(3, phase, 32)], 1))
    # the same centred conv with the (float32) folded weights the graph holds, computed in float64
    expected = torch.nn.functional.conv1d(xs.transpose(1, 2), w.double(), b.double(), padding=dilation,
                                          dilation=dilation).transpose(1, 2)
    assert torch.allclose(out[:, phase:], expected, atol=1e-12)
    reference = block.bn.double()(block.conv.double()(xs.transpose(1, 2))).transpose(1, 2)
    assert torch.allclose(out[:, phase:], reference, atol=1e-5)


@pytest.mark.parametrize("lookahead", [0, 2, 4, 8, 40])
def test_distance_graph_truncation_error_bound(lookahead: int) -> None:
    torch.manual_seed(0)
    weight = torch.randn(4, 6, dtype=torch.float64)
    g = GraphBuilder()
    x = g.input("x", 6)
    phase = lookahead + 1
    g.output("y", 4, *add_graph_layer(g, "d", x, 0, lookahead, phase, weight.float(), DISTANCE_DECAY, "distance"))
    net = g.build().double()
    net.params["d_li_in__weight"].data = weight.clone()
    for k in range(0, lookahead + 1):
        net.params[f"d_tap_p{k}__weight"].data = DISTANCE_DECAY**k * weight.clone()
    net.params["d_li_fb__scale"].data = torch.full((4,), DISTANCE_DECAY, dtype=torch.float64)
    steps = 30
    xs = features(2, steps, 6).double()
    out = net(torch.cat([xs, xs.new_zeros(2, phase, 6)], 1))[:, phase:]
    u = xs @ weight.T
    pos = torch.arange(steps, dtype=torch.float64)
    exact = torch.exp(-(pos[:, None] - pos[None, :]).abs() / math.e) @ u
    assert torch.allclose(distance_adjacency(torch.ones(1, steps, dtype=torch.bool))[0].double(),
                          torch.exp(-(pos[:, None] - pos[None, :]).abs() / math.e), atol=1e-6)
    a = math.exp(-1 / math.e)
    bound = a ** (lookahead + 1) / (1 - a) * float(u.abs().max())
    err = float((out - exact).abs().max())
    assert err <= bound + 1e-9
    if lookahead >= steps:
        assert err < 1e-9


def test_hop_timing_synapse_one_step_delay_k_steps() -> None:
    g = GraphBuilder()
    x = g.input("x", 3)
    lin = g.synapse("lin", g.delayed(x, 2), torch.eye(3))
    li = g.add("pass", NodeSpec("li", 3, 3, neuron={"tau": np.full(3, g.dt), "r": np.ones(3), "v_leak": np.zeros(3)}), lin)
    sc = g.scale("sc", li, 1.0)
    bias = g.synapse("bias", x, torch.zeros(3, 3), torch.full((3,), 0.5))
    g.output("y", 3, sc, bias)
    net = g.build().double()
    xs = torch.arange(1, 11, dtype=torch.float64)[None, :, None].repeat(1, 1, 3)
    out = net(xs)[0, :, 0]
    # Delay 2 + Linear 1 + (LI with dt/tau = 1 passes its input) + Scale 1 = 4 steps; the Affine's bias from step 0
    expected = torch.tensor([0, 0, 0, 0, 1, 2, 3, 4, 5, 6], dtype=torch.float64) + 0.5
    assert torch.allclose(out, expected, atol=1e-12, rtol=0)
    assert net.latency() == 1  # the bias path (one synapse) reaches the output first


@pytest.mark.parametrize("lookahead", [0, 2, 4, 8])
def test_latency_formula_and_residual_path(lookahead: int) -> None:
    model = convert(active_msf(), lookahead).double()
    assert model.latency == max(2, lookahead) + lookahead + 6 == layout(lookahead)["latency"]
    for name, p in model.net.params.items():
        if not name.startswith("head_res"):
            p.data.zero_()
    xs = torch.zeros(1, 40, 32, dtype=torch.float64)
    xs[0, 0] = 1.0
    out = model.net(xs)[0, :, 0]
    first = int(torch.nonzero(out).min())
    assert first == model.latency


def test_tim_deployed_recurrence_has_two_step_loop() -> None:
    """h[t] = LIF_out(alpha LIF_in(W h[t-2] + b) + (1 - alpha) z[t]) in snippet time, exactly; each
    LIF stays at rest until its first input can arrive (its start step)."""
    from ucfdvs.export.streaming_msf import path_steps

    ref = active_msf()
    model = convert(ref, 2).double()
    starts = path_steps(model.net.nodes, model.net.edges)
    _, rec = model.net.run(features(2, 30).double(), record=True)
    z = torch.cat([rec["loc1"], rec["loc2"], rec["loc4"], rec["gout"]], -1)
    tim = ref.tim.double()
    v_in = torch.zeros(2, 32, dtype=torch.float64)
    v_out = torch.zeros_like(v_in)
    s_in_prev = torch.zeros_like(v_in)
    s_out_prev = torch.zeros_like(v_in)
    z_prev = torch.zeros_like(v_in)
    for t in range(z.shape[1]):
        cur_in = s_out_prev @ tim.mix.weight.T + tim.mix.bias
        cur_out = tim.alpha * s_in_prev + (1 - tim.alpha) * z_prev
        v_in = v_in + (cur_in - v_in) / tim.lif_in.tau  # SpikingJelly decay_input: v += (x - v) / tau
        v_out = v_out + (cur_out - v_out) / tim.lif_out.tau
        if t < starts["tim_in"]:
            v_in = torch.zeros_like(v_in)
        if t < starts["tim_out"]:
            v_out = torch.zeros_like(v_out)
        s_in, s_out = (v_in > tim.lif_in.v_threshold).double(), (v_out > tim.lif_out.v_threshold).double()
        v_in = torch.where(s_in > 0, tim.lif_in.v_reset, v_in)
        v_out = torch.where(s_out > 0, tim.lif_out.v_reset, v_out)
        assert torch.equal(s_in, rec["tim_in"][:, t]) and torch.equal(s_out, rec["tim_out"][:, t]), t
        s_in_prev, s_out_prev, z_prev = s_in, s_out, z[:, t]
    assert rec["tim_out"].sum() > 0 and rec["tim_in"].sum() > 0


def test_converted_scores_shape_and_surrogate_gradient() -> None:
    model = convert(active_msf(), 2)
    model.train()
    xs = features(2, 10)
    scores = model(xs, torch.tensor([10, 7]))
    assert scores.shape == (2, 10) and bool(((scores > 0) & (scores < 1)).all())
    scores.sum().backward()
    grad = model.net.params["loc1_tap1__weight"].grad
    assert grad is not None and float(grad.abs().sum()) > 0


def test_convert_refuses_other_architectures_and_bad_settings() -> None:
    with pytest.raises(UserError, match="LinearMIL"):
        convert(LinearMIL())
    with pytest.raises(UserError, match="look-ahead"):
        convert(active_msf(), -1)
    with pytest.raises(UserError, match="beta"):
        convert(active_msf(), 2, beta=1.0)


def test_streaming_graph_validation_names_the_node() -> None:
    nodes = {"x": NodeSpec("input", 3, 3), "y": NodeSpec("output", 3, 3)}
    with pytest.raises(UserError, match="refers to unknown node 'ghost'"):
        StreamingNet(nodes, [("x", "ghost"), ("x", "y")], {})
    nodes["w"] = NodeSpec("linear", 4, 3)
    with pytest.raises(UserError, match="shape mismatch on edge x -> w"):
        StreamingNet(nodes, [("x", "w"), ("w", "y")], {"w__weight": torch.zeros(3, 4)})
    nodes = {"x": NodeSpec("input", 3, 3), "a": NodeSpec("scale", 3, 3), "b": NodeSpec("scale", 3, 3),
             "y": NodeSpec("output", 3, 3)}
    scales = {"a__scale": torch.ones(3), "b__scale": torch.ones(3)}
    with pytest.raises(UserError, match="edge 'a' -> 'b': a synapse node may not feed a synapse"):
        StreamingNet(nodes, [("x", "a"), ("a", "b"), ("b", "y")], scales)
    with pytest.raises(UserError, match="unsupported kind 'conv'"):
        StreamingNet({**nodes, "a": NodeSpec("conv", 3, 3)}, [("x", "a"), ("a", "y")], scales)
