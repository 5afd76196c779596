"""`ucfdvs run` and the runtime's Python API (`load_network`): files, timing, membranes, bad input.

The NIR paper's LIF (Norse export) must reproduce the Lava traces its authors recorded; the rest
runs on small graphs built here (no ../shared needed).
"""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime import examples, load_network

from conftest import SHARED, needs_lava

PAPER = SHARED / "nir_paper"
needs_paper = pytest.mark.skipif(not (PAPER / "lif_norse.nir").is_file(), reason="../shared/nir_paper absent")


def write_graph(tmp_path: Path, graph, name: str = "g.nir") -> Path:
    path = tmp_path / name
    nir.write(str(path), graph)
    return path


@needs_paper
@pytest.mark.parametrize("backend", ["emu", pytest.param("lava", marks=needs_lava)])
@pytest.mark.parametrize("precision", ["float", "fixed"])
def test_lif_paper_traces(run_cli, tmp_path: Path, backend: str, precision: str) -> None:
    """Spikes identical to Lava's recorded trace; float voltage within 1e-6, fixed voltage proportional."""
    out = tmp_path / "run"
    code, _, err = run_cli("run", "--nir", PAPER / "lif_norse.nir", "--input", PAPER / "lif_input_spikes.npy",
                           "--dt", "1e-4", "--backend", backend, "--precision", precision, "--record", "spikes,v",
                           "--out", out)
    assert code == 0, err
    trace = np.loadtxt(PAPER / f"lif_lava_cpu_{precision}.csv", delimiter=",")
    spikes = np.load(out / "spikes.npz")["1"]
    assert spikes.shape == (1, 1000, 1) and spikes.dtype == np.uint8
    np.testing.assert_array_equal(spikes[0, :, 0], trace[:, 2])
    assert np.flatnonzero(spikes[0, :, 0]).tolist() == [461, 511, 711, 761]
    v = np.load(out / "v.npz")["1"][0, :, 0]
    if precision == "float":
        assert np.abs(v - trace[:, 1]).max() < 1e-6
    else:
        ref = trace[:, 1]
        k = v @ ref / (ref @ ref)
        assert np.corrcoef(v, ref)[0, 1] > 0.9999
        assert np.abs(v / k - ref).max() < 0.01 * ref.max()  # the paper's coarser quantisation: 13.6 of 1589
    report = json.loads((out / "report.json").read_text())
    assert report["v"]["replayed_spike_mismatches"] == {"1": 0}
    assert report["latency"]["outputs"]["output"]["steps"]["value"] == 1
    assert report["layers"]["1"]["spikes"]["value"] == 4
    assert report["run"]["backend"] == backend


def test_api_shapes_flush_and_replayed_membranes(tmp_path: Path) -> None:
    """[T, C] and [B, T, C] inputs, flush steps, LI membranes replayed exactly, fixed-point too."""
    net = load_network(write_graph(tmp_path, examples.li_gated_graph()))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 12, 3))
    flush = net.flush_steps()
    assert flush == max(net.latency().values()) > 0
    for precision in ("float", "fixed"):
        run = net.run(x, precision=precision, record=("spikes", "v"), flush=True)
        assert run.outputs["out"].shape == (3, 12 + flush, 2)
        assert run.spikes["lif1"].shape == (3, 12 + flush, 4) and run.spikes["lif1"].dtype == np.uint8
        assert run.v_mismatch == {"lif0": 0, "lif1": 0}
        li = run.v["li"]
        if precision == "float":
            np.testing.assert_array_equal(li, run.graded["li"])
        else:  # Loihi integers; the LI sends v >> msg_shift
            q = run.quant.neurons["li"]
            np.testing.assert_array_equal(np.right_shift(li.astype(np.int64), q.msg_shift),
                                          np.rint(run.graded["li"] * q.msg_units).astype(np.int64))
        one = net.run(x[1], precision=precision, flush=True)
        np.testing.assert_array_equal(one.spikes["lif1"][0], run.spikes["lif1"][1])
        without = net.run(x, precision=precision)
        np.testing.assert_array_equal(without.outputs["out"], run.outputs["out"][:, :12])


