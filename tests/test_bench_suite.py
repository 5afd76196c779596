"""`ucfdvs bench` end to end on tiny data: schema, agreement with `ucfdvs eval` / `simulate`, failures."""

import argparse
import importlib.util
import json
import math

import nir
import pytest
import torch

from ucfdvs.benchmarks.suite.cli import add_bench_commands
from ucfdvs.benchmarks.suite.report import ORIGINS
from ucfdvs.neuro_runtime.examples import msf_like_graph
from ucfdvs.neuro_runtime.lava_build import LAVA_MISSING
from ucfdvs.train.checkpoint import save_checkpoint
from ucfdvs.cli import _add_data_arguments
from ucfdvs.errors import UserError
from ucfdvs.train.model.registry import build_model

LAVA = importlib.util.find_spec("lava") is not None  # absent on a training-only install (pip install without [lava])


def bench(*args):
    """`ucfdvs bench ARGS` in-process (the lead wires it into ucfdvs.cli); returns the exit status."""
    parser = argparse.ArgumentParser(prog="ucfdvs")
    add_bench_commands(parser.add_subparsers(dest="command"), _add_data_arguments)
    parsed = parser.parse_args(["bench", *[str(a) for a in args]])
    try:
        parsed.func(parsed)
    except UserError as err:
        print(f"ucfdvs bench: error: {err}")
        return 2
    return 0


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench_inputs")
    torch.manual_seed(0)
    save_checkpoint(folder / "msf.pt", build_model("msf"), "msf")
    nir.write(folder / "graph.nir", msf_like_graph())
    return folder


