"""The LIF neuron every spiking layer of the reference MSF uses, and spike recording.

SpikingJelly `LIFNode` with decay_input=True and hard reset to 0, per step t:

    v[t] = v[t-1] + (x[t] - v[t-1]) / tau         (tau = 1.6 steps)
    s[t] = 1 if v[t] >= v_threshold else 0        (Heaviside with H(0) = 1)
    v[t] = v[t] * (1 - s[t])                      (reset detached from the graph)

Gradients flow through the sigmoid surrogate (SpikingJelly's default, alpha = 4).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from typing import Iterator

import torch
from torch import nn


def _import_spikingjelly_without_lava() -> None:
    """Import SpikingJelly with its optional lava-dl probe answered "absent".

    ``spikingjelly.activation_based.base`` tries ``import lava.lib.dl.slayer`` for its 'lava' backend, which
    training never uses; lava-dl's import takes seconds and prints banners (through ``print``, no logging to
    configure). Unless the caller has imported lava-dl already, the probe sees a ``None`` entry in
    ``sys.modules`` for the duration of SpikingJelly's import only; the entry is removed afterwards, so a later
    ``import lava.lib.dl.slayer`` works as usual.
    """
    blocked = "lava.lib.dl.slayer" not in sys.modules
    if blocked:
        sys.modules["lava.lib.dl.slayer"] = None  # type: ignore[assignment]
    try:
        import spikingjelly.activation_based.base  # noqa: F401
    finally:
        if blocked:
            del sys.modules["lava.lib.dl.slayer"]


_import_spikingjelly_without_lava()
from spikingjelly.activation_based import neuron, surrogate  # noqa: E402

TAU = 1.6


def lif(v_threshold: float = 1.0, step_mode: str = "m") -> neuron.LIFNode:
    """A LIF layer with the reference parameters (tau 1.6, hard reset to 0, detached reset)."""
    return neuron.LIFNode(
        tau=TAU,
        decay_input=True,
        v_threshold=v_threshold,
        v_reset=0.0,
        detach_reset=True,
        surrogate_function=surrogate.Sigmoid(),
        step_mode=step_mode,
        backend="torch",
    )


def select_backend(model: nn.Module, device: torch.device) -> str:
    """Use SpikingJelly's CuPy kernels for multi-step LIF layers on a GPU when CuPy is installed."""
    backend = "cupy" if device.type == "cuda" and importlib.util.find_spec("cupy") else "torch"
    for module in model.modules():
        if isinstance(module, neuron.LIFNode) and module.step_mode == "m":
            module.backend = backend
    return backend


def reset_states(model: nn.Module) -> None:
    """Reset the membrane state of every LIF layer (before each new batch of videos)."""
    for module in model.modules():
        if isinstance(module, neuron.LIFNode):
            module.reset()


def spiking_layer_names(model: nn.Module) -> list[str]:
    """Names of every LIF layer of `model`, in module order (`local.branches.0.lif`, ...)."""
    return [name for name, module in model.named_modules() if isinstance(module, neuron.LIFNode)]


@contextlib.contextmanager
def record_spikes(model: nn.Module) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record the spike tensors of every LIF layer while the block runs.

    Yields a dict layer name -> list of output tensors, one per call of the layer (multi-step
    layers give one `[T, B, C]` tensor per forward, single-step layers one `[B, C]` per step).
    """
    records: dict[str, list[torch.Tensor]] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, neuron.LIFNode):
            records[name] = []
            handles.append(module.register_forward_hook(lambda _m, _i, out, key=name: records[key].append(out.detach())))
    try:
        yield records
    finally:
        for handle in handles:
            handle.remove()
