"""Operation counting and Loihi 2 resources of the benchmark suite on hand-counted networks."""

import json
from importlib import resources

import nir
import numpy as np
import torch
from torch import nn

from ucfdvs.benchmarks.suite.constants import load_constants
from ucfdvs.benchmarks.suite.ops import OpCounter, count_graph, count_reference, graph_fan_out, graph_targets
from ucfdvs.benchmarks.suite.resources import loihi2_resources
from ucfdvs.neuro_runtime import Emulator, load_graph
from ucfdvs.neuro_runtime.examples import DT, TAU, msf_like_graph


def tiny_graph():
    """in(2) -> Affine [[1, 2], [0, 3]] -> LIF(2) -> Linear [[1, 0], [2, 4]] -> LIF(2) -> out (direct wire)."""
    lif = lambda n: nir.LIF(tau=np.full(n, TAU), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    return nir.NIRGraph(
        nodes={"in": nir.Input(np.array([2])), "a0": nir.Affine(np.array([[1.0, 2.0], [0.0, 3.0]]), np.zeros(2)),
               "lif0": lif(2), "l1": nir.Linear(np.array([[1.0, 0.0], [2.0, 4.0]])), "lif1": lif(2),
               "out": nir.Output(np.array([2]))},
        edges=[("in", "a0"), ("a0", "lif0"), ("lif0", "l1"), ("l1", "lif1"), ("lif1", "out")], metadata={"dt": DT})


def test_hand_counted_graph():
    graph = load_graph(tiny_graph())
    fan = graph_fan_out(graph)
    assert fan["lif0"].tolist() == [2, 1]  # column nnz of [[1, 0], [2, 4]]
    assert fan["in"].tolist() == [1, 2]  # column nnz of [[1, 2], [0, 3]]
    assert fan["lif1"].tolist() == [0, 0]  # lif1 -> out is a direct wire, not a synapse
    assert graph_targets(graph) == {"in": 1, "lif0": 1}
    spikes = {"lif0": np.array([[1, 0], [1, 1], [0, 1]]), "lif1": np.array([[0, 0], [1, 0], [0, 1]])}
    x = np.array([[0.5, 0.0], [0.0, 0.0], [1.0, 1.0]])
    c = count_graph(graph, [spikes], [x], snippets=3)
    assert c.layers["lif0"].spikes == 4 and c.layers["lif1"].spikes == 2
    assert c.layers["lif0"].synops == 2 + (2 + 1) + 1  # spike x fan-out, step by step
    assert c.layers["lif1"].synops == 0
    assert c.synops == 6
    inp = c.layers["in (input)"]
    assert inp.graded_messages == 3 and inp.graded_ops == 1 + 0 + (1 + 2)
    assert c.neuron_updates == (2 + 2) * 3 and c.active_neuron_updates == 6
    assert c.layers["lif0"].firing_rate == 4 / 6
    assert c.dense_equivalent_macs == (3 + 3) * 3  # non-zero weights x steps


def test_loihi2_resources_by_hand(tmp_path):
    graph = load_graph(tiny_graph())
    res = loihi2_resources(graph, load_constants())
    assert {k: (p.neurons, p.synapses, p.cores) for k, p in res.populations.items()} == {"lif0": (2, 3, 1), "lif1": (2, 3, 1)}
    assert (res.cores, res.neurons, res.synapses, res.memory_kib, res.fits_one_chip) == (2, 4, 6, 6 / 1024, True)
    table = json.loads(resources.files("ucfdvs.benchmarks").joinpath("energy_constants.json").read_text())["constants"]
    table["loihi2_neurons_per_core"]["value"] = 1  # 2 cores per population by its neurons
    table["loihi2_memory_per_core_kib"]["value"] = 1 / 1024  # 1 byte: 3 cores for 3 8-bit weights
    table["loihi2_cores_per_chip"]["value"] = 5
    (tmp_path / "c.json").write_text(json.dumps({"constants": table}))
    res = loihi2_resources(graph, load_constants(tmp_path / "c.json"))
    assert [p.cores for p in res.populations.values()] == [3, 3] and res.cores == 6 and res.fits_one_chip is False


def test_graph_counts_equal_runtime_synaptic_events():
    graph = load_graph(msf_like_graph())
    x = np.abs(np.random.default_rng(0).normal(0, 1, (2, 12, 256)))
    record = Emulator(graph).run(x)
    runs = record.split()
    c = count_graph(graph, [r.spikes for r in runs], list(x), events=[r.synaptic_events for r in runs], snippets=24)
    events = {k: sum(int(r.synaptic_events[k].sum()) for r in runs) for k in runs[0].synaptic_events}
    spiking = sum(v for k, v in events.items() if not graph.is_graded(k.split("->")[0]))
    graded_in = sum(v for k, v in events.items() if k.startswith("in->"))
    assert c.synops == spiking > 0
    assert c.layers["in (input)"].graded_ops == graded_in
    assert {k: c.layers[k].spikes for k in record.spikes} == {k: int(v.sum()) for k, v in record.spikes.items()}


class TinySNN(nn.Module):
    """Two IF layers (threshold 0.5, reset to 0: a neuron fires iff its current is >= 1 here) and one
    operator of every counted kind on their spikes.  ``x``: ``[T, 1, 2]``."""

    def __init__(self):
        super().__init__()
        import ucfdvs.train.model.neurons  # noqa: F401  (imports SpikingJelly with its banners silenced)
        from spikingjelly.activation_based import neuron

        self.a = nn.Linear(2, 3, bias=False)
        self.b = nn.Linear(2, 2, bias=False)
        self.sn1 = neuron.IFNode(v_threshold=0.5, v_reset=0.0, step_mode="m")
        self.sn2 = neuron.IFNode(v_threshold=0.5, v_reset=0.0, step_mode="m")
        self.c = nn.Linear(3, 4)
        self.conv = nn.Conv1d(3, 2, kernel_size=3, padding=1)
        self.w = nn.Parameter(torch.ones(5, 2))
        with torch.no_grad():
            self.a.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
            self.b.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))

    def forward(self, x):
        s1, s2 = self.sn1(self.a(x)), self.sn2(self.b(x))  # [T, 1, 3], [T, 1, 2]
        outputs = (self.c(s1), 0.5 * s1, self.conv(s1.permute(1, 2, 0)), torch.cat([s1, s2], -1) @ self.w, x + s2)
        return [o.sum() for o in outputs]


