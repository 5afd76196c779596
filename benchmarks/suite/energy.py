"""Energy: the Loihi estimate, the Horowitz (45 nm) estimate, and the NVML measurement.

All energies are in joules (J) unless a name says ``_pj``.

* :func:`loihi_energy`: per-operation energies of Davies et al. 2018 (Table 2) times the counts::

      E = synops x E_synop + graded_ops x E_graded
        + active_updates x E_update_active + (updates - active_updates) x E_update_inactive
        + messages x (E_spike_in_tile + mean_hops x (E_hop_ew + E_hop_ns) / 2)
        + static_power x run_time            (only when run_time is given)

  ``messages`` = spikes and graded messages x the number of destination populations they go to.
  A graded message costs ``E_graded`` per target (a weight read, a multiply of its payload, an
  accumulate), a spike ``E_synop`` (weight read + accumulate).  Without ``run_time`` the estimate
  is dynamic energy only; the report gives the static share (Intel's measured idle power of one
  Loihi 2 chip x the real-time duration) as a separate figure.
* :func:`horowitz_energy`: ``MACs x E_mac + ACs x E_ac`` (Horowitz, ISSCC 2014, 45 nm, fp32):
  arithmetic only.
* :func:`von_neumann_energy`: a GPU / CPU running the network densely, arithmetic plus memory
  traffic (Horowitz's per-access energies)::

      E = (MACs + neuron_updates x k_mac) x E_mac + ACs x E_ac           (arithmetic)
        + weight_words x weight_fetches x E_dram_word                (weights from DRAM)
        + (neuron_updates x k_state + input_words) x E_sram_word     (state, activations: on chip)

  ``weight_fetches`` = how often the whole weight set is read from DRAM: once per step and
  batch, so ``steps / batch`` per sequence (batch 1: every step; offline batch B: 1/B of that).
* :class:`RaplCounter`: a CPU package energy counter (``/sys/class/powercap/intel-rapl*``), measured
  with the same :func:`measure_nvml` arithmetic as a GPU.
* :func:`measure_nvml`: a GPU's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  mJ) read around a workload repeated until it has run ``min_seconds``, minus the idle power
  measured just before, times the run time.  The counter is injected (:class:`EnergyCounter`), so
  the arithmetic is tested without a GPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from ucfdvs.benchmarks.suite.constants import Constants

PJ = 1e-12


def loihi_energy(
    synops: int, graded_ops: int, neuron_updates: int, active_updates: int, messages: int,
    constants: Constants, run_seconds: float | None = None,
) -> dict[str, float | None]:
    """Estimated Loihi energy (J) by component and ``total``; ``static`` is None when no published
    static power is configured (then it is not in ``total``)."""
    c = constants
    hop = c["loihi_mean_tile_hops"] * (c["loihi_tile_hop_ew_pj"] + c["loihi_tile_hop_ns_pj"]) / 2.0
    parts: dict[str, float | None] = {
        "synaptic_ops": synops * c["loihi_synaptic_spike_op_pj"] * PJ,
        "graded_ops": graded_ops * c["loihi_graded_synaptic_op_pj"] * PJ,
        "neuron_updates_active": active_updates * c["loihi_neuron_update_active_pj"] * PJ,
        "neuron_updates_inactive": (neuron_updates - active_updates) * c["loihi_neuron_update_inactive_pj"] * PJ,
        "messages": messages * (c["loihi_spike_within_tile_pj"] + hop) * PJ,
    }
    static_w = c.get("loihi_static_power_w")
    parts["static"] = static_w * run_seconds if static_w is not None and run_seconds is not None else None
    parts["total"] = sum(v for v in parts.values() if v is not None)
    return parts


def horowitz_energy(macs: int, acs: int, constants: Constants) -> dict[str, float]:
    """Estimated compute energy (J) of ``macs`` multiply-accumulates and ``acs`` accumulates (45 nm)."""
    parts = {"macs": macs * constants["horowitz_mac_pj"] * PJ, "acs": acs * constants["horowitz_ac_pj"] * PJ}
    parts["total"] = parts["macs"] + parts["acs"]
    return parts


def von_neumann_energy(
    macs: float, acs: float, neuron_updates: float, weight_words: float, weight_fetches: float,
    input_words: float, constants: Constants,
) -> dict[str, float]:
    """Estimated energy (J) of a GPU / CPU executing a network: arithmetic plus memory traffic.

    ``macs`` / ``acs``: multiply-accumulates / accumulates executed; ``neuron_updates``: neuron x
    step updates (each ``von_neumann_neuron_update_macs`` MACs and ``von_neumann_state_words_per_update``
    on-chip words); ``weight_words``: the weight set (fp32 words) read from DRAM ``weight_fetches``
    times; ``input_words``: input values read.  A 64-bit access is two fp32 words
    (``von_neumann_word_bytes`` = 4).  Static / idle power, kernel launches and the host are not
    included.
    """
    c = constants
    words_per_access = 8.0 / c["von_neumann_word_bytes"]
    dram_word = c["horowitz_dram_64bit_read_pj"] / words_per_access * PJ
    sram_word = c["horowitz_sram_64bit_read_pj"] / words_per_access * PJ
    parts = {
        "arithmetic": (macs + neuron_updates * c["von_neumann_neuron_update_macs"]) * c["horowitz_mac_pj"] * PJ
        + acs * c["horowitz_ac_pj"] * PJ,
        "weights_dram": weight_words * weight_fetches * dram_word,
        "state_and_activations_sram": (neuron_updates * c["von_neumann_state_words_per_update"] + input_words) * sram_word,
    }
    parts["total"] = sum(parts.values())
    return parts


class EnergyCounter(Protocol):
    """A cumulative energy counter in millijoules (NVML's total energy consumption, or RAPL)."""

    def total_energy_mj(self) -> int: ...


class NvmlCounter:
    """:class:`EnergyCounter` on ``pynvml`` (package ``nvidia-ml-py``) for GPU ``index``."""

    def __init__(self, index: int = 0) -> None:
        import pynvml  # noqa: PLC0415 (optional dependency, only on GPU machines)

        pynvml.nvmlInit()
        self._nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.name = pynvml.nvmlDeviceGetName(self.handle)
        self.total_energy_mj()  # raises NVMLError_NotSupported on GPUs without the counter (pre-Volta)

    def total_energy_mj(self) -> int:
        return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))


