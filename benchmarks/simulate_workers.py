"""`ucfdvs simulate` with 1 and 2 local Dask workers: wall time per backend and precision, identical files.

The graph and data default to demo/msf.nir and demo/data (`make demo`); if absent, a demo-sized set is made
in a temporary folder: `synth-features` with 60 train / 40 test videos (seed 0), a 50-iteration MSF
(`--select-on test`: the tiny train split has classes of one video) and its export. The emulator runs every
test video, Lava `--lava-videos` of them. Each run starts from an empty output folder; its wall time includes
starting and closing the local cluster (`--workers 2`) and, for Lava, starting each task's Lava worker
process and compiling the network. The files of every run are checked to be identical byte for byte to the
one-worker run's.

    python -m ucfdvs.benchmarks.simulate_workers [--nir demo/msf.nir --data demo/data] [--workers 1 2]
        [--lava-videos 6] [--out benchmarks/results/simulate_workers.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.export.simulate import simulate
from ucfdvs.train.layout import FeatureLayout

DEMO = Path(__file__).resolve().parents[1] / "demo"
OUTPUTS = ("scores.npz", "spikes.npz", "metrics.json")


def make_demo_sized(folder: Path) -> tuple[Path, Path]:
    """(NIR file, data root): 60 train / 40 test synthetic videos, a 50-iteration MSF, exported."""
    from ucfdvs.export.cli import load_for_export
    from ucfdvs.export.to_nir import write_nir
    from ucfdvs.train.synthetic_features import SyntheticFeatureConfig, write_synthetic_features
    from ucfdvs.train.trainer import TrainConfig, train

    data = folder / "data"
    write_synthetic_features(data, SyntheticFeatureConfig(n_train=60, n_test=40), seed=0)
    config = TrainConfig(iterations=50, eval_every=50, select_on="test")
    train(FeatureLayout(data), folder / "run", config, torch.device("cpu"), progress=False)
    model, _, sha = load_for_export(folder / "run" / "best.pt", None, None)
    nir_path = folder / "msf.nir"
    write_nir(model, nir_path, sha, str(folder / "run" / "best.pt"))
    return nir_path, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nir", type=Path, default=DEMO / "msf.nir")
    parser.add_argument("--data", type=Path, default=DEMO / "data")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--lava-videos", type=int, default=6)
    parser.add_argument("--out", type=Path, default=results_dir() / "simulate_workers.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ucfdvs-simulate-") as folder:
        nir_path, data = args.nir, args.data
        source = f"{nir_path} on {data}"
        if not (nir_path.is_file() and data.is_dir()):
            nir_path, data = make_demo_sized(Path(folder))
            source = "demo-sized synthetic set (60 train / 40 test videos, 50-iteration MSF)"
            print(f"{args.nir} or {args.data} not found: made a {source}", flush=True)
        cases = [("emu", "float", None), ("emu", "fixed", None), ("lava", "float", args.lava_videos),
                 ("lava", "fixed", args.lava_videos)]
        for backend, precision, videos in cases:
            first: dict[str, bytes] | None = None
            for workers in args.workers:
                out = Path(folder) / f"{backend}_{precision}_{workers}"
                start = time.perf_counter()
                summary = simulate(nir_path, FeatureLayout(data), backend, precision, out, videos=videos,
                                   progress=False, workers=workers)
                seconds = time.perf_counter() - start
                files = {name: (out / name).read_bytes() for name in OUTPUTS}
                first = first or files
                row = {"backend": backend, "precision": precision, "workers": workers, "videos": summary["n_videos"],
                       "steps": summary["steps"], "seconds": seconds, "files_identical_to_first": files == first}
                rows.append(row)
                print(f"{backend} {precision} workers {workers}: {row['videos']} videos, {row['steps']} steps, "
                      f"{seconds:.1f} s, files identical to the first run: {row['files_identical_to_first']}",
                      flush=True)
    save_results(args.out, {"runs": rows, "source": source, "machine": describe_machine()})
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
