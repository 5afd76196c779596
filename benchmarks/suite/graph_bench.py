"""``ucfdvs bench --nir GRAPH --input X``: every backend of ``ucfdvs run`` on the same samples, one report.

Backends: ``emu_float`` and ``emu_fixed`` (the emulator, all samples), ``lava_float`` and
``lava_fixed`` (Lava's Loihi 2 simulator, ``--lava-samples`` samples evenly spread), and with
``--reference MODEL`` the source network in its own library (:mod:`benchmarks.reference_models`)
on the same inputs.  Per backend: accuracy (with ``--labels``; class = :data:`DECISIONS`),
decisions equal to ``emu_float`` on the same samples, per-layer activity, synaptic operations,
neuron updates, Loihi 2 resources, energy, latency and throughput
(:func:`graph_report.network_report`, NeuroBench's metrics included); the reference's output
compared with the runtime's at the latency offset.  DIR: ``results.json`` (schema
``ucfdvs-bench-graph/1``), ``report.md``, ``firing_rates.png``, ``energy.png``; built aside and
renamed into place.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ucfdvs.atomic import atomic_dir, check_output_dir
from ucfdvs.errors import UserError
from ucfdvs.export.simulate import spread_indices

SCHEMA = "ucfdvs-bench-graph/1"
BACKENDS = ("emu_float", "emu_fixed", "lava_float", "lava_fixed")


def _count(out: np.ndarray) -> np.ndarray:
    return out.reshape(out.shape[0], out.shape[1], -1).sum(1)


def _last(out: np.ndarray) -> np.ndarray:
    return out.reshape(out.shape[0], out.shape[1], -1)[:, -1]


def _peak(out: np.ndarray) -> np.ndarray:
    return out.reshape(out.shape[0], out.shape[1], -1).max(1)


DECISIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "spike_count": (_count, "class = the output channel with the most spikes (sum over steps; first on ties)"),
    "last": (_last, "class = the largest output channel at the last step"),
    "max": (_peak, "class = the output channel with the largest value at any step"),
}


def decide(outputs: np.ndarray, rule: str) -> np.ndarray:
    """``[B, T, *shape]`` output -> ``[B]`` class indices under ``rule``."""
    return DECISIONS[rule][0](outputs).argmax(-1)


def load_labels(path: str | Path | None, batch: int) -> np.ndarray | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise UserError("labels file not found", p)
    try:
        y = np.load(p, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot read labels: {type(exc).__name__}", p) from None
    if y.ndim != 1 or y.dtype.kind not in "iub":
        raise UserError(f"labels must be a 1-d integer array [B], got {y.dtype} {list(y.shape)}", p)
    if len(y) != batch:
        raise UserError(f"{len(y)} labels for {batch} input samples", p)
    return y.astype(np.int64)


def _guard(fn: Callable[[], Any]) -> tuple[Any, str | None]:
    try:
        return fn(), None
    except Exception as err:  # noqa: BLE001 - one failing backend must not stop the others
        return None, f"{type(err).__name__}: {err}".splitlines()[0]


def run_graph_bench(
    nir_path: str, input_path: str, out: Path, *, labels_path: str | None = None, reference: str | None = None,
    decision: str = "spike_count", dt: float | None = None, reset: str | None = None, source: str = "nir",
    flush: bool = False, lava_samples: int = 8, backends: tuple[str, ...] = BACKENDS,
    constants_path: str | None = None, weight_planes: int | str = 1, force: bool = False,
) -> dict:
    """Run the suite and write ``out``; returns what ``results.json`` holds."""
    from ucfdvs.benchmarks.environment import describe_machine
    from ucfdvs.benchmarks.suite.constants import load_constants
    from ucfdvs.benchmarks.suite.graph_report import json_default, network_report
    from ucfdvs.benchmarks.suite.run_command import quantize_on_input
    from ucfdvs.neuro_runtime.network import load_inputs, load_network

    if decision not in DECISIONS:
        raise UserError(f"unknown --decision {decision!r} (known: {', '.join(DECISIONS)})")
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise UserError(f"unknown backend {unknown[0]!r} (known: {', '.join(BACKENDS)})")
    if lava_samples < 1:
        raise UserError("--lava-samples must be >= 1")
    check_output_dir(out, force)
    constants = load_constants(constants_path)
    net = load_network(nir_path, dt=dt, reset=reset, source=source)
    raw = load_inputs(input_path, net)
    x = net.check_input(raw)
    labels = load_labels(labels_path, x.shape[0])
    out_name = next(iter(net.graph.outputs))
    ref_out = None
    if reference is not None:
        from ucfdvs.benchmarks.reference_models import load_reference

        if isinstance(raw, dict):
            raise UserError("--reference takes a graph with one Input (the source network's input)")
        ref_out = reference_outputs(load_reference(reference), raw, net, out_name)
    subset = spread_indices(x.shape[0], lava_samples)
    quantize_on_input(net, raw, weight_planes)

    entries: dict[str, dict] = {}
    runs: dict[str, Any] = {}
    float_full = None
    # emu_float always runs (the reference of every other backend); emu_fixed whenever lava_fixed does
    needed = ("emu_float",) + (("emu_fixed",) if "lava_fixed" in backends else ())
    for name in needed + tuple(b for b in BACKENDS if b in backends and b not in needed):
        backend, precision = name.split("_")
        xs = raw if backend == "emu" else _take(raw, subset)
        run, err = _guard(lambda: net.run(xs, backend=backend, precision=precision, flush=flush))
        if name == "emu_float":
            float_full = run
        if err is None:
            runs[name] = run
        if name not in backends:
            continue
        if err:
            entries[name] = {"status": "failed", "error": err}
            continue
        float_ref = None
        if precision == "fixed" and float_full is not None:
            float_ref = _subset_run(float_full, subset) if backend == "lava" else float_full
        rep = network_report(net, run, constants, float_ref)
        idx = np.arange(x.shape[0]) if backend == "emu" else subset
        entry: dict[str, Any] = {"status": "ok", "samples": int(len(idx)), "report": rep}
        dec = decide(run.outputs[out_name], decision)
        entry["decisions"] = dec.tolist()
        if labels is not None:
            entry["accuracy"] = float(np.mean(dec == labels[idx]))
        if float_full is not None and name != "emu_float":
            ref_dec = decide(float_full.outputs[out_name][idx], decision)
            entry["decisions_equal_emu_float"] = float(np.mean(dec == ref_dec))
            emulated = runs.get(f"emu_{precision}")
            if backend == "lava" and emulated is not None:
                sub = _subset_run(emulated, subset)
                entry["spikes_equal_emulator"] = {n: float(np.mean(sub.spikes[n] == run.spikes[n])) for n in run.spikes}
        entries[name] = entry

    reference_entry = None
    if ref_out is not None:
        reference_entry = _reference_entry(net, ref_out, labels, decision, float_full, out_name)
    results = {
        "schema": SCHEMA,
        "command": describe_machine()["command"], "machine": describe_machine(),
        "inputs": {"nir": str(nir_path), "input": str(input_path), "labels": labels_path, "reference": reference,
                   "decision": decision, "decision_rule": DECISIONS[decision][1], "samples": int(x.shape[0]),
                   "steps": int(x.shape[1]), "lava_samples": subset.tolist(), "flush": flush,
                   "weight_planes": weight_planes},
        "graph": network_report(net, float_full, constants)["graph"] if float_full is not None else None,
        "backends": entries,
        "reference": reference_entry,
    }
    with atomic_dir(out, force=force) as tmp:
        (tmp / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True, default=json_default) + "\n")
        figures = write_plots(tmp, results)
        write_markdown(tmp / "report.md", results, figures)
    return results


def _take(raw: Any, idx: np.ndarray) -> Any:
    """Samples ``idx`` of an input array, or of each array of a ``{Input name: array}`` mapping."""
    return {k: v[idx] for k, v in raw.items()} if isinstance(raw, dict) else raw[idx]


def _subset_run(run, idx: np.ndarray):
    """A :class:`NetworkRun` restricted to samples ``idx`` (outputs and spikes only)."""
    from dataclasses import replace

    return replace(run, outputs={k: v[idx] for k, v in run.outputs.items()},
                   spikes={k: v[idx] for k, v in run.spikes.items()}, inputs=run.inputs[idx])


def reference_outputs(ref, raw: np.ndarray, net, out_name: str) -> dict:
    """Run the source network on the same inputs (timed); refuse an output shape unlike the graph's."""
    t0 = time.perf_counter()
    try:
        out, spikes = ref.run(raw)
    except (RuntimeError, ValueError, TypeError) as exc:  # torch's shape errors
        raise UserError(f"reference model {ref.name!r} cannot run the input {list(raw.shape)}: "
                        f"{str(exc).splitlines()[0]}") from None
    wall = time.perf_counter() - t0
    shape = tuple(net.shapes[out_name])
    if int(np.prod(out.shape[2:])) != int(np.prod(shape)):
        raise UserError(f"reference model {ref.name!r} outputs {list(out.shape[2:])} per step, the graph's Output "
                        f"{out_name!r} takes {list(shape)}")
    return {"ref": ref, "out": out.reshape(*out.shape[:2], *shape), "spikes": spikes, "wall": wall}


