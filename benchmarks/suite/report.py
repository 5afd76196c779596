"""``results.json`` (schema ``ucfdvs-bench/1``), ``report.md`` and the PNG figures.

Every number in ``results.json`` outside ``"machine"`` is a *figure*::

    {"value": <number | null>, "unit": "<unit>", "origin": "<origin>"[, "source": "..."]}

``origin`` is one of :data:`ORIGINS`: ``measured`` (timed or observed on this machine: wall time,
a PyTorch model's scores and spikes, NVML energy), ``simulated`` (produced by the Lava simulator or
its emulator), ``estimated`` (computed from published or assumed constants: energies, resources,
latency in seconds), ``published`` / ``assumption`` (the constants themselves, with ``source``).
A value is ``null`` when undefined (an AUC without both labels, a backend that did not run).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ucfdvs.benchmarks.suite.backends import BackendRun
from ucfdvs.benchmarks.suite.constants import Constants
from ucfdvs.benchmarks.suite.energy import horowitz_energy, loihi_energy, von_neumann_energy
from ucfdvs.benchmarks.suite.neurobench_metrics import graph_parameters, neurobench_metrics
from ucfdvs.benchmarks.suite.ops import OpCount
from ucfdvs.benchmarks.suite.resources import Resources
from ucfdvs.timebase import SNIPPET_S

SCHEMA = "ucfdvs-bench/1"
ORIGINS = ("measured", "simulated", "estimated", "published", "assumption")
ACCURACY_KEYS = ("auc_all", "auc_abnormal", "far_all", "far_normal")


def fig(value: Any, unit: str, origin: str, source: str | None = None) -> dict:
    """One figure; NaN and inf become null."""
    assert origin in ORIGINS, origin
    if value is not None:
        value = float(value) if not isinstance(value, (int, np.integer)) or isinstance(value, bool) else int(value)
        if isinstance(value, float) and not math.isfinite(value):
            value = None
    out = {"value": value, "unit": unit, "origin": origin}
    if source:
        out["source"] = source
    return out


def _activity_origin(run: BackendRun) -> str:
    return "measured" if run.name in ("reference", "streaming") else "simulated"


def _counts_figures(c: OpCount, origin: str, scale: float, unit_suffix: str) -> dict:
    return {
        "spikes": fig(c.spikes * scale, "spikes" + unit_suffix, origin),
        "neuron_updates": fig(c.neuron_updates * scale, "neuron updates" + unit_suffix, origin),
        "active_neuron_updates": fig(c.active_neuron_updates * scale, "neuron updates" + unit_suffix, origin),
        "synaptic_ops": fig(c.synops * scale, "spike x fan-out accumulates" + unit_suffix, origin),
        "graded_ops": fig(c.graded_ops * scale, "graded message x fan-out ops" + unit_suffix, origin),
        "graded_messages": fig(c.graded_messages * scale, "messages" + unit_suffix, origin),
        "dense_macs": fig(c.dense_macs * scale, "MACs" + unit_suffix, origin),
        "dense_equivalent_macs": fig(c.dense_equivalent_macs * scale, "MACs" + unit_suffix, origin),
    }


def graph_messages(c: OpCount, targets: dict[str, int], input_name: str) -> int:
    """Messages sent: each spike / graded message once per destination population."""
    total = 0
    for name, layer in c.layers.items():
        src = input_name if name.endswith("(input)") else name
        total += (layer.spikes + layer.graded_messages) * targets.get(src, 0)
    return total


GRAPH_RUNS = ("streaming", "emu_float", "emu_fixed", "lava_float", "lava_fixed")
VN_SRC = ("Horowitz ISSCC 2014 45 nm: fp32 MAC 4.6 pJ x dense MACs (+ 2 per neuron update), weights read from DRAM "
          "(1.3 nJ per 64 bits) {fetch}, neuron state and activations from a 32 KB SRAM (20 pJ per 64 bits); no static "
          "power, no launch overhead (constants table)")


def backend_energy(run: BackendRun, constants: Constants, targets: dict[str, int], input_name: str, graph=None) -> dict:
    """Energy figures (J per snippet, J per video hour) with method and origin.

    Graph backends (``graph`` given): ``loihi`` (dynamic), ``loihi_with_static`` (plus Intel's
    measured idle power of one chip for the real-time duration), and the same graph on a GPU/CPU
    (:func:`von_neumann_energy`) at batch 1 (``von_neumann_batch1``: weights from DRAM every step)
    and at the offline batch (``von_neumann_offline_batch``).  The reference: its MAC/AC and dense
    arithmetic (45 nm), the von Neumann model with one video per forward and at the offline batch,
    and the measured GPU (NVML) or CPU (RAPL) energy when a counter was available.
    """
    c = run.counts
    snippets = max(c.snippets, 1)
    hours = c.snippets * SNIPPET_S / 3600.0
    batch = constants["von_neumann_offline_batch"]
    out: dict[str, Any] = {}

    def both(total_j: float | None, origin: str, source: str) -> dict:
        return {
            "per_snippet": fig(None if total_j is None else total_j / snippets, "J/snippet", origin, source),
            "per_video_hour": fig(None if total_j is None or not hours else total_j / hours, "J/video-hour", origin, source),
        }

    def parts_figures(parts: dict) -> dict:
        return {k: fig(None if v is None else v / snippets, "J/snippet", "estimated") for k, v in parts.items() if k != "total"}

    loihi_src = ("Davies et al. IEEE Micro 2018 Table 2 per-op energies (Loihi 1; none published for Loihi 2) x counted ops; "
                 "graded messages at the graded-op figure (constants table)")
    if run.name in GRAPH_RUNS:
        messages = graph_messages(c, targets, input_name)
        parts = loihi_energy(c.synops, c.graded_ops, c.neuron_updates, c.active_neuron_updates, messages, constants)
        out["loihi"] = {**both(parts["total"], "estimated", loihi_src), "components_per_snippet": parts_figures(parts)}
        static = loihi_energy(c.synops, c.graded_ops, c.neuron_updates, c.active_neuron_updates, messages, constants,
                              run_seconds=c.snippets * SNIPPET_S)
        if static["static"] is not None:
            out["loihi_with_static"] = both(static["total"], "estimated",
                                            "dynamic estimate + loihi_static_power_w (Intel's measured idle power of one "
                                            "Loihi 2 chip) x the real-time duration of the snippets (0.533 s each)")
    if graph is not None and run.name in GRAPH_RUNS:
        weights = graph_parameters(graph).weights
        dense = weights * c.steps
        inputs = graph.input_size * c.steps
        for key, fetches, how in (("von_neumann_batch1", c.steps, "every step (batch 1: one snippet at a time)"),
                                  ("von_neumann_offline_batch", c.steps / batch, f"once per step per batch of {batch:.0f}")):
            parts = von_neumann_energy(dense, 0, c.neuron_updates, weights, fetches, inputs, constants)
            out[key] = {**both(parts["total"], "estimated", VN_SRC.format(fetch=how)),
                        "components_per_snippet": parts_figures(parts)}
    hz_src = "Horowitz ISSCC 2014 45 nm: MAC 4.6 pJ x dense MACs + AC 0.9 pJ x synaptic ops (arithmetic only)"
    if run.name in ("reference", "streaming"):
        macs = c.dense_macs if run.name == "reference" else c.graded_ops
        parts = horowitz_energy(macs, c.synops, constants)
        dense = horowitz_energy(c.dense_equivalent_macs, 0, constants)
        out["gpu_estimate_mac_ac"] = both(parts["total"], "estimated", hz_src)
        out["gpu_estimate_dense"] = both(dense["total"], "estimated",
                                         "Horowitz 45 nm MAC 4.6 pJ x every weight executed densely (arithmetic only)")
    words = run.extra.get("parameter_words")
    if run.name == "reference" and words:
        videos = max(len(run.stems), 1)
        inputs = run.extra.get("input_words", 0)
        for key, fetches, how in (("von_neumann_per_video", videos, "once per video (one video per forward, as scored)"),
                                  ("von_neumann_offline_batch", videos / batch, f"once per batch of {batch:.0f} videos")):
            parts = von_neumann_energy(c.dense_equivalent_macs, 0, c.neuron_updates, words, fetches, inputs, constants)
            out[key] = {**both(parts["total"], "estimated", VN_SRC.format(fetch=how)),
                        "components_per_snippet": parts_figures(parts)}
    if run.gpu_energy is not None:
        m = run.gpu_energy
        key, what = ("cpu_measured", "RAPL package energy counter (whole CPU package: other processes included)") \
            if run.extra.get("energy_counter") == "rapl" else ("gpu_measured", "NVML total energy counter")
        out[key] = {
            **both(m.energy_j, "measured", f"{what}, idle power subtracted"),
            "idle_power": fig(m.idle_w, "W", "measured"), "repetitions": fig(m.repetitions, "runs", "measured"),
            "seconds": fig(m.seconds, "s", "measured")}
    return out


NEUROBENCH_UNITS = {"Footprint": "bytes", "ConnectionSparsity": "fraction of zero weights",
                    "ActivationSparsity": "fraction of zero neuron outputs", "Effective_MACs": "MACs/video",
                    "Effective_ACs": "ACs/video", "Dense": "synaptic ops/video", "MembraneUpdates": "updates/video"}


def neurobench_figures(run: BackendRun, graph=None) -> dict:
    """NeuroBench's metrics of a run under NeuroBench's names (per sample = per video)."""
    c = run.counts
    origin = _activity_origin(run)
    videos = max(len(run.stems), 1)
    if graph is not None and run.name in GRAPH_RUNS:
        values = neurobench_metrics(graph, c, videos, binary_input=False)
    else:  # a PyTorch model counted by OpCounter: no weight inventory, so no footprint / connection sparsity
        spiking = [layer for layer in c.layers.values() if layer.spiking and layer.neurons]
        steps = sum(layer.neuron_steps for layer in spiking)
        values = {"Footprint": None, "ConnectionSparsity": None,
                  "ActivationSparsity": 1 - sum(layer.spikes for layer in spiking) / steps if steps else None,
                  "Effective_MACs": c.dense_macs / videos, "Effective_ACs": c.synops / videos,
                  "Dense": c.dense_equivalent_macs / videos, "MembraneUpdates": c.neuron_updates / videos}
    static = ("Footprint", "ConnectionSparsity")
    return {k: fig(v, NEUROBENCH_UNITS[k], "measured" if k in static else origin) for k, v in values.items()}


def backend_figures(run: BackendRun, metrics: dict | None, constants: Constants, targets: dict[str, int],
                    input_name: str, graph=None) -> dict:
    """The ``backends[name]`` entry of results.json."""
    entry: dict[str, Any] = {"status": run.status, "error": run.error or None, "label": run.label,
                             "device": run.device, "notes": list(run.notes)}
    if not run.ok:
        return entry
    origin = _activity_origin(run)
    c = run.counts
    entry["videos"] = fig(len(run.stems), "videos", "measured")
    entry["snippets"] = fig(c.snippets, "snippets", "measured")
    entry["steps"] = fig(c.steps, "steps", origin)
    entry["accuracy"] = {k: fig(v, "frame AUC" if k.startswith("auc") else "false-alarm rate (frames)", origin)
                         for k, v in (metrics or {}).items()}
    hours = c.snippets * SNIPPET_S / 3600.0
    layers = {}
    for name, layer in c.layers.items():
        layers[name] = {
            "neurons": fig(layer.neurons, "neurons", "measured"),
            "spikes": fig(layer.spikes, "spikes", origin),
            "firing_rate": fig(layer.firing_rate if layer.spiking and layer.neurons else None, "spikes/neuron/step", origin),
            "sparsity": fig(layer.sparsity if layer.spiking and layer.neurons else None, "fraction of silent neuron-steps", origin),
            "neuron_updates": fig(layer.neuron_steps, "neuron updates", origin),
            "fan_out": fig(layer.fan_out, "targets/neuron (mean)", "measured"),
            "synaptic_ops": fig(layer.synops, "accumulates", origin),
            "graded_ops": fig(layer.graded_ops, "graded ops", origin),
            "spikes_per_snippet": fig(layer.spikes / max(c.snippets, 1), "spikes/snippet", origin),
        }
    entry["activity"] = {
        "layers": layers,
        "totals": _counts_figures(c, origin, 1.0, ""),
        "per_snippet": _counts_figures(c, origin, 1.0 / max(c.snippets, 1), "/snippet"),
        "per_video_hour": _counts_figures(c, origin, 1.0 / hours if hours else float("nan"), "/video-hour"),
    }
    entry["energy"] = backend_energy(run, constants, targets, input_name, graph)
    entry["neurobench"] = neurobench_figures(run, graph)
    n_videos = max(len(run.stems), 1)
    if run.latency_steps is not None:
        compute = run.wall_s / max(c.steps, 1)
        entry["latency"] = {
            "steps": fig(run.latency_steps, "steps (snippets) from a snippet's input to its score", "simulated"),
            "seconds": fig(run.latency_steps * SNIPPET_S + compute * (run.latency_steps + 1),
                           "s from a snippet's last event to its score", "estimated",
                           "latency steps x snippet length (real-time stream) + this machine's compute per step"),
        }
    else:
        mean_len = c.snippets / n_videos
        entry["latency"] = {
            "steps": fig(mean_len, "snippets (whole video, mean)", "measured"),
            "seconds": fig(mean_len * SNIPPET_S + run.wall_s / n_videos, "s from a video's first event to its scores",
                           "estimated", "offline model: whole video (mean length x snippet length) + compute per video"),
        }
    entry["throughput"] = {
        "snippets_per_second": fig(c.snippets / run.wall_s if run.wall_s else None, "snippets/s", "measured"),
        "wall_seconds": fig(run.wall_s, "s", "measured"),
        **{k: fig(v, "s", "measured") for k, v in run.timing.items()},
    }
    extra = {}
    if "agreement_with_emulator" in run.extra:
        a = run.extra["agreement_with_emulator"]
        extra["agreement_with_emulator"] = {
            "max_abs_score_difference": fig(a["max_abs_score_difference"], "score", "simulated"),
            "spikes_identical": a["spikes_identical"]}
    if "quantization" in run.extra:
        q = run.extra["quantization"]
        extra["quantization"] = {"input_range": fig(q["input_range"], "feature units", "measured"), "warnings": q["warnings"]}
    if "synaptic_events_per_layer" in run.extra:
        extra["runtime_synaptic_events_per_layer"] = {
            k: fig(v, "synaptic events", origin) for k, v in run.extra["synaptic_events_per_layer"].items()}
    entry["spikes_per_population"] = {k: fig(v, "spikes", origin) for k, v in run.spikes_per_population.items()}
    if extra:
        entry["extra"] = extra
    return entry


def resources_figures(res: Resources | None, constants: Constants) -> dict | None:
    if res is None:
        return None
    pops = {name: {"neurons": fig(p.neurons, "neurons", "measured"), "synapses": fig(p.synapses, "synapses", "measured"),
                   "synaptic_memory": fig(p.memory_kib, "KiB", "estimated"), "cores": fig(p.cores, "neuro cores", "estimated"),
                   "weight_planes": fig(p.weight_planes, "8-bit weight planes (most of a synapse layer into it)", "measured")}
            for name, p in res.populations.items()}
    src = ("per population max(neurons / loihi2_neurons_per_core, synaptic memory / loihi2_memory_per_core_kib); "
           "limits from the constants table (Intel Loihi 2 technology brief 2021; neurons per core: an assumption)")
    return {
        "populations": pops,
        "total": {"neurons": fig(res.neurons, "neurons", "measured"), "synapses": fig(res.synapses, "synapses", "measured"),
                  "synaptic_memory": fig(res.memory_kib, "KiB", "estimated"),
                  "cores": fig(res.cores, "neuro cores", "estimated", src),
                  "synapse_processes": fig(res.synapse_processes, "synapse layers x weight planes (before Lava's "
                                                                  "fusion)", "measured")},
        "chip_cores": fig(constants["loihi2_cores_per_chip"], "neuro cores", "published", constants.source("loihi2_cores_per_chip")),
        "fits_one_chip": res.fits_one_chip,
    }


def calibration_figures(cal: dict) -> dict:
    """The Loihi calibration (:func:`benchmarks.energy_calibration.calibrate`) as figures."""
    m, p = cal["measured"], cal["predicted_dynamic_energy_per_frame_j"]
    return {
        "network": cal["network"], "source": cal["source"], "verdict": cal["verdict"],
        "measured_dynamic_energy_per_frame": fig(m["dynamic_energy_per_frame_j"], "J/frame", "published", cal["source"]),
        "measured_total_energy_per_frame": fig(m["total_energy_per_frame_j"], "J/frame", "published", cal["source"]),
        "predicted_dynamic_energy_per_frame": {a: fig(v, "J/frame", "estimated", f"activity {a}") for a, v in p["sweep"].items()},
        "measured_over_predicted_at_activity_1": fig(cal["measured_over_predicted_at_activity_1"], "ratio", "estimated"),
        "activity_needed_to_match": fig(cal["activity_needed_to_match"], "fraction of neurons sending per step", "estimated"),
    }


def energy_value(entry: dict, key: str) -> float | None:
    e = entry.get("energy", {}).get(key)
    return None if e is None else e["per_snippet"]["value"]


def _setting(name: str, loihi: dict | None, other: dict | None, method: str, caveats: list[str],
             unavailable: str | None = None) -> dict:
    lo = None if loihi is None else loihi["per_snippet"]["value"]
    ot = None if other is None else other["per_snippet"]["value"]
    ratio = lo / ot if lo is not None and ot else None
    out = {"setting": name, "method": method,
           "loihi_per_snippet": fig(lo, "J/snippet", "estimated"),
           "other_per_snippet": fig(ot, "J/snippet", other["per_snippet"]["origin"] if other else "estimated"),
           "ratio_loihi_over_other": fig(ratio, "ratio (J/snippet over J/snippet)", "estimated"), "caveats": caveats}
    if ratio is None:
        out["unavailable"] = unavailable or f"no {method} figure in this run"
    return out


def comparison(backends: dict[str, dict], measurement: dict[str, str] | None = None,
               calibration: dict | None = None) -> dict:
    """Loihi estimate / GPU-or-CPU energy per snippet for each setting (``headline``), each with its caveats.

    ``measurement``: why a measured GPU (NVML) / CPU (RAPL) figure is absent; ``calibration``: the
    result of :func:`benchmarks.energy_calibration.calibrate` (quoted in the caveats).
    """
    measurement = measurement or {}
    loihi_name = next((n for n in ("emu_fixed", "emu_float", "lava_fixed", "lava_float")
                       if backends.get(n, {}).get("status") == "ok"), None)
    ref = backends.get("reference", {})
    ref_energy = ref.get("energy", {}) if ref.get("status") == "ok" else {}
    graph_energy = backends[loihi_name].get("energy", {}) if loihi_name else {}
    loihi = graph_energy.get("loihi")
    batch_note = ("the offline batch size (von_neumann_offline_batch in the constants table) is an assumption; weights "
                  "are read from DRAM once per step per batch")
    same_graph = ("the same streaming graph (same operations, same accuracy) executed densely by a GPU/CPU: every "
                  "weight, every neuron, every step")
    other_model = ("the reference MSF is a different (offline, whole-video) model of the same task: compare accuracy before energy")
    rows = [  # (setting, energies of which backend, method, caveats, why a measured figure may be absent)
        ("live feed, batch 1: the streaming graph on a GPU/CPU, one snippet at a time", graph_energy, "von_neumann_batch1",
         [same_graph, "weights are read from DRAM at every step (a snippet arrives every 0.533 s; caches are not assumed "
                      "to keep them)"], None),
        ("offline, large batch: the streaming graph on a GPU/CPU", graph_energy, "von_neumann_offline_batch",
         [same_graph, batch_note], None),
        ("reference MSF on a GPU/CPU, one video per forward (as ucfdvs eval scores)", ref_energy, "von_neumann_per_video",
         [other_model, "weights are read from DRAM once per video"], None),
        ("reference MSF on a GPU/CPU, large offline batch of videos", ref_energy, "von_neumann_offline_batch",
         [other_model, batch_note], None),
        ("reference MSF, arithmetic only (45 nm MAC/AC; the figure of earlier reports)", ref_energy, "gpu_estimate_mac_ac",
         [other_model, "no memory traffic: a lower bound for any GPU/CPU"], None),
        ("reference MSF measured on this machine's GPU (NVML)", ref_energy, "gpu_measured",
         [other_model, "measured: dynamic energy above idle power; includes memory, launches, the framework"],
         measurement.get("gpu_nvml", "no GPU on this machine: not measured, untested here")),
        ("reference MSF measured on this machine's CPU (RAPL)", ref_energy, "cpu_measured",
         [other_model, "measured: whole CPU package above idle, other processes included"],
         measurement.get("cpu_rapl", "RAPL not readable on this machine: not measured")),
    ]
    settings = [_setting(name, loihi, energies.get(key), key, cav, why) for name, energies, key, cav, why in rows]
    static = graph_energy.get("loihi_with_static")
    caveats = [
        "The Loihi figure is an estimate from Loihi 1 (14 nm) per-operation energies (Davies et al. 2018, Table 2) applied to a "
        "simulated run: no per-operation energies are published for Loihi 2 (Intel 4). Graded messages are costed as a "
        "synaptic op plus a 32-bit multiply (an assumption); one tile hop per message is assumed; host I/O is not included.",
        "GPU/CPU figures are a 45 nm model (Horowitz, ISSCC 2014): fp32 arithmetic plus weights from DRAM and state from "
        "SRAM; no static or idle power, no kernel-launch or framework overhead. Measured figures (NVML, RAPL) replace them "
        "where a counter exists.",
    ]
    if calibration:
        caveats.append(
            f"Calibration: for PilotNet SDNN, whose Loihi 2 energy Intel measured ({calibration['measured']['dynamic_energy_per_frame_j'] * 1e3:.3f} mJ "
            f"dynamic per frame), this per-operation model predicts at most "
            f"{calibration['predicted_dynamic_energy_per_frame_j']['activity_1 (every neuron, every connection)'] * 1e3:.3f} mJ "
            f"(every neuron sending every step): it under-predicts measured Loihi 2 dynamic energy by at least "
            f"{calibration['measured_over_predicted_at_activity_1']:.1f}x, so the Loihi figures here are lower bounds "
            "(python -m ucfdvs.benchmarks.energy_calibration).")
    if static is not None:
        caveats.append(
            f"Static power: one Loihi 2 chip idles at 0.342 W (Intel's measurement); kept on for a live feed it costs "
            f"{static['per_snippet']['value']:.3g} J per snippet with the dynamic part included (loihi_with_static), "
            "orders of magnitude above every dynamic figure above. GPU/CPU idle power is larger still and not modelled: "
            "the ratios compare dynamic energy only.")
    ratio = None
    gpu_key = next((k for k in ("gpu_measured", "gpu_estimate_mac_ac") if k in ref_energy), None)
    if loihi is not None and gpu_key:
        lo, gpu = loihi["per_snippet"]["value"], ref_energy[gpu_key]["per_snippet"]["value"]
        ratio = lo / gpu if lo is not None and gpu else None
    return {"headline": settings,
            "energy_ratio_loihi_over_gpu": fig(ratio, "ratio (J/snippet over J/snippet)", "estimated"),
            "loihi_backend": loihi_name, "gpu_backend": "reference" if gpu_key else None, "gpu_energy": gpu_key,
            "caveats": caveats}


# -- report.md ---------------------------------------------------------------------------------

def _v(f: dict | None, fmt: str = "{:.3f}") -> str:
    if not f or f.get("value") is None:
        return "-"
    return fmt.format(f["value"])


def _eng(f: dict | None, unit: str = "") -> str:
    if not f or f.get("value") is None:
        return "-"
    x = f["value"]
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def _big(f: dict | None) -> str:
    if not f or f.get("value") is None:
        return "-"
    x = f["value"]
    return f"{x:.3g}" if abs(x) >= 1e4 or (x and abs(x) < 1e-2) else f"{x:,.1f}"


def _limit(constants: dict, key: str) -> str:
    """A limit from results.json's constants, e.g. ``128 (published)``."""
    return f"{constants[key]['value']:,.0f} ({constants[key]['origin']})"


