"""Streaming MSF on the synthetic benchmark: AUC table and NIR agreement over the whole test split.

    .venv/bin/python -m ucfdvs.benchmarks.streaming_auc --data demo/data --checkpoint demo/run-msf/best.pt

Rows: the reference (AUC, FAR), the converted streaming model with no retraining for each
look-ahead L (latency max(2,L)+L+6 snippets), and the fine-tuned streaming model (default L).
Then the fine-tuned model is written to NIR and run by the nirtorch-based interpreter (and the
neuro_runtime NumPy emulator when present) on every test video, in float64: spikes of every
population must be identical and scores within 1e-6. Prints and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ucfdvs.benchmarks.environment import results_dir
from ucfdvs.export.convert import DEFAULT_BETA, DEFAULT_LOOKAHEAD, convert
from ucfdvs.export.finetune import finetune, finetune_config
from ucfdvs.train.torch_threads import torch_threads
from ucfdvs.export.nir_interpreter import NIRInterpreter
from ucfdvs.export.streaming_msf import StreamingMSF
from ucfdvs.export.to_nir import write_nir
from ucfdvs.train.checkpoint import load_checkpoint
from ucfdvs.train.evaluate import TestSet
from ucfdvs.train.layout import FeatureLayout
from ucfdvs.timebase import SNIPPET_S



def evaluate(model: torch.nn.Module, test_set: TestSet, reference_scores: dict | None = None) -> dict:
    """AUC and FAR on the test split (and the snippet-score difference to the reference, if given)."""
    metrics, scored = test_set.evaluate(model, torch.device("cpu"))
    row = {"auc": round(metrics["auc_all"], 4), "far": round(metrics["far_all"], 4)}
    if reference_scores is not None:
        diff = np.concatenate([np.abs(v.scores - reference_scores[v.stem]) for v in scored])
        row.update({"mean_abs_score_diff_vs_reference": round(float(diff.mean()), 5),
                    "max_abs_score_diff_vs_reference": round(float(diff.max()), 5)})
    return row


def markdown_table(result: dict) -> str:
    ref = result["reference"]
    lines = ["| model | look-ahead L | latency (snippets / s) | frame AUC | FAR |", "|---|---|---|---|---|",
             f"| reference MSF (offline) | whole video | - | {ref['auc']:.4f} | {ref['far']:.4f} |"]
    for row in result["by_lookahead"]:
        c = row["converted"]
        lines.append(f"| streaming, converted (no retraining) | {row['lookahead']} | {row['latency_steps']} / "
                     f"{row['latency_s']:.1f} | {c['auc']:.4f} | {c['far']:.4f} |")
    ft = result["finetuned"]
    lines.append(f"| streaming, fine-tuned ({ft['iterations']} it.) | {ft['lookahead']} | {ft['latency_steps']} / "
                 f"{ft['latency_steps'] * SNIPPET_S:.1f} | {ft['auc']:.4f} | {ft['far']:.4f} |")
    return "\n".join(lines)


def _batches(videos: list, size: int) -> list[list]:
    order = sorted(videos, key=lambda v: v.n_snippets)
    return [order[i: i + size] for i in range(0, len(order), size)]


def agreement(model: StreamingMSF, nir_path: Path, videos: list, batch_size: int = 16) -> dict:
    """Streaming model (float64) vs the NIR interpreter (and emulator) on every video, all steps."""
    net = model.net.double().eval()
    interp = NIRInterpreter(nir_path, dtype=torch.float64)
    try:
        from ucfdvs.neuro_runtime import Emulator

        emulator = Emulator(str(nir_path), "floating_pt")
    except ImportError:
        emulator = None
    lat = model.latency
    worst_score = worst_logit = worst_emulator = 0.0
    mismatched = compared = spikes = 0
    for chunk in _batches(videos, batch_size):
        steps = max(v.n_snippets for v in chunk) + lat
        x = torch.zeros(len(chunk), steps, model.feature_dim, dtype=torch.float64)
        for row, v in enumerate(chunk):
            x[row, : v.n_snippets] = torch.from_numpy(v.features).double()
        with torch.no_grad():
            out, rec = net.run(x, record=True, surrogate=False)
        outs2, rec2 = interp.run(x)
        out2 = outs2[net.output_name]
        for row, v in enumerate(chunk):
            n = v.n_snippets
            a, b = out[row, lat: lat + n, 0], out2[row, lat: lat + n, 0]
            worst_logit = max(worst_logit, float((a - b).abs().max()))
            worst_score = max(worst_score, float((torch.sigmoid(a) - torch.sigmoid(b)).abs().max()))
        for name, value in rec.items():
            if model.net.nodes[name].kind != "lif":
                continue
            mismatched += int((value != rec2[name]).sum())
            compared += value.numel()
            spikes += int(value.sum())
        if emulator is not None:
            em = emulator.run(x.numpy()).outputs
            worst_emulator = max(worst_emulator, float(np.abs(list(em.values())[0] - out.numpy()).max()))
    model.net.float()
    return {"videos": len(videos), "spike_values_compared": compared, "spikes": spikes,
            "spike_mismatches": mismatched, "max_abs_score_diff": worst_score, "max_abs_logit_diff": worst_logit,
            "emulator_max_abs_output_diff": worst_emulator if emulator is not None else None}


def spike_rates(model: StreamingMSF, videos: list) -> dict:
    """Mean spikes per neuron and step of each LIF population over the test split."""
    totals: dict[str, float] = {}
    count = 0
    with torch.no_grad():
        for chunk in _batches(videos, 16):
            steps = max(v.n_snippets for v in chunk) + model.latency
            x = torch.zeros(len(chunk), steps, model.feature_dim)
            for row, v in enumerate(chunk):
                x[row, : v.n_snippets] = torch.from_numpy(v.features)
            _, rec = model.net.run(x, record=True, surrogate=False)
            for name, value in rec.items():
                if model.net.nodes[name].kind == "lif":
                    totals[name] = totals.get(name, 0.0) + float(value.mean()) * len(chunk)
            count += len(chunk)
    return {k: round(v / count, 4) for k, v in totals.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--checkpoint", required=True, help="reference MSF checkpoint (best.pt)")
    parser.add_argument("--lookaheads", default="0,2,4,8")
    parser.add_argument("--lookahead", type=int, default=DEFAULT_LOOKAHEAD, help="look-ahead of the fine-tuned model")
    parser.add_argument("--beta", type=float, default=DEFAULT_BETA)
    parser.add_argument("--finetune-iterations", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--out", default=str(results_dir() / "streaming_auc.json"))
    args = parser.parse_args(argv)
    begin = time.perf_counter()
    with torch_threads(1):
        checkpoint = load_checkpoint(args.checkpoint, expect_arch="msf")
        reference = checkpoint.model
        layout = FeatureLayout(Path(args.data))
        test_set = TestSet(layout, reference.feature_dim)
        result: dict = {"checkpoint": str(args.checkpoint), "checkpoint_sha256": checkpoint.sha256,
                        "data": str(args.data), "beta": args.beta, "reference": evaluate(reference, test_set)}
        _, ref_scored = test_set.evaluate(reference, torch.device("cpu"))
        ref_scores = {v.stem: v.scores for v in ref_scored}
        print("reference", result["reference"], flush=True)
        rows = []
        for lookahead in [int(v) for v in args.lookaheads.split(",")]:
            model = convert(reference, lookahead, args.beta)
            row = {"lookahead": lookahead, "latency_steps": model.latency,
                   "latency_s": round(model.latency * model.net.dt, 3), "converted": evaluate(model, test_set, ref_scores)}
            rows.append(row)
            print(row, flush=True)
        result["by_lookahead"] = rows
        model = convert(reference, args.lookahead, args.beta)
        result["spike_rates_converted"] = spike_rates(model, test_set.videos)
        config = finetune_config(iterations=args.finetune_iterations, eval_every=args.eval_every)
        t0 = time.perf_counter()
        tuned, history = finetune(model, layout, config, test_set)
        result["finetuned"] = {"lookahead": args.lookahead, "latency_steps": tuned.latency, "iterations": config.iterations,
                               **evaluate(tuned, test_set, ref_scores), "history": history,
                               "seconds": round(time.perf_counter() - t0, 1)}
        print("finetuned", {k: v for k, v in result["finetuned"].items() if k != "history"}, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "msf.nir"
            write_nir(tuned, path, checkpoint.sha256)
            result["nir_agreement"] = agreement(tuned, path, test_set.videos)
        print("agreement", result["nir_agreement"], flush=True)
        result["seconds"] = round(time.perf_counter() - begin, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "finetuned"}, indent=2))
    print(markdown_table(result))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
