"""Energy: the Loihi estimate, the Horowitz (45 nm) estimate, and the NVML measurement.

All energies are in joules (J) unless a name says ``_pj``.

* :func:`loihi_energy`: per-operation energies of Davies et al. 2018 (Table 2) times the counts::

      E = synops x E_synop + graded_ops x E_graded
        + active_updates x E_update_active + (updates - active_updates) x E_update_inactive
        + messages x (E_spike_in_tile + mean_hops x (E_hop_ew + E_hop_ns) / 2)
        + static_power x run_time            (only if a published static power is given)

  ``messages`` = spikes and graded messages x the number of destination populations they go to.
* :func:`horowitz_energy`: ``MACs x E_mac + ACs x E_ac`` (Horowitz, ISSCC 2014, 45 nm, fp32).
* :func:`measure_nvml`: a GPU's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  mJ) read around a workload repeated until it has run ``min_seconds``, minus the idle power
  measured just before, times the run time.  The counter is injected (:class:`EnergyCounter`), so
  the arithmetic is tested without a GPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
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


class EnergyCounter(Protocol):
    """A GPU's cumulative energy counter in millijoules (NVML's total energy consumption)."""

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
    """Energy (J) of one run of ``workload`` on the GPU, idle power subtracted.

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