def open_nvml(index: int = 0) -> tuple[EnergyCounter | None, str]:
    """An NVML counter, or None and the reason it is unavailable (no pynvml, no counter, no GPU)."""
    try:
        return NvmlCounter(index), ""
    except ImportError:
        return None, "pynvml (nvidia-ml-py) is not installed"
    except Exception as err:  # NVMLError and friends
        return None, f"NVML energy counter unavailable: {type(err).__name__}: {err}"


RAPL_ROOT = Path("/sys/class/powercap")


class RaplCounter:
    """:class:`EnergyCounter` on Linux RAPL: the sum of the top-level package domains
    (``intel-rapl:N/energy_uj``, microjoules), each unwrapped at its ``max_energy_range_uj``.

    Counts the whole package, so every process on the CPU (and the other helpers' jobs on a
    shared machine) is in it; :func:`measure_nvml` subtracts the idle power measured just before.
    """

    def __init__(self, root: Path = RAPL_ROOT) -> None:
        self.domains = sorted(p for p in Path(root).glob("intel-rapl:*") if p.name.count(":") == 1)
        if not self.domains:
            raise FileNotFoundError(f"no RAPL package domain under {root}")
        self._last = [self._read(d) for d in self.domains]
        self._range = [int((d / "max_energy_range_uj").read_text()) for d in self.domains]
        self._total_uj = 0

    @staticmethod
    def _read(domain: Path) -> int:
        return int((domain / "energy_uj").read_text())

    def total_energy_mj(self) -> int:
        for i, d in enumerate(self.domains):
            now = self._read(d)
            delta = now - self._last[i]
            self._total_uj += delta if delta >= 0 else delta + self._range[i]
            self._last[i] = now
        return self._total_uj // 1000


def open_rapl(root: Path = RAPL_ROOT) -> tuple[EnergyCounter | None, str]:
    """A RAPL counter, or None and why it is unavailable (no powercap, not readable)."""
    try:
        return RaplCounter(root), ""
    except (OSError, ValueError) as err:
        return None, f"CPU energy (RAPL) unavailable: {type(err).__name__}: {err}"


@dataclass
class NvmlMeasurement:
    """A measured GPU energy: ``energy_j`` per repetition of the workload with idle power removed."""

    energy_j: float
    gross_j: float
    idle_w: float
    seconds: float
    repetitions: int


def measure_nvml(
    workload: Callable[[], None], counter: EnergyCounter, synchronize: Callable[[], None] = lambda: None,
    min_seconds: float = 5.0, idle_seconds: float = 2.0, clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep, max_repetitions: int = 100_000,
) -> NvmlMeasurement:
    """Energy (J) of one run of ``workload`` on the GPU (or CPU, with a RAPL counter), idle power subtracted.

    Idle: counter difference over ``idle_seconds`` of sleep -> ``idle_w``.  Active: ``workload``
    repeated (each followed by ``synchronize``) until ``min_seconds`` have passed (NVML's counter
    updates every ~20-100 ms, so short runs are meaningless); ``energy = (dE - idle_w x dt) / reps``.
    """
    synchronize()
    e0, t0 = counter.total_energy_mj(), clock()
    sleep(idle_seconds)
    e1, t1 = counter.total_energy_mj(), clock()
    idle_w = (e1 - e0) * 1e-3 / (t1 - t0) if t1 > t0 else 0.0
    reps = 0
    e2, t2 = counter.total_energy_mj(), clock()
    while True:
        workload()
        synchronize()
        reps += 1
        if clock() - t2 >= min_seconds or reps >= max_repetitions:
            break
    e3, t3 = counter.total_energy_mj(), clock()
    gross = (e3 - e2) * 1e-3
    seconds = t3 - t2
    return NvmlMeasurement(max(gross - idle_w * seconds, 0.0) / reps, gross, idle_w, seconds, reps)
