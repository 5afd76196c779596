"""Both MSF variants, their ablations and the linear baseline over seeds, selected on validation.

    python -m ucfdvs.benchmarks.msf_variants --data NAME=ROOT [--data NAME=ROOT ...] [--seeds 0 1 2]
        [--iterations 1000] [--eval-every 100] [--lr 1e-4] [--lr-for ARCH=LR ...] [--jobs 2] [--out FILE]

For each feature dataset (official layout), trains the linear top-k MIL baseline and `msf` and
`msf-released` as `full`, `local` (local branch only), `global` (global branch only) and `no-tim`,
each once per seed (the seed sets the training RNG and the validation draw), with `best.pt` chosen
on the validation frame AUC (`select_on="val"`). Per row it reports the mean and sample standard
deviation over seeds of the test frame AUC and FAR (`far_all`, alarms at score >= 0.5) at the
selected iteration, the validation AUC, the test AUC at the last iteration, and, for MSF, the firing
rate of every spiking layer on the test split (the evidence for what the model uses). Runs go to
`--jobs` worker processes (spawned, one torch thread each). Prints a Markdown table, saves JSON.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import multiprocessing
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.errors import UserError

VARIANTS: tuple[tuple[str, str], ...] = (
    ("linear", "full"),
    *((arch, ablation) for arch in ("msf", "msf-released") for ablation in ("full", "local", "global", "no-tim")),
)


def firing_rates(model: torch.nn.Module, videos: list) -> dict[str, float]:
    """Mean spike rate of each spiking layer over the given videos (whole videos, eval mode)."""
    from ucfdvs.train.model.neurons import record_spikes

    model.eval()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    with torch.no_grad(), record_spikes(model) as records:
        for video in videos:
            model(torch.from_numpy(video.features)[None])
            for name, outputs in records.items():
                sums[name] = sums.get(name, 0.0) + float(sum(o.sum() for o in outputs))
                counts[name] = counts.get(name, 0) + int(sum(o.numel() for o in outputs))
                outputs.clear()
    return {name: sums[name] / counts[name] for name in sums if counts[name]}


def run_one(root: str, arch: str, ablation: str, seed: int, iterations: int, eval_every: int, lr: float) -> dict:
    """Train one configuration in a temporary run folder; the selected and last evaluations."""
    torch.set_num_threads(1)
    from ucfdvs.train.checkpoint import load_checkpoint
    from ucfdvs.train.evaluate import TestSet
    from ucfdvs.train.layout import FeatureLayout
    from ucfdvs.train.trainer import TrainConfig, train

    layout = FeatureLayout(Path(root))
    config = TrainConfig(arch=arch, iterations=iterations, eval_every=eval_every, lr=lr, seed=seed, val_seed=seed,
                         ablation=ablation, select_on="val")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        best = train(layout, Path(tmp) / "run", config, torch.device("cpu"), progress=False)
        with open(Path(tmp) / "run" / "metrics.csv", newline="") as handle:
            last = list(csv.DictReader(handle))[-1]
        result = {"arch": arch, "ablation": ablation, "seed": seed, "iteration": int(best["iteration"]),
                  "val_auc": best["val_auc_all"], "test_auc": best["test_auc_all"], "test_far": best["test_far_all"],
                  "test_auc_last": float(last["test_auc_all"]), "seconds": round(time.perf_counter() - started, 1)}
        if arch != "linear":
            model = load_checkpoint(Path(tmp) / "run" / "best.pt").model
            result["firing_rates"] = firing_rates(model, TestSet(layout, model.feature_dim).videos)
    return result


def summarise(runs: list[dict]) -> list[dict]:
    """Mean and sample std over seeds per (arch, ablation), in `VARIANTS` order."""
    rows = []
    for arch, ablation in VARIANTS:
        chosen = [r for r in runs if r["arch"] == arch and r["ablation"] == ablation]
        if not chosen:
            continue
        row = {"arch": arch, "ablation": ablation, "seeds": len(chosen)}
        for key in ("test_auc", "test_far", "val_auc", "test_auc_last", "iteration"):
            values = np.array([r[key] for r in chosen], dtype=np.float64)
            row[key] = float(values.mean())
            row[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        rates = [r["firing_rates"] for r in chosen if "firing_rates" in r]
        if rates:
            row["firing_rates"] = {name: float(np.mean([r[name] for r in rates])) for name in rates[0]}
        rows.append(row)
    return rows


def markdown(name: str, rows: list[dict]) -> str:
    lines = [f"{name}:", "", "| model | ablation | test AUC | test FAR | val AUC | test AUC, last iteration | selected iteration |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['arch']} | {r['ablation']} | {r['test_auc']:.4f} +- {r['test_auc_std']:.4f} "
                     f"| {r['test_far']:.4f} +- {r['test_far_std']:.4f} | {r['val_auc']:.4f} +- {r['val_auc_std']:.4f} "
                     f"| {r['test_auc_last']:.4f} +- {r['test_auc_last_std']:.4f} | {r['iteration']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", required=True, metavar="NAME=ROOT", help="a feature dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate of every model (default %(default)s)")
    parser.add_argument("--lr-for", action="append", default=[], metavar="ARCH=LR",
                        help="learning rate of one architecture (linear, msf, msf-released), overriding --lr")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (one torch thread each)")
    parser.add_argument("--only", nargs="+", help="restrict to these ARCH:ABLATION rows, e.g. linear:full msf:full")
    parser.add_argument("--out", default=str(results_dir() / "msf_variants.json"))
    args = parser.parse_args(argv)
    datasets = {}
    for item in args.data:
        name, sep, root = item.partition("=")
        if not sep or not Path(root, "train_split.txt").is_file():
            raise UserError(f"--data expects NAME=ROOT with ROOT/train_split.txt, got {item!r}")
        datasets[name] = root
    rates = {arch: args.lr for arch in ("linear", "msf", "msf-released")}
    for item in args.lr_for:
        arch, sep, value = item.partition("=")
        if not sep or arch not in rates:
            raise UserError(f"--lr-for expects ARCH=LR with ARCH one of {', '.join(rates)}, got {item!r}")
        rates[arch] = float(value)
    variants = [v for v in VARIANTS if not args.only or f"{v[0]}:{v[1]}" in args.only]
    jobs = [(name, arch, ablation, seed) for name in datasets for arch, ablation in variants for seed in args.seeds]
    results = {"machine": describe_machine(), "iterations": args.iterations, "eval_every": args.eval_every, "lr": rates,
               "seeds": args.seeds, "datasets": datasets, "runs": [], "summary": {}}
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        futures = {pool.submit(run_one, datasets[name], arch, ablation, seed, args.iterations, args.eval_every, rates[arch]):
                   name for name, arch, ablation, seed in jobs}
        for future in concurrent.futures.as_completed(futures):
            run = {"dataset": futures[future], **future.result()}
            results["runs"].append(run)
            print(f"{run['dataset']} {run['arch']} {run['ablation']} seed {run['seed']}: test AUC {run['test_auc']:.4f} "
                  f"(val {run['val_auc']:.4f}, iteration {run['iteration']}, {run['seconds']} s)", flush=True)
            for name in datasets:
                results["summary"][name] = summarise([r for r in results["runs"] if r["dataset"] == name])
            save_results(args.out, results)
    for name in datasets:
        print(markdown(name, results["summary"][name]) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
