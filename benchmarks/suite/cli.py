"""The ``ucfdvs bench`` subcommand; ``ucfdvs.cli`` registers it with
``add_bench_commands(commands, _add_data_arguments)``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ucfdvs.train.layout import FeatureLayout


def cmd_bench(args: argparse.Namespace) -> None:
    from ucfdvs.benchmarks.suite.backends import ALL_BACKENDS
    from ucfdvs.benchmarks.suite.bench import run_bench

    backends = tuple(args.backends.split(",")) if args.backends else ALL_BACKENDS
    results = run_bench(
        FeatureLayout(Path(args.data), args.extractor, args.modality), Path(args.out),
        checkpoint=Path(args.checkpoint) if args.checkpoint else None, nir_path=Path(args.nir) if args.nir else None,
        lava_videos=args.lava_videos, constants_path=Path(args.constants) if args.constants else None,
        device_name=args.device, force=args.force, videos=args.videos, backends=backends,
    )
    for name, entry in results["backends"].items():
        auc = entry.get("accuracy", {}).get("auc_all", {}).get("value")
        print(f"{name:12s} {entry['status']:8s} " + (f"auc_all={auc:.4f}" if auc is not None else (entry["error"] or "")))
    print(f"wrote {args.out}/results.json and {args.out}/report.md")


def add_bench_commands(commands: argparse._SubParsersAction, add_data_arguments) -> None:
    """Register ``bench``."""
    bench = commands.add_parser(
        "bench", help="accuracy, spikes, synaptic ops, energy, latency and throughput: reference MSF vs Lava, one report")
    add_data_arguments(bench)
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
    bench.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    bench.set_defaults(func=cmd_bench)