def _reference_entry(net, ref_out: dict, labels, decision: str, float_run, out_name: str) -> dict:
    """Compare the source network's run with the emulator's at the latency offset."""
    ref, out, spikes, wall = ref_out["ref"], ref_out["out"], ref_out["spikes"], ref_out["wall"]
    shape = tuple(net.shapes[out_name])
    B, T = out.shape[:2]
    entry: dict[str, Any] = {"name": ref.name, "library": ref.library, "samples": int(B),
                             "wall_seconds": wall, "samples_per_second": B / wall if wall else None}
    dec = decide(out.reshape(B, T, *shape), decision)
    if labels is not None:
        entry["accuracy"] = float(np.mean(dec == labels))
    if float_run is not None:
        k = net.graph.latency[out_name] or 0
        rt = float_run.outputs[out_name][:, k:k + T]
        n = rt.shape[1]
        entry["latency_offset_steps"] = int(k)
        entry["output_agreement"] = float(np.mean(np.isclose(rt, out.reshape(B, T, *shape)[:, :n])))
        entry["decisions_equal_emu_float"] = float(np.mean(dec == decide(rt, decision)))
        layers = {}
        for layer, s in spikes.items():
            node = layer if layer in net.graph.neurons else layer + ".lif" if layer + ".lif" in net.graph.neurons else None
            if node is None or node not in float_run.spikes:
                continue
            off = int(net.graph.arrival[node])
            got = float_run.spikes[node][:, off:off + T].reshape(B, -1, s[0, 0].size)
            want = s.reshape(B, T, -1)[:, :got.shape[1]]
            layers[layer] = {"node": node, "offset_steps": off, "agreement": float(np.mean(got == want)),
                             "spikes_reference": int(want.sum()), "spikes_runtime": int(got.sum())}
        entry["layers"] = layers
        if float_run.steps - k < T:
            entry["note"] = f"the last {T - (float_run.steps - k)} reference steps have no runtime counterpart: pass --flush"
    return entry


