"""Emulator, lowering, alignment, quantiser and bad-input tests (no Lava needed)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import nir
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

from ucfdvs.neuro_runtime import Emulator, QuantizationWarning, load_graph, quantize
from ucfdvs.neuro_runtime import examples as ex
from ucfdvs.errors import UserError


# ---------------------------------------------------------------------------------------------
# An independent, literal interpreter of the contract, node by node (no lowering, no fusion).
# ---------------------------------------------------------------------------------------------
def reference_run(graph: nir.NIRGraph, x: np.ndarray) -> tuple[dict, dict]:
    """x: [T, C] -> (outputs {name: [T, N]}, spikes {name: [T, N]}) following semantics.py literally."""
    dt = float(graph.metadata["dt"])
    nodes = graph.nodes
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in graph.edges:
        preds[d].append(s)
    kind = {n: type(v).__name__ for n, v in nodes.items()}

    rest_memo: dict[str, np.ndarray] = {}

    def size_out(n: str) -> int:
        return int(np.prod(nodes[n].output_type["output"]))

    def rest(n: str) -> np.ndarray:
        """Value of node n's output before step 0."""
        if n in rest_memo:
            return rest_memo[n]
        k = kind[n]
        if k in ("Affine", "Linear", "Scale", "Delay"):
            inp = sum((rest(p) for p in preds[n]), np.zeros(int(np.prod(nodes[n].input_type["input"]))))
            if k == "Affine":
                r = nodes[n].weight @ inp + nodes[n].bias
            elif k == "Linear":
                r = nodes[n].weight @ inp
            elif k == "Scale":
                r = nodes[n].scale * inp
            else:
                r = inp
        else:
            r = np.zeros(size_out(n))
        rest_memo[n] = r
        return r

    # start step of each node: fewest steps from the Input (synapse node 1, Delay its smallest k)
    start = {n: 0 for n, k in kind.items() if k == "Input"}
    for _ in nodes:
        for s_, d_ in graph.edges:
            if s_ in start:
                k = kind[d_]
                cost = 1 if k in ("Affine", "Linear", "Scale") else (
                    int(np.round(np.min(nodes[d_].delay) / dt)) if k == "Delay" else 0)
                start[d_] = min(start.get(d_, 10**9), start[s_] + cost)

    T = x.shape[0]
    hist: dict[str, list[np.ndarray]] = {n: [] for n in nodes}
    st: dict[str, dict] = {}
    for n, v in nodes.items():
        if kind[n] in ("LIF", "CubaLIF"):
            st[n] = {"v": np.array(v.v_reset, dtype=float).copy()}
        if kind[n] == "LI":
            st[n] = {"v": np.zeros(size_out(n))}
        if kind[n] == "CubaLIF":
            inp_rest = sum((rest(p) for p in preds[n]), np.zeros(size_out(n)))
            st[n]["i"] = v.w_in * inp_rest

    def value(n: str, t: int) -> np.ndarray:
        if t < 0:
            return rest(n)
        if len(hist[n]) > t:
            return hist[n][t]
        raise RuntimeError("not computed")

    for t in range(T):
        cur: dict[str, np.ndarray] = {}

        def get(n: str) -> np.ndarray:
            if n in cur:
                return cur[n]
            k, node = kind[n], nodes[n]

            def inp_at(tt: int) -> np.ndarray:
                tot = np.zeros(int(np.prod(node.input_type["input"])))
                for p in preds[n]:
                    tot = tot + (get(p) if tt == t else value(p, tt))
                return tot

            if k == "Input":
                y = x[t].astype(float)
            elif k in ("LIF", "CubaLIF", "LI") and t < start[n]:  # before its first input: at rest
                y = np.zeros(size_out(n))
            elif k == "Affine":
                y = node.weight @ inp_at(t - 1) + node.bias if t > 0 else node.weight @ rest_in(n) + node.bias
            elif k == "Linear":
                y = node.weight @ (inp_at(t - 1) if t > 0 else rest_in(n))
            elif k == "Scale":
                y = node.scale * (inp_at(t - 1) if t > 0 else rest_in(n))
            elif k == "Delay":
                ks = np.round(np.asarray(node.delay) / dt).astype(int)
                y = np.zeros(ks.size)
                for i, kk in enumerate(ks):
                    y[i] = (inp_at(t - kk) if t - kk >= 0 else rest_in(n))[i]
            elif k == "LIF":
                a = dt / node.tau
                v = st[n]["v"] + a * (node.v_leak - st[n]["v"] + node.r * inp_at(t))
                s = v > node.v_threshold
                st[n]["v"] = np.where(s, node.v_reset, v)
                y = s.astype(float)
            elif k == "CubaLIF":
                i_ = st[n]["i"] + dt / node.tau_syn * (-st[n]["i"] + node.w_in * inp_at(t))
                st[n]["i"] = i_
                v = st[n]["v"] + dt / node.tau_mem * (node.v_leak - st[n]["v"] + node.r * i_)
                s = v > node.v_threshold
                st[n]["v"] = np.where(s, node.v_reset, v)
                y = s.astype(float)
            elif k == "LI":
                v = st[n]["v"] + dt / node.tau * (node.v_leak - st[n]["v"] + node.r * inp_at(t))
                st[n]["v"] = v
                y = v.copy()
            elif k == "Output":
                y = inp_at(t)
            else:
                raise AssertionError(k)
            cur[n] = y
            return y

        def rest_in(n: str) -> np.ndarray:
            return sum((rest(p) for p in preds[n]), np.zeros(int(np.prod(nodes[n].input_type["input"]))))

        for n in nodes:
            get(n)
        for n in nodes:
            hist[n].append(cur[n])
    outs = {n: np.array(hist[n]) for n in nodes if kind[n] == "Output"}
    spikes = {n: np.array(hist[n]) for n in nodes if kind[n] in ("LIF", "CubaLIF")}
    return outs, spikes


