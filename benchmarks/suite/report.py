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
from ucfdvs.benchmarks.suite.energy import horowitz_energy, loihi_energy
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


def backend_energy(run: BackendRun, constants: Constants, targets: dict[str, int], input_name: str) -> dict:
    """Energy figures (J per snippet, J per video hour) with method and origin."""
    c = run.counts
    snippets = max(c.snippets, 1)
    hours = c.snippets * SNIPPET_S / 3600.0
    out: dict[str, Any] = {}

    def both(total_j: float | None, origin: str, source: str) -> dict:
        return {
            "per_snippet": fig(None if total_j is None else total_j / snippets, "J/snippet", origin, source),
            "per_video_hour": fig(None if total_j is None or not hours else total_j / hours, "J/video-hour", origin, source),
        }

    loihi_src = "Davies et al. IEEE Micro 2018 Table 2 per-op energies x counted ops (constants table)"
    if run.name in ("streaming", "emu_float", "emu_fixed", "lava_float", "lava_fixed"):
        parts = loihi_energy(c.synops, c.graded_ops, c.neuron_updates, c.active_neuron_updates,
                             graph_messages(c, targets, input_name), constants)
        out["loihi"] = {**both(parts["total"], "estimated", loihi_src),
                        "components_per_snippet": {k: fig(None if v is None else v / snippets, "J/snippet", "estimated")
                                                   for k, v in parts.items() if k != "total"}}
    hz_src = "Horowitz ISSCC 2014 45 nm: MAC 4.6 pJ x dense MACs + AC 0.9 pJ x synaptic ops"
    if run.name in ("reference", "streaming"):
        macs = c.dense_macs if run.name == "reference" else c.graded_ops
        parts = horowitz_energy(macs, c.synops, constants)
        dense = horowitz_energy(c.dense_equivalent_macs, 0, constants)
        out["gpu_estimate_mac_ac"] = both(parts["total"], "estimated", hz_src)
        out["gpu_estimate_dense"] = both(dense["total"], "estimated",
                                         "Horowitz 45 nm MAC 4.6 pJ x every weight executed densely (how a GPU runs it)")
        if run.gpu_energy is not None:
            m = run.gpu_energy
            out["gpu_measured"] = {
                **both(m.energy_j, "measured", "NVML total energy counter, idle power subtracted"),
                "idle_power": fig(m.idle_w, "W", "measured"), "repetitions": fig(m.repetitions, "runs", "measured"),
                "seconds": fig(m.seconds, "s", "measured")}
    return out


def backend_figures(run: BackendRun, metrics: dict | None, constants: Constants, targets: dict[str, int],
                    input_name: str) -> dict:
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
    entry["energy"] = backend_energy(run, constants, targets, input_name)
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
                   "synaptic_memory": fig(p.memory_kib, "KiB", "estimated"), "cores": fig(p.cores, "neuro cores", "estimated")}
            for name, p in res.populations.items()}
    src = ("per population max(neurons / loihi2_neurons_per_core, synaptic memory / loihi2_memory_per_core_kib); "
           "limits from the constants table (Intel Loihi 2 technology brief 2021; neurons per core: an assumption)")
    return {
        "populations": pops,
        "total": {"neurons": fig(res.neurons, "neurons", "measured"), "synapses": fig(res.synapses, "synapses", "measured"),
                  "synaptic_memory": fig(res.memory_kib, "KiB", "estimated"),
                  "cores": fig(res.cores, "neuro cores", "estimated", src)},
        "chip_cores": fig(constants["loihi2_cores_per_chip"], "neuro cores", "published", constants.source("loihi2_cores_per_chip")),
        "fits_one_chip": res.fits_one_chip,
    }


def energy_value(entry: dict, key: str) -> float | None:
    e = entry.get("energy", {}).get(key)
    return None if e is None else e["per_snippet"]["value"]


def comparison(backends: dict[str, dict]) -> dict:
    """Loihi estimate / GPU energy per snippet, with the pair used and the caveats."""
    loihi_name = next((n for n in ("emu_fixed", "emu_float", "lava_fixed", "lava_float")
                       if backends.get(n, {}).get("status") == "ok"), None)
    ref = backends.get("reference", {})
    gpu_key = next((k for k in ("gpu_measured", "gpu_estimate_mac_ac") if ref.get("status") == "ok"
                    and k in ref.get("energy", {})), None)
    caveats = [
        "The Loihi figure is an estimate from Loihi 1 (14 nm) per-operation energies (Davies 2018) applied to a "
        "simulated run; Loihi 2 (Intel 4) per-operation energies are not published, and no static power, "
        "I/O to the host or input encoding is included.",
        "Tile hops are assumed (one hop per inter-population message); placement is not computed.",
        "Graded-message energy uses the binary synaptic-op figure (no published Loihi 2 number).",
        "Without a GPU, the GPU figure is a 45 nm Horowitz estimate of arithmetic only (no memory traffic, no "
        "static or idle power, no kernel-launch overhead); a measured NVML figure is typically orders of magnitude higher.",
        "The reference (offline, whole-video GCN) and the streaming graph are different models of the same task: "
        "compare their accuracy before comparing their energy.",
    ]
    ratio = None
    if loihi_name and gpu_key:
        lo, gpu = energy_value(backends[loihi_name], "loihi"), energy_value(ref, gpu_key)
        ratio = lo / gpu if lo is not None and gpu else None
    return {"energy_ratio_loihi_over_gpu": fig(ratio, "ratio (J/snippet over J/snippet)", "estimated"),
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
    for key, label in (("gpu_measured", "GPU, NVML"), ("loihi", "Loihi est."), ("gpu_estimate_mac_ac", "45 nm est.")):
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
    lines += ["## Loihi / GPU energy", "",
              f"Ratio (Loihi estimate of `{c['loihi_backend']}` / `{c['gpu_energy']}` of `{c['gpu_backend']}`), energy per snippet: "
              f"**{_v(c['energy_ratio_loihi_over_gpu'], '{:.3g}')}**", "", "Caveats:", ""]
    lines += [f"- {x}" for x in c["caveats"]] + [""]
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
