"""Training speed (iterations per second) of MSF and the linear baseline, and the demo's wall time.

    python -m ucfdvs.benchmarks.train_speed [--device auto] [--iterations 50] [--demo] [--out FILE]

One iteration is the paper's step: 30 anomalous + 30 normal videos x 16 snippets x 256 features,
forward, top-k MIL loss, backward, Adam update.
"""

from __future__ import annotations

import argparse
import subprocess
import time

import torch

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.train.model.neurons import select_backend
from ucfdvs.train.model.registry import build_model
from ucfdvs.train.sampling import Batch
from ucfdvs.train.trainer import resolve_device, train_step


def iterations_per_second(arch: str, device: torch.device, iterations: int, warmup: int = 5) -> float:
    """Training iterations per second of `arch` on random batches of the paper's shape."""
    torch.manual_seed(0)
    model = build_model(arch).to(device)
    select_backend(model, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=5e-4)
    batch = Batch(torch.rand(60, 16, 256), torch.full((60,), 16), torch.cat([torch.ones(30), torch.zeros(30)]))

    def step() -> None:
        train_step(model, optimizer, batch, device)

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return iterations / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--demo", action="store_true", help="also time `make demo` end to end")
    parser.add_argument("--out", default=str(results_dir() / "train_speed.json"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    results = {"machine": describe_machine(device), "device": str(device), "iterations_per_second": {}}
    for arch in ("msf", "linear"):
        rate = iterations_per_second(arch, device, args.iterations)
        results["iterations_per_second"][arch] = round(rate, 2)
        print(f"{arch:>7}: {rate:8.2f} training iterations/s on {device} (batch 60 x 16 snippets x 256)")
    if args.demo:
        start = time.perf_counter()
        subprocess.run(["make", "demo"], check=True, capture_output=True)
        results["demo_wall_time_s"] = round(time.perf_counter() - start, 1)
        print(f"make demo: {results['demo_wall_time_s']} s wall time")
    save_results(args.out, results)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
