"""Lava and emulator speed on foreign graphs: the NIR paper's Braille RNN and CNN, the digit networks.

Per graph and precision: the emulator's sequence-steps/s on one sequence (batch 1) and on a batch
(``--batch`` sequences of ``--steps`` steps, one call each, best of 5, the emulator prepared once:
its weight matrices, like Lava's build, are not timed), Lava's sustained steps/s (sequences after
the first; build, compile and start excluded; :func:`neuro_runtime.run_lava`'s ``timings``) and
their ratios.  Inputs: the digit networks' own test inputs (20 steps); random spike trains,
10 % density, for Braille and 5 % ``[2, 34, 34]`` with Sinabs' subtractive reset for the CNN, which
Lava runs at a few steps/s: Lava gets ``--lava-sequences`` sequences of the graph's steps, the
CNN 4 of 30.  Per graph also the emulator's sparse weight terms (:class:`neuro_runtime.emulator.SynapseMatrix`).
A graph the runtime refuses is listed with the reason.  The digit networks come from
``python -m ucfdvs.benchmarks.digits_networks --out DIR`` (``--digits DIR``).

    python -m ucfdvs.benchmarks.graph_speed [--batch 64] [--steps 100] [--lava-sequences 8]
        [--digits DIR] [--graphs NAME ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.benchmarks.nir_paper_validation import PAPER
from ucfdvs.errors import UserError

REPEATS = 5  # the emulator's time is the best of this many runs (shared cores)
CNN_LAVA_SEQUENCES, CNN_LAVA_STEPS = 4, 30  # the CNN (8,970 neurons) runs at a few Lava steps/s


def graphs(paper: Path, digits: Path, batch: int, steps: int) -> dict[str, tuple[dict, np.ndarray]]:
    """name -> (load_network keyword arguments, input ``[B, T, *shape]``)."""
    import json

    rng = np.random.default_rng(0)
    out: dict[str, tuple[dict, np.ndarray]] = {
        "braille_rnn": ({"path_or_graph": paper / "braille_noDelay_bias_zero.nir", "source": "snntorch", "reset": "zero"},
                        (rng.random((batch, steps, 12)) < 0.1).astype(np.uint8)),
        "cnn_sinabs": ({"path_or_graph": paper / "cnn_sinabs.nir", "source": "sinabs"},
                       (rng.random((batch, steps, 2, 34, 34)) < 0.05).astype(np.uint8)),
    }
    for folder in sorted(p for p in digits.glob("*") if (p / "meta.json").is_file()):
        meta = json.loads((folder / "meta.json").read_text())
        graph = folder / meta.get("graph", "graph.nir")  # lava-dl's network: its netx file
        if graph.is_file():
            out[f"digits_{folder.name}"] = ({"path_or_graph": graph, "source": meta["source"],
                                             "reset": meta.get("reset", "zero")}, np.load(folder / "inputs.npy")[:batch])
    return out


def emulator_speed(net: Any, x: np.ndarray, precision: str) -> float:
    """Sequence-steps/s of ``net.run(x)`` in the emulator, best of ``REPEATS``."""
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        net.run(x, precision=precision)
        best = min(best, time.perf_counter() - t0)
    return x.shape[0] * x.shape[1] / best


def measure(name: str, kwargs: dict, x: np.ndarray, lava_sequences: int) -> dict[str, Any]:
    from ucfdvs.neuro_runtime import load_network, run_lava

    try:
        net = load_network(**kwargs)
    except UserError as exc:
        return {"status": f"refused: {exc}"}
    entry: dict[str, Any] = {"status": "ran", "neurons": sum(s.size for s in net.graph.neurons.values()),
                             "batch": int(x.shape[0]), "steps": int(x.shape[1])}
    if name == "cnn_sinabs":
        lava_x = x[:CNN_LAVA_SEQUENCES, :CNN_LAVA_STEPS]
    else:
        lava_x = x[:max(2, min(lava_sequences, len(x)))]
    for precision in ("float", "fixed"):
        net.run(x[:1], precision=precision)  # prepares the emulator (and the fixed-point parameters)
        emu_1, emu_b = emulator_speed(net, x[:1], precision), emulator_speed(net, x, precision)
        emu = net._emulator("fixed_pt" if precision == "fixed" else "floating_pt", net.quant if precision == "fixed" else None)
        terms = [mt for into in emu.into.values() for _, _, mt, _ in into if mt is not None]
        tm: dict = {}
        run_lava(net.graph, list(net.check_input(lava_x)), "fixed_pt" if precision == "fixed" else "floating_pt",
                 quant=net.quant, progress=False, timings=tm)
        lava = tm["steps"] / tm["run_s"] if tm["run_s"] else None
        entry[precision] = {
            "emulator_batch1_steps_per_s": emu_1, "emulator_steps_per_s": emu_b, "lava_steps_per_s": lava,
            "emulator_batch1_over_lava": emu_1 / lava if lava else None,
            "emulator_over_lava": emu_b / lava if lava else None,
            "emulator_weight_terms": len(terms), "emulator_sparse_terms": sum(mt.sparse for mt in terms),
            "lava_sequences": int(lava_x.shape[0]), "lava_steps": int(lava_x.shape[1]),
            "lava_processes": tm["n_processes"], "lava_build_s": tm["build_s"], "lava_first_sequence_s": tm["first_run_s"]}
    return entry


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--paper", type=Path, default=PAPER)
    ap.add_argument("--digits", type=Path, default=results_dir() / "digits")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lava-sequences", type=int, default=8)
    ap.add_argument("--graphs", nargs="+", help="only these graphs (names as in the table)")
    ap.add_argument("--out", type=Path, default=results_dir() / "graph_speed.json")
    args = ap.parse_args(argv)
    if args.batch < 2:
        ap.error("--batch must be >= 2 (Lava's sustained speed is timed on the sequences after the first)")
    cases = graphs(args.paper, args.digits, args.batch, args.steps)
    unknown = sorted(set(args.graphs or ()) - set(cases))
    if unknown:
        ap.error(f"unknown graph {unknown[0]!r} (known: {', '.join(cases)})")
    results = {}
    print("| graph | neurons | precision | emulator steps/s, batch 1 | emulator steps/s, batch | Lava steps/s | "
          "ratio, batch 1 | ratio, batch |\n|---|---|---|---|---|---|---|---|")
    for name, (kwargs, x) in cases.items():
        if args.graphs and name not in args.graphs:
            continue
        results[name] = r = measure(name, kwargs, x, args.lava_sequences)
        if r["status"] != "ran":
            print(f"| {name} | | | {r['status'][:120]} | | | | |")
            continue
        for p in ("float", "fixed"):
            e = r[p]
            print(f"| {name} | {r['neurons']} | {p} | {e['emulator_batch1_steps_per_s']:,.0f} | "
                  f"{e['emulator_steps_per_s']:,.0f} ({r['batch']} x {r['steps']}) | {e['lava_steps_per_s']:,.1f} | "
                  f"{e['emulator_batch1_over_lava']:,.0f} | {e['emulator_over_lava']:,.0f} |", flush=True)
    save_results(args.out, {"machine": describe_machine(), "batch": args.batch, "steps": args.steps,
                            "lava_sequences": args.lava_sequences, "graphs": results})


if __name__ == "__main__":
    main()
