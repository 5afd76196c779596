"""Lava and emulator speed on foreign graphs: the NIR paper's Braille RNN and CNN, the digit networks.

Per graph and precision: the emulator's sequence-steps/s on a batch (``--batch`` sequences of
``--steps`` steps, one call, best of 5) and Lava's sustained steps/s (sequences after the first, build,
compile and start excluded; :func:`neuro_runtime.run_lava`'s ``timings``), and their ratio.
Inputs: the digit networks' own test inputs; random spike trains (10 % density) for Braille and
(5 %, ``[2, 34, 34]``, 4 sequences of 30 steps, Sinabs' subtractive reset) for the CNN.  A graph the runtime refuses is listed with the reason.

    python -m ucfdvs.benchmarks.graph_speed [--batch 64] [--steps 100] [--lava-sequences 8]
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
CNN_BATCH, CNN_STEPS = 4, 30  # the CNN (7,200 neurons) runs at a few Lava steps/s: fewer, shorter sequences


def graphs(paper: Path, digits: Path, batch: int, steps: int) -> dict[str, tuple[dict, np.ndarray]]:
    """name -> (load_network keyword arguments, input ``[B, T, *shape]``)."""
    import json

    rng = np.random.default_rng(0)
    out: dict[str, tuple[dict, np.ndarray]] = {
        "braille_rnn": ({"path_or_graph": paper / "braille_noDelay_bias_zero.nir", "source": "snntorch", "reset": "zero"},
                        (rng.random((batch, steps, 12)) < 0.1).astype(np.uint8)),
        "cnn_sinabs": ({"path_or_graph": paper / "cnn_sinabs.nir", "source": "sinabs"},
                       (rng.random((CNN_BATCH, CNN_STEPS, 2, 34, 34)) < 0.05).astype(np.uint8)),
    }
    for folder in sorted(p for p in digits.glob("*") if (p / "graph.nir").is_file()):
        meta = json.loads((folder / "meta.json").read_text())
        out[f"digits_{folder.name}"] = ({"path_or_graph": folder / "graph.nir", "source": meta["source"], "reset": meta.get("reset", "zero")},
                                        np.load(folder / "inputs.npy")[:batch])
    return out


def measure(kwargs: dict, x: np.ndarray, lava_sequences: int) -> dict[str, Any]:
    from ucfdvs.neuro_runtime import load_network, run_lava

    try:
        net = load_network(**kwargs)
    except UserError as exc:
        return {"status": f"refused: {exc}"}
    entry: dict[str, Any] = {"status": "ran", "neurons": sum(s.size for s in net.graph.neurons.values()),
                             "batch": int(x.shape[0]), "steps": int(x.shape[1])}
    for precision in ("float", "fixed"):
        net.run(x[:1], precision=precision)  # warm-up (and the fixed-point parameters)
        best = float("inf")
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            net.run(x, precision=precision)
            best = min(best, time.perf_counter() - t0)
        emu = x.shape[0] * x.shape[1] / best
        tm: dict = {}
        seqs = list(net.check_input(x[:max(2, min(lava_sequences, len(x)))]))
        run_lava(net.graph, seqs, "fixed_pt" if precision == "fixed" else "floating_pt", quant=net.quant,
                 progress=False, timings=tm)
        lava = tm["steps"] / tm["run_s"] if tm["run_s"] else None
        entry[precision] = {"emulator_steps_per_s": emu, "lava_steps_per_s": lava,
                            "emulator_over_lava": emu / lava if lava else None, "lava_processes": tm["n_processes"],
                            "lava_build_s": tm["build_s"], "lava_first_sequence_s": tm["first_run_s"]}
    return entry


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--paper", type=Path, default=PAPER)
    ap.add_argument("--digits", type=Path, default=results_dir() / "digits")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lava-sequences", type=int, default=8)
    ap.add_argument("--out", type=Path, default=results_dir() / "graph_speed.json")
    args = ap.parse_args(argv)
    results = {}
    print("| graph | neurons | precision | emulator steps/s (batch) | Lava steps/s | ratio |\n|---|---|---|---|---|---|")
    for name, (kwargs, x) in graphs(args.paper, args.digits, args.batch, args.steps).items():
        results[name] = r = measure(kwargs, x, args.lava_sequences)
        if r["status"] != "ran":
            print(f"| {name} | | | {r['status'][:120]} | | |")
            continue
        for p in ("float", "fixed"):
            e = r[p]
            print(f"| {name} | {r['neurons']} | {p} | {e['emulator_steps_per_s']:,.0f} | {e['lava_steps_per_s']:,.0f} | "
                  f"{e['emulator_over_lava']:,.0f} |", flush=True)
    save_results(args.out, {"machine": describe_machine(), "batch": args.batch, "steps": args.steps,
                            "lava_sequences": args.lava_sequences, "graphs": results})


if __name__ == "__main__":
    main()
