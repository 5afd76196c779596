"""Lava (the ground truth) against the closed form and against the emulator, both precisions."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest

pytest.importorskip("lava.magma.core.run_configs")

from ucfdvs.neuro_runtime import Emulator, load_graph, quantize, run_lava  # noqa: E402
from ucfdvs.neuro_runtime import examples as ex  # noqa: E402
from ucfdvs.neuro_runtime.lava_build import build_lava  # noqa: E402

GRAPHS = {"branching": ex.branching_graph, "recurrent": ex.recurrent_graph, "delayed": ex.delayed_graph}


def _roundtrip(tmp_path: Path, name: str, graph: nir.NIRGraph) -> Path:
    path = tmp_path / f"{name}.nir"
    nir.write(str(path), graph)
    return path


def _inputs(rg, b: int = 2, t: int = 24, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.2, 1.0, (b, t, rg.input_size))


@pytest.mark.parametrize("precision", ["floating_pt", "fixed_pt"])
def test_single_lif_closed_form_lava(precision: str) -> None:
    steps = 30
    rg = load_graph(ex.constant_current_lif_graph())
    rec = run_lava(rg, np.zeros((1, steps, 1)), precision, progress=False)[0]
    expected = ex.constant_current_lif_spikes(steps)
    np.testing.assert_array_equal(rec.spikes["lif"][:, 0], expected)
    np.testing.assert_array_equal(rec.outputs["out"][:, 0], expected)
    assert expected.sum() >= 5


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_lava_float_matches_emulator(name: str, tmp_path: Path) -> None:
    rg = load_graph(_roundtrip(tmp_path, name, GRAPHS[name]()))
    x = _inputs(rg)
    emu = Emulator(rg, "floating_pt").run(x)
    recs = run_lava(rg, x, "floating_pt", progress=False)
    n_spikes = 0
    for b, rec in enumerate(recs):
        for o in rg.outputs:
            np.testing.assert_allclose(rec.outputs[o], emu.outputs[o][b], atol=1e-12, rtol=0)
        for n in emu.spikes:
            np.testing.assert_array_equal(rec.spikes[n], emu.spikes[n][b])
            n_spikes += int(rec.spikes[n].sum())
        for k, v in emu.synaptic_events.items():
            np.testing.assert_array_equal(rec.synaptic_events[k], v[b])
    assert n_spikes > 10


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_lava_fixed_bit_identical_to_emulator(name: str, tmp_path: Path) -> None:
    rg = load_graph(_roundtrip(tmp_path, name, GRAPHS[name]()))
    q = quantize(rg)
    x = _inputs(rg)
    emu = Emulator(rg, "fixed_pt", quant=q).run(x)
    recs = run_lava(rg, x, "fixed_pt", quant=q, progress=False)
    n_spikes = 0
    for b, rec in enumerate(recs):
        for o in rg.outputs:
            np.testing.assert_array_equal(rec.outputs[o], emu.outputs[o][b])
        for n in emu.activity:
            np.testing.assert_array_equal(rec.activity[n], emu.activity[n][b])
        n_spikes += sum(int(v.sum()) for v in rec.spikes.values())
    assert n_spikes > 10
    assert any(np.any(v != 0) for v in recs[0].outputs.values())


def test_aligned_graph_in_lava() -> None:
    rg = load_graph(ex.misaligned_graph(), align=True)
    assert rg.latency == {"out": 2}
    x = _inputs(rg, b=1, t=20)
    emu = Emulator(rg).run(x)
    rec = run_lava(rg, x, "floating_pt", progress=False)[0]
    np.testing.assert_array_equal(rec.spikes["lif2"], emu.spikes["lif2"][0])
    assert emu.spikes["lif2"].sum() > 0
    # the padded skip path is a graded DelayDense: check it bit-exactly in fixed_pt too
    q = quantize(rg)
    recx = run_lava(rg, x, "fixed_pt", quant=q, progress=False)[0]
    emx = Emulator(rg, "fixed_pt", quant=q).run(x)
    np.testing.assert_array_equal(recx.spikes["lif2"], emx.spikes["lif2"][0])
    np.testing.assert_array_equal(recx.outputs["out"], emx.outputs["out"][0])
    # the first output step that can depend on the input is the reported latency
    x2 = x.copy()
    x2[0, 0] += 5.0
    e2 = Emulator(rg).run(x2)
    diff = np.nonzero(np.any(e2.activity["lif2"][0] != emu.activity["lif2"][0], axis=1)
                      | np.any(np.abs(Emulator(rg).run(x2).outputs["out"][0] - emu.outputs["out"][0]) > 0, axis=1))[0]
    assert diff.size and diff[0] >= rg.latency["out"]


def test_fusion_reduces_processes_same_result() -> None:
    rg = load_graph(ex.msf_like_graph(n_in=16), align=True)
    fused = build_lava(rg, "floating_pt", fuse=True, buf_len=4)
    unfused = build_lava(rg, "floating_pt", fuse=False, buf_len=4)
    fused.close()
    unfused.close()
    assert fused.n_processes < unfused.n_processes - 5, (fused.summary(), unfused.summary())
    x = np.random.default_rng(5).uniform(0, 1, (1, 12, 16))
    emu = Emulator(rg).run(x)
    for fuse in (True, False):
        tm: dict = {}
        rec = run_lava(rg, x, "floating_pt", fuse=fuse, progress=False, timings=tm)[0]
        assert tm["n_processes"] == (fused if fuse else unfused).n_processes
        for n in emu.spikes:
            np.testing.assert_array_equal(rec.spikes[n], emu.spikes[n][0])
        np.testing.assert_allclose(rec.outputs["out"], emu.outputs["out"][0], atol=1e-12, rtol=0)
    q = quantize(rg)
    fx = Emulator(rg, "fixed_pt", quant=q).run(x)
    rec = run_lava(rg, x, "fixed_pt", quant=q, fuse=True, progress=False)[0]
    np.testing.assert_array_equal(rec.outputs["out"], fx.outputs["out"][0])
    assert sum(int(v.sum()) for v in rec.spikes.values()) > 50


def test_many_sequences_reset_between() -> None:
    """Sequences of different lengths in one Lava run == each one from rest in the emulator."""
    rg = load_graph(ex.recurrent_graph())
    rng = np.random.default_rng(9)
    seqs = [rng.uniform(0, 1, (t, 3)) for t in (9, 15, 6)]
    for precision, io, synapses in (("floating_pt", "shm", "fast"), ("fixed_pt", "shm", "fast"),
                                    ("floating_pt", "var", "fast"), ("fixed_pt", "var", "lava"),
                                    ("fixed_pt", "shm", "lava")):
        q = quantize(rg) if precision == "fixed_pt" else None
        recs = run_lava(rg, seqs, precision, quant=q, progress=False, io=io, synapses=synapses)
        assert [r.outputs["out"].shape[0] for r in recs] == [9, 15, 6]
        for s, rec in zip(seqs, recs):
            emu = Emulator(rg, precision, quant=q).run(s)
            np.testing.assert_array_equal(rec.spikes["lif"], emu.spikes["lif"])
            np.testing.assert_allclose(rec.outputs["out"], emu.outputs["out"], atol=1e-12 if q is None else 0, rtol=0)


def test_fixed_delay_beyond_loihi_limit_is_refused() -> None:
    g = ex.delayed_graph()
    g.nodes["d1"].delay = np.full(4, 70 * ex.DT)
    rg = load_graph(nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=g.metadata))
    from ucfdvs.errors import UserError

    with pytest.raises(UserError, match="70 steps.*6-bit"):
        build_lava(rg, "fixed_pt", buf_len=4)


def test_heterogeneous_neuron_parameters_in_one_population() -> None:
    """One NIR LIF node with two different (tau, threshold) pairs -> one Lava LIF population with
    per-neuron dv and threshold, identical to the emulator."""
    rng = np.random.default_rng(4)
    n = 6
    tau = np.where(np.arange(n) < 3, ex.TAU, 2 * ex.TAU)
    g = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([3])), "a": nir.Affine(rng.normal(0, 1.5, (n, 3)), rng.normal(0, 0.2, n)),
               "lif": nir.LIF(tau=tau, r=np.ones(n), v_leak=np.zeros(n),
                              v_threshold=np.where(np.arange(n) < 3, 1.0, 0.6)),
               "l": nir.Linear(rng.normal(0, 1.0, (2, n))), "out": nir.Output(np.array([2]))},
        edges=[("in", "a"), ("a", "lif"), ("lif", "l"), ("l", "out")], metadata={"dt": ex.DT})
    rg = load_graph(g)
    net = build_lava(rg, "floating_pt", buf_len=2)
    net.close()
    (pop,) = [p for p in net.pops if p.kind == "LIF"]
    assert len(set(np.asarray(pop.proc.dv.init).tolist())) == 2
    assert len(set(np.asarray(pop.proc.vth.init).tolist())) == 2
    x = _inputs(rg, b=2, t=20)
    emu = Emulator(rg).run(x)
    q = quantize(rg)
    emx = Emulator(rg, "fixed_pt", quant=q).run(x)
    recs = run_lava(rg, x, "floating_pt", progress=False)
    recx = run_lava(rg, x, "fixed_pt", quant=q, progress=False)
    for b in range(2):
        np.testing.assert_array_equal(recs[b].spikes["lif"], emu.spikes["lif"][b])
        np.testing.assert_allclose(recs[b].outputs["out"], emu.outputs["out"][b], atol=1e-12, rtol=0)
        np.testing.assert_array_equal(recx[b].outputs["out"], emx.outputs["out"][b])
    assert emu.spikes["lif"][:, :, :3].sum() > 0 and emu.spikes["lif"][:, :, 3:].sum() > 0


@pytest.mark.parametrize("precision", ["floating_pt", "fixed_pt"])
def test_fast_synapse_models_equal_lavas_own(precision: str) -> None:
    """Our Dense/DelayDense models (cached delay matrices, reset per sequence) against Lava's own
    models (drained between sequences) on a graph with a multi-delay synapse process, three
    sequences in one run: fixed_pt bit-identical, floating_pt identical spikes."""
    rg = load_graph(ex.delayed_graph())
    q = quantize(rg) if precision == "fixed_pt" else None
    rng = np.random.default_rng(11)
    seqs = [rng.uniform(-0.2, 1, (t, 3)) for t in (14, 9, 12)]
    timings: dict = {}
    fast = run_lava(rg, seqs, precision, quant=q, progress=False, synapses="fast", timings=timings)
    lava = run_lava(rg, seqs, precision, quant=q, progress=False, synapses="lava")
    assert timings["silent_steps"] == 0
    net = build_lava(rg, precision, quant=q, buf_len=2)
    net.close()
    assert any(len(np.unique(c.delays[c.weights != 0])) > 1 for c in net.conns)  # a process mixes delays
    n_spikes = 0
    for a, b in zip(fast, lava):
        for n in a.spikes:
            np.testing.assert_array_equal(a.spikes[n], b.spikes[n])
            n_spikes += int(a.spikes[n].sum())
        for o in a.outputs:
            if precision == "fixed_pt":
                np.testing.assert_array_equal(a.outputs[o], b.outputs[o])
            else:
                np.testing.assert_allclose(a.outputs[o], b.outputs[o], atol=1e-12, rtol=0)
    assert n_spikes > 20


def test_coarser_li_messages_bit_identical() -> None:
    """An LI whose receiver's scale was lowered sends ``v >> msg_shift`` with msg_shift > 6:
    Lava fixed_pt equals the emulator bit for bit, and fixed stays close to float."""
    rg = load_graph(ex.li_gated_graph(), align=True)
    q = quantize(rg)
    assert q.neurons["li"].msg_shift > 6
    assert all(-8 <= p.weight_exp <= 7 for p in q.projections)
    x = _inputs(rg, b=2, t=30)
    emu = Emulator(rg, "fixed_pt", quant=q).run(x)
    recs = run_lava(rg, x, "fixed_pt", quant=q, progress=False)
    for b, rec in enumerate(recs):
        np.testing.assert_array_equal(rec.outputs["out"], emu.outputs["out"][b])
        np.testing.assert_array_equal(rec.activity["li"], emu.activity["li"][b])
        np.testing.assert_array_equal(rec.spikes["lif1"], emu.spikes["lif1"][b])
    assert emu.spikes["lif1"].sum() > 5 and np.abs(emu.activity["li"]).max() > 0
    flt = Emulator(rg).run(x)
    assert np.mean(emu.spikes["lif1"] == flt.spikes["lif1"]) > 0.9
