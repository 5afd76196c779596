"""Energy arithmetic by hand, the NVML measurement with a fake counter, the constants file checks."""

import json
from importlib import resources

import pytest

from ucfdvs.benchmarks.suite.backends import BackendRun
from ucfdvs.benchmarks.suite.constants import load_constants
from ucfdvs.benchmarks.suite.energy import PJ, horowitz_energy, loihi_energy, measure_nvml
from ucfdvs.benchmarks.suite.ops import LayerCount, OpCount
from ucfdvs.benchmarks.suite.report import backend_energy
from ucfdvs.errors import UserError


def test_default_constants_are_the_published_figures():
    c = load_constants()
    assert (c["loihi_synaptic_spike_op_pj"], c["loihi_neuron_update_inactive_pj"], c["loihi_neuron_update_active_pj"]) == (23.6, 52, 81)
    assert (c["loihi_spike_within_tile_pj"], c["loihi_tile_hop_ew_pj"], c["loihi_tile_hop_ns_pj"]) == (1.7, 3.0, 4.0)
    assert (c["horowitz_mac_pj"], c["horowitz_ac_pj"]) == (4.6, 0.9)
    assert c.get("loihi_static_power_w") is None  # no published figure: not invented
    assert all(const.source for const in c.table.values())
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
        "loihi_static_power_w"}


def test_loihi_energy_by_hand():
    c = load_constants()
    parts = loihi_energy(synops=10, graded_ops=5, neuron_updates=100, active_updates=7, messages=4, constants=c)
    expected_pj = 10 * 23.6 + 5 * 23.6 + 7 * 81 + 93 * 52 + 4 * (1.7 + 1 * (3.0 + 4.0) / 2)
    assert parts["total"] == pytest.approx(expected_pj * PJ, rel=1e-12)
    assert parts["total"] == pytest.approx(5777.8e-12)
    assert parts["static"] is None


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