def test_nested_graph_dotted_names_and_image_input(run_cli, tmp_path: Path) -> None:
    """A nested subgraph is flattened (dotted names in spikes.npz); inputs keep their [C, H, W] shape."""
    rng = np.random.default_rng(1)
    inner = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([6])), "lif": examples._lif(6, vth=0.5),
               "w_rec": nir.Linear(weight=rng.normal(0, 0.3, (6, 6))), "output": nir.Output(np.array([6]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")], type_check=False)
    graph = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([2, 2, 2])), "fc": nir.Linear(weight=rng.normal(0, 1.0, (6, 8))),
               "rec": inner, "out": nir.Output(np.array([6]))},
        edges=[("in", "fc"), ("fc", "rec"), ("rec", "out")], type_check=False)
    path = write_graph(tmp_path, graph)
    x = rng.uniform(0, 1, (2, 9, 2, 2, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, _, err = run_cli("run", "--nir", path, "--input", tmp_path / "x.npy", "--dt", str(examples.DT),
                           "--out", tmp_path / "o")
    assert code == 0, err
    spikes = np.load(tmp_path / "o" / "spikes.npz")
    assert list(spikes.files) == ["rec.lif"] and spikes["rec.lif"].shape == (2, 9, 6)
    direct = load_network(path, dt=examples.DT).run(x)
    np.testing.assert_array_equal(spikes["rec.lif"], direct.spikes["rec.lif"])
    notes = json.loads((tmp_path / "o" / "report.json").read_text())["latency"]["notes"]
    assert len(notes) == 1 and notes[0].startswith("recurrent synapse layers rec.lif->rec.lif:")
    np.savez(tmp_path / "x.npz", **{"in": x[0]})  # one array per named Input; [T, *shape]
    code, _, err = run_cli("run", "--nir", path, "--input", tmp_path / "x.npz", "--dt", str(examples.DT),
                           "--out", tmp_path / "o2")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "o2" / "spikes.npz")["rec.lif"], spikes["rec.lif"][:1])


@pytest.mark.parametrize("case, needle", [
    ("not_nir", "not a NIR/HDF5 file"),
    ("no_dt", "no --dt was given"),
    ("shape", "has shape [5, 4]; the graph's Input 'in' takes [T, 3] or [B, T, 3]"),
    ("dtype", "has dtype complex128; the graph's Input 'in' takes real numbers"),
    ("npz", "arrays ['x'] do not match the graph's Input nodes ['in']"),
    ("source", "unknown --source 'torch'"),
    ("reset", "unknown --reset 'half'"),
    ("record", "unknown --record 'u'"),
])
def test_bad_input(run_cli, tmp_path: Path, case: str, needle: str) -> None:
    """One line, exit 2, no output folder, no temporary folder left."""
    graph = examples.li_gated_graph()
    no_dt = nir.NIRGraph(nodes=graph.nodes, edges=graph.edges, metadata={})
    nir_path = write_graph(tmp_path, no_dt if case == "no_dt" else graph)
    x = np.zeros((5, 3))
    np.save(tmp_path / "x.npy", x.astype(complex) if case == "dtype" else np.zeros((5, 4)) if case == "shape" else x)
    np.savez(tmp_path / "x.npz", x=x)
    (tmp_path / "bad.nir").write_text("not hdf5")
    args = ["run", "--nir", tmp_path / "bad.nir" if case == "not_nir" else nir_path,
            "--input", tmp_path / ("x.npz" if case == "npz" else "x.npy"), "--out", tmp_path / "out"]
    args += {"source": ["--source", "torch"], "reset": ["--reset", "half"], "record": ["--record", "spikes,u"]
             }.get(case, [])
    code, out, err = run_cli(*args)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_api_raises_user_error_for_wrong_input(tmp_path: Path) -> None:
    net = load_network(write_graph(tmp_path, examples.li_gated_graph()))
    with pytest.raises(UserError, match="takes \\[T, 3\\] or \\[B, T, 3\\]"):
        net.run(np.zeros((2, 5, 7)))
    with pytest.raises(UserError, match="unknown --backend"):
        net.run(np.zeros((5, 3)), backend="gpu")


