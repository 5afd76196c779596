"""Source networks saved beside their NIR exports, for ``ucfdvs bench --nir ... --reference MODEL``.

A reference file (``torch.save``, read with ``weights_only=True``) holds
``{"format": "ucfdvs-reference/1", "name": NAME, "state_dict": ...}``; NAME is one of the digit
networks of :mod:`benchmarks.digits_networks` (snnTorch, Norse or lava-dl), rebuilt from that module and
run step by step as its library runs it (:mod:`benchmarks.library_runs`).  Its output is the last
layer's ``[B, T, *shape]`` with no hop delays (the runtime's output of step t + latency).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ucfdvs.atomic import atomic_path
from ucfdvs.errors import UserError

FORMAT = "ucfdvs-reference/1"


def save_reference(path: str | Path, name: str, net: torch.nn.Module) -> None:
    """Write ``net`` (one of the digit networks, by ``name``) as a reference file."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "name": name, "state_dict": net.state_dict()}, tmp)


@dataclass
class Reference:
    """A rebuilt source network: ``name``, ``library`` (snntorch | norse | lavadl), the module."""

    name: str
    library: str
    net: torch.nn.Module

    def run(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``x [B, T, *shape]`` -> (last layer's output ``[B, T, ...]`` float64, spikes per layer uint8)."""
        from ucfdvs.benchmarks.digits_networks import RUNNERS
        from ucfdvs.benchmarks.library_runs import to_numpy_spikes

        runner = RUNNERS[self.library]
        with torch.no_grad():
            out, spikes = runner(self.net, torch.as_tensor(np.asarray(x), dtype=torch.float32))
        return out.numpy().astype(np.float64), to_numpy_spikes(spikes)


def load_reference(path: str | Path) -> Reference:
    """Read a reference file; :class:`UserError` naming the file when it is not one."""
    from ucfdvs.benchmarks.digits_networks import lavadl_nets, norse_nets, snntorch_nets

    p = Path(path)
    if not p.is_file():
        raise UserError("reference model not found", p)
    try:
        blob: Any = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise UserError(f"not a reference model file ({type(exc).__name__})", p) from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise UserError(f"not a reference model file (expected format {FORMAT!r})", p)
    name = str(blob.get("name"))
    library = name.split("_")[0]
    builders = {"snntorch": snntorch_nets, "norse": norse_nets, "lavadl": lavadl_nets}
    nets = builders[library]() if library in builders else {}
    if name not in nets:
        known = sorted(n for build in builders.values() for n in build())
        raise UserError(f"unknown reference network {name!r} (known: {', '.join(known)})", p)
    net = nets[name][0]
    try:
        net.load_state_dict(blob["state_dict"])
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"weights do not fit network {name!r}: {type(exc).__name__}: {exc}", p) from None
    net.eval()
    return Reference(name, library, net)
