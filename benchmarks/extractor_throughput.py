"""Throughput of the synthetic event generator and of the spiking feature extractor in PyTorch and in Lava.

- generation: events/s of `train.synthetic_events.recording` (scene rendering + DVS model, no file writing)
  on the default set's first videos, and videos/s;
- PyTorch extraction: snippets/s of the frozen backbone (binary framing included and excluded);
- Lava: snippets/s of the same backbone exported to netx and run in the Loihi 2 simulator (fixed point,
  CPU), with the per-layer spike agreement and the feature error against PyTorch;
- with `--checkpoint`, its pretraining metrics (held-out clip accuracy, see `train.extractor.pretrain`), and with
  `--eval`, the frame-level metrics of an `ucfdvs eval` folder of MSF trained on the extracted features.

    python benchmarks/extractor_throughput.py [--checkpoint EXTRACTOR.pt] [--eval EVAL_DIR] [--videos 6]
                                              [--lava-snippets 4] [--out benchmarks/results/extractor_throughput.json]
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

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.train.extractor.checkpoint import load_extractor
from ucfdvs.train.extractor.event_frames import binary_bins, snippet_windows
from ucfdvs.train.extractor.extract import default_backbone, snippet_features
from ucfdvs.train.synthetic_events import SyntheticEventConfig, recording, video_names
from ucfdvs.train.ucf_classes import SNIPPET_US


def generation(config: SyntheticEventConfig, videos: int) -> tuple[dict, list]:
    """Simulate the first `videos` videos of the default train split; returns rates and the recordings."""
    names = video_names(config)["train"][:videos]
    recordings = []
    started = time.perf_counter()
    for index, (stem, class_name) in enumerate(names):
        recordings.append(recording(config, 0, "train", index, stem, class_name))
    seconds = time.perf_counter() - started
    events = sum(len(r.events) for r in recordings)
    duration_s = sum(r.n_frames for r in recordings) / 30.0
    return {"videos": len(recordings), "events": events, "seconds": seconds, "events_per_second": events / seconds,
            "videos_per_second": len(recordings) / seconds, "recorded_seconds": duration_s,
            "realtime_factor": duration_s / seconds, "geometry": [config.width, config.height],
            "render_fps": config.fps}, recordings


def torch_extraction(model, config: SyntheticEventConfig, recordings: list, repeats: int = 2) -> tuple[dict, np.ndarray]:
    """Snippets/s of framing + backbone, and of the backbone alone (best of `repeats`)."""
    backbone = model.config
    started = time.perf_counter()
    all_snippets = []
    for video in recordings:
        n = -(-video.n_frames // 16)
        bins = binary_bins(video.events, config.geometry, (backbone.width, backbone.height), backbone.frame_us,
                           max(n * backbone.snippet_frames, backbone.frames))
        all_snippets.append(snippet_windows(bins, n, backbone.snippet_frames, backbone.frames))
    framing = time.perf_counter() - started
    snippets = np.concatenate(all_snippets)
    best = float("inf")
    for _ in range(repeats):
        tick = time.perf_counter()
        snippet_features(model, snippets)
        best = min(best, time.perf_counter() - tick)
    return {"snippets": int(len(snippets)), "framing_seconds": framing, "backbone_seconds": best,
            "snippets_per_second_backbone": len(snippets) / best,
            "snippets_per_second_with_framing": len(snippets) / (best + framing),
            "torch_threads": torch.get_num_threads(), "snippet_us": SNIPPET_US}, snippets


def lava_run(model, snippets: np.ndarray) -> dict:
    """Export to netx, run the snippets in Lava, compare with PyTorch."""
    try:
        from ucfdvs.export.extractor_netx import compare_lava_torch
    except ImportError as err:
        return {"skipped": f"Lava cannot be imported ({err})"}
    with tempfile.TemporaryDirectory() as workdir:
        return compare_lava_torch(model, snippets, workdir).as_dict()


def msf_metrics(folder: str) -> dict:
    """Frame-level metrics of an `ucfdvs eval` output folder (its metrics.json)."""
    metrics = json.loads((Path(folder) / "metrics.json").read_text())
    keys = ("auc_all", "auc_abnormal", "far_all", "far_normal", "n_videos", "checkpoint")
    return {"eval": folder, **{key: metrics[key] for key in keys}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="extractor checkpoint (default: untrained backbone, seed 0)")
    parser.add_argument("--eval", help="`ucfdvs eval` folder of MSF trained on this extractor's features")
    parser.add_argument("--videos", type=int, default=6, help="videos to simulate (default %(default)s)")
    parser.add_argument("--lava-snippets", type=int, default=4, help="snippets run in Lava (default %(default)s)")
    parser.add_argument("--out", default=str(results_dir() / "extractor_throughput.json"))
    args = parser.parse_args(argv)
    config = SyntheticEventConfig()
    model, pretraining = default_backbone(), {}
    if args.checkpoint is not None:
        model, pretraining = load_extractor(args.checkpoint)
    gen, recordings = generation(config, args.videos)
    extraction, snippets = torch_extraction(model, config, recordings)
    picks = np.random.default_rng(0).choice(len(snippets), size=min(args.lava_snippets, len(snippets)), replace=False)
    results = {
        "machine": describe_machine(),
        "checkpoint": args.checkpoint,
        "backbone": model.config.as_dict(),
        "pretraining": pretraining,
        "msf_on_features": msf_metrics(args.eval) if args.eval else {},
        "generation": gen,
        "pytorch_extraction": extraction,
        "lava_extraction": lava_run(model, snippets[np.sort(picks)]),
    }
    save_results(args.out, results)
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
