"""Steps per second: Lava floating_pt / fixed_pt (our conversion and the baselines) and the emulator.

Graph: the exported MSF given with `--nir` (e.g. `demo/msf.nir` from `make demo`), else
:func:`neuro_runtime.examples.msf_like_graph` (256 graded inputs, 3 x 64 LIF branches merged into
64 LIF, a recurrent 2 x 128 LIF loop, a 256 -> 1 read-out into an LI), aligned.

    python -m ucfdvs.benchmarks.runtime_speed [--nir demo/msf.nir] [--out benchmarks/results/runtime_speed.json]
        [--steps 60] [--sequences 3] [--batch 64]

Lava configurations: ours (fused populations, our Dense/DelayDense models with cached delay
matrices and per-sequence reset, exponent-aligned quantisation in fixed_pt), and baselines that
switch one of those off: ``synapses="lava"`` (Lava's own Dense/DelayDense models, drained with
silent steps between sequences), unaligned quantisation, and the unfused conversion (one
population per NIR node, one process per synapse term, Lava's models).  Lava steps/s counts only
sequences after the first (the first includes compiling and starting the runtime, reported as
``first_run_s``); drain steps are included in the time, not in the step count.
``worker_overhead_s``: the rest of the call (starting the worker process, shipping records back,
ending it; Lava's import there is in ``build_s``).  Loading/resetting between sequences and
reading the records are reported per sequence; ``io="var"`` (Lava Var get/set) is measured once
for comparison.  Emulator steps/s = batch x steps / wall time (sequence-steps/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np


from ucfdvs.neuro_runtime import Emulator, load_graph, quantize, run_lava
from ucfdvs.neuro_runtime.examples import msf_like_graph
from ucfdvs.neuro_runtime.quantize import QuantizationWarning
from ucfdvs.atomic import atomic_path
from ucfdvs.benchmarks.environment import results_dir


def bench_lava(rg, x, precision: str, fuse: bool, quant=None, io: str = "shm", synapses: str = "fast",
               label: str = "") -> tuple[dict, list]:
    tm: dict = {}
    t0 = time.perf_counter()
    recs = run_lava(rg, list(x), precision, quant=quant, fuse=fuse, progress=False, timings=tm, io=io,
                    synapses=synapses)
    total = time.perf_counter() - t0
    n_later = x.shape[0] - 1
    res = {
        "config": label, "precision": precision, "fuse": fuse, "io": io, "synapses": synapses,
        "n_processes": tm["n_processes"],
        "silent_steps_per_sequence": tm["silent_steps"] if io == "shm" else 0,
        "build_s": round(tm["build_s"], 4), "first_run_s": round(tm["first_run_s"], 3),
        "steps_per_s": round(tm["steps"] / tm["run_s"], 2) if tm["run_s"] > 0 else None,
        "reset_ms_per_sequence": round(1e3 * tm["reset_s"] / max(1, n_later), 2),
        "read_ms_per_sequence": round(1e3 * tm["read_s"] / x.shape[0], 2),
        "end_to_end_s": round(total, 3),
        "worker_overhead_s": round(tm["worker_s"] - sum(tm[k] for k in ("build_s", "first_run_s", "run_s", "reset_s",
                                                                         "read_s")), 3),
        "end_to_end_steps_per_s_after_first": round(
            tm["steps"] / (tm["run_s"] + tm["reset_s"] + tm["read_s"] * n_later / x.shape[0]), 2)
        if tm["run_s"] > 0 else None,
    }
    return res, recs


def bench_emulator(rg, x, precision: str, quant=None, repeats: int = 2) -> tuple[dict, object]:
    emu = Emulator(rg, precision, quant=quant)
    rec = emu.run(x[:, :5])  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        rec = emu.run(x)
        best = min(best, time.perf_counter() - t0)
    return {"precision": precision, "batch": int(x.shape[0]), "steps": int(x.shape[1]),
            "wall_s": round(best, 4), "steps_per_s": round(x.shape[0] * x.shape[1] / best, 1)}, rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nir", help="exported graph to time (default: the MSF-like example graph)")
    ap.add_argument("--out", default=str(results_dir() / "runtime_speed.json"))
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--sequences", type=int, default=3)
    ap.add_argument("--batch", type=int, default=120, help="emulator batch (sequences; 120 = the synthetic test split)")
    ap.add_argument("--skip-unfused-fixed", action="store_true")
    args = ap.parse_args(argv)

    rg = load_graph(args.nir) if args.nir else load_graph(msf_like_graph(), align=True)
    output = next(iter(rg.outputs))
    rng = np.random.default_rng(0)
    x_lava = rng.uniform(0, 1, (args.sequences, args.steps, rg.input_size))
    x_emu = rng.uniform(0, 1, (args.batch, args.steps, rg.input_size))
    x_emu[: args.sequences] = x_lava
    with warnings.catch_warnings(record=True) as wq:
        warnings.simplefilter("always", QuantizationWarning)
        q = quantize(rg, input_range=1.0)
        q_unaligned = quantize(rg, input_range=1.0, align_exponents=False)
    out: dict = {
        "graph": args.nir or "msf_like_graph (aligned)", "neurons": {n: s.size for n, s in rg.neurons.items()},
        "inserted_delays": rg.inserted_delays, "latency_steps": rg.latency,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "steps_per_sequence": args.steps, "lava_sequences": args.sequences,
        "quantisation": [str(e) for e in q.errors], "quantisation_warnings": [str(w.message) for w in wq],
        "lava": [], "emulator": [],
    }
    emu_f, rec_f = bench_emulator(rg, x_emu, "floating_pt")
    emu_x, rec_x = bench_emulator(rg, x_emu, "fixed_pt", quant=q)
    out["emulator"] = [emu_f, emu_x]
    print(f"emulator floating_pt: {emu_f['steps_per_s']:.0f} sequence-steps/s (batch {args.batch})")
    print(f"emulator fixed_pt:    {emu_x['steps_per_s']:.0f} sequence-steps/s (batch {args.batch})")

    configs = [  # (label, precision, fuse, io, synapses, quantisation)
        ("ours", "floating_pt", True, "shm", "fast", None),
        ("ours", "fixed_pt", True, "shm", "fast", q),
        ("Lava's synapse models", "floating_pt", True, "shm", "lava", None),
        ("Lava's synapse models", "fixed_pt", True, "shm", "lava", q),
        ("unaligned exponents", "fixed_pt", True, "shm", "fast", q_unaligned),
        ("unfused, Lava's models", "floating_pt", False, "shm", "lava", None),
    ]
    if not args.skip_unfused_fixed:
        configs.append(("unfused, Lava's models", "fixed_pt", False, "shm", "lava", q))
    configs.append(("ours, Var I/O", "floating_pt", True, "var", "fast", None))
    for label, precision, fuse, io, synapses, quant in configs:
        res, recs = bench_lava(rg, x_lava, precision, fuse, quant=quant, io=io, synapses=synapses, label=label)
        if quant is q_unaligned:  # compare with the emulator under the same quantisation
            ref = Emulator(rg, precision, quant=quant).run(x_lava)
        else:
            ref = rec_f if precision == "floating_pt" else rec_x
        err = max(float(np.max(np.abs(r.outputs[output] - ref.outputs[output][i]))) for i, r in enumerate(recs))
        mism = sum(int(np.sum(r.spikes[n] != ref.spikes[n][i])) for i, r in enumerate(recs) for n in r.spikes)
        nsp = sum(int(r.spikes[n].sum()) for r in recs for n in r.spikes)
        res.update(max_abs_output_diff_vs_emulator=err, spike_mismatches_vs_emulator=mism, spikes=nsp)
        emu_sps = (emu_f if precision == "floating_pt" else emu_x)["steps_per_s"]
        res["emulator_speedup"] = round(emu_sps / res["steps_per_s"], 1) if res["steps_per_s"] else None
        out["lava"].append(res)
        print(f"lava {precision:11s} {label:24s} io={io}: {res['n_processes']:2d} processes, "
              f"{res['steps_per_s']} steps/s (first run incl. compile {res['first_run_s']} s; "
              f"worker start/stop {res['worker_overhead_s']} s; per sequence: "
              f"reset/load {res['reset_ms_per_sequence']} ms, read {res['read_ms_per_sequence']} ms), "
              f"output diff vs emulator {err:.3g}, spike mismatches {mism} of {nsp} spikes, "
              f"emulator x{res['emulator_speedup']}")
    fq = float(np.max(np.abs(rec_x.outputs[output] - rec_f.outputs[output])))
    agree = float(np.mean([np.mean(rec_x.spikes[n] == rec_f.spikes[n]) for n in rec_f.spikes]))
    out["fixed_vs_float"] = {"max_abs_output_diff": fq, "spike_agreement": agree}
    print(f"fixed vs float (emulator): max output diff {fq:.3g}, spike agreement {agree:.4f}")
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
