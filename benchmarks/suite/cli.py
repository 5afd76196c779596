"""The ``ucfdvs bench`` subcommand in its two forms: the MSF benchmark (``--data ROOT``,
:mod:`benchmarks.suite.bench`) and any graph (``--nir GRAPH --input X.npy``,
:mod:`benchmarks.suite.graph_bench`); ``ucfdvs.cli`` registers it with
``add_bench_commands(commands, _add_data_arguments)``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ucfdvs.errors import UserError
from ucfdvs.train.layout import FeatureLayout
from ucfdvs.train.task_runner import add_task_arguments


def cmd_bench(args: argparse.Namespace) -> None:
    from ucfdvs.benchmarks.suite.backends import ALL_BACKENDS
    from ucfdvs.benchmarks.suite.bench import run_bench

    if args.input is not None:
        if args.workers != 1 or args.scheduler is not None:
            raise UserError("--workers and --scheduler apply to the MSF form (--data ROOT): the any-graph form runs "
                            "one batch of samples")
        cmd_bench_graph(args)
        return
    if args.data is None:
        raise UserError("give --data ROOT (the MSF benchmark) or --nir GRAPH --input X.npy (any graph)")
    for flag in ("labels", "reference", "decision", "dt", "reset", "lava_samples"):
        if getattr(args, flag) is not None:
            raise UserError(f"--{flag.replace('_', '-')} applies to the any-graph form (--nir GRAPH --input X.npy)")
    if args.source != "nir" or args.flush or args.weight_planes != 1:
        raise UserError("--source, --flush and --weight-planes apply to the any-graph form (--nir GRAPH --input X.npy)")
    backends = tuple(args.backends.split(",")) if args.backends else ALL_BACKENDS
    results = run_bench(
        FeatureLayout(Path(args.data), args.extractor, args.modality), Path(args.out),
        checkpoint=Path(args.checkpoint) if args.checkpoint else None, nir_path=Path(args.nir) if args.nir else None,
        lava_videos=args.lava_videos, constants_path=Path(args.constants) if args.constants else None,
        device_name=args.device, force=args.force, videos=args.videos, backends=backends,
        workers=args.workers, scheduler=args.scheduler,
    )
    for name, entry in results["backends"].items():
        auc = entry.get("accuracy", {}).get("auc_all", {}).get("value")
        print(f"{name:12s} {entry['status']:8s} " + (f"auc_all={auc:.4f}" if auc is not None else (entry["error"] or "")))
    print(f"wrote {args.out}/results.json and {args.out}/report.md")


def cmd_bench_graph(args: argparse.Namespace) -> None:
    from ucfdvs.benchmarks.suite.graph_bench import BACKENDS, run_graph_bench

    if args.nir is None:
        raise UserError("--input needs --nir GRAPH")
    for flag in ("data", "checkpoint", "videos", "device"):
        if getattr(args, flag) not in (None, "auto"):
            raise UserError(f"--{flag} applies to the MSF form (--data ROOT); the any-graph form takes --input")
    results = run_graph_bench(
        args.nir, args.input, Path(args.out), labels_path=args.labels, reference=args.reference,
        decision=args.decision or "spike_count", dt=args.dt, reset=args.reset, source=args.source, flush=args.flush,
        lava_samples=args.lava_samples or 8, backends=tuple(args.backends.split(",")) if args.backends else BACKENDS,
        constants_path=args.constants, weight_planes=args.weight_planes, force=args.force)
    for name, entry in results["backends"].items():
        acc = entry.get("accuracy")
        print(f"{name:12s} {entry['status']:8s} " + (f"accuracy={acc:.4f}" if acc is not None else (entry.get("error") or "")))
    ref = results.get("reference")
    if ref:
        acc = ref.get("accuracy")
        print(f"{'reference':12s} {ref['name']} " + (f"accuracy={acc:.4f}" if acc is not None else ""))
    print(f"wrote {args.out}/results.json and {args.out}/report.md")


def add_bench_commands(commands: argparse._SubParsersAction, add_data_arguments) -> None:
    """Register ``bench``."""
    bench = commands.add_parser(
        "bench", help="accuracy, spikes, synaptic ops, energy, latency and throughput: reference MSF vs Lava, one report")
    from ucfdvs.benchmarks.suite.run_command import add_graph_arguments, add_weight_planes

    add_data_arguments(bench, required=False)
    bench.add_argument("--input", help="any-graph form: X.npy [B, T, *input_shape] (with --nir GRAPH; no --data)")
    bench.add_argument("--labels", help="any-graph form: Y.npy [B] integer classes (accuracy)")
    bench.add_argument("--reference", help="any-graph form: the source network (a model.pt of "
                                           "benchmarks.digits_networks), run on the same inputs")
    bench.add_argument("--decision", help="any-graph form: spike_count (default), last or max")
    bench.add_argument("--lava-samples", type=int, help="any-graph form: samples (evenly spread) for real Lava (default 8)")
    add_graph_arguments(bench)
    add_weight_planes(bench)
    bench.add_argument("--checkpoint", help="reference model checkpoint (MSF), e.g. RUN/best.pt")
    bench.add_argument("--nir", help="exported NIR graph (`ucfdvs export`); without it the checkpoint is converted "
                                     "(export.convert, not fine-tuned)")
    bench.add_argument("--out", required=True, help="output folder: results.json, report.md, *.png")
    bench.add_argument("--lava-videos", type=int, default=12,
                       help="test videos (evenly spread) for the real Lava simulator (default %(default)s)")
    bench.add_argument("--videos", type=int, help="only N test videos (evenly spread) for every backend (default all)")
    bench.add_argument("--constants", help="energy/resource constants JSON (default benchmarks/energy_constants.json)")
    bench.add_argument("--device", default="auto", help="reference model device: auto, cpu or cuda[:N] (default %(default)s)")
    bench.add_argument("--backends", help="comma-separated subset of reference,streaming,emu_float,emu_fixed,"
                                          "lava_float,lava_fixed (default all)")
    add_task_arguments(bench, "MSF form: the emulator and Lava backends' videos, as `simulate --workers`",
                       "MSF form: those videos")
    bench.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    bench.set_defaults(func=cmd_bench)
