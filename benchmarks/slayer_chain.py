"""lava-dl (slayer) networks of CUBA Dense blocks: build, run layer by layer as slayer runs them, export to netx.

A chain is ``slayer.block.cuba.Dense`` blocks (8-bit weights: slayer's ``quantize_8bit`` pre-hook,
weights x 64 on export), the neuron parameters of lava-dl's tutorials (:data:`NEURON`).
``SlayerChain.export_hdf5(path)`` writes lava-dl's netx HDF5 (a ``layer`` group, one block per
layer, each block's own ``export_hdf5``), which ``ucfdvs run --nir`` and
:func:`neuro_runtime.load_network` read (:mod:`neuro_runtime.netx_graph`).

Timing: a slayer block delays its output by one step (``delay_shift``), so block k's output (k = 1,
2, ... in order) at step t answers input step t - k: exactly the runtime's layer k at its step t.  :func:`run_slayer`
removes these delays (layer k's spikes of input step t, as snnTorch and Norse give them, so that
the runtime's layer k at step t + k compares with step t) after padding the input with one zero
step per block (nothing is cut off at the end).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ucfdvs.atomic import atomic_path
from ucfdvs.benchmarks.environment import library_notices_silenced

NEURON = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03, "tau_grad": 0.03, "scale_grad": 3,
          "requires_grad": False}
"""CUBA parameters of lava-dl's tutorials (vThMant 80, iDecay 1024, vDecay 123)."""


class SlayerChain(torch.nn.Module):
    """CUBA Dense blocks ``sizes[0] -> sizes[1] -> ...``; ``forward(x [B, C, T])`` -> per block ``[B, N, T]``."""

    def __init__(self, sizes: list[int], weight_scale: float = 2.0, neuron: dict | None = None) -> None:
        super().__init__()
        with library_notices_silenced():
            from lava.lib.dl import slayer
        params = dict(NEURON if neuron is None else neuron)
        self.blocks = torch.nn.ModuleList(
            slayer.block.cuba.Dense(dict(params), a, b, weight_scale=weight_scale)
            for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return outs

    def export_hdf5(self, path: str | Path) -> None:
        """lava-dl's netx HDF5 (``layer/<i>`` per block), written atomically."""
        import h5py

        if any(block.neuron.shape is None for block in self.blocks):  # slayer learns shapes in the first forward
            with torch.no_grad():
                self(torch.zeros(1, self.blocks[0].synapse.in_channels, 1))

        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                layers = f.create_group("layer")
                for i, block in enumerate(self.blocks):
                    block.export_hdf5(layers.create_group(str(i)))


def run_slayer(net: SlayerChain, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``net`` over ``x [B, T, C]`` (see the module docstring).

    Returns the last block's spikes ``[B, T, N]`` and ``{"cuba_<k>": [B, T, N]}`` per block (the
    runtime's node names for netx layer k), slayer's one-step block delays removed.
    """
    depth = len(net.blocks)
    padded = torch.cat([x, x.new_zeros((x.shape[0], depth, *x.shape[2:]))], dim=1)
    outs = net(padded.transpose(1, 2).contiguous())
    steps = x.shape[1]
    spikes = {f"cuba_{k}": o.transpose(1, 2)[:, k + 1:k + 1 + steps] for k, o in enumerate(outs)}
    return spikes[f"cuba_{depth - 1}"], spikes


def slayer_spikes(net: SlayerChain, x: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`run_slayer` without gradients on ``x [B, T, C]`` -> uint8 spikes per block ``[B, T, N]``."""
    with torch.no_grad():
        _, spikes = run_slayer(net, torch.as_tensor(np.asarray(x), dtype=torch.float32))
    return {k: v.numpy().astype(np.uint8) for k, v in spikes.items()}
