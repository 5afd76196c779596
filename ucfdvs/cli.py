"""`ucfdvs`: one console script, one subcommand per stage.

Each stage module registers its subcommand here; user mistakes (`UserError`) print one line and
exit with status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ucfdvs import __version__
from ucfdvs.errors import UserError


def _layout(args: argparse.Namespace):
    from ucfdvs.train.layout import FeatureLayout

    return FeatureLayout(Path(args.data), args.extractor, args.modality)


def _add_data_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    from ucfdvs.train.layout import DEFAULT_EXTRACTOR, DEFAULT_MODALITY

    parser.add_argument("--data", required=required, help="dataset root in the official feature layout")
    parser.add_argument("--extractor", default=DEFAULT_EXTRACTOR, help="features_video/<extractor> (default %(default)s)")
    parser.add_argument("--modality", default=DEFAULT_MODALITY, help="features_video/<extractor>/<modality> (default %(default)s)")


def cmd_synth_features(args: argparse.Namespace) -> None:
    from ucfdvs.train.synthetic_features import SyntheticFeatureConfig, write_synthetic_features

    try:
        config = SyntheticFeatureConfig(
            n_train=args.train_videos, n_test=args.test_videos, median_snippets=args.median_snippets,
            anomaly_strength=args.anomaly_strength,
        )
    except ValueError as err:
        raise UserError(str(err)) from None
    counts = write_synthetic_features(args.out, config, seed=args.seed, force=args.force)
    print(f"wrote {counts['train']} train and {counts['test']} test videos to {args.out}")


def cmd_train(args: argparse.Namespace) -> None:
    from ucfdvs.train.trainer import TrainConfig, paper_schedule, resolve_device, train

    if args.schedule == "paper" and (args.iterations is not None or args.eval_every is not None):
        raise UserError("--schedule paper sets --iterations and --eval-every: give one or the other")
    iterations = 3000 if args.iterations is None else args.iterations
    eval_every = 100 if args.eval_every is None else args.eval_every
    if iterations < 1 or eval_every < 1:
        raise UserError("--iterations and --eval-every must be >= 1")
    try:
        config = TrainConfig(
            arch=args.model, iterations=iterations, eval_every=eval_every, lr=args.lr, seed=args.seed,
            select_on=args.select_on, val_fraction=args.val_fraction, val_seed=args.val_seed, ablation=args.ablation,
        )
    except ValueError as err:
        raise UserError(str(err)) from None
    if args.schedule == "paper":
        config = paper_schedule(config)
    best = train(
        _layout(args), Path(args.out), config, resolve_device(args.device),
        resume=Path(args.resume) if args.resume else None, force=args.force,
    )
    print(json.dumps({"selected_on": config.select_on, "best": best}, indent=2))


def cmd_eval(args: argparse.Namespace) -> None:
    from ucfdvs.train.checkpoint import load_checkpoint
    from ucfdvs.train.evaluate import TestSet, left_out_report, write_evaluation
    from ucfdvs.atomic import check_output_dir
    from ucfdvs.train.trainer import resolve_device

    check_output_dir(args.out, args.force)
    device = resolve_device(args.device)
    checkpoint = load_checkpoint(args.checkpoint)
    model = checkpoint.model.to(device)
    test_set = TestSet(_layout(args), model.feature_dim)
    metrics, scored = test_set.evaluate(model, device, progress=True)
    extra = {"checkpoint": str(args.checkpoint), "checkpoint_sha256": checkpoint.sha256, "arch": checkpoint.arch,
             "n_videos": len(scored), "device": str(device), "iteration": checkpoint.iteration,
             **left_out_report(test_set)}
    write_evaluation(Path(args.out), metrics, scored, extra, plots=args.plots, force=args.force)
    from ucfdvs.train.metrics import json_ready

    shown = {key: metrics[key] for key in ("auc_all", "auc_abnormal", "far_all", "far_normal")}
    print(json.dumps(json_ready({**shown, "gt_frames_left_out": test_set.left_out_total}), indent=2))


def cmd_summary(args: argparse.Namespace) -> None:
    from ucfdvs.train.summary import write_summary

    runs = {}
    for item in args.eval:
        name, sep, folder = item.partition("=")
        if not sep:
            raise UserError(f"--eval expects NAME=FOLDER, got {item!r}")
        runs[name] = Path(folder)
    write_summary(runs, Path(args.out), title=args.title)
    print(f"wrote {args.out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ucfdvs",
        description="UCF-Crime-DVS anomaly detection with spiking networks: data, training, export, Lava runtime, benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser("synth-features", help="write the synthetic feature dataset in the official layout")
    synth.add_argument("--out", required=True, help="dataset root to create")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--train-videos", type=int, default=400, help="videos in train_split.txt (default %(default)s)")
    synth.add_argument("--test-videos", type=int, default=120, help="videos in test_split.txt (default %(default)s)")
    synth.add_argument("--median-snippets", type=int, default=120, help="median video length in snippets (default %(default)s)")
    synth.add_argument("--anomaly-strength", type=float, default=4.0, help="scale of all anomaly signatures (default %(default)s)")
    synth.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    synth.set_defaults(func=cmd_synth_features)

    train = commands.add_parser("train", help="train MSF (or the linear baseline) with top-k MIL")
    _add_data_arguments(train)
    train.add_argument("--out", required=True, help="run folder (config.json, metrics.csv, last.pt, best.pt)")
    train.add_argument("--model", choices=("msf", "msf-released", "linear"), default="msf",
                       help="msf: the paper's figure; msf-released: the released code's design (README: MSF variants)")
    train.add_argument("--iterations", type=int, help="training iterations (default 3000)")
    train.add_argument("--eval-every", type=int, help="evaluate on validation and test every N iterations (default 100)")
    train.add_argument("--schedule", choices=("short", "paper"), default="short",
                       help="paper: the released code's 32,200 iterations with evaluation every 200")
    train.add_argument("--select-on", choices=("val", "test"), default="val",
                       help="split whose frame AUC picks best.pt (default %(default)s; test is optimistic)")
    train.add_argument("--val-fraction", type=float, default=0.1,
                       help="share of each class's training videos held out for validation (default %(default)s)")
    train.add_argument("--val-seed", type=int, default=0, help="seed of the validation draw (default %(default)s)")
    train.add_argument("--ablation", choices=("full", "local", "global", "no-tim"), default="full",
                       help="MSF only: local branch only, global branch only, without TIM, or the full model")
    train.add_argument("--lr", type=float, default=1e-4)
    train.add_argument("--seed", type=int, default=1213)
    train.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default %(default)s)")
    train.add_argument("--resume", help="continue from this checkpoint (a run's last.pt)")
    train.add_argument("--force", action="store_true", help="replace a run already in --out")
    train.set_defaults(func=cmd_train)

    evaluate = commands.add_parser("eval", help="score the test split: metrics.json, scores.npz, ROC and per-video plots")
    _add_data_arguments(evaluate)
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--out", required=True, help="output folder")
    evaluate.add_argument("--plots", type=int, default=8, help="number of per-video score plots (default %(default)s)")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    evaluate.set_defaults(func=cmd_eval)

    summary = commands.add_parser("summary", help="a Markdown summary of one or more evaluations")
    summary.add_argument("--eval", action="append", required=True, metavar="NAME=FOLDER", help="an `ucfdvs eval` output folder")
    summary.add_argument("--out", required=True, help="Markdown file to write")
    summary.add_argument("--title", default="UCF-Crime-DVS anomaly detection")
    summary.set_defaults(func=cmd_summary)

    from ucfdvs.benchmarks.suite.cli import add_bench_commands
    from ucfdvs.benchmarks.suite.run_command import add_run_command
    from ucfdvs.export.cli import add_export_commands
    from ucfdvs.train.extractor.commands import register as add_event_commands

    add_event_commands(commands)
    add_export_commands(commands, _add_data_arguments)
    add_bench_commands(commands, _add_data_arguments)
    add_run_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except UserError as err:
        print(f"ucfdvs {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ucfdvs {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
