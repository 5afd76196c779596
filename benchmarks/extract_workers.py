"""`ucfdvs extract` on the demo recordings with 1 and 2 local Dask workers: wall time, rates, speed-up.

The events root defaults to demo/events (`make demo`), or, if absent, the demo's `synth-events` data
(160 train / 60 test recordings at 160x90, seed 0) is written to a temporary folder. The checkpoint is
ROOT/extractor.pt if present, else the default backbone with random weights (speed does not depend on the
weights much). Every run starts from an empty output folder; its time includes starting and closing the local
cluster (`--workers 2`), which is also timed alone, and the features of all runs are checked to be identical
byte for byte.

    python -m ucfdvs.benchmarks.extract_workers [--events demo/events] [--workers 1 2]
        [--out benchmarks/results/extract_workers.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.train.extractor import extract_features, save_extractor
from ucfdvs.train.extractor.extract import default_backbone
from ucfdvs.train.layout import FeatureLayout
from ucfdvs.train.synthetic_events import SyntheticEventConfig, write_synthetic_events
from ucfdvs.train.task_runner import dask_client

DEMO_EVENTS = Path(__file__).resolve().parents[1] / "demo" / "events"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, default=DEMO_EVENTS)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=results_dir() / "extract_workers.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ucfdvs-extract-") as folder:
        root = args.events
        if not root.is_dir():
            root = Path(folder) / "events"
            print(f"{args.events} not found: writing the demo's synthetic recordings to {root}", flush=True)
            write_synthetic_events(root, SyntheticEventConfig(), seed=0, progress=False)
        checkpoint = root / "extractor.pt"
        if not checkpoint.is_file():
            checkpoint = Path(folder) / "random.pt"
            save_extractor(checkpoint, default_backbone())
        rows, outputs = [], []
        for workers in args.workers:
            out = Path(folder) / f"features_{workers}"
            start = time.perf_counter()
            if workers > 1:
                with dask_client(workers, None):
                    pass
            summary = extract_features(root, out, checkpoint, progress=False, workers=workers)
            summary["cluster_start_and_close_seconds"] = time.perf_counter() - start - summary["seconds"]
            rows.append(summary)
            feature_dir = FeatureLayout(out).feature_dir
            outputs.append({p.name: p.read_bytes() for p in feature_dir.iterdir()})
            print(f"workers {workers}: {summary['videos']} videos, {summary['seconds']:.1f} s (a bare cluster "
                  f"starts and closes in {summary['cluster_start_and_close_seconds']:.1f} s), "
                  f"{summary['events_per_second'] / 1e6:.2f} M events/s, {summary['snippets_per_second']:.0f} "
                  f"snippets/s", flush=True)
        identical = all(output == outputs[0] for output in outputs)
    base = rows[0]["seconds"]
    for row in rows:
        row["speedup_vs_first"] = base / row["seconds"]
    print(f"features identical across runs: {identical}; speed-up: "
          + ", ".join(f"{row['workers']} workers x{row['speedup_vs_first']:.2f}" for row in rows))
    save_results(args.out, {"runs": rows, "features_identical": identical, "events_root": str(args.events),
                            "checkpoint": "extractor.pt of the root" if checkpoint.parent == root else "random",
                            "machine": describe_machine()})
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