GRAPHS = {
    "branching": ex.branching_graph,
    "recurrent": ex.recurrent_graph,
    "delayed": ex.delayed_graph,
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_emulator_matches_literal_reference(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.nir"
    nir.write(str(path), GRAPHS[name]())
    g_file = nir.read(str(path))
    rg = load_graph(path)
    rng = np.random.default_rng(7)
    x = rng.uniform(-0.2, 1.0, (3, 30, rg.input_size))
    rec = Emulator(rg, "floating_pt").run(x)
    total_spikes = 0
    for b in range(3):
        outs, spikes = reference_run(g_file, x[b])
        for o in outs:
            np.testing.assert_allclose(rec.outputs[o][b], outs[o], atol=1e-12, rtol=0)
        for n in spikes:
            np.testing.assert_array_equal(rec.spikes[n][b], spikes[n])
            total_spikes += int(spikes[n].sum())
    assert total_spikes > 20  # the comparison is not vacuous


def test_single_lif_closed_form_emulator() -> None:
    """Constant input current I0: v_n = r I0 (1 - (1-a)^n), a spike each time it crosses vth."""
    steps = 40
    rec = Emulator(load_graph(ex.constant_current_lif_graph())).run(np.zeros((steps, 1)))
    expected = ex.constant_current_lif_spikes(steps)
    np.testing.assert_array_equal(rec.spikes["lif"][:, 0], expected)
    np.testing.assert_array_equal(rec.outputs["out"][:, 0], expected)
    assert expected.sum() >= 5


def test_alignment_and_latency() -> None:
    raw = load_graph(ex.misaligned_graph(), align=False)
    assert raw.latency == {"out": 1}
    assert raw.misaligned and not raw.aligned
    al = load_graph(ex.misaligned_graph(), align=True)
    assert al.inserted_delays == [("in", "lif2", 1)]
    assert al.latency == {"out": 2}
    assert al.arrival["lif1"] == 1 and al.arrival["lif2"] == 2
    # aligning == putting an explicit 1-step Delay on the skip path
    explicit = load_graph(ex.misaligned_graph(skip_delay_steps=1))
    assert explicit.latency == {"out": 2} and not explicit.misaligned
    x = np.random.default_rng(0).uniform(0, 1, (2, 25, 3))
    r1, r2, r0 = Emulator(al).run(x), Emulator(explicit).run(x), Emulator(raw).run(x)
    np.testing.assert_array_equal(r1.outputs["out"], r2.outputs["out"])
    assert r1.spikes["lif2"].sum() > 0
    assert not np.array_equal(r0.spikes["lif2"], r1.spikes["lif2"])  # alignment changes the result
    # an already aligned graph gets nothing inserted
    assert load_graph(ex.branching_graph(), align=True).inserted_delays == []
    assert load_graph(ex.delayed_graph()).latency == {"out": 2, "out2": 3}


def test_batched_equals_single_and_fixed_is_close() -> None:
    rg = load_graph(ex.recurrent_graph())
    x = np.random.default_rng(1).uniform(0, 1, (4, 20, 3))
    batch = Emulator(rg).run(x)
    for b in range(4):
        one = Emulator(rg).run(x[b])
        np.testing.assert_allclose(one.outputs["out"], batch.outputs["out"][b], atol=1e-12, rtol=0)
        np.testing.assert_array_equal(one.spikes["lif"], batch.split()[b].spikes["lif"])
    q = quantize(rg)
    assert all(e.rel_rms < 0.02 for e in q.errors), q.report()
    fx = Emulator(rg, "fixed_pt", quant=q).run(x)
    agree = (fx.spikes["lif"] == batch.spikes["lif"]).mean()
    assert agree > 0.95
    ev = batch.synaptic_events
    assert set(ev) == {"in->lif", "lif->lif", "lif->out"}
    # events = spikes x fan-out
    nnz = np.count_nonzero(rg.projections[[p.name for p in rg.projections].index("lif->lif")].terms[0].matrix, axis=0)
    np.testing.assert_array_equal(ev["lif->lif"], batch.spikes["lif"].astype(int) @ nnz)


def test_import_without_lava() -> None:
    code = (
        "import sys; sys.modules['lava'] = None\n"
        "import numpy as np, neuro_runtime\n"
        "from ucfdvs.neuro_runtime import examples, load_graph, Emulator\n"
        "g = load_graph(examples.recurrent_graph())\n"
        "r = Emulator(g, 'fixed_pt').run(np.ones((5, 3)))\n"
        "assert not any(m.startswith('lava') and sys.modules[m] is not None for m in sys.modules)\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def _lif(n: int = 2, **kw) -> nir.LIF:
    p = dict(tau=np.full(n, ex.TAU), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))
    p.update(kw)
    return nir.LIF(**p)


def _graph(nodes: dict, edges: list, meta: dict | None = None) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": ex.DT} if meta is None else meta,
                        type_check=False)


def _err(graph_or_path, **kw) -> str:
    with pytest.raises(UserError) as ei:
        load_graph(graph_or_path, **kw)
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


def _base(mid: dict | None = None, edges: list | None = None, meta: dict | None = None) -> nir.NIRGraph:
    nodes = {"in": nir.Input(np.array([2])), "a": nir.Affine(np.eye(2), np.zeros(2)), "lif": _lif(),
             "out": nir.Output(np.array([2]))}
    nodes.update(mid or {})
    return _graph(nodes, edges or [("in", "a"), ("a", "lif"), ("lif", "out")], meta)


def test_bad_unsupported_node_or_parameter() -> None:
    """One line naming node, type and reason: a nested graph left unflattened, a parameter Loihi
    cannot express, a convolution whose channels do not match its input."""
    sub = nir.NIRGraph(nodes={"i": nir.Input(np.array([2])), "o": nir.Output(np.array([2]))}, edges=[("i", "o")])
    msg = _err(_base({"sub": sub}, [("in", "a"), ("a", "sub"), ("sub", "lif"), ("lif", "out")]))
    assert "'sub'" in msg and "NIRGraph" in msg and "flatten" in msg
    msg = _err(_base({"th": nir.Threshold(np.array([0.5, -0.1])), "b": nir.Affine(np.eye(2), np.zeros(2))},
                     [("in", "a"), ("a", "th"), ("th", "b"), ("b", "lif"), ("lif", "out")]))
    assert "'th'" in msg and "Threshold" in msg and "> 0" in msg
    conv = nir.Conv1d(input_shape=2, weight=np.ones((1, 3, 1)), stride=1, padding=0, dilation=1, groups=1,
                      bias=np.zeros(1))
    msg = _err(_base({"c": conv}, [("in", "c"), ("c", "lif"), ("lif", "out")]))
    assert "'c' (Conv1d)" in msg and "does not fit" in msg


def test_bad_missing_dt_and_bad_delay_and_tau() -> None:
    assert '"dt"' in _err(_base(meta={}))
    g = _base({"d": nir.Delay(np.array([0.3, ex.DT]))}, [("in", "a"), ("a", "lif"), ("lif", "d"), ("d", "out")])
    msg = _err(g)
    assert "'d'" in msg and "Delay" in msg and "multiples of dt" in msg
    g = _base({"lif": _lif(tau=np.full(2, ex.DT / 2))})
    msg = _err(g)
    assert "'lif'" in msg and "dt/tau = 2" in msg
    g = _base({"lif": _lif(v_threshold=np.full(2, -0.5))})
    assert "v_threshold must be above v_reset" in _err(g)


def test_bad_non_finite_parameter() -> None:
    w = np.eye(2)
    w[0, 1] = np.nan
    msg = _err(_base({"a": nir.Affine(w, np.zeros(2))}))
    assert "'a'" in msg and "not finite" in msg


def test_bad_shape_mismatch() -> None:
    g = _base({"a": nir.Affine(np.ones((3, 2)), np.zeros(3))})
    msg = _err(g)
    assert "shape mismatch on edge a -> lif" in msg and "3" in msg and "2" in msg


def test_bad_cycle_without_delay() -> None:
    g = _base({"lif2": _lif()}, [("in", "a"), ("a", "lif"), ("lif", "lif2"), ("lif2", "lif"), ("lif", "out")])
    assert _err(g) == "cycle with no delay: lif -> lif2 -> lif"
    # a Delay of 0 steps does not break a cycle, one of >= 1 step does
    g = _base({"d": nir.Delay(np.zeros(2))}, [("in", "a"), ("a", "lif"), ("lif", "d"), ("d", "lif"), ("lif", "out")])
    assert _err(g) == "cycle with no delay: lif -> d -> lif"
    # a cycle of synapse nodes only has no rest value
    g = _base({"s": nir.Scale(np.full(2, 0.5))}, [("in", "a"), ("a", "s"), ("s", "a"), ("a", "lif"), ("lif", "out")])
    assert _err(g).startswith("cycle without a neuron (only synapse/Delay nodes): a -> s -> a")


def test_bad_zero_delay_into_neuron_and_files(tmp_path: Path) -> None:
    g = _base({"lif2": _lif()}, [("in", "a"), ("a", "lif"), ("lif", "lif2"), ("lif2", "out")])
    msg = _err(g)
    assert "zero-delay path lif -> lif2" in msg and "insert an Affine" in msg
    assert "not found" in _err(tmp_path / "missing.nir")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    assert "cannot read NIR graph" in _err(bad)


def test_bad_run_inputs() -> None:
    rg = load_graph(ex.recurrent_graph())
    with pytest.raises(UserError, match="input has 4 channels"):
        Emulator(rg).run(np.zeros((5, 4)))
    with pytest.raises(UserError, match="NaN"):
        Emulator(rg).run(np.full((5, 3), np.nan))
    with pytest.raises(UserError, match="precision"):
        Emulator(rg, "double")


def test_quantisation_overflow_warns_with_numbers() -> None:
    # a bias 10^4 x the threshold caps the scale (bias mantissa 4095 << 7): the threshold is lost
    g = _base({"lif": _lif(v_leak=np.full(2, 2e4))})
    rg = load_graph(g)
    with pytest.warns(QuantizationWarning, match=r"neuron 'lif': threshold 1 -> vth_q 1 .*rel. error"):
        q = quantize(rg)
    assert any("bias 12500" in w for w in q.warnings)
    with pytest.raises(UserError, match="threshold"):
        quantize(rg, strict=True)
    # a bias comparable to the threshold is exact enough (no warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuantizationWarning)
        q = quantize(load_graph(_base({"lif": _lif(v_leak=np.full(2, 1.7))})))
    assert max(e.rel_rms for e in q.errors) < 1e-3
    # tiny weights: exponent outside Loihi 2's range
    g = _base({"a": nir.Affine(np.eye(2) * 1e-7, np.zeros(2))})
    with pytest.warns(QuantizationWarning, match=r"weight_exp -\d+ is outside"):
        quantize(load_graph(g))
    # inputs beyond the 24-bit graded range are clipped with a warning
    q = quantize(load_graph(_base()), input_range=1.0)
    with pytest.warns(QuantizationWarning, match="exceed the 24-bit graded range"):
        q.quantize_input(np.full((2, 2), 1e5))


def test_lif_matches_spikingjelly_lifnode() -> None:
    """dt/tau = 1/1.6, r = 1, v_leak = v_reset = 0 is SpikingJelly LIFNode(tau=1.6, decay_input=True,
    v_reset=0.) fed with the current W x[t] + b, one step later (the LIF starts at its arrival step 1,
    so its bias does not act at step 0); only ties (>= vs >) could differ."""
    torch = pytest.importorskip("torch")
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    rng = np.random.default_rng(11)
    n_in, n, T, B = 5, 8, 40, 3
    w, b = rng.normal(0, 1.2, (n, n_in)), rng.normal(0, 0.2, n)
    g = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([n_in])), "a": nir.Affine(w, b), "lif": _lif(n),
               "out": nir.Output(np.array([n]))},
        edges=[("in", "a"), ("a", "lif"), ("lif", "out")], metadata={"dt": ex.DT})
    x = rng.uniform(0, 1, (B, T, n_in))
    rec = Emulator(load_graph(g)).run(x)
    current = x[:, :-1] @ w.T + b  # [B, T-1, n]: SpikingJelly's own step t is the runtime's t + 1
    node = neuron.LIFNode(tau=1.6, decay_input=True, v_reset=0.0, v_threshold=1.0, step_mode="m")
    with torch.no_grad():
        sj = node(torch.from_numpy(current.transpose(1, 0, 2).copy())).numpy().transpose(1, 0, 2)
    assert sj.sum() > 20
    np.testing.assert_array_equal(rec.spikes["lif"][:, 1:], sj)  # shifted by the one-hop offset, exactly
    assert not rec.spikes["lif"][:, 0].any()  # the bias does not act before the input can arrive


