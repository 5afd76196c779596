"""The `ucfdvs simulate` subcommand (registered by `train.cli`); Lava is imported only when it runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train.layout import FeatureLayout


def cmd_simulate(args: argparse.Namespace) -> None:
    from neuro_runtime.simulate import simulate
    from train.metrics import json_ready

    summary = simulate(
        Path(args.nir), FeatureLayout(Path(args.data), args.extractor, args.modality), args.backend, args.precision,
        Path(args.out), videos=args.videos, force=args.force,
    )
    keys = ("auc_all", "auc_abnormal", "far_all", "far_normal", "n_videos")
    print(json.dumps(json_ready({key: summary[key] for key in keys}), indent=2))


def add_runtime_commands(commands: argparse._SubParsersAction, add_data_arguments) -> None:
    """Register `simulate`."""
    simulate = commands.add_parser(
        "simulate", help="run an exported NIR graph on the test split in the emulator or Lava (Loihi 2 simulator)"
    )
    simulate.add_argument("--nir", required=True, help="graph written by `ucfdvs export`")
    add_data_arguments(simulate)
    simulate.add_argument("--backend", choices=("emu", "lava"), default="emu", help="emulator or Lava (default %(default)s)")
    simulate.add_argument("--precision", choices=("float", "fixed"), default="float",
                          help="Lava floating_pt or bit-accurate fixed_pt (default %(default)s)")
    simulate.add_argument("--videos", type=int, help="only N test videos, evenly spread over the split")
    simulate.add_argument("--out", required=True, help="output folder: scores.npz, spikes.npz, metrics.json")
    simulate.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    simulate.set_defaults(func=cmd_simulate)
