"""Fixed point against float on foreign graphs: per-layer spike agreement and output decisions.

Graphs: the NIR paper's three files (``../shared/nir_paper/``: the Norse LIF on its recorded input
spikes at dt 1e-4 s; the Sinabs CNN on random events ``[2, 34, 34]``, 5 % density, 100 steps, 16
samples; the snnTorch Braille RNN (reset to zero, as trained) on random events, 12 channels, 10 %
density, 100 steps, 16 samples) and the digit networks of :mod:`benchmarks.digits_networks`
(their ``graph.nir`` and test ``inputs.npy``: the first 64 samples; the other 296 are the separate
set; lava-dl's network, a netx file, is left out: it keeps its own integers, so its fixed point is
the network itself, and :mod:`benchmarks.cross_framework` compares it with slayer).  Each graph is loaded with
:func:`neuro_runtime.sources.load_foreign`, quantised six ways (:data:`MODES`: node scales from
worst-case bounds with one, two or three weight planes per synapse layer or ``"exact"`` planes;
calibrated on a separate
input set of the same kind, one plane; ``auto``: planes per layer chosen on that separate set,
:func:`neuro_runtime.fixed_agreement.choose_weight_planes`), integer inputs sent as they are
(``S_in = 1``), and run in the float and fixed-point emulators on the test input
(:func:`neuro_runtime.fixed_agreement.fixed_agreement`; the emulator's fixed point is
bit-identical to Lava ``fixed_pt``).  Per mode: planes per layer, synapse processes (layers x
planes) and synapses (non-zero mantissas of every plane), :func:`benchmarks.suite.resources.loihi2_resources`.

    python -m ucfdvs.benchmarks.fixed_point_agreement [--shared ../shared] [--digits DIR] [--out FILE]
        [--graphs NAME,...]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.benchmarks.suite.constants import load_constants
from ucfdvs.benchmarks.suite.resources import loihi2_resources
from ucfdvs.neuro_runtime.emulator import Emulator
from ucfdvs.neuro_runtime.fixed_agreement import choose_weight_planes, fixed_agreement
from ucfdvs.neuro_runtime.graph_check import load_graph
from ucfdvs.neuro_runtime.quantize import quantize
from ucfdvs.neuro_runtime.sources import load_foreign


def events(seed: int, shape: tuple[int, ...], density: float) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < density).astype(np.float64)


def paper_cases(shared: Path) -> dict[str, tuple[Path, dict, Callable[[int], np.ndarray]]]:
    """name -> (file, load_foreign kwargs, inputs(seed) -> [B, T, *shape])."""
    paper = shared / "nir_paper"
    lif_x = np.load(paper / "lif_input_spikes.npy").astype(np.float64)[None] if (paper / "lif_input_spikes.npy").exists() else None
    return {
        "lif_norse": (paper / "lif_norse.nir", {"source": "nir", "dt": 1e-4},
                      lambda seed: lif_x if seed == 0 else events(seed, (4, 1000, 1), 0.034)),
        "cnn_sinabs": (paper / "cnn_sinabs.nir", {"source": "sinabs"},
                       lambda seed: events(seed, (16, 100, 2, 34, 34), 0.05)),
        "braille_rnn": (paper / "braille_noDelay_bias_zero.nir", {"source": "snntorch", "reset": "zero"},
                        lambda seed: events(seed, (16, 100, 12), 0.1)),
    }


def digits_cases(folder: Path, n: int = 64) -> dict[str, tuple[Path, dict, Callable[[int], np.ndarray]]]:
    out = {}
    for net in sorted(p for p in folder.glob("*") if (p / "graph.nir").exists()):
        meta = json.loads((net / "meta.json").read_text())
        x = np.load(net / "inputs.npy").astype(np.float64)
        out[f"digits_{net.name}"] = (net / "graph.nir", {"source": meta["source"]},
                                     lambda seed, x=x: x[:n] if seed == 0 else x[n:])
    return out


MODES = ("one_plane", "calibrated", "two_planes", "three_planes", "exact", "auto")


def measure(path: Path, load_kw: dict, inputs: Callable[[int], np.ndarray],
            modes: tuple[str, ...] = MODES) -> dict[str, Any]:
    """Agreement of every quantisation mode on the graph's test input (``inputs(0)``); the
    calibration and the ``auto`` plane choice use a separate input set (``inputs(1)``)."""
    constants = load_constants()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph, record = load_foreign(path, **load_kw)
        rg = load_graph(graph, reset_amount=record.reset_amount)
        x = inputs(0)
        pad = rg.flush_steps
        x = np.concatenate([x, np.zeros((x.shape[0], pad, *x.shape[2:]))], axis=1)
        x = x.reshape(x.shape[0], x.shape[1], -1)
        cal = inputs(1)
        cal = cal.reshape(cal.shape[0], cal.shape[1], -1)
        integer = bool(np.array_equal(x, np.round(x)) and np.array_equal(cal, np.round(cal)))
        row: dict[str, Any] = {"neurons": sum(s.size for s in rg.neurons.values()), "reset": rg.reset,
                               "samples": int(x.shape[0]), "steps": int(x.shape[1]), "integer_input": integer}
        ref = Emulator(rg, "floating_pt").run(x)
        bound = {"input_range": float(np.abs(x).max()) or 1.0, "integer_input": integer}
        kws = {"one_plane": bound, "calibrated": {"calibration": cal, "integer_input": integer},
               "two_planes": {**bound, "weight_planes": 2}, "three_planes": {**bound, "weight_planes": 3},
               "exact": {**bound, "weight_planes": "exact"}}
        for mode in modes:
            t0 = time.perf_counter()
            choice = None
            if mode == "auto":
                choice = choose_weight_planes(rg, cal, **bound)
                quant = choice.quant
            else:
                quant = quantize(rg, **kws[mode])
            rep = fixed_agreement(rg, x, quant=quant, reference=ref)
            res = loihi2_resources(rg, constants, quant)
            row[mode] = {**rep.to_dict(), "seconds": round(time.perf_counter() - t0, 2),
                         "weight_planes": {qp.name: len(qp.planes) for qp in quant.projections if qp.terms},
                         "synapse_processes": res.synapse_processes, "synapses": res.synapses,
                         "synaptic_memory_kib": round(res.memory_kib, 1)}
            if choice is not None:
                row[mode]["chosen"] = choice.planes
                row[mode]["tried_on_calibration_set"] = choice.tried
    return row


def table(graphs: dict[str, Any]) -> str:
    """The README's Markdown table: worst layer per mode (bold: every layer >= 99 %), the planes
    ``auto`` chose, decisions and synapse processes per mode."""
    def pct(v: float) -> str:
        return f"{100 * v:.2f} %".replace(".00 %", " %")

    def short(planes: dict[str, Any]) -> str:
        values = list(planes.values())
        return ", ".join(str(v) for v in values) if len(set(map(str, values))) > 1 else str(values[0])

    main_modes = ("one_plane", "two_planes", "exact", "auto")
    rows = ["| graph | worst layer: 1 plane | 2 planes | 3 planes | exact | auto | auto chose | decisions "
            "1 / 2 / exact / auto | synapse processes 1 / 2 / exact / auto | samples x steps |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in graphs.items():
        worst = {m: row[m]["worst_spike_agreement"] for m in MODES}
        cells = [f"**{pct(worst[m])}**" if worst[m] >= 0.99 else pct(worst[m])
                 for m in ("one_plane", "two_planes", "three_planes", "exact", "auto")]
        decisions = " / ".join(f"{100 * min(row[m]['decisions'].values(), default=1.0):.1f}".replace(".0", "")
                               for m in main_modes)
        processes = " / ".join(str(row[m]["synapse_processes"]) for m in main_modes)
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {short(row['auto']['chosen'])} | {decisions} % | "
                    f"{processes} | {row['samples']} x {row['steps']} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--digits", type=Path, default=results_dir() / "digits")
    ap.add_argument("--out", type=Path, default=results_dir() / "fixed_point_agreement.json")
    ap.add_argument("--graphs", help="comma-separated graph names to run (default: all)")
    args = ap.parse_args(argv)
    cases = {**paper_cases(args.shared), **digits_cases(args.digits)}
    if args.graphs:
        keep = args.graphs.split(",")
        unknown = sorted(set(keep) - set(cases))
        if unknown:
            raise SystemExit(f"unknown graph {unknown[0]!r} (known: {', '.join(cases)})")
        cases = {k: v for k, v in cases.items() if k in keep}
    results: dict[str, Any] = {"machine": describe_machine(), "graphs": {}}
    for name, (path, kw, inputs) in cases.items():
        if not path.exists():
            print(f"{name}: {path} absent, skipped")
            continue
        row = measure(path, kw, inputs)
        results["graphs"][name] = row
        for mode in MODES:
            r = row[mode]
            layers = ", ".join(f"{k} {v['agreement']:.4f} ({v['float_spikes']}/{v['fixed_spikes']})"
                               for k, v in r["layers"].items() if v["rel_rms"] is None)
            print(f"{name} [{mode}]: decisions {r['decisions']}; spikes agree (float/fixed): {layers}; "
                  f"planes {r['weight_planes']}, {r['synapse_processes']} synapse processes, "
                  f"{r['synapses']} synapses ({r['seconds']} s)", flush=True)
    print(table(results["graphs"]))
    save_results(args.out, results)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
