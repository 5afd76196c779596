"""Energy arithmetic by hand, the NVML measurement with a fake counter, the constants file checks."""

import json
from importlib import resources

import pytest

from ucfdvs.benchmarks.suite.backends import BackendRun
from ucfdvs.benchmarks.suite.constants import load_constants
from ucfdvs.benchmarks.energy_calibration import calibrate, pilotnet_counts, predict
from ucfdvs.benchmarks.suite.energy import PJ, RaplCounter, horowitz_energy, loihi_energy, measure_nvml, open_rapl, von_neumann_energy
from ucfdvs.benchmarks.suite.ops import LayerCount, OpCount
from ucfdvs.benchmarks.suite.report import backend_energy, comparison
from ucfdvs.errors import UserError


def test_default_constants_are_the_published_figures():
    c = load_constants()
    assert (c["loihi_synaptic_spike_op_pj"], c["loihi_neuron_update_inactive_pj"], c["loihi_neuron_update_active_pj"]) == (23.6, 52, 81)
    assert (c["loihi_spike_within_tile_pj"], c["loihi_tile_hop_ew_pj"], c["loihi_tile_hop_ns_pj"]) == (1.7, 3.0, 4.0)
    assert (c["horowitz_mac_pj"], c["horowitz_ac_pj"]) == (4.6, 0.9)
    # Intel's measured idle power of one Loihi 2 chip (lava-dl PilotNet SDNN benchmark), used only for the static figure
    assert c.get("loihi_static_power_w") == 0.342234 and "Static Power : 0.342234 W" in c.source("loihi_static_power_w")
    assert (c["horowitz_sram_64bit_read_pj"], c["horowitz_dram_64bit_read_pj"]) == (20.0, 1300.0)
    assert all(const.source for const in c.table.values())
    assert all("Loihi 1" in c.source(k) for k in ("loihi_synaptic_spike_op_pj", "loihi_neuron_update_active_pj", "loihi_tile_hop_ew_pj"))
    assert "Davies" in c.source("loihi_synaptic_spike_op_pj") and "Horowitz" in c.source("horowitz_mac_pj")


def test_loihi2_limits_are_published_or_marked_as_assumptions():
    c = load_constants()
    limits = ("loihi2_cores_per_chip", "loihi2_neurons_per_chip", "loihi2_synapses_per_chip", "loihi2_memory_per_core_kib")
    assert tuple(c[k] for k in limits) == (128, 1_000_000, 120_000_000, 192)
    assert all(c.table[k].origin == "published" and "Loihi 2" in c.source(k) for k in limits)
    # no primary source gives the per-core neuron limit, nor our weight width or a static power: assumptions
    assert c["loihi2_neurons_per_core"] == 8192
    assert {k for k, const in c.table.items() if const.origin == "assumption"} == {
        "loihi2_neurons_per_core", "loihi2_weight_bits", "loihi_graded_synaptic_op_pj", "loihi_mean_tile_hops",
        "von_neumann_word_bytes", "von_neumann_neuron_update_macs", "von_neumann_state_words_per_update",
        "von_neumann_offline_batch"}


def test_loihi_energy_by_hand():
    c = load_constants()
    parts = loihi_energy(synops=10, graded_ops=5, neuron_updates=100, active_updates=7, messages=4, constants=c)
    # a graded message x fan-out costs a synaptic op plus a 32-bit multiply: 23.6 + 3.1 pJ
    expected_pj = 10 * 23.6 + 5 * 26.7 + 7 * 81 + 93 * 52 + 4 * (1.7 + 1 * (3.0 + 4.0) / 2)
    assert parts["total"] == pytest.approx(expected_pj * PJ, rel=1e-12)
    assert parts["total"] == pytest.approx(5793.3e-12)
    assert parts["static"] is None


