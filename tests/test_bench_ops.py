"""Operation counting of the benchmark suite on hand-counted networks."""

import nir
import numpy as np
import torch

from benchmarks.suite.ops import count_graph, count_reference, graph_fan_out, graph_targets, reference_operators
from neuro_runtime import Emulator, load_graph
from neuro_runtime.examples import DT, TAU, msf_like_graph


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


def small_msf():
    from train.model.msf import MSF, MSFConfig

    torch.manual_seed(0)
    return MSF(MSFConfig(feature_dim=8, dim=2, gcn_hidden=2, dilations=(1, 2, 4))).eval()


def test_reference_counts_by_hand():
    model = small_msf()
    ops = {op.name: op for op in reference_operators(model)}
    assert ops["global_.gcn.similarity_branch.gc1 xW + residual"].fan_out == 2 + 5 * 2  # xW (C->H) + Conv1d k5
    t = 4
    names = ["local.blocks.0.lif", "global_.lif_in", "tim.lif_out"]
    spikes = {n: np.zeros((t, 2 if n != "tim.lif_out" else 8), np.uint8) for n in names}
    spikes["global_.lif_in"][[0, 1, 3], 0] = 1  # 3 spikes
    spikes["tim.lif_out"][:2, :3] = 1  # 6 spikes
    c = count_reference(model, [spikes], [t])
    assert c.layers["global_.lif_in"].synops == 3 * 2 * (2 + 10)  # two GCN branches
    assert c.layers["tim.lif_out"].synops == 6 * 8  # TIM's W: D x D
    assert c.synops == 72 + 48
    # dense MACs on real-valued inputs: 3 local convs (k3, D->C), 1x1 projection, similarity adjacency
    # (T^2 C), 2 branches x 2 adjacency products (T^2 H), head (D)
    assert c.dense_macs == 3 * (3 * 8 * 2) * t + 8 * 2 * t + 2 * t * t + 2 * 2 * (2 * t * t) + 8 * t
    assert c.neuron_updates == (2 + 2 + 8) * t


def test_reference_spike_recording_drops_padding():
    from benchmarks.suite.backends import record_reference_spikes
    from train.layout import Video

    model = small_msf()
    rng = np.random.default_rng(1)
    videos = [Video(f"v{i}", np.abs(rng.normal(0, 3, (n, 8))).astype(np.float32), False, "Normal") for i, n in enumerate((5, 9))]
    batched = record_reference_spikes(model, videos, torch.device("cpu"))
    alone = [record_reference_spikes(model, [v], torch.device("cpu"))[0] for v in videos]
    for b, a, v in zip(batched, alone, videos):
        assert b["local.blocks.0.lif"].shape == (v.n_snippets, 2)
        assert b["tim.lif_out"].shape == (v.n_snippets - 1, 8)  # TIM steps T - 1 times
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