def test_op_counter_by_hand():
    model = TinySNN()
    x = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])[:, None]  # graded although 0/1: not a neuron's output
    with torch.no_grad(), OpCounter(model) as counter:
        model(x)
    c = counter.result(snippets=4, steps=4)
    # currents a(x) = [x0, x1, x0 + x1]: s1 = [1,0,1], [0,0,0], [1,1,1], [0,1,1] (2, 0, 3, 2 spikes); b(x) = [x0, 0]: s2 fires at t = 0, 2
    assert (c.layers["sn1"].spikes, c.layers["sn2"].spikes) == (7, 2)
    assert (c.layers["sn1"].neuron_steps, c.layers["sn2"].neuron_steps) == (3 * 4, 2 * 4)
    conv_taps = [2, 3, 3, 2]  # kernel 3, padding 1: an input at either end reaches 2 outputs, inside 3
    conv_acs = 2 * (2 * conv_taps[0] + 0 * conv_taps[1] + 3 * conv_taps[2] + 2 * conv_taps[3])  # x 2 output channels
    assert conv_acs == 34
    # c: 4 outputs per spike; 0.5 * s1: 1; conv; cat @ w: 2 outputs per spike of either layer; x + s2: 1
    assert c.layers["sn1"].synops == 7 * 4 + 7 + conv_acs + 7 * 2
    assert c.layers["sn2"].synops == 2 * 2 + 2
    assert c.synops == 83 + 6
    # graded inputs: a (T x 2 inputs x 3 outputs) and b (T x 2 x 2); every operator executed densely
    assert c.dense_macs == 4 * 2 * 3 + 4 * 2 * 2 and c.dense_macs_by_op == {"a linear": 24, "b linear": 16}
    assert c.dense_equivalent_macs == 24 + 16 + 4 * 3 * 4 + 4 * 3 + (2 * 4) * 3 * 3 + (4 * 2) * 5 + 4 * 2
    # targets per neuron-step: sn1 feeds c (4), the scaling (1), conv (2 x taps), cat @ w (2)
    assert c.layers["sn1"].fan_out == (12 * 4 + 12 + 2 * 3 * sum(conv_taps) + 12 * 2) / 12
    assert c.layers["sn2"].fan_out == (8 * 2 + 8) / 8