def test_von_neumann_energy_by_hand():
    c = load_constants()
    parts = von_neumann_energy(macs=1000, acs=10, neuron_updates=50, weight_words=200, weight_fetches=3, input_words=8,
                               constants=c)
    assert parts["arithmetic"] == pytest.approx(((1000 + 50 * 2) * 4.6 + 10 * 0.9) * PJ)
    assert parts["weights_dram"] == pytest.approx(200 * 3 * 1300 / 2 * PJ)  # two fp32 words per 64-bit access
    assert parts["state_and_activations_sram"] == pytest.approx((50 * 4 + 8) * 20 / 2 * PJ)
    assert parts["total"] == pytest.approx(sum(v for k, v in parts.items() if k != "total"))
    # a large batch shares each weight fetch: only the DRAM term shrinks
    batched = von_neumann_energy(1000, 10, 50, 200, 3 / 256, 8, c)
    assert batched["weights_dram"] == pytest.approx(parts["weights_dram"] / 256)
    assert batched["arithmetic"] == parts["arithmetic"]


def test_horowitz_energy_by_hand():
    parts = horowitz_energy(macs=1000, acs=500, constants=load_constants())
    assert parts["total"] == pytest.approx((1000 * 4.6 + 500 * 0.9) * 1e-12)


class FakeGPU:
    """A clock and an NVML-like energy counter: idle 50 W, 150 W while the workload runs (0.5 s a run)."""

    def __init__(self):
        self.t, self.mj = 100.0, 1_000_000.0

    def total_energy_mj(self) -> int:
        return int(self.mj)

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.mj += 50.0 * seconds * 1e3

    def workload(self) -> None:
        self.t += 0.5
        self.mj += 150.0 * 0.5 * 1e3


def test_nvml_measurement_subtracts_idle_power():
    gpu = FakeGPU()
    syncs = []
    m = measure_nvml(gpu.workload, gpu, lambda: syncs.append(1), min_seconds=2.0, idle_seconds=1.0,
                     clock=gpu.clock, sleep=gpu.sleep)
    assert m.idle_w == pytest.approx(50.0)
    assert m.repetitions == 4 and m.seconds == pytest.approx(2.0)
    assert m.gross_j == pytest.approx(4 * 75.0)
    assert m.energy_j == pytest.approx((150.0 - 50.0) * 0.5)  # per run, idle removed
    assert len(syncs) == 1 + 4  # synchronised before measuring and after every run


def test_measured_gpu_energy_is_reported_as_measured():
    gpu = FakeGPU()
    m = measure_nvml(gpu.workload, gpu, min_seconds=1.0, idle_seconds=1.0, clock=gpu.clock, sleep=gpu.sleep)
    counts = OpCount(layers={"l": LayerCount(4, neuron_steps=40, spikes=3, synops=6)}, dense_macs=100, snippets=10, steps=10)
    run = BackendRun("reference", counts=counts, gpu_energy=m)
    e = backend_energy(run, load_constants(), {}, "in")
    assert e["gpu_measured"]["per_snippet"] == {"value": pytest.approx(5.0), "unit": "J/snippet", "origin": "measured",
                                                "source": "NVML total energy counter, idle power subtracted"}
    assert e["gpu_estimate_mac_ac"]["per_snippet"]["value"] == pytest.approx((100 * 4.6 + 6 * 0.9) * 1e-12 / 10)
    assert e["gpu_estimate_mac_ac"]["per_snippet"]["origin"] == "estimated"


def _fake_rapl(root, packages: dict[str, int], max_range: int = 1000_000):
    for name, uj in packages.items():
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "energy_uj").write_text(str(uj))
        (d / "max_energy_range_uj").write_text(str(max_range))


