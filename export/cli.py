"""``ucfdvs export``, ``ucfdvs finetune`` and ``ucfdvs nir-info``; wire with ``add_export_commands(subparsers)``.

* ``export --checkpoint CKPT --nir OUT.nir [--lookahead L] [--beta B] [--png G.png]``: the streaming
  model as NIR. CKPT is a reference MSF checkpoint (converted on the fly, no retraining) or a
  streaming checkpoint written by ``finetune``. ``--onnx OUT.onnx [--onnx-steps N]``: the
  reference model as ONNX (needs a reference checkpoint).
* ``finetune --checkpoint CKPT --data DIR --out STREAM.pt [--select-on val|test]``: convert,
  fine-tune with surrogate gradients on the training split less a validation set, keep the state
  with the best frame AUC on the validation set (or the test split), write a streaming checkpoint. Fine-tuning is a separate command because it needs the
  training data and minutes of compute, while export is a deterministic, data-free translation.
* ``nir-info FILE [--png G.png]``: node table (and drawing) of any NIR file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

import torch

from ucfdvs.errors import UserError
from ucfdvs.train.task_runner import add_task_arguments


def load_for_export(path: str | Path, lookahead: int | None, beta: float | None) -> tuple[Any, Any, str]:
    """(streaming model, reference model or None, checkpoint sha256) from either checkpoint format."""
    from ucfdvs.export.convert import DEFAULT_BETA, DEFAULT_LOOKAHEAD, convert
    from ucfdvs.export.streaming_msf import StreamingMSF, StreamingNet, is_streaming_payload
    from ucfdvs.train.checkpoint import file_sha256, load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise UserError("checkpoint not found", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"not a readable checkpoint (truncated or not a torch file: {str(err).splitlines()[0]})", path) from None
    if is_streaming_payload(payload):
        if lookahead is not None and lookahead != payload["meta"].get("lookahead"):
            raise UserError(f"is a streaming checkpoint with look-ahead {payload['meta'].get('lookahead')}; "
                            f"--lookahead {lookahead} cannot change it (fine-tune again)", path)
        try:
            net = StreamingNet.from_payload(payload)
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"damaged streaming checkpoint ({err})", path) from None
        return StreamingMSF(net), None, file_sha256(path)
    checkpoint = load_checkpoint(path)
    if checkpoint.arch not in ("msf", "msf-released"):
        raise UserError(f"holds architecture {checkpoint.arch!r}; only 'msf' and 'msf-released' have a streaming (NIR) form", path)
    source = {"source_checkpoint_sha256": checkpoint.sha256, "source_checkpoint": str(path)}
    model = convert(checkpoint.model, DEFAULT_LOOKAHEAD if lookahead is None else lookahead,
                    DEFAULT_BETA if beta is None else beta, source=source)
    return model, checkpoint.model, checkpoint.sha256


def cmd_export(args: argparse.Namespace) -> None:
    from ucfdvs.train.torch_threads import torch_threads
    from ucfdvs.export.graph_view import draw_graph, node_table
    from ucfdvs.export.onnx_export import export_onnx
    from ucfdvs.export.to_nir import write_nir

    if not args.nir and not args.onnx:
        raise UserError("nothing to do: pass --nir OUT.nir and/or --onnx OUT.onnx")
    for out in (args.nir, args.onnx, args.png):
        if out and Path(out).is_dir():
            raise UserError("is a folder, expected a file name", out)
    with torch_threads(1):
        model, reference, sha = load_for_export(args.checkpoint, args.lookahead, args.beta)
        report: dict[str, Any] = {}
        if args.onnx:
            if reference is None:
                raise UserError("--onnx exports the reference model: pass the reference checkpoint (best.pt)", args.checkpoint)
            export_onnx(reference, args.onnx, args.onnx_steps)
            report["onnx"] = str(args.onnx)
        if args.nir:
            graph = write_nir(model, args.nir, sha, str(args.checkpoint))
            report.update({"nir": str(args.nir), "nodes": len(graph.nodes), "edges": len(graph.edges),
                           "latency_steps": model.latency, "dt_s": model.net.dt,
                           "lookahead": model.net.meta.get("lookahead")})
            if args.png:
                draw_graph(graph, args.png)
                report["png"] = str(args.png)
            if args.verbose_table:
                print(node_table(graph))
    print(json.dumps(report, indent=2))


def cmd_finetune(args: argparse.Namespace) -> None:
    from ucfdvs.export.finetune import finetune, finetune_config
    from ucfdvs.train.torch_threads import torch_threads
    from ucfdvs.export.streaming_msf import save_streaming
    from ucfdvs.train.layout import FeatureLayout

    if args.iterations < 0 or args.eval_every < 1:
        raise UserError("--iterations must be >= 0 and --eval-every >= 1")
    if Path(args.out).is_dir():
        raise UserError("is a folder, expected a file name", args.out)
    if Path(args.out).exists() and not args.force:
        raise UserError("exists (pass --force to replace it)", args.out)
    with torch_threads(1):
        model, reference, _ = load_for_export(args.checkpoint, args.lookahead, args.beta)
        layout = FeatureLayout(Path(args.data), args.extractor, args.modality)
        try:
            config = finetune_config(iterations=args.iterations, eval_every=args.eval_every, lr=args.lr, seed=args.seed,
                                     select_on=args.select_on, val_fraction=args.val_fraction, val_seed=args.val_seed)
        except ValueError as err:
            raise UserError(str(err)) from None
        tuned, rows = finetune(model, layout, config, progress=True)
        save_streaming(args.out, tuned, {"finetune": rows})
    print(json.dumps({"out": str(args.out), "latency_steps": tuned.latency, "selected_on": config.select_on,
                      "evaluations": rows}, indent=2))


def cmd_nir_info(args: argparse.Namespace) -> None:
    from ucfdvs.export.graph_view import draw_graph, has_cycle, node_table
    from ucfdvs.export.to_nir import read_nir
    from ucfdvs.neuro_runtime.graph_check import load_graph

    graph = read_nir(args.file)
    try:
        load_graph(graph)
    except UserError as err:
        raise UserError(str(err), args.file) from None
    print(node_table(graph))
    meta = {k: (v if isinstance(v, str) else float(v)) for k, v in graph.metadata.items() if k != "conventions"}
    print(json.dumps({**meta, "has_cycle": has_cycle(graph)}, indent=2, default=str))
    if args.png:
        draw_graph(graph, args.png)
        print(f"wrote {args.png}")


def cmd_simulate(args: argparse.Namespace) -> None:
    from ucfdvs.export.simulate import simulate
    from ucfdvs.train.layout import FeatureLayout
    from ucfdvs.train.metrics import json_ready

    summary = simulate(
        Path(args.nir), FeatureLayout(Path(args.data), args.extractor, args.modality), args.backend, args.precision,
        Path(args.out), videos=args.videos, force=args.force, workers=args.workers, scheduler=args.scheduler,
    )
    keys = ("auc_all", "auc_abnormal", "far_all", "far_normal", "n_videos")
    print(json.dumps(json_ready({key: summary[key] for key in keys}), indent=2))


def add_export_commands(subparsers: Any, add_data_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``export``, ``finetune``, ``nir-info`` and ``simulate`` on an argparse subparsers object."""
    from ucfdvs.train.layout import DEFAULT_EXTRACTOR, DEFAULT_MODALITY

    exp = subparsers.add_parser("export", help="write the streaming MSF as NIR (and/or the reference as ONNX)")
    exp.add_argument("--checkpoint", required=True, help="reference MSF checkpoint (best.pt) or a streaming checkpoint from `finetune`")
    exp.add_argument("--nir", help="NIR file to write (HDF5)")
    exp.add_argument("--onnx", help="ONNX file to write (reference model)")
    exp.add_argument("--onnx-steps", type=int, default=64, help="ONNX window in snippets (default %(default)s)")
    exp.add_argument("--lookahead", "--latency", dest="lookahead", type=int, default=None,
                     help="distance-graph look-ahead L in snippets per graph layer (default 4); latency = max(2,L)+L+6 steps")
    exp.add_argument("--beta", type=float, default=None, help="decay of the similarity substitute's moving average (default 0.95)")
    exp.add_argument("--png", help="also draw the NIR graph to this PNG")
    exp.add_argument("--table", dest="verbose_table", action="store_true", help="print the node table")
    exp.set_defaults(func=cmd_export)

    fin = subparsers.add_parser("finetune", help="convert a reference MSF to streaming form and fine-tune it (surrogate gradients)")
    fin.add_argument("--checkpoint", required=True, help="reference MSF checkpoint (best.pt)")
    fin.add_argument("--data", required=True, help="dataset root in the official feature layout")
    fin.add_argument("--extractor", default=DEFAULT_EXTRACTOR)
    fin.add_argument("--modality", default=DEFAULT_MODALITY)
    fin.add_argument("--out", required=True, help="streaming checkpoint to write (.pt)")
    fin.add_argument("--lookahead", "--latency", dest="lookahead", type=int, default=None, help="look-ahead L (default 4)")
    fin.add_argument("--beta", type=float, default=None, help="similarity substitute decay (default 0.95)")
    fin.add_argument("--iterations", type=int, default=300)
    fin.add_argument("--eval-every", type=int, default=50)
    fin.add_argument("--lr", type=float, default=1e-4)
    fin.add_argument("--seed", type=int, default=1213)
    fin.add_argument("--select-on", choices=("val", "test"), default="val",
                     help="split whose frame AUC picks the kept state (default %(default)s; test is optimistic)")
    fin.add_argument("--val-fraction", type=float, default=0.1,
                     help="share of each class's training videos held out for validation (default %(default)s)")
    fin.add_argument("--val-seed", type=int, default=0, help="seed of the validation draw (default %(default)s)")
    fin.add_argument("--force", action="store_true", help="replace an existing --out")
    fin.set_defaults(func=cmd_finetune)

    info = subparsers.add_parser("nir-info", help="print a NIR file's nodes and metadata (and draw it)")
    info.add_argument("file")
    info.add_argument("--png", help="draw the graph to this PNG")
    info.set_defaults(func=cmd_nir_info)

    sim = subparsers.add_parser(
        "simulate", help="run an exported MSF graph on the test split in the emulator or Lava (Loihi 2 simulator)"
    )
    sim.add_argument("--nir", required=True, help="graph written by `ucfdvs export`")
    add_data_arguments(sim)
    sim.add_argument("--backend", choices=("emu", "lava"), default="emu", help="emulator or Lava (default %(default)s)")
    sim.add_argument("--precision", choices=("float", "fixed"), default="float",
                     help="Lava floating_pt or bit-accurate fixed_pt (default %(default)s)")
    sim.add_argument("--videos", type=int, help="only N test videos, evenly spread over the split")
    sim.add_argument("--out", required=True, help="output folder: scores.npz, spikes.npz, metrics.json")
    add_task_arguments(sim, "the videos dealt into tasks",
                       "--workers then sets the number of tasks; the NIR file and data on a shared file system")
    sim.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    sim.set_defaults(func=cmd_simulate)
