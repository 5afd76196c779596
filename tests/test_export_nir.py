"""NIR export: round trip, the nirtorch-based interpreter, the emulator, snnTorch, bad inputs, CLI."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from ucfdvs.cli import main as export_main
from ucfdvs.export.convert import GraphBuilder, convert
from ucfdvs.export.graph_view import has_cycle, node_table
from ucfdvs.export.nir_interpreter import NIRInterpreter
from export_helpers import active_msf, features
from ucfdvs.export.to_nir import read_nir, to_nir_graph, write_nir
from ucfdvs.cli import main as train_main
from ucfdvs.errors import UserError

@pytest.fixture(autouse=True)
def _one_thread():
    """Per-step streaming ops are far faster single-threaded (and the machine is shared)."""
    from ucfdvs.train.torch_threads import torch_threads

    with torch_threads(1):
        yield


NIR_1_0_8_TYPES = {"Input", "Output", "Affine", "Linear", "Scale", "Delay", "LIF", "LI"}


@pytest.fixture(scope="module")
def streaming():
    return convert(active_msf(), 2)


@pytest.fixture(scope="module")
def nir_file(streaming, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("nir") / "msf.nir"
    write_nir(streaming, path, source_sha256="ab" * 32)
    return path


def test_roundtrip_has_delays_cycle_and_metadata(nir_file: Path, streaming) -> None:
    graph = nir.read(nir_file)
    types = {type(n).__name__ for n in graph.nodes.values()}
    assert types <= NIR_1_0_8_TYPES and "Delay" in types and "LI" in types
    assert has_cycle(graph)
    meta = graph.metadata
    assert float(meta["dt"]) == pytest.approx(0.533328)
    assert "533328 us" in meta["dt_meaning"]
    assert int(meta["latency_steps"]) == streaming.latency == 10
    assert meta["source_checkpoint_sha256"] == "ab" * 32 and meta["toolkit"].startswith("ucfdvs")
    assert "v > v_threshold" in meta["conventions"]
    delays = [n for n in graph.nodes.values() if isinstance(n, nir.Delay)]
    assert all(np.allclose(d.delay / 0.533328, np.round(d.delay / 0.533328)) for d in delays)
    lif = graph.nodes["loc1"]
    assert np.allclose(lif.tau, 1.6 * 0.533328) and np.allclose(lif.r, 1) and np.allclose(lif.v_reset, 0)
    assert "tim_out" in node_table(graph)


def test_interpreter_reproduces_spikes_exactly_and_scores(nir_file: Path, streaming) -> None:
    interp = NIRInterpreter(nir_file)
    assert interp.back_edges  # the TIM loop is closed through nirtorch's previous output
    net = streaming.net.double()
    try:
        x = features(3, 25).double()
        with torch.no_grad():
            out, rec = net.run(x, record=True, surrogate=False)
        outs2, rec2 = interp.run(x)
        assert list(outs2) == [net.output_name]
        out2 = outs2[net.output_name]
        assert set(rec) == set(rec2)
        active = 0
        for name, value in rec.items():
            if net.nodes[name].kind == "lif":
                assert torch.equal(value, rec2[name]), name
                active += int(value.sum() > 0)
            else:
                assert float((value - rec2[name]).abs().max()) <= 1e-12, name
        assert active >= 8 and rec["tim_out"].sum() > 0
        lat = streaming.latency
        scores = torch.sigmoid(out[:, lat:, 0])
        assert float((scores - torch.sigmoid(out2[:, lat:, 0])).abs().max()) <= 1e-12
    finally:
        net.float()


def test_neuro_runtime_emulator_agrees(nir_file: Path, streaming) -> None:
    emulator = pytest.importorskip("ucfdvs.neuro_runtime.emulator")
    net = streaming.net.double()
    try:
        x = features(2, 20).double()
        with torch.no_grad():
            out, rec = net.run(x, record=True, surrogate=False)
        record = emulator.Emulator(str(nir_file), "floating_pt").run(x.numpy())
        assert np.abs(record.outputs["score"] - out.numpy()).max() <= 1e-12
        for name in ("loc1", "g", "d1", "tim_out"):
            assert np.array_equal(record.activity[name], rec[name].numpy()), name
    finally:
        net.float()


def test_snntorch_import_matches_our_lif_conventions(tmp_path: Path) -> None:
    """A plain Affine + LIF chain written by our exporter, run by snnTorch's import_from_nir.

    snnTorch's importer hard-codes dt = 1e-4 s (beta = 1 - 1e-4 / tau) and folds r dt / tau into
    the threshold, so we write the chain with dt = 1e-4. The documented offset: snnTorch's Linear
    has no one-step hop, so our graph equals snnTorch fed the input one step late (zeros at step 0,
    where our synapse delivers its rest value, the bias), exactly; fed on time, or two steps late,
    it differs."""
    snn_import = pytest.importorskip("snntorch.import_nir")
    torch.manual_seed(0)
    b = GraphBuilder(dt=1e-4)
    x = b.input("x", 5)
    b.output("out", 4, b.lif("lif", 4, 1.0, b.synapse("fc", x, torch.randn(4, 5), torch.randn(4) * 0.3)))
    net = b.build({"latency": 1})
    path = tmp_path / "chain.nir"
    write_nir(net, path)
    with contextlib.redirect_stdout(io.StringIO()):
        module = snn_import.import_from_nir(nir.read(path))

    def snntorch_run(xs: torch.Tensor) -> torch.Tensor:
        outs, state = [], None
        for t in range(xs.shape[1]):
            result = module(xs[:, t]) if state is None else module(xs[:, t], state)
            outs.append(result[0])
            state = result[-1]
        return torch.stack(outs, 1)

    def late(xs: torch.Tensor, steps: int) -> torch.Tensor:
        return torch.cat([torch.zeros(1, steps, 5), xs[:, : xs.shape[1] - steps]], 1)

    xs = torch.rand(1, 40, 5) * 2
    with torch.no_grad():
        ours = net(xs)
        assert ours.sum() > 5
        assert torch.equal(ours, snntorch_run(late(xs, 1)))
        assert not torch.equal(ours, snntorch_run(xs)) and not torch.equal(ours, snntorch_run(late(xs, 2)))


# -- bad input -------------------------------------------------------------------------------------
def test_truncated_and_non_hdf5_files_are_refused(nir_file: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.nir"
    cut.write_bytes(nir_file.read_bytes()[: nir_file.stat().st_size // 2])
    with pytest.raises(UserError, match="cut.nir: not a readable NIR file"):
        NIRInterpreter(cut)
    text = tmp_path / "text.nir"
    text.write_text("hello\n")
    with pytest.raises(UserError, match="not HDF5"):
        read_nir(text)
    with pytest.raises(UserError, match="not found"):
        read_nir(tmp_path / "missing.nir")


def _small_graph(**changes) -> nir.NIRGraph:
    nodes = {
        "x": nir.Input(input_type={"input": np.array([3])}),
        "fc": nir.Affine(weight=np.ones((2, 3), np.float32), bias=np.zeros(2, np.float32)),
        "lif": nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
        "y": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [("x", "fc"), ("fc", "lif"), ("lif", "y")]
    nodes.update(changes.get("nodes", {}))
    edges = changes.get("edges", edges)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 0.5}, type_check=False)


def test_unsupported_node_dangling_edge_and_shape_mismatch_are_named(tmp_path: Path) -> None:
    weird = _small_graph(nodes={"lif": nir.Threshold(threshold=np.array([1.0, -1.0]))})
    path = tmp_path / "weird.nir"
    nir.write(path, weird)
    with pytest.raises(UserError, match=r"weird.nir: node 'lif' \(Threshold\): threshold must be > 0"):
        NIRInterpreter(path)
    with pytest.raises(UserError, match="edge lif -> ghost refers to unknown node 'ghost'"):
        NIRInterpreter(_small_graph(edges=[("x", "fc"), ("fc", "lif"), ("lif", "y"), ("lif", "ghost")]))
    wide = _small_graph(nodes={"fc": nir.Affine(weight=np.ones((3, 3), np.float32), bias=np.zeros(3, np.float32))})
    with pytest.raises(UserError, match="shape mismatch on edge fc -> lif"):
        NIRInterpreter(wide)
    loop = _small_graph(nodes={"lif2": nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2),
                                               v_threshold=np.ones(2), v_reset=np.zeros(2))},
                        edges=[("x", "fc"), ("fc", "lif"), ("lif", "lif2"), ("lif2", "lif"), ("lif", "y")])
    with pytest.raises(UserError, match="cycle with no delay"):
        NIRInterpreter(loop)
    with pytest.raises(UserError, match="cannot express module Linear"):
        to_nir_graph(torch.nn.Linear(2, 2))


# -- CLI ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_checkpoints(tiny_data: Path, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    out = {}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for arch in ("msf", "linear"):
            code = train_main(["train", "--data", str(tiny_data), "--out", str(root / arch), "--model", arch,
                               "--iterations", "2", "--eval-every", "2", "--device", "cpu"])
            assert code == 0
            out[arch] = root / arch / "best.pt"
    return out


def test_cli_export_writes_nir_the_interpreter_runs(tiny_checkpoints, tiny_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "msf.nir"
    png = tmp_path / "msf.png"
    assert export_main(["export", "--checkpoint", str(tiny_checkpoints["msf"]), "--nir", str(out),
                        "--lookahead", "2", "--png", str(png)]) == 0
    assert '"latency_steps": 10' in capsys.readouterr().out
    graph = nir.read(out)
    assert any(isinstance(n, nir.Delay) for n in graph.nodes.values()) and has_cycle(graph)
    assert png.stat().st_size > 1000
    from ucfdvs.export.cli import load_for_export
    from ucfdvs.train.layout import FeatureLayout, load_split

    model, _, _ = load_for_export(tiny_checkpoints["msf"], 2, None)
    videos = load_split(FeatureLayout(tiny_data), "test")[:2]
    steps = max(v.n_snippets for v in videos) + model.latency
    x = torch.zeros(2, steps, 256, dtype=torch.float64)
    for row, v in enumerate(videos):
        x[row, : v.n_snippets] = torch.from_numpy(v.features)
    with torch.no_grad():
        ours, rec = model.net.double().run(x, record=True, surrogate=False)
    outs, rec2 = NIRInterpreter(out).run(x)
    theirs = outs[model.net.output_name]
    assert all(torch.equal(rec[k], rec2[k]) for k in rec if model.net.nodes[k].kind == "lif")
    assert float((torch.sigmoid(ours) - torch.sigmoid(theirs)).abs().max()) <= 1e-12
    assert export_main(["nir-info", str(out)]) == 0
    assert "has_cycle" in capsys.readouterr().out


def test_cli_refuses_other_architecture_and_writes_nothing(tiny_checkpoints, tmp_path: Path, capsys) -> None:
    out = tmp_path / "linear.nir"
    assert export_main(["export", "--checkpoint", str(tiny_checkpoints["linear"]), "--nir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "architecture 'linear'" in err and len(err.splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert export_main(["export", "--checkpoint", str(bad), "--nir", str(out)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert export_main(["nir-info", str(bad)]) == 2
    assert "not HDF5" in capsys.readouterr().err
    assert not out.exists()


def test_cli_finetune_then_export(tiny_checkpoints, tiny_data: Path, tmp_path: Path, capsys) -> None:
    stream = tmp_path / "stream.pt"
    assert export_main(["finetune", "--checkpoint", str(tiny_checkpoints["msf"]), "--data", str(tiny_data),
                        "--out", str(stream), "--lookahead", "0", "--iterations", "2", "--eval-every", "1",
                        "--select-on", "test"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["selected_on"] == "test" and {"val_auc_all", "test_auc_all"} <= set(report["evaluations"][0])
    out = tmp_path / "tuned.nir"
    assert export_main(["export", "--checkpoint", str(stream), "--nir", str(out)]) == 0
    assert int(nir.read(out).metadata["latency_steps"]) == 8
    assert export_main(["export", "--checkpoint", str(stream), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert "reference checkpoint" in capsys.readouterr().err
    assert export_main(["export", "--checkpoint", str(stream), "--nir", str(out), "--lookahead", "4"]) == 2


def test_exported_msf_runs_in_lava(nir_file: Path, streaming) -> None:
    """The exported MSF in the real Lava simulator: floating_pt against the streaming model
    (identical spikes, scores within 1e-12), fixed_pt against the emulator (bit-identical)."""
    pytest.importorskip("lava.magma.core.run_configs")
    from ucfdvs.neuro_runtime import Emulator, load_graph, quantize, run_lava
    from ucfdvs.neuro_runtime.lava_build import build_lava

    graph = load_graph(nir_file)
    x = features(2, 16).double()
    net = streaming.net.double()
    try:
        with torch.no_grad():
            out, rec = net.run(x, record=True, surrogate=False)
    finally:
        net.float()
    records = run_lava(graph, x.numpy(), "floating_pt", progress=False)
    spiking = [name for name, spec in graph.neurons.items() if spec.spiking]
    assert sum(int(rec[name].sum()) for name in spiking) > 50
    lat = streaming.latency
    for b, record in enumerate(records):
        for name in spiking:
            assert np.array_equal(record.spikes[name], rec[name][b].numpy()), name
        ours = torch.sigmoid(out[b, lat:, 0]).numpy()
        theirs = 1 / (1 + np.exp(-record.outputs["score"][lat:, 0]))
        assert np.abs(ours - theirs).max() <= 1e-12

    quant = quantize(graph, input_range=float(x.abs().max()))
    unaligned = quantize(graph, input_range=float(x.abs().max()), align_exponents=False)
    spiking_exps = {p.weight_exp for p in quant.projections if p.src in spiking}
    assert len(spiking_exps) < len({p.weight_exp for p in unaligned.projections if p.src in spiking})
    assert all(-8 <= p.weight_exp <= 7 for p in quant.projections)
    nets = [build_lava(graph, "fixed_pt", quant=q, buf_len=2) for q in (unaligned, quant)]
    for net in nets:
        net.close()
    assert nets[1].n_processes < nets[0].n_processes  # exponent alignment lets layers share processes
    fixed = run_lava(graph, x.numpy(), "fixed_pt", quant=quant, progress=False)
    emulated = Emulator(graph, "fixed_pt", quant).run(x.numpy()).split()
    for lava_record, emu_record in zip(fixed, emulated):
        assert np.array_equal(lava_record.outputs["score"], emu_record.outputs["score"])
        for name in spiking:
            assert np.array_equal(lava_record.spikes[name], emu_record.spikes[name]), name