def test_calibrated_quantisation_keeps_the_state_from_wrapping() -> None:
    """A CubaLIF driven by 200 strong inputs (the lava-dl failure in small): the worst-case bounds
    stop lowering the scale at their floor and the 24-bit state wraps (fixed point far from
    float); ``quantize(calibration=x)`` sizes the scale from the measured range instead."""
    from ucfdvs.neuro_runtime.fixed_agreement import fixed_agreement

    n_in, dt = 200, 1e-3
    rng = np.random.default_rng(0)
    g = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([n_in])), "a": nir.Affine(rng.choice([-50.0, 50.0], (4, n_in)), np.zeros(4)),
               "lif": nir.CubaLIF(tau_syn=np.full(4, 10 * dt), tau_mem=np.full(4, 4 * dt), r=np.ones(4),
                                  v_leak=np.zeros(4), v_threshold=np.full(4, 2.0), v_reset=np.zeros(4), w_in=np.ones(4)),
               "out": nir.Output(np.array([4]))},
        edges=[("in", "a"), ("a", "lif"), ("lif", "out")], metadata={"dt": dt})
    rg = load_graph(g)
    x = (rng.random((2, 40, n_in)) < 0.5).astype(float)
    with pytest.warns(Warning, match="24-bit"):
        bounds = fixed_agreement(rg, x, input_range=1.0)
    calibrated = fixed_agreement(rg, x, calibration=x)
    assert bounds.layers["lif"].float_spikes >= 100
    assert bounds.worst_spike_agreement < 0.8
    assert calibrated.worst_spike_agreement == 1.0, calibrated.layers