def write_plots(out: Path, results: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = {k: e for k, e in results["backends"].items() if e.get("status") == "ok"}
    if not ok:
        return []
    names = []
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(ok)
    layers = [n for n, layer in next(iter(ok.values()))["report"]["layers"].items() if layer["spiking"]]
    for i, (b, e) in enumerate(ok.items()):
        rates = [e["report"]["layers"][n]["firing_rate"]["value"] or 0.0 for n in layers]
        ax.bar(np.arange(len(layers)) + i * width, rates, width, label=b)
    ax.set_xticks(np.arange(len(layers)) + 0.4 - width / 2, layers, rotation=30, ha="right")
    ax.set_ylabel("spikes / neuron / step")
    names.append(_save(fig, out, "firing_rates.png"))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    keys = ("loihi", "von_neumann_batch1", "von_neumann_offline_batch")
    for i, key in enumerate(keys):
        vals = [e["report"]["energy"][key]["per_sample"]["value"] or 0.0 for e in ok.values()]
        ax.bar(np.arange(len(ok)) + i * 0.27, vals, 0.27, label=key)
    ax.set_xticks(np.arange(len(ok)) + 0.27, list(ok), rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("J / sample (estimated)")
    names.append(_save(fig, out, "energy.png"))
    return names


def _save(fig, out: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name


def _f(v: Any, fmt: str = "{:.4g}") -> str:
    if isinstance(v, dict):
        v = v.get("value")
    return "-" if v is None else fmt.format(v)


def write_markdown(path: Path, results: dict, figures: list[str]) -> None:
    inp = results["inputs"]
    g = results["graph"] or {}
    lines = [f"# Benchmark of `{inp['nir']}`", "",
             f"Command: `{results['command']}`  ", f"Machine: {results['machine'].get('cpu', '')}, commit "
             f"{results['machine'].get('commit', '')}", "",
             f"Source `{g.get('source')}`, dt {_f(g.get('dt'))} s, reset {g.get('reset')}; {inp['samples']} samples x "
             f"{inp['steps']} steps; Lava on samples {inp['lava_samples']}; decision: {inp['decision_rule']}.", ""]
    for note in g.get("notes", []):
        lines.append(f"- {note}")
    lines += ["", "| backend | samples | accuracy | decisions = emu_float | spikes/sample | synops/sample | "
                  "neuron updates/sample | Loihi est. J/sample | GPU/CPU batch 1 J/sample | latency (steps) | "
                  "sequence-steps/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in results["backends"].items():
        if e.get("status") != "ok":
            lines.append(f"| {name} | failed: {e.get('error')} | | | | | | | | | |")
            continue
        r = e["report"]
        lat = ", ".join(f"{o} {_f(v['steps'])}" for o, v in r["latency"]["outputs"].items())
        lines.append(f"| {name} | {e['samples']} | {_f(e.get('accuracy'))} | {_f(e.get('decisions_equal_emu_float'))} | "
                     f"{_f(r['totals_per_sample']['spikes'])} | {_f(r['totals_per_sample']['synaptic_ops'])} | "
                     f"{_f(r['totals_per_sample']['neuron_updates'])} | {_f(r['energy']['loihi']['per_sample'])} | "
                     f"{_f(r['energy']['von_neumann_batch1']['per_sample'])} | {lat} | "
                     f"{_f(r['run']['steps_per_second'], '{:,.0f}')} |")
    for name, e in results["backends"].items():
        if e.get("spikes_equal_emulator"):
            same = all(v == 1.0 for v in e["spikes_equal_emulator"].values())
            lines.append(f"\n{name}: spikes {'identical to' if same else 'differ from'} the emulator's on its samples "
                         "(" + ", ".join(f"{n} {v:.4f}" for n, v in e["spikes_equal_emulator"].items()) + ").")
    ref = results.get("reference")
    if ref:
        lines += ["", f"Reference `{ref['name']}` ({ref['library']}, CPU): accuracy {_f(ref.get('accuracy'))}, "
                      f"decisions equal to emu_float {_f(ref.get('decisions_equal_emu_float'))}, outputs equal at offset "
                      f"+{ref.get('latency_offset_steps')} on {_f(ref.get('output_agreement'))} of entries, "
                      f"{_f(ref['samples_per_second'], '{:,.0f}')} samples/s.", "",
                  "| layer | offset | spike agreement | spikes (reference) | spikes (runtime) |", "|---|---|---|---|---|"]
        for layer, v in ref.get("layers", {}).items():
            lines.append(f"| {layer} | +{v['offset_steps']} | {v['agreement']:.4f} | {v['spikes_reference']} | "
                         f"{v['spikes_runtime']} |")
        if ref.get("note"):
            lines.append(f"\n{ref['note']}")
    first = next((e for e in results["backends"].values() if e.get("status") == "ok"), None)
    if first:
        r = first["report"]
        lines += ["", "## Per layer (emu_float)" if "emu_float" in results["backends"] else "## Per layer", "",
                  "| layer | neurons | spikes/sample | firing rate | synaptic ops | graded ops | neuron updates |",
                  "|---|---|---|---|---|---|---|"]
        for n, layer in r["layers"].items():
            lines.append(f"| {n} | {_f(layer['neurons'])} | {_f(layer['spikes_per_sample'])} | {_f(layer['firing_rate'])} | "
                         f"{_f(layer['synaptic_ops'])} | {_f(layer['graded_ops'])} | {_f(layer['neuron_updates'])} |")
        res = r["resources"]["total"]
        lines += ["", f"Loihi 2 resources: {_f(res['neurons'])} neurons, {_f(res['synapses'])} synapses, "
                      f"{_f(res['cores'])} cores; one chip: {r['resources']['fits_one_chip']}.", "",
                  "NeuroBench metrics (NeuroBench's names, per sample): "
                  + ", ".join(f"{k} {_f(v)}" for k, v in r["neurobench"].items()) + ".", "",
                  "Energy ratios (Loihi estimate / GPU-CPU model): batch 1 "
                  f"{_f(r['energy']['ratios']['loihi_over_gpu_cpu_batch1'])}, offline batch "
                  f"{_f(r['energy']['ratios']['loihi_over_gpu_cpu_offline_batch'])}. Caveats: "
                  + "; ".join(r["energy"]["ratios"]["caveats"]) + "."]
    fixed = results["backends"].get("emu_fixed", {})
    if fixed.get("status") == "ok" and fixed["report"].get("quantization"):
        agree = fixed["report"]["quantization"].get("agreement_with_float", {})
        lines += ["", "Fixed point against float (emulator, all samples): "
                  + ", ".join(f"{n} {_f(v['agreement'])}" for n, v in agree.get("layers", {}).items())
                  + "; decisions " + ", ".join(f"{o} {_f(v['decisions_equal'])}" for o, v in agree.get("outputs", {}).items())]
    lines += [""] + [f"![{f}]({f})" for f in figures]
    path.write_text("\n".join(lines) + "\n")
