"""`ucfdvs bench --nir GRAPH --input X`: every backend on a real snnTorch export, its reference run, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ucfdvs.benchmarks.digits_networks import export, snntorch_nets
from ucfdvs.benchmarks.reference_models import save_reference
from ucfdvs.neuro_runtime import examples

from conftest import needs_lava


@pytest.fixture(scope="module")
def snntorch_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """snnTorch's Linear 64-64 + Leaky, Linear 64-10 + Leaky (biases, snnTorch's default subtractive
    reset), exported by snnTorch, with its module saved as a reference, 12 random spike trains and labels."""
    folder = tmp_path_factory.mktemp("snn")
    torch.manual_seed(0)
    net = snntorch_nets()["snntorch_ff"][0]
    with torch.no_grad():
        for layer in (net.fc1, net.fc2):
            layer.weight.mul_(4.0)
    assert export("snntorch_ff", net, False, folder / "graph.nir") is None
    save_reference(folder / "model.pt", "snntorch_ff", net)
    rng = np.random.default_rng(0)
    np.save(folder / "x.npy", (rng.random((12, 15, 64)) < 0.3).astype(np.uint8))
    np.save(folder / "y.npy", rng.integers(0, 10, 12))
    return folder


@needs_lava
def test_bench_any_graph(run_cli, snntorch_net: Path, tmp_path: Path) -> None:
    f = snntorch_net
    out = tmp_path / "bench"
    code, stdout, err = run_cli("bench", "--nir", f / "graph.nir", "--input", f / "x.npy", "--labels", f / "y.npy",
                                "--reference", f / "model.pt", "--source", "snntorch", "--flush",
                                "--lava-samples", "2", "--out", out)
    assert code == 0, err
    res = json.loads((out / "results.json").read_text())
    assert {k: e["status"] for k, e in res["backends"].items()} == dict.fromkeys(
        ("emu_float", "emu_fixed", "lava_float", "lava_fixed"), "ok")
    y = np.load(f / "y.npy")
    emu = res["backends"]["emu_float"]
    assert emu["accuracy"] == pytest.approx(np.mean(np.array(emu["decisions"]) == y))
    for name in ("lava_float", "lava_fixed"):  # Lava equals the emulator on its subset, bit for bit
        assert res["backends"][name]["samples"] == 2
        assert set(res["backends"][name]["spikes_equal_emulator"].values()) == {1.0}
    # biases and subtractive reset: snnTorch's own run is the runtime's shifted by one step per hop
    ref = res["reference"]
    assert {k: v["agreement"] for k, v in ref["layers"].items()} == {"lif1": 1.0, "lif2": 1.0}
    assert {k: v["offset_steps"] for k, v in ref["layers"].items()} == {"lif1": 1, "lif2": 2}
    assert ref["decisions_equal_emu_float"] == 1.0 and ref["output_agreement"] == 1.0
    rep = emu["report"]
    spikes = rep["layers"]["lif1"]["spikes"]["value"]
    assert spikes > 0 and rep["totals_per_sample"]["spikes"]["value"] == pytest.approx(
        (spikes + rep["layers"]["lif2"]["spikes"]["value"]) / 12)
    assert rep["neurobench"]["Effective_ACs"]["value"] > 0 and rep["resources"]["fits_one_chip"] is True
    assert (out / "report.md").read_text().startswith("# Benchmark of")
    assert (out / "firing_rates.png").is_file() and (out / "energy.png").is_file()


@needs_lava
def test_bench_lava_fixed_alone_is_compared_with_the_fixed_emulator(run_cli, snntorch_net: Path, tmp_path: Path) -> None:
    f = snntorch_net
    code, _, err = run_cli("bench", "--nir", f / "graph.nir", "--input", f / "x.npy", "--source", "snntorch",
                           "--backends", "lava_fixed", "--lava-samples", "2", "--out", tmp_path / "out")
    assert code == 0, err
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(res["backends"]) == {"lava_fixed"}
    assert set(res["backends"]["lava_fixed"]["spikes_equal_emulator"].values()) == {1.0}


@pytest.mark.parametrize("case, needle", [
    ("labels", "5 labels for 12 input samples"),
    ("decision", "unknown --decision 'vote'"),
    ("reference", "outputs [10] per step, the graph's Output 'out' takes [2]"),
])
def test_bench_any_graph_bad_input(run_cli, snntorch_net: Path, tmp_path: Path, case: str, needle: str) -> None:
    import nir

    f = snntorch_net
    nir_path, x = f / "graph.nir", f / "x.npy"
    args: list = ["--source", "snntorch"]
    if case == "labels":
        np.save(tmp_path / "y.npy", np.zeros(5, dtype=np.int64))
        args += ["--labels", tmp_path / "y.npy"]
    elif case == "decision":
        args += ["--decision", "vote"]
    else:  # a graph with 2 outputs against the 10-output snnTorch reference
        nir_path = tmp_path / "g.nir"
        graph = nir.NIRGraph(nodes={"in": nir.Input(np.array([64])), "fc": nir.Linear(np.ones((2, 64))),
                                    "lif": examples._lif(2), "out": nir.Output(np.array([2]))},
                             edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")], metadata={"dt": examples.DT})
        nir.write(str(nir_path), graph)
        args = ["--reference", f / "model.pt"]
    code, _, err = run_cli("bench", "--nir", nir_path, "--input", x, *args, "--out", tmp_path / "out")
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_digits_demo_files(tmp_path: Path) -> None:
    """make demo's any-graph stage writes a snnTorch export, its inputs, labels and reloadable module."""
    from ucfdvs.benchmarks.digits_demo import build_demo
    from ucfdvs.benchmarks.reference_models import load_reference
    from ucfdvs.neuro_runtime import load_inputs, load_network

    accuracy = build_demo(tmp_path / "d", epochs=1)
    assert 0.0 <= accuracy <= 1.0
    net = load_network(tmp_path / "d" / "graph.nir", source="snntorch", reset="zero")
    x = load_inputs(tmp_path / "d" / "inputs.npy", net)
    assert x.shape == (360, 20, 64) and np.load(tmp_path / "d" / "labels.npy").shape == (360,)
    out, _ = load_reference(tmp_path / "d" / "model.pt").run(x[:3])
    assert out.shape == (3, 20, 10)