def test_timing_api_and_several_inputs() -> None:
    """``offset`` / ``latency`` / ``flush_steps`` and ``pack_inputs`` on a two-Input graph."""
    g = nir.NIRGraph(
        nodes={"x1": nir.Input(np.array([3])), "x2": nir.Input(np.array([2, 2])),
               "f": nir.Flatten(input_type={"input": np.array([2, 2])}, start_dim=0),
               "a1": nir.Affine(np.ones((2, 3)), np.zeros(2)), "a2": nir.Affine(np.ones((2, 4)), np.zeros(2)),
               "lif": _lif(), "b": nir.Affine(np.eye(2), np.zeros(2)), "lif2": _lif(),
               "o1": nir.Output(np.array([2])), "o2": nir.Output(np.array([2]))},
        edges=[("x1", "a1"), ("x2", "f"), ("f", "a2"), ("a1", "lif"), ("a2", "lif"), ("lif", "o1"),
               ("lif", "b"), ("b", "lif2"), ("lif2", "o2")],
        metadata={"dt": ex.DT}, type_check=False)
    rg = load_graph(g)
    assert rg.inputs == {"x1": (0, 3), "x2": (3, 4)} and rg.input_size == 7
    assert rg.latency == {"o1": 1, "o2": 2} and rg.offset("lif2") == 2 and rg.flush_steps == 2
    x = rg.pack_inputs({"x1": np.ones((5, 3)), "x2": np.full((5, 2, 2), 2.0)})
    assert x.shape == (1, 5, 7) and x[0, 0, 3] == 2.0
    with pytest.raises(UserError, match="input 'x2' has shape"):
        rg.pack_inputs({"x1": np.ones((5, 3)), "x2": np.ones((5, 4))})
    with pytest.raises(UserError, match="missing"):
        rg.pack_inputs({"x1": np.ones((5, 3))})