def main_energy(entry: dict) -> tuple[dict | None, str]:
    e = entry.get("energy", {})
    for key, label in (("gpu_measured", "GPU, NVML"), ("cpu_measured", "CPU, RAPL"), ("loihi", "Loihi est."),
                       ("gpu_estimate_mac_ac", "45 nm est.")):
        if key in e:
            return e[key]["per_snippet"], label
    return None, ""


def write_markdown(path: Path, results: dict, figures: list[str]) -> None:
    r = results
    b = r["backends"]
    lines = ["# Benchmark: reference MSF vs Loihi 2 (Lava)", ""]
    m = r["machine"]
    lines += [f"- command: `{r['command']}`", f"- commit: `{m.get('commit')}`, date (UTC): {m.get('date_utc')}",
              f"- machine: {m.get('cpu')} ({m.get('cpu_cores')} cores, torch {m.get('torch')}, {m.get('torch_threads')} threads)"
              + (f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU"),
              f"- data: `{r['inputs']['data']}`; {r['videos']['n_full']['value']} test videos "
              f"({r['videos']['snippets_full']['value']} snippets, {r['videos']['video_hours_full']['value']:.3f} video hours); "
              f"real Lava on {r['videos']['n_lava']['value']} of them",
              f"- reference checkpoint: `{r['inputs']['checkpoint']}`; graph: {r['inputs']['graph']}",
              f"- schema `{r['schema']}`; every figure in results.json carries its unit and origin "
              "(measured / simulated / estimated).", ""]
    lines += ["## Summary", "",
              "| backend | status | videos | AUC all | AUC abnormal | FAR all | FAR normal | spikes/snippet | synops/snippet "
              "| energy/snippet | latency (s) | throughput (snippets/s) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in b.items():
        if e["status"] != "ok":
            lines.append(f"| {name} | **{e['status']}**: {e['error']} | | | | | | | | | | |")
            continue
        acc = e["accuracy"]
        energy, how = main_energy(e)
        lines.append(
            f"| {name} ({e['device']}) | ok | {e['videos']['value']} | {_v(acc.get('auc_all'))} | {_v(acc.get('auc_abnormal'))} "
            f"| {_v(acc.get('far_all'))} | {_v(acc.get('far_normal'))} | {_big(e['activity']['per_snippet']['spikes'])} "
            f"| {_big(e['activity']['per_snippet']['synaptic_ops'])} | {_eng(energy, 'J')} ({how}) "
            f"| {_v(e['latency']['seconds'], '{:.2f}')} | {_big(e['throughput']['snippets_per_second'])} |")
    lines += ["", "Accuracy of `lava_*` is on the subset only (compare with the emulator on the same videos: "
              "`extra.agreement_with_emulator` in results.json). Origins: reference/streaming scores and spikes are "
              "measured (PyTorch), emu/lava simulated; energies estimated unless marked NVML; latency in seconds "
              "estimated (steps x 0.533 s per snippet + compute).", ""]
    c = r["comparison"]
    lines += ["## Energy: Loihi 2 estimate against a GPU/CPU, per setting", "",
              f"Loihi figure: `{c['loihi_backend']}` (dynamic energy, estimated). Ratio < 1: Loihi uses less energy per snippet.",
              "", "| setting | Loihi J/snippet | GPU/CPU J/snippet | Loihi / GPU-CPU | caveats |", "|---|---|---|---|---|"]
    for h in c["headline"]:
        ratio = _v(h["ratio_loihi_over_other"], "{:.3g}") if "unavailable" not in h else f"unavailable: {h['unavailable']}"
        other = _eng(h["other_per_snippet"], "J")
        other += f" ({h['other_per_snippet']['origin']})" if h["other_per_snippet"]["value"] is not None else ""
        lines.append(f"| {h['setting']} | {_eng(h['loihi_per_snippet'], 'J')} | {other} | **{ratio}** | "
                     f"{'; '.join(h['caveats'])} |")
    lines += ["", "Caveats common to every setting:", ""]
    lines += [f"- {x}" for x in c["caveats"]] + [""]
    nb = {n: e["neurobench"] for n, e in b.items() if e.get("status") == "ok" and e.get("neurobench")}
    if nb:
        keys = list(next(iter(nb.values())))
        lines += ["## NeuroBench metrics (NeuroBench's names and definitions, computed by us)", "",
                  "Per sample = per video. Effective_MACs: operations driven by graded values (the input features, LI "
                  "outputs); Effective_ACs: by spikes; Dense: every weight at every step; MembraneUpdates: every neuron "
                  "every step (an upper bound of NeuroBench's count of changed membranes). README: definitions and the "
                  "check against the neurobench package.", "",
                  "| backend | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for n, m in nb.items():
            lines.append(f"| {n} | " + " | ".join(_big(m[k]) if k not in ("ConnectionSparsity", "ActivationSparsity")
                                                     else _v(m[k], "{:.4f}") for k in keys) + " |")
        lines += [""]
    lines += ["## Energy per snippet and per video hour", "", "| backend | method | J/snippet | J/video-hour | origin |", "|---|---|---|---|---|"]
    for name, e in b.items():
        for key, v in e.get("energy", {}).items():
            lines.append(f"| {name} | {key} | {_eng(v['per_snippet'], 'J')} | {_eng(v['per_video_hour'], 'J')} | "
                         f"{v['per_snippet']['origin']}: {v['per_snippet'].get('source', '')} |")
    lines += [""]
    classes = sorted({k for e in b.values() for k in e.get("accuracy", {}) if k not in ACCURACY_KEYS})
    if classes:
        ok = [n for n, e in b.items() if e["status"] == "ok"]
        lines += ["## AUC per anomaly class", "", "| class | " + " | ".join(ok) + " |", "|---|" + "---|" * len(ok)]
        for k in classes:
            lines.append(f"| {k[4:]} | " + " | ".join(_v(b[n]["accuracy"].get(k)) for n in ok) + " |")
        lines += [""]
    for name in ("reference", "emu_fixed", "streaming"):
        e = b.get(name)
        if not e or e["status"] != "ok":
            continue
        lines += [f"## Activity per layer: {name}", "",
                  "| layer | neurons | spikes | firing rate | sparsity | neuron updates | fan-out | synaptic ops | graded ops |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for layer, f in e["activity"]["layers"].items():
            lines.append(f"| {layer} | {f['neurons']['value']} | {f['spikes']['value']} | {_v(f['firing_rate'], '{:.4f}')} "
                         f"| {_v(f['sparsity'], '{:.4f}')} | {f['neuron_updates']['value']} | {_v(f['fan_out'], '{:.1f}')} "
                         f"| {f['synaptic_ops']['value']} | {f['graded_ops']['value']} |")
        t = e["activity"]["per_video_hour"]
        lines += ["", f"Per video hour: {_big(t['spikes'])} spikes, {_big(t['neuron_updates'])} neuron updates, "
                  f"{_big(t['synaptic_ops'])} synaptic ops, {_big(t['graded_ops'])} graded ops, {_big(t['dense_macs'])} dense MACs.", ""]
    res = r.get("resources")
    if res:
        lines += ["## Loihi 2 resources (estimate)", "", "| population | neurons | synapses | synaptic memory (KiB) | cores |",
                  "|---|---|---|---|---|"]
        for name, p in res["populations"].items():
            lines.append(f"| {name} | {p['neurons']['value']} | {p['synapses']['value']} | {_v(p['synaptic_memory'], '{:.1f}')} | {p['cores']['value']} |")
        t, k = res["total"], r["constants"]
        lines += [f"| **total** | {t['neurons']['value']} | {t['synapses']['value']} | {_v(t['synaptic_memory'], '{:.1f}')} | {t['cores']['value']} |",
                  "", f"Fits one Loihi 2 chip: **{'yes' if res['fits_one_chip'] else 'no'}**: {t['cores']['value']:,} of "
                  f"{_limit(k, 'loihi2_cores_per_chip')} neuro cores, {t['neurons']['value']:,} of {_limit(k, 'loihi2_neurons_per_chip')} "
                  f"neurons, {t['synapses']['value']:,} of {_limit(k, 'loihi2_synapses_per_chip')} synapses per chip.  A population "
                  f"takes max(neurons / {_limit(k, 'loihi2_neurons_per_core')} neurons per core, "
                  f"{k['loihi2_weight_bits']['value']:.0f}-bit weights / {_limit(k, 'loihi2_memory_per_core_kib')} KiB per core) "
                  "cores of its own; index, axon-routing and neuron-state memory are not counted.", ""]
    lines += ["## Constants", "", "| constant | value | unit | origin | source |", "|---|---|---|---|---|"]
    for k, f in r["constants"].items():
        value = "-" if f["value"] is None else format(f["value"], "g")
        lines.append(f"| {k} | {value} | {f['unit']} | {f['origin']} | {f['source']} |")
    lines += ["", f"From `{r['inputs']['constants']}`.", ""]
    notes = [(n, x) for n, e in b.items() for x in e.get("notes", [])]
    if notes or r.get("warnings"):
        lines += ["## Notes", ""] + [f"- {n}: {x}" for n, x in notes] + [f"- {w}" for w in r.get("warnings", [])] + [""]
    lines += ["## Figures", "", "In the per-video plots, `score` is the first of reference, emu_fixed, emu_float, streaming "
              "that ran; the other lines are named by backend; the shaded band is the ground truth.", ""]
    lines += [f"![{Path(p).stem}]({p})" for p in figures] + [""]
    path.write_text("\n".join(lines))


# -- plots ---------------------------------------------------------------------------------------

def write_plots(out: Path, results: dict, scored: dict[str, list], n_videos: int = 3) -> list[str]:
    """PNG figures into ``out``; returns their relative paths.  ``scored[backend]``: ScoredVideo list."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ucfdvs.train.plots import plot_roc, plot_video_scores

    figures: list[str] = []
    b = results["backends"]
    curves = {}
    for name, videos in scored.items():
        if videos and b[name]["accuracy"].get("auc_all", {}).get("value") is not None:
            curves[f"{name} ({len(videos)} videos)"] = (
                np.concatenate([v.frame_labels for v in videos]), np.concatenate([v.frame_scores for v in videos]),
                b[name]["accuracy"]["auc_all"]["value"])
    if curves:
        plot_roc(curves, out / "roc.png")
        figures.append("roc.png")
    base_name = next((n for n in scored if scored[n] and n in ("reference", "emu_fixed", "emu_float", "streaming")), None)
    if base_name:
        base = scored[base_name]
        common = [v for v in base if v.is_anomalous][: max(1, n_videos - 1)] + [v for v in base if not v.is_anomalous][:1]
        for v in common[:n_videos]:
            others = {n: s.frame_scores for n, vids in scored.items() if n != base_name for s in vids if s.stem == v.stem}
            rel = f"videos/{v.stem}.png"
            plot_video_scores(v, out / rel, others={f"{n}": fs for n, fs in others.items()})
            figures.append(rel)

    def save(figure, name: str) -> None:
        figure.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(figure)
        figures.append(name)

    ok = {n: e for n, e in b.items() if e["status"] == "ok"}
    groups = [[n for n in ok if n == "reference"], [n for n in ok if n != "reference"]]
    groups = [g for g in groups if g]
    if groups:
        figure, axes = plt.subplots(len(groups), 1, figsize=(8, 3.2 * len(groups)), squeeze=False)
        for axis, group in zip(axes[:, 0], groups):
            layers = [k for k, f in ok[group[0]]["activity"]["layers"].items() if f["firing_rate"]["value"] is not None]
            width = 0.8 / len(group)
            for i, n in enumerate(group):
                rates = [ok[n]["activity"]["layers"].get(k, {}).get("firing_rate", {}).get("value") or 0 for k in layers]
                axis.bar(np.arange(len(layers)) + i * width, rates, width, label=n)
            axis.set_xticks(np.arange(len(layers)) + 0.4 - width / 2, layers, rotation=45, ha="right", fontsize=7)
            axis.set_ylabel("spikes / neuron / step")
            axis.legend(fontsize=7)
        axes[0, 0].set_title("Firing rate per layer")
        save(figure, "firing_rate.png")
    bars = []
    for n, e in ok.items():
        for key, v in e.get("energy", {}).items():
            val = v["per_snippet"]["value"]
            if val:
                bars.append((f"{n}\n{key}", val, v["per_snippet"]["origin"]))
    if bars:
        figure, axis = plt.subplots(figsize=(max(5, 1.1 * len(bars)), 3.5))
        colors = {"measured": "tab:green", "simulated": "tab:blue", "estimated": "tab:orange"}
        axis.bar(range(len(bars)), [x[1] for x in bars], color=[colors.get(x[2], "grey") for x in bars])
        axis.set_xticks(range(len(bars)), [x[0] for x in bars], fontsize=6, rotation=30, ha="right")
        axis.set_yscale("log")
        axis.set_ylabel("J per snippet")
        axis.text(0.01, 0.98, "orange: estimated, green: measured", transform=axis.transAxes, va="top", fontsize=7)
        axis.set_title("Energy per snippet by backend")
        save(figure, "energy_per_snippet.png")
    points = [(n, e["accuracy"].get("auc_all", {}).get("value"), main_energy(e)[0], e["latency"]["seconds"]["value"]) for n, e in ok.items()]
    points = [(n, a, en["value"] if en else None, lat) for n, a, en, lat in points if a is not None]
    if points:
        figure, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
        for n, auc, energy, lat in points:
            if energy:
                ax1.scatter(energy, auc)
                ax1.annotate(n, (energy, auc), fontsize=7)
            if lat is not None:
                ax2.scatter(lat, auc)
                ax2.annotate(n, (lat, auc), fontsize=7)
        ax1.set(xscale="log", xlabel="J per snippet (main figure of each backend)", ylabel="frame AUC (all)")
        ax2.set(xlabel="latency, s (event to score)", ylabel="frame AUC (all)")
        figure.suptitle("Accuracy against energy and latency", fontsize=10)
        save(figure, "auc_vs_energy_latency.png")
    return figures


def write_json(path: Path, results: dict) -> None:
    path.write_text(json.dumps(results, indent=2) + "\n")
