"""Cross-framework accuracy table: each digit network in its library, the emulator and Lava, float and fixed.

Reads the folders written by :mod:`benchmarks.digits_networks` (``graph.nir`` from the library's
own exporter, lava-dl's netx ``graph.net``, ``inputs.npy``, ``labels.npy``, ``library_counts.npy``, ``meta.json``) and runs every
graph through the runtime's API (:func:`neuro_runtime.load_network`, ``--flush`` so that the last
input step reaches the output) on the same test samples: emulator float and fixed on all of them,
Lava ``floating_pt`` and ``fixed_pt`` on the first ``--lava`` (default all).  Decision: the output
channel with the most spikes (first on ties), in the library and in the runtime.  Each runs with its library's reset (``meta.json``).
``--weight-planes N|exact|auto``: fixed point with that many weight planes per synapse layer, as
``ucfdvs run`` chooses them (:func:`benchmarks.suite.run_command.quantize_on_input`: scales from
bounds, spike inputs sent as they are, ``auto`` chosen on the test inputs); a lava-dl network
keeps its native integers (one plane) whatever is asked.

    python -m ucfdvs.benchmarks.cross_framework [--digits DIR] [--lava N] [--weight-planes N|exact|auto] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.benchmarks.suite.run_command import parse_weight_planes, quantize_on_input
from ucfdvs.errors import UserError

RUNS = (("emu", "float"), ("emu", "fixed"), ("lava", "float"), ("lava", "fixed"))


def evaluate(folder: Path, lava: int | None, weight_planes: int | str = 1) -> dict[str, Any]:
    """One network's row (see the module docstring)."""
    from ucfdvs.neuro_runtime import load_network

    meta = json.loads((folder / "meta.json").read_text())
    entry: dict[str, Any] = {"library": meta["library"], "library_accuracy": meta["library_accuracy"]}
    if meta["export_error"]:
        return {**entry, "status": f"not exported: {meta['export_error']}"}
    x, y = np.load(folder / "inputs.npy"), np.load(folder / "labels.npy")
    lib_dec = np.load(folder / "library_counts.npy").argmax(1)
    reset = meta.get("reset", "zero")
    try:
        net = load_network(folder / meta.get("graph", "graph.nir"), source=meta["source"], reset=reset)
        entry["reset"] = reset
    except UserError as exc:
        return {**entry, "status": f"refused: {str(exc).split(': ', 1)[-1]}"}
    out = next(iter(net.graph.outputs))
    n_lava = len(x) if lava is None else min(lava, len(x))
    entry["status"], entry["lava_samples"] = "ran", n_lava
    if weight_planes != 1 and meta["source"] != "lava-dl":
        quantize_on_input(net, x, weight_planes)
    entry["weight_planes"] = weight_planes if meta["source"] != "lava-dl" else 1
    for backend, precision in RUNS:
        xs = x if backend == "emu" else x[:n_lava]
        t0 = time.perf_counter()
        try:
            run = net.run(xs, backend=backend, precision=precision, flush=True)
        except UserError as exc:
            entry[f"{backend}_{precision}"] = {"status": f"refused: {exc}"}
            continue
        dec = run.outputs[out].reshape(len(xs), run.steps, -1).sum(1).argmax(1)
        entry[f"{backend}_{precision}"] = {
            "accuracy": float(np.mean(dec == y[:len(xs)])),
            "library_accuracy_same_samples": float(np.mean(lib_dec[:len(xs)] == y[:len(xs)])),
            "decisions_equal_library": float(np.mean(dec == lib_dec[:len(xs)])),
            "seconds": time.perf_counter() - t0, "samples": len(xs)}
    return entry


def table(results: dict[str, Any]) -> str:
    rows = ["| network | reset run | library | emulator float | emulator fixed | Lava float | Lava fixed | "
            "decisions equal to the library (emu float / fixed / Lava float / fixed) |",
            "|---|---|---|---|---|---|---|---|"]
    for name, e in results.items():
        if e["status"] != "ran":
            rows.append(f"| {name} | | {e['library_accuracy']:.4f} | {e['status'][:150]} | | | | |")
            continue
        cells, same = [], []
        for backend, precision in RUNS:
            r = e[f"{backend}_{precision}"]
            if "accuracy" not in r:
                cells.append(r["status"][:60])
                same.append("-")
                continue
            lib = "" if r["samples"] == len_all(e) else f" (library {r['library_accuracy_same_samples']:.4f}, N={r['samples']})"
            cells.append(f"{r['accuracy']:.4f}{lib}")
            same.append(f"{r['decisions_equal_library']:.4f}")
        rows.append(f"| {name} | {e['reset']} | {e['library_accuracy']:.4f} | " + " | ".join(cells) + " | "
                    + " / ".join(same) + " |")
    return "\n".join(rows)


def len_all(entry: dict[str, Any]) -> int:
    return entry["emu_float"]["samples"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--digits", type=Path, default=results_dir() / "digits",
                    help="folders of benchmarks.digits_networks (default %(default)s)")
    ap.add_argument("--lava", type=int, help="Lava on the first N test samples (default all)")
    ap.add_argument("--weight-planes", type=parse_weight_planes, default=1,
                    help="weight planes per synapse layer in fixed point: 1 to 4, exact or auto (default %(default)s)")
    ap.add_argument("--out", type=Path, default=results_dir() / "cross_framework.json")
    args = ap.parse_args(argv)
    folders = sorted(p for p in args.digits.glob("*") if (p / "meta.json").is_file())
    if not folders:
        raise SystemExit(f"cross_framework: error: no networks in {args.digits}: run "
                         "python -m ucfdvs.benchmarks.digits_networks first")
    results = {}
    for folder in folders:
        results[folder.name] = evaluate(folder, args.lava, args.weight_planes)
        print(f"{folder.name}: done", flush=True)
    print(table(results))
    save_results(args.out, {"machine": describe_machine(), "networks": results})


if __name__ == "__main__":
    main()