def test_rapl_counter_sums_packages_and_unwraps(tmp_path):
    _fake_rapl(tmp_path, {"intel-rapl:0": 900_000, "intel-rapl:1": 10_000})
    (tmp_path / "intel-rapl:0" / "intel-rapl:0:0").mkdir()  # a sub-domain (core): not summed
    counter = RaplCounter(tmp_path)
    assert counter.total_energy_mj() == 0
    _fake_rapl(tmp_path, {"intel-rapl:0": 50_000, "intel-rapl:1": 30_000})  # package 0 wrapped at 1 J
    assert counter.total_energy_mj() == (1000_000 - 900_000 + 50_000 + 20_000) // 1000
    assert len(counter.domains) == 2


def test_rapl_unavailable_is_reported(tmp_path):
    counter, reason = open_rapl(tmp_path / "absent")
    assert counter is None and reason.startswith("CPU energy (RAPL) unavailable")


def test_graph_run_energy_settings_and_headline():
    from ucfdvs.neuro_runtime import load_graph
    from ucfdvs.neuro_runtime.examples import msf_like_graph

    graph = load_graph(msf_like_graph())
    c = load_constants()
    layers = {n: LayerCount(s.size, neuron_steps=s.size * 20, spikes=3, synops=30, spiking=s.spiking)
              for n, s in graph.neurons.items()}
    counts = OpCount(layers=layers, snippets=20, steps=20)
    run = BackendRun("emu_fixed", counts=counts)
    e = backend_energy(run, c, {}, graph.input_name, graph)
    assert {"loihi", "loihi_with_static", "von_neumann_batch1", "von_neumann_offline_batch"} <= set(e)
    b1, off = e["von_neumann_batch1"], e["von_neumann_offline_batch"]
    assert b1["per_snippet"]["value"] > off["per_snippet"]["value"] > 0
    assert b1["components_per_snippet"]["arithmetic"] == off["components_per_snippet"]["arithmetic"]
    # static power for the real-time duration of a snippet (0.533328 s) on top of the dynamic estimate
    assert e["loihi_with_static"]["per_snippet"]["value"] == pytest.approx(
        e["loihi"]["per_snippet"]["value"] + 0.342234 * 0.533328, rel=1e-9)
    cal = calibrate()
    cmp = comparison({"emu_fixed": {"status": "ok", "energy": e}}, {"cpu_rapl": "CPU energy (RAPL) unavailable: x"}, cal)
    first = cmp["headline"][0]
    assert first["ratio_loihi_over_other"]["value"] == pytest.approx(e["loihi"]["per_snippet"]["value"] / b1["per_snippet"]["value"])
    assert first["caveats"] and "unavailable" not in first
    rapl = next(h for h in cmp["headline"] if h["method"] == "cpu_measured")
    assert rapl["ratio_loihi_over_other"]["value"] is None and rapl["unavailable"] == "CPU energy (RAPL) unavailable: x"
    assert any("Calibration" in x and "under-predicts" in x for x in cmp["caveats"])
    assert any("Loihi 1" in x for x in cmp["caveats"]) and any("Static power" in x for x in cmp["caveats"])


def test_constants_without_static_power_drop_the_static_figure(tmp_path):
    from ucfdvs.neuro_runtime import load_graph
    from ucfdvs.neuro_runtime.examples import msf_like_graph

    table = _default_table()
    table["loihi_static_power_w"]["value"] = None  # nullable: no static figure
    c = load_constants(_write(tmp_path, table))
    graph = load_graph(msf_like_graph())
    layers = {n: LayerCount(s.size, neuron_steps=s.size * 4, spikes=1, synops=2, spiking=s.spiking) for n, s in graph.neurons.items()}
    e = backend_energy(BackendRun("emu_float", counts=OpCount(layers=layers, snippets=4, steps=4)), c, {}, graph.input_name, graph)
    assert "loihi" in e and "loihi_with_static" not in e
    assert not any("Static power" in x for x in comparison({"emu_float": {"status": "ok", "energy": e}})["caveats"])