NIR_PAPER = Path(__file__).resolve().parents[1].parent / "shared" / "nir_paper"


@pytest.mark.skipif(not (NIR_PAPER / "cnn_sinabs.nir").exists(), reason="../shared/nir_paper absent")
def test_nir_paper_cnn_runs_in_the_emulator_as_in_the_interpreter() -> None:
    """The Sinabs CNN (Conv2d, IF [C, H, W], SumPool2d, Flatten, Affine): the emulator (exact conv
    matrices) and the nirtorch interpreter (torch's conv and pooling) fire identically."""
    torch = pytest.importorskip("torch")
    from ucfdvs.export.nir_interpreter import NIRInterpreter
    from ucfdvs.neuro_runtime.sources import load_foreign

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g, _ = load_foreign(NIR_PAPER / "cnn_sinabs.nir", source="sinabs")
    rg = load_graph(g)
    assert rg.latency == {"output": 7} and rg.neurons["1"].size == 16 * 16 * 16
    x = (np.random.default_rng(0).random((1, 10, rg.input_size)) < 0.1).astype(float)
    ref = Emulator(rg).run(x)
    _, rec = NIRInterpreter(g).run(torch.from_numpy(x))
    for n in rg.neurons:
        np.testing.assert_array_equal(rec[n].numpy(), ref.activity[n], err_msg=n)
    assert ref.activity["12"].sum() > 0


