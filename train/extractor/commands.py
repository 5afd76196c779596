"""The `ucfdvs` subcommands of the event pipeline: synth-events, pretrain-extractor, extract.

`train/cli.py` wires them with `register(commands)` on its subparsers object; each handler raises
`UserError` for user mistakes, which the CLI prints on one line.
"""

from __future__ import annotations

import argparse
import json

from ucfdvs.errors import UserError
from ucfdvs.train.task_runner import add_task_arguments


def cmd_synth_events(args: argparse.Namespace) -> None:
    from ucfdvs.train.synthetic_events import SMALL_CONFIG, SyntheticEventConfig, write_synthetic_events

    config = SMALL_CONFIG if args.small else SyntheticEventConfig()
    summary = write_synthetic_events(args.out, config, seed=args.seed, force=args.force, progress=True)
    print(f"wrote {int(summary['train'])} train and {int(summary['test'])} test recordings "
          f"({int(summary['events'])} events, {config.width}x{config.height}) to {args.out}")


def cmd_pretrain_extractor(args: argparse.Namespace) -> None:
    from ucfdvs.train.extractor.pretrain import PretrainConfig, pretrain_extractor

    if args.iterations < 1 or args.batch_size < 1:
        raise UserError("--iterations and --batch-size must be >= 1")
    config = PretrainConfig(iterations=args.iterations, batch_size=args.batch_size, seed=args.seed)
    metrics = pretrain_extractor(args.events, args.out, config, progress=True)
    keys = ("balanced_accuracy", "accuracy", "accuracy_prior_adjusted", "majority_accuracy",
            "anomaly_vs_normal_accuracy", "n_clips", "train_seconds")
    print(json.dumps({key: metrics[key] for key in keys}, indent=2))


def cmd_extract(args: argparse.Namespace) -> None:
    from ucfdvs.train.extractor.extract import extract_features

    summary = extract_features(args.events, args.out, args.checkpoint, extractor=args.extractor,
                               modality=args.modality, force=args.force, progress=True, workers=args.workers,
                               scheduler=args.scheduler)
    print(json.dumps(summary, indent=2))


def register(commands: argparse._SubParsersAction) -> None:
    """Add the three subcommands to `ucfdvs`'s subparsers."""
    from ucfdvs.train.extractor.pretrain import PretrainConfig
    from ucfdvs.train.layout import DEFAULT_EXTRACTOR, DEFAULT_MODALITY

    synth = commands.add_parser("synth-events", help="write synthetic DVS recordings (npz + EVT 3.0 RAW) with splits and GT")
    synth.add_argument("--out", required=True, help="dataset root to create")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--small", action="store_true", help="14 short videos at 80x45 instead of 160 at 64x36")
    synth.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    synth.set_defaults(func=cmd_synth_events)

    defaults = PretrainConfig()
    pretrain = commands.add_parser("pretrain-extractor", help="pretrain the spiking feature extractor (14-way clips)")
    pretrain.add_argument("--events", required=True, help="event dataset root (from synth-events)")
    pretrain.add_argument("--out", required=True, help="extractor checkpoint to write (EXTRACTOR.pt)")
    pretrain.add_argument("--iterations", type=int, default=defaults.iterations, help="batches (default %(default)s)")
    pretrain.add_argument("--batch-size", type=int, default=defaults.batch_size, help="clips per batch (default %(default)s)")
    pretrain.add_argument("--seed", type=int, default=defaults.seed)
    pretrain.set_defaults(func=cmd_pretrain_extractor)

    extract = commands.add_parser("extract", help="write one spiking feature per snippet in the official feature layout")
    extract.add_argument("--events", required=True, help="event dataset root (events/<Video>_x264.npz, splits, GT)")
    extract.add_argument("--out", required=True, help="feature dataset root (created, or resumed: finished videos are skipped)")
    extract.add_argument("--checkpoint", help="extractor checkpoint (default: EVENTS/extractor.pt)")
    extract.add_argument("--extractor", default=DEFAULT_EXTRACTOR, help="features_video/<extractor> (default %(default)s)")
    extract.add_argument("--modality", default=DEFAULT_MODALITY, help="features_video/<extractor>/<modality> (default %(default)s)")
    add_task_arguments(extract, "one video each at a time", "outputs and inputs on a shared file system")
    extract.add_argument("--force", action="store_true",
                         help="extract every video again (and write into a non-empty folder)")
    extract.set_defaults(func=cmd_extract)