@needs_paper
@needs_lava
def test_braille_rnn_runs_in_every_executor() -> None:
    """The NIR paper's Braille RNN (snnTorch export, nested recurrent CubaLIF, biases): Lava equals the
    emulator bit for bit in fixed point and in spikes in float; fixed agrees with float on lif1."""
    net = load_network(PAPER / "braille_noDelay_bias_zero.nir", source="snntorch", reset="zero")
    assert set(net.graph.neurons) == {"lif1.lif", "lif2"}
    x = (np.random.default_rng(0).random((2, 30, 12)) < 0.1).astype(np.uint8)
    runs = {(b, p): net.run(x, backend=b, precision=p) for b in ("emu", "lava") for p in ("float", "fixed")}
    for p in ("float", "fixed"):
        for node in ("lif1.lif", "lif2"):
            np.testing.assert_array_equal(runs["lava", p].spikes[node], runs["emu", p].spikes[node])
    np.testing.assert_array_equal(runs["lava", "fixed"].outputs["output"], runs["emu", "fixed"].outputs["output"])
    assert runs["emu", "float"].spikes["lif2"].sum() > 0
    assert np.mean(runs["emu", "fixed"].spikes["lif1.lif"] == runs["emu", "float"].spikes["lif1.lif"]) > 0.98


@needs_paper
def test_cnn_paper_against_norse() -> None:
    """The Sinabs CNN (Conv2d, IF, SumPool2d, Flatten; reset to zero) against Norse's from_nir of the
    same file: every IF layer's spikes identical after its hop offset in the emulator (float; Lava
    and fixed point are measured by benchmarks/nir_paper_validation.py)."""
    from ucfdvs.benchmarks.nir_paper_validation import cnn

    res = cnn(PAPER, samples=2, steps=12, executors=(("emu", "float"),))
    assert res["status"] == "ran", res
    for name, entry in res["executors"].items():
        assert entry["output_agreement"] == 1.0 and entry["decisions_equal"] == 1.0, name
        assert set(entry["layers"]) == {"1", "3", "6", "10", "12"}, name
        assert {v["agreement"] for v in entry["layers"].values()} == {1.0}, name


def test_fixed_point_follows_larger_inputs_unless_chosen_by_the_user(tmp_path: Path) -> None:
    """Fixed point chosen by a run is chosen again for a larger input; one chosen by quantize() is kept,
    with a warning that names the two ranges."""
    from ucfdvs.neuro_runtime.quantize import QuantizationWarning

    net = load_network(write_graph(tmp_path, examples.li_gated_graph()))
    x = np.random.default_rng(3).uniform(-1, 1, (2, 15, 3))
    net.run(0.5 * x, precision="fixed")
    first = net.quant
    assert net.quant_input_range == pytest.approx(0.5 * np.abs(x).max())
    net.run(0.25 * x, precision="fixed")
    assert net.quant is first
    net.run(2 * x, precision="fixed")
    assert net.quant is not first and net.quant_input_range == pytest.approx(2 * np.abs(x).max())
    chosen = net.quantize(input_range=0.5)
    with pytest.warns(QuantizationWarning, match=r"input max \|x\| 0\.997 exceeds the fixed-point input range 0\.5 \(given input range"):
        net.run(x, precision="fixed")
    assert net.quant is chosen


@needs_lava
def test_two_weight_planes_replay_and_lava(tmp_path: Path) -> None:
    """Fixed point with two weight planes: membranes replay the recorded spikes, Lava equals the emulator."""
    net = load_network(write_graph(tmp_path, examples.li_gated_graph()))
    x = np.random.default_rng(3).uniform(-1, 1, (2, 15, 3))
    net.quantize(input_range=1.0, weight_planes=2)
    emu = net.run(x, precision="fixed", record=("spikes", "v"))
    assert emu.v_mismatch == {"lif0": 0, "lif1": 0} and emu.spikes["lif1"].sum() > 0
    lava = net.run(x, backend="lava", precision="fixed")
    for node in ("lif0", "lif1"):
        np.testing.assert_array_equal(lava.spikes[node], emu.spikes[node])


