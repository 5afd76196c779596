"""The LIF neuron every spiking layer of the reference MSF uses, and spike recording.

SpikingJelly `LIFNode` with decay_input=True and hard reset to 0, per step t:

    v[t] = v[t-1] + (x[t] - v[t-1]) / tau         (tau = 1.6 steps)
    s[t] = 1 if v[t] >= v_threshold else 0        (Heaviside with H(0) = 1)
    v[t] = v[t] * (1 - s[t])                      (reset detached from the graph)

Gradients flow through the sigmoid surrogate (SpikingJelly's default, alpha = 4).

Two variants for `msf-released` (the released code's conventions):
- `StrictLIFNode`: BrainCog's `LIFNode` as the released TIM builds it (same charge and reset, but
  `s[t] = 1 if v[t] > v_threshold`, strict, and the quadratic-gate surrogate of BrainCog's `QGateGrad`,
  alpha 2: ds/dv = max(0, alpha - alpha^2 |v - v_threshold|));
- `CarriedStateLIF`: one multi-step LIF called at several sites in turn; each call starts from the
  membrane the previous call ended with (SpikingJelly keeps `v` between calls), taken at each
  video's last true snippet so that padding never leaks into the next site.
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


class _StrictQuadraticGate(torch.autograd.Function):
    """Heaviside with H(0) = 0 forward, SpikingJelly's piecewise-quadratic gradient backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return surrogate.piecewise_quadratic_backward(grad_output, ctx.saved_tensors[0], ctx.alpha)


class StrictQuadraticGate(surrogate.PiecewiseQuadratic):
    """BrainCog's `QGateGrad`: spike when x > 0 (strict), gradient alpha - alpha^2 |x| on |x| <= 1/alpha."""

    def __init__(self, alpha: float = 2.0) -> None:
        super().__init__(alpha=alpha, spiking=True)

    @staticmethod
    def spiking_function(x: torch.Tensor, alpha: float) -> torch.Tensor:
        return _StrictQuadraticGate.apply(x, alpha)


class StrictLIFNode(neuron.LIFNode):
    """Single-step LIF with BrainCog's conventions (strict threshold, quadratic gate, alpha 2), tau 1.6.

    SpikingJelly's eval path fires at `v >= v_threshold` whatever the surrogate, so this node always
    takes the charge -> fire -> reset path, in training and in evaluation alike.
    """

    def __init__(self, v_threshold: float) -> None:
        super().__init__(
            tau=TAU, decay_input=True, v_threshold=v_threshold, v_reset=0.0, detach_reset=True,
            surrogate_function=StrictQuadraticGate(2.0), step_mode="s", backend="torch",
        )

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        return neuron.BaseNode.single_step_forward(self, x)


class CarriedStateLIF(neuron.LIFNode):
    """A multi-step LIF shared by several sites, called in turn on `[T, B, C]` currents.

    Each call starts from the membrane left by the previous call: `v0[b] = v_prev[n_b - 1, b]`, the
    membrane at video b's last true snippet (`lengths`, set by the model before the first call;
    all `T` steps when None). `reset()` (each new batch of videos) starts again from v = 0.
    """

    def __init__(self) -> None:
        super().__init__(
            tau=TAU, decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=True,
            surrogate_function=surrogate.Sigmoid(), step_mode="m", backend="torch", store_v_seq=True,
        )
        self.lengths: torch.Tensor | None = None

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        spikes = super().multi_step_forward(x_seq)
        if self.lengths is not None:
            self.v = self.v_seq[self.lengths - 1, torch.arange(x_seq.shape[1], device=x_seq.device)]
        return spikes


def select_backend(model: nn.Module, device: torch.device) -> str:
    """Use SpikingJelly's CuPy kernels for multi-step LIF layers on a GPU when CuPy is installed."""
    backend = "cupy" if device.type == "cuda" and importlib.util.find_spec("cupy") else "torch"
    for module in model.modules():
        if isinstance(module, neuron.LIFNode) and module.step_mode == "m" and not isinstance(module, CarriedStateLIF):
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
