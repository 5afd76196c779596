"""What a benchmark figure was measured on: machine, software versions, commit, date."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import torch

from ucfdvs.atomic import atomic_path


@contextlib.contextmanager
def library_notices_silenced() -> Iterator[None]:
    """Swallow what a third-party library prints on stdout inside the block (lava-dl's import
    banners, snnTorch's and NeuroBench's notices); stdout is restored on exit.  Benchmark code only."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def git_commit() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout
        return result.stdout.strip() + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def describe_machine(device: torch.device | None = None) -> dict[str, Any]:
    """CPU, cores, GPU (if used), Python and torch versions, the commit and the UTC date."""
    info = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    if device is not None and device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def results_dir() -> Path:
    """Where benchmark scripts write by default: ``benchmarks/results/`` of a source checkout, else ``./ucfdvs-results``.

    An installed wheel never writes into site-packages.
    """
    here = Path(__file__).resolve().parent
    if "site-packages" in here.parts or "dist-packages" in here.parts:
        return Path.cwd() / "ucfdvs-results"
    return here / "results"


def save_results(path: str | Path, results: dict[str, Any]) -> None:
    """Write benchmark results as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