@pytest.fixture(scope="module")
def bench_run(inputs, tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "out"
    assert bench("--data", tiny_data, "--checkpoint", inputs / "msf.pt", "--nir", inputs / "graph.nir",
                 "--lava-videos", 2, "--out", out) == 0
    return out, json.loads((out / "results.json").read_text())


def walk_figures(node, path="", inside=False):
    """Yield (path, problem) for every number that is not the value of a well-formed figure."""
    if isinstance(node, dict):
        if "value" in node:
            if set(node) - {"value", "unit", "origin", "source"} or not {"value", "unit", "origin"} <= set(node):
                yield path, f"bad figure keys {sorted(node)}"
            elif node["origin"] not in ORIGINS or not isinstance(node["unit"], str) or not node["unit"]:
                yield path, f"bad origin/unit {node['origin']!r} {node['unit']!r}"
            elif node["value"] is not None and (isinstance(node["value"], bool) or not isinstance(node["value"], (int, float))):
                yield path, f"non-numeric value {node['value']!r}"
            return
        for key, value in node.items():
            yield from walk_figures(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_figures(value, f"{path}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, f"bare number {node}"


def test_schema_every_figure_has_value_unit_origin(bench_run):
    out, results = bench_run
    assert results["schema"] == "ucfdvs-bench/1"
    problems = list(walk_figures({k: v for k, v in results.items() if k != "machine"}))
    assert not problems, problems[:5]
    assert {"commit", "date_utc", "cpu", "command"} <= set(results["machine"])
    assert list(results["backends"]) == ["reference", "streaming", "emu_float", "emu_fixed", "lava_float", "lava_fixed"]
    for name, entry in results["backends"].items():
        if name.startswith("lava_") and not LAVA:
            assert entry["status"] == "failed" and LAVA_MISSING in entry["error"], (name, entry)
            continue
        assert entry["status"] == "ok", (name, entry["error"])
        assert {"auc_all", "auc_abnormal", "far_all", "far_normal"} <= set(entry["accuracy"])
        assert any(k.startswith("auc_") and k not in ("auc_all", "auc_abnormal") for k in entry["accuracy"])
        for section in ("per_snippet", "per_video_hour"):
            assert {"spikes", "neuron_updates", "synaptic_ops", "graded_ops", "dense_macs"} <= set(entry["activity"][section])
        assert entry["energy"] and entry["latency"]["seconds"]["value"] > 0
        assert entry["throughput"]["snippets_per_second"]["origin"] == "measured"
    assert results["backends"]["reference"]["energy"]["gpu_estimate_mac_ac"]["per_snippet"]["origin"] == "estimated"
    assert results["backends"]["emu_fixed"]["energy"]["loihi"]["per_snippet"]["origin"] == "estimated"
    assert results["comparison"]["energy_ratio_loihi_over_gpu"]["value"] > 0 and results["comparison"]["caveats"]
    headline = {h["method"]: h for h in results["comparison"]["headline"]}
    for method in ("von_neumann_batch1", "von_neumann_offline_batch", "von_neumann_per_video", "gpu_estimate_mac_ac"):
        assert headline[method]["ratio_loihi_over_other"]["value"] > 0 and headline[method]["caveats"], method
    assert "unavailable" in headline["gpu_measured"] and "unavailable" in headline["cpu_measured"]  # no GPU, no RAPL here
    b = results["backends"]
    live, offline = b["emu_fixed"]["energy"]["von_neumann_batch1"], b["emu_fixed"]["energy"]["von_neumann_offline_batch"]
    assert live["per_snippet"]["value"] > offline["per_snippet"]["value"]  # weights from DRAM at every step
    assert b["emu_fixed"]["energy"]["loihi_with_static"]["per_snippet"]["value"] > 0.18  # 0.342 W x 0.533 s
    assert results["calibration"]["measured_over_predicted_at_activity_1"]["value"] > 1
    assert results["resources"]["fits_one_chip"] is True
    assert all(results["checks"].values()) and results["checks"]
    report = (out / "report.md").read_text()
    assert "## Energy: Loihi 2 estimate against a GPU/CPU, per setting" in report and "## NeuroBench metrics" in report
    assert "| backend | status | videos | AUC all" in report and "Caveats" in report and results["machine"]["commit"] in report
    assert "Fits one Loihi 2 chip: **yes**" in report and "8,192 (assumption) neurons per core" in report
    assert "| loihi2_neurons_per_core | 8192 | neurons | assumption |" in report
    for png in ("roc.png", "firing_rate.png", "energy_per_snippet.png", "auc_vs_energy_latency.png"):
        assert (out / png).stat().st_size > 0 and f"({png})" in report
    assert list((out / "videos").glob("*.png"))


def test_accuracy_and_spikes_agree_with_simulate_and_eval(bench_run, inputs, tiny_data, run_cli, tmp_path):
    _, results = bench_run
    b = results["backends"]
    for precision, name in (("float", "emu_float"), ("fixed", "emu_fixed")):
        sim = tmp_path / f"sim_{precision}"
        assert run_cli("simulate", "--nir", inputs / "graph.nir", "--data", tiny_data, "--backend", "emu",
                       "--precision", precision, "--out", sim)[0] == 0
        metrics = json.loads((sim / "metrics.json").read_text())
        for key, f in b[name]["accuracy"].items():
            assert f["value"] == metrics[key] or (f["value"] is None and metrics[key] is None), (name, key)
        assert {k: f["value"] for k, f in b[name]["spikes_per_population"].items()} == metrics["spikes_per_population"]
        for layer, spikes in metrics["spikes_per_population"].items():
            assert b[name]["activity"]["layers"][layer]["spikes"]["value"] == spikes
        events = {k: f["value"] for k, f in b[name]["extra"]["runtime_synaptic_events_per_layer"].items()}
        assert events == metrics["synaptic_events_per_layer"]
    ev = tmp_path / "eval"
    assert run_cli("eval", "--data", tiny_data, "--checkpoint", inputs / "msf.pt", "--out", ev, "--device", "cpu")[0] == 0
    metrics = json.loads((ev / "metrics.json").read_text())
    for key in ("auc_all", "auc_abnormal", "far_all", "far_normal"):
        value = b["reference"]["accuracy"][key]["value"]
        assert (value is None and metrics[key] is None) or math.isclose(value, metrics[key], abs_tol=1e-12), key
    pytest.importorskip("lava.magma.core.run_configs")
    lava = tmp_path / "sim_lava"
    assert run_cli("simulate", "--nir", inputs / "graph.nir", "--data", tiny_data, "--backend", "lava",
                   "--precision", "fixed", "--videos", 2, "--out", lava)[0] == 0
    metrics = json.loads((lava / "metrics.json").read_text())
    assert b["lava_fixed"]["accuracy"]["auc_all"]["value"] == metrics["auc_all"]
    assert {k: f["value"] for k, f in b["lava_fixed"]["spikes_per_population"].items()} == metrics["spikes_per_population"]
    assert b["lava_fixed"]["extra"]["agreement_with_emulator"]["spikes_identical"] is True


def test_two_workers_give_the_one_process_figures(bench_run, inputs, tiny_data, tmp_path):
    """`--workers 2`: the emulator and Lava backends run their videos as Dask tasks; accuracy, spikes and
    synaptic events equal the one-process run's, and the report says how they ran."""
    pytest.importorskip("distributed")
    _, results = bench_run
    out = tmp_path / "out"
    names = ("emu_fixed", "lava_float") if LAVA else ("emu_fixed",)  # Lava-less install: the emulator alone
    assert bench("--data", tiny_data, "--nir", inputs / "graph.nir", "--backends", ",".join(names),
                 "--lava-videos", 2, "--workers", 2, "--out", out) == 0
    two = json.loads((out / "results.json").read_text())["backends"]
    for name in names:
        one = results["backends"][name]
        assert two[name]["status"] == "ok", two[name]
        for key in ("accuracy", "spikes_per_population"):
            assert two[name][key] == one[key], (name, key)
        events = "runtime_synaptic_events_per_layer"
        assert two[name]["extra"][events] == one["extra"][events]
        assert any("2 local worker processes" in note for note in two[name]["notes"])
    if LAVA:
        assert two["lava_float"]["extra"]["agreement_with_emulator"]["spikes_identical"] is True


def test_workers_are_refused_in_the_any_graph_form(inputs, tmp_path, capsys):
    assert bench("--nir", inputs / "graph.nir", "--input", tmp_path / "x.npy", "--workers", 2,
                 "--out", tmp_path / "o") == 2
    assert "--workers and --scheduler apply to the MSF form" in capsys.readouterr().out


def test_neurobench_metrics_agree_with_the_runtime_record(bench_run, inputs):
    from ucfdvs.benchmarks.suite.neurobench_metrics import graph_parameters
    from ucfdvs.neuro_runtime import load_graph

    _, results = bench_run
    graph = load_graph(inputs / "graph.nir")
    par = graph_parameters(graph)
    for name in ("emu_fixed", "lava_fixed", "reference") if LAVA else ("emu_fixed", "reference"):
        e = results["backends"][name]
        nb, videos = e["neurobench"], e["videos"]["value"]
        assert 0 < nb["ActivationSparsity"]["value"] < 1 and nb["Effective_MACs"]["value"] > 0
        if name == "reference":
            continue
        assert nb["Dense"]["value"] == par.weights * e["steps"]["value"] / videos
        assert nb["ConnectionSparsity"]["value"] == par.zero_weights / par.weights
        assert nb["MembraneUpdates"]["value"] == e["activity"]["totals"]["neuron_updates"]["value"] / videos
        # ACs are the runtime's own synaptic events from spiking layers; MACs its events from the graded input and LI
        events = {k: f["value"] for k, f in e["extra"]["runtime_synaptic_events_per_layer"].items()}
        spiking = sum(v for k, v in events.items() if not graph.is_graded(k.split("->")[0]))
        graded = sum(v for k, v in events.items() if graph.is_graded(k.split("->")[0]))
        assert nb["Effective_ACs"]["value"] * videos == pytest.approx(spiking, rel=1e-12)
        assert nb["Effective_MACs"]["value"] * videos == pytest.approx(graded, rel=1e-12)


def test_streaming_pytorch_agrees_with_emulator(bench_run):
    _, results = bench_run
    b = results["backends"]
    for key in ("auc_all", "auc_abnormal", "far_all", "far_normal"):  # the same graph, float64 both
        assert b["streaming"]["accuracy"][key]["value"] == b["emu_float"]["accuracy"][key]["value"], key


def test_failed_backend_is_reported_and_others_finish(inputs, tiny_data, tmp_path, monkeypatch):
    import ucfdvs.benchmarks.suite.bench as suite_bench

    def boom(*_args, **_kwargs):
        raise RuntimeError("interpreter exploded")

    monkeypatch.setattr(suite_bench, "run_streaming", boom)
    out = tmp_path / "out"
    assert bench("--data", tiny_data, "--checkpoint", inputs / "msf.pt", "--nir", inputs / "graph.nir",
                 "--backends", "reference,streaming,emu_float", "--out", out) == 0
    results = json.loads((out / "results.json").read_text())
    b = results["backends"]
    assert b["streaming"]["status"] == "failed" and "interpreter exploded" in b["streaming"]["error"]
    assert b["reference"]["status"] == "ok" and b["emu_float"]["status"] == "ok"
    assert "**failed**: RuntimeError: interpreter exploded" in (out / "report.md").read_text()


def test_missing_checkpoint_reports_reference_missing(inputs, tiny_data, tmp_path):
    out = tmp_path / "out"
    assert bench("--data", tiny_data, "--nir", inputs / "graph.nir", "--backends", "reference,emu_fixed", "--out", out) == 0
    b = json.loads((out / "results.json").read_text())["backends"]
    assert b["reference"] == {"status": "missing", "error": "no --checkpoint given",
                              "label": "reference MSF, PyTorch (SpikingJelly)", "device": "cpu", "notes": []}
    assert b["emu_fixed"]["status"] == "ok"


def test_interrupted_run_leaves_nothing(inputs, tiny_data, tmp_path, monkeypatch):
    import ucfdvs.benchmarks.suite.bench as suite_bench

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite_bench, "write_markdown", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        bench("--data", tiny_data, "--nir", inputs / "graph.nir", "--backends", "emu_float", "--out", out)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_bad_constants_refused_before_running(inputs, tiny_data, tmp_path, capsys):
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"constants": {"horowitz_mac_pj": {"value": -1, "unit": "pJ", "source": "x"}}}))
    out = tmp_path / "out"
    assert bench("--data", tiny_data, "--nir", inputs / "graph.nir", "--constants", bad, "--out", out) == 2
    assert "constant" in capsys.readouterr().out and not out.exists()


def test_graph_of_wrong_width_fails_only_graph_backends(inputs, tiny_data, tmp_path):
    path = tmp_path / "narrow.nir"
    nir.write(path, msf_like_graph(n_in=16))
    out = tmp_path / "out"
    assert bench("--data", tiny_data, "--checkpoint", inputs / "msf.pt", "--nir", path,
                 "--backends", "reference,emu_float", "--out", out) == 0
    b = json.loads((out / "results.json").read_text())["backends"]
    assert b["reference"]["status"] == "ok"
    assert b["emu_float"]["status"] == "failed" and "16 channels" in b["emu_float"]["error"]


def test_unimportable_streaming_model_is_reported_missing(inputs, tiny_data, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ucfdvs.export.nir_interpreter", None)  # import raises ImportError
    out = tmp_path / "out"
    assert bench("--data", tiny_data, "--nir", inputs / "graph.nir", "--backends", "streaming,emu_float", "--out", out) == 0
    b = json.loads((out / "results.json").read_text())["backends"]
    assert b["streaming"]["status"] == "missing" and "ucfdvs.export.nir_interpreter does not import" in b["streaming"]["error"]
    assert b["emu_float"]["status"] == "ok"