def test_calibration_script_refuses_a_bad_constants_file(tmp_path, capsys):
    from ucfdvs.benchmarks.energy_calibration import main

    table = _default_table()
    table["loihi_graded_synaptic_op_pj"]["value"] = -26.7
    path = _write(tmp_path, table)
    with pytest.raises(SystemExit) as exit_:
        main(["--constants", str(path), "--out", str(tmp_path / "cal.json")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "constant 'loihi_graded_synaptic_op_pj' is negative" in err and str(path) in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "cal.json").exists()


def test_calibration_prediction_by_hand():
    counts = pilotnet_counts()
    # netx's printed layer outputs: 99x32x24, 49x15x36, 24x7x48, 22x4x64, 20x2x64, then 100, 50, 10, 1 neurons
    assert counts["neurons"] == 99 * 32 * 24 + 49 * 15 * 36 + 24 * 7 * 48 + 22 * 4 * 64 + 20 * 2 * 64 + 161
    c = load_constants()
    assert predict(0.0, counts, c)["total"] == pytest.approx(counts["neurons"] * 52e-12)
    full = predict(1.0, counts, c)
    assert full["graded_ops"] == pytest.approx(counts["connections"] * 26.7e-12)
    cal = calibrate()
    assert cal["measured"]["dynamic_energy_per_frame_j"] == 1.342877e-3
    assert cal["measured_over_predicted_at_activity_1"] == pytest.approx(1.342877e-3 / full["total"])
    assert cal["activity_needed_to_match"] > 1  # the per-op model cannot reach Intel's measured dynamic energy


def _write(tmp_path, constants: dict):
    path = tmp_path / "constants.json"
    path.write_text(json.dumps({"constants": constants}))
    return path


def _default_table() -> dict:
    return json.loads(resources.files("ucfdvs.benchmarks").joinpath("energy_constants.json").read_text())["constants"]


def test_constants_override_file(tmp_path):
    table = _default_table()
    table["loihi_synaptic_spike_op_pj"]["value"] = 10.0
    table["loihi_static_power_w"] = {"value": 0.5, "unit": "W", "source": "my measurement"}
    c = load_constants(_write(tmp_path, table))
    assert c["loihi_synaptic_spike_op_pj"] == 10.0 and c["loihi_static_power_w"] == 0.5
    parts = loihi_energy(1, 0, 0, 0, 0, c, run_seconds=2.0)
    assert parts["static"] == 1.0 and parts["total"] == pytest.approx(1.0 + 10e-12)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.pop("horowitz_ac_pj"), "missing constant 'horowitz_ac_pj'"),
    (lambda t: t["loihi_tile_hop_ew_pj"].update(value=-3.0), "constant 'loihi_tile_hop_ew_pj' is negative"),
    (lambda t: t["horowitz_mac_pj"].update(value=None), "constant 'horowitz_mac_pj' is missing its value"),
    (lambda t: t["horowitz_mac_pj"].pop("value"), "constant 'horowitz_mac_pj' has no value"),
    (lambda t: t["horowitz_mac_pj"].update(value="4.6"), "constant 'horowitz_mac_pj' must be a finite number"),
    (lambda t: t.update(typo_pj={"value": 1, "unit": "pJ", "source": "x"}), "unknown constant 'typo_pj'"),
    (lambda t: t["horowitz_mac_pj"].update(unit="nJ"), "constant 'horowitz_mac_pj' must be in 'pJ'"),
    (lambda t: t["von_neumann_offline_batch"].update(value=-1), "constant 'von_neumann_offline_batch' is negative"),
    (lambda t: t.pop("horowitz_dram_64bit_read_pj"), "missing constant 'horowitz_dram_64bit_read_pj'"),
])
def test_bad_constants_files_are_refused(tmp_path, edit, message):
    table = _default_table()
    edit(table)
    path = _write(tmp_path, table)
    with pytest.raises(UserError) as err:
        load_constants(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_unreadable_constants_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{not json")
    with pytest.raises(UserError, match="not a readable JSON"):
        load_constants(path)
    with pytest.raises(UserError, match="not found"):
        load_constants(tmp_path / "absent.json")
