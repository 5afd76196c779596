"""Run a block with a given number of PyTorch intra-op threads, restoring the previous setting afterwards."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with `n` intra-op threads (one per task when tasks run side by side; small per-step ops are
    also faster single-threaded on a shared machine), then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