def test_weight_planes_auto_and_their_cost_in_the_report(run_cli, tmp_path: Path) -> None:
    """``--weight-planes auto`` on an event input: the input is sent as its integers (S_in = 1), the planes
    chosen per layer (on the input itself) are in the report with every trial, and the resources
    count each plane's synapses and synapse process; a count outside 1..4 is refused."""
    path = write_graph(tmp_path, examples.recurrent_graph())
    np.save(tmp_path / "x.npy", (np.random.default_rng(3).random((4, 15, 3)) < 0.4).astype(np.uint8))
    reports = {}
    for planes in ("1", "auto"):
        out = tmp_path / planes
        code, _, err = run_cli("run", "--nir", path, "--input", tmp_path / "x.npy", "--precision", "fixed",
                               "--weight-planes", planes, "--out", out)
        assert code == 0, err
        reports[planes] = json.loads((out / "report.json").read_text())
    q = reports["auto"]["quantization"]
    assert q["input_scale"]["value"] == 1.0
    graph = load_network(path).graph
    layers = {p.name for p in graph.projections if p.dst in graph.neurons}
    assert set(q["weight_planes"]) >= layers and max(q["weight_planes"].values()) >= 2
    tried = q["weight_planes_choice"]["tried"]
    assert set(tried[0]["planes"].values()) == {1} and len(tried) >= 2
    res = {k: r["resources"]["total"] for k, r in reports.items()}
    assert res["1"]["synapse_processes"]["value"] == len(layers)  # layers into neurons (Outputs: no core)
    assert res["auto"]["synapse_processes"]["value"] == sum(q["weight_planes"][name] for name in layers)
    assert res["auto"]["synapses"]["value"] > res["1"]["synapses"]["value"]
    assert "weight_planes_choice" not in reports["1"]["quantization"]
    with pytest.raises(SystemExit) as exit_:
        run_cli("run", "--nir", path, "--input", tmp_path / "x.npy", "--precision", "fixed", "--weight-planes", "5",
                "--out", tmp_path / "bad")
    assert exit_.value.code == 2 and not (tmp_path / "bad").exists()


@needs_paper
@pytest.mark.parametrize("graph, source, shape, backends, precisions", [
    pytest.param("braille_noDelay_bias_zero.nir", "snntorch", (2, 20, 12), ("emu", "lava"), ("float", "fixed"),
                 marks=needs_lava),
    # the CNN in float and in Lava: test_cnn_paper_against_norse, benchmarks/nir_paper_validation.py
    ("cnn_sinabs.nir", "sinabs", (1, 8, 2, 34, 34), ("emu",), ("fixed",)),
])
def test_run_command_on_paper_graphs(run_cli, tmp_path: Path, graph: str, source: str, shape: tuple,
                                     backends: tuple, precisions: tuple) -> None:
    """`ucfdvs run` on the NIR paper's graphs with their exporters' defaults, float and fixed: every file
    written, step t of the outputs is step t of the (flushed) input, fixed point reported against float."""
    x = (np.random.default_rng(0).random(shape) < 0.1).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    for backend in backends:
        for precision in precisions:
            out = tmp_path / f"{backend}-{precision}"
            code, _, err = run_cli("run", "--nir", PAPER / graph, "--input", tmp_path / "x.npy", "--source", source,
                                   "--backend", backend, "--precision", precision, "--flush", "--record", "spikes,v",
                                   "--out", out)
            assert code == 0, err
            report = json.loads((out / "report.json").read_text())
            steps = shape[1] + report["run"]["flush_steps"]
            assert report["run"]["steps"] == steps and report["run"]["flush_steps"] > 0
            assert np.load(out / "outputs.npz")["output"].shape == (shape[0], steps, *report["graph"]["outputs"]["output"])
            assert set(report["v"]["replayed_spike_mismatches"].values()) == {0}
            if precision == "fixed":
                assert report["quantization"]["agreement_with_float"]["layers"]