def spiking_msf():
    """A small MSF whose every spiking layer fires part of the time (weights scaled up, a quarter negated)."""
    from ucfdvs.train.model.msf import MSF, MSFConfig

    torch.manual_seed(5)
    model = MSF(MSFConfig(feature_dim=8, dim=2, gcn_hidden=3, dilations=(1, 2, 4))).eval()  # C != H: gc1 has its Conv1d
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.abs() * 2.0 * torch.where(torch.rand(p.shape, generator=g) < 0.25, -1.0, 1.0))
    return model


def test_reference_counts_follow_the_msf_structure():
    """count_reference on the MSF = its operators counted by hand from the recorded spikes."""
    from ucfdvs.train.model.neurons import record_spikes

    model = spiking_msf()
    t, d, c, h = 9, 8, 2, 3
    features = np.abs(np.random.default_rng(1).normal(0, 1, (t, d))).astype(np.float32)
    with torch.no_grad(), record_spikes(model) as records:
        model(torch.from_numpy(features)[None])
    s = {k: (torch.cat(r) if r[0].dim() == 3 else torch.stack(r))[:, 0].numpy() for k, r in records.items()}
    assert all(0 < v.sum() < v.size for v in s.values()), {k: int(v.sum()) for k, v in s.items()}
    counted = count_reference(model, [features], torch.device("cpu"))
    taps = np.array([min(i, 2) + min(t - 1 - i, 2) + 1 for i in range(t)])  # gc1's residual Conv1d(k=5, padding=2)
    expected = {"global_.lif_in": 2 * (h * s["global_.lif_in"].sum() + h * (s["global_.lif_in"].sum(1) * taps).sum()),
                "tim.lif_in": s["tim.lif_in"].sum(),  # alpha * LIF_in
                "tim.lif_out": d * s["tim.lif_out"][:-1].sum() + s["tim.lif_out"].sum()}  # W h[t] (not the last) + head's h + x
    for k in ("local.blocks.0.lif", "local.blocks.1.lif", "local.blocks.2.lif", "global_.lif_out"):
        z = s[k]  # part of TIM's z: h[0] = z[0] feeds W and the head's h + x, z[t >= 1] is scaled by (1 - alpha)
        expected[k] = d * z[0].sum() + z[0].sum() + z[1:].sum()
    for branch in ("similarity_branch", "distance_branch"):
        expected[f"global_.gcn.{branch}.lif1"] = (h + 1) * s[f"global_.gcn.{branch}.lif1"].sum()  # gc2: x W + identity
        expected[f"global_.gcn.{branch}.lif2"] = c * s[f"global_.gcn.{branch}.lif2"].sum()  # mix Linear(2H, C)
    assert {k: counted.layers[k].synops for k in expected} == {k: int(v) for k, v in expected.items()}
    assert {k: counted.layers[k].spikes for k in s} == {k: int(v.sum()) for k, v in s.items()}
    # graded: 3 local convs (k 3, D -> C), the 1x1 projection, the similarity adjacency (T^2 C), 2 branches x 2
    # adjacency products (T^2 H), the head on h + x
    dense = 3 * (3 * d * c * t) + d * c * t + t * t * c + 4 * t * t * h + d * t
    assert counted.dense_macs == dense
    spike_driven = (2 * (c * h * t + 5 * c * h * t + h * h * t + h * t) + 2 * h * c * t
                    + (t - 1) * d * d + 2 * (t - 1) * d + t * d)
    assert counted.dense_equivalent_macs == dense + spike_driven
    assert counted.neuron_updates == (3 * c + c + 4 * h + c) * t + 2 * d * (t - 1)
    assert counted.snippets == counted.steps == t


def test_reference_counts_add_over_videos():
    model = spiking_msf()
    rng = np.random.default_rng(2)
    videos = [np.abs(rng.normal(0, 1, (n, 8))).astype(np.float32) for n in (5, 11)]
    both = count_reference(model, videos, torch.device("cpu"))
    alone = [count_reference(model, [v], torch.device("cpu")) for v in videos]
    for k, layer in both.layers.items():
        assert layer.spikes == sum(a.layers[k].spikes for a in alone) and layer.synops == sum(a.layers[k].synops for a in alone)
    assert both.dense_macs == sum(a.dense_macs for a in alone) and both.snippets == 16