def test_fixed_lif_update_matches_lavas_formula_literally() -> None:
    """``semantics.lif_fixed_update`` (in place, shifts and masks) against Lava's
    ``AbstractPyLifModelFixed`` written literally (sign/abs decay, int32 casts, np.where wrap),
    on random states, currents and decays across the full ranges, edges included."""
    from ucfdvs.neuro_runtime.semantics import MAX_UV, lif_fixed_update

    def int32(a: np.ndarray) -> np.ndarray:
        return a.astype(np.int32).astype(np.int64)

    def decay(x: np.ndarray, c: np.ndarray) -> np.ndarray:
        prod = x * (4096 - c)
        return np.sign(prod) * (np.abs(prod) >> 12)

    def literal(u, v, a_in, du_q, dv_q, bias):
        cur = int32(int32(decay(u, du_q + 1)) + int32(int32(a_in) << 6))
        wrapped = np.where(cur > MAX_UV, cur - 2 * MAX_UV, cur)
        u = np.where(wrapped <= -MAX_UV, cur + 2 * MAX_UV, wrapped)
        return u, np.clip(int32(decay(v, dv_q)) + u + bias, -MAX_UV + 1, MAX_UV - 1)

    rng = np.random.default_rng(0)
    for big in (1 << 23, 1 << 26, 1 << 31, 1 << 40):
        u, v = (rng.integers(-MAX_UV + 1, MAX_UV, (6, 64)) for _ in range(2))
        u[:, :5] = [MAX_UV - 1, -MAX_UV + 1, 0, 1, -1]
        a = rng.integers(-big, big, (6, 64))
        a[:, :4] = [(1 << 31) - 1, -(1 << 31), 1 << 25, -(1 << 25)]
        du, dv = rng.integers(0, 4096, 64), rng.integers(0, 4097, 64)
        du[:3], dv[:3] = [0, 4095, 4094], [0, 4096, 1]
        bias = rng.integers(-MAX_UV, MAX_UV, 64)
        before = (u.copy(), v.copy(), a.copy())
        a32 = a.astype(np.int32).astype(np.int64)
        # per-neuron decays, then the exact shortcuts: no current decay (du 4095), no leak (dv 0)
        for du_case, dv_case in ((du, dv), (np.full(64, 4095), dv), (du, np.zeros(64, np.int64)),
                                 (np.full(64, 4095), np.zeros(64, np.int64))):
            ref = literal(u, v, a, du_case, dv_case, bias)
            for got in (lif_fixed_update(u, v, a, du_case, dv_case, bias),
                        lif_fixed_update(u, v, a32, du_case, dv_case, bias, a_in_int32=True)):
                np.testing.assert_array_equal(got[0], ref[0])
                np.testing.assert_array_equal(got[1], ref[1])
            assert all(np.array_equal(x, y) for x, y in zip(before, (u, v, a)))  # inputs untouched
