"""The reference MSF -> ONNX, for conventional (non-neuromorphic) serving.

The graph is traced at a fixed window of ``steps`` snippets (the spiking layers are unrolled
over time); inputs ``features [B, steps, D]`` (zero-padded) and ``lengths [B]`` (int64, true
lengths <= steps), output ``scores [B, steps]`` in (0, 1); the batch size is dynamic. A video
longer than the window must be scored by a model exported with a larger ``--onnx-steps``.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ucfdvs.atomic import atomic_path
from ucfdvs.errors import UserError
from ucfdvs.train.model.msf import MSF
from ucfdvs.train.model.neurons import neuron

DEFAULT_STEPS = 64  # tracing time grows about quadratically with the window (minutes at 64)
OPSET = 17
# torch >= 2.9 defaults to the torch.export-based exporter (needs onnxscript); this module is written
# for the TorchScript tracer, which torch < 2.5 uses without being asked (it has no ``dynamo`` flag).
_TRACER = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


class _TraceableLIF(nn.Module):
    """SpikingJelly ``LIFNode`` (decay_input, hard reset) forward arithmetic, fires at ``v >= threshold``."""

    def __init__(self, src: "neuron.LIFNode") -> None:
        super().__init__()
        self.tau, self.v_threshold, self.v_reset = float(src.tau), float(src.v_threshold), float(src.v_reset)
        self.step_mode = src.step_mode
        self.v: torch.Tensor | None = None

    def reset(self) -> None:
        self.v = None

    def _step(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = v + (x - (v - self.v_reset)) / self.tau
        spike = (v >= self.v_threshold).to(x.dtype)
        return spike, v * (1.0 - spike) + self.v_reset * spike

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            v = torch.full_like(x, self.v_reset) if self.v is None else self.v
            spike, self.v = self._step(x, v)
            return spike
        v = torch.full_like(x[0], self.v_reset)
        out = []
        for t in range(x.shape[0]):
            spike, v = self._step(x[t], v)
            out.append(spike)
        return torch.stack(out, 0)


class _Wrapper(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model(features, lengths)


def export_onnx(model: nn.Module, path: str | Path, steps: int = DEFAULT_STEPS) -> None:
    """Trace the reference model (eval mode) at ``steps`` snippets and write ``path`` atomically."""
    if not isinstance(model, MSF):
        raise UserError(f"cannot export module {type(model).__name__} to ONNX: expected the reference MSF")
    if model.config.variant != "paper":
        raise UserError("cannot export msf-released to ONNX: its shared carried-state and strict-threshold neurons "
                        "have no traceable form here (export it to NIR, or use --model msf)")
    if steps < 2:
        raise UserError(f"--onnx-steps must be >= 2, got {steps}")
    try:
        import onnx  # noqa: F401 - torch's exporter writes through it
    except ImportError as err:
        raise UserError("--onnx needs the onnx package, which is not installed here: pip install -e '.[interop]'") from err
    model = copy.deepcopy(model).eval()
    # SpikingJelly's LIF runs TorchScript loops and initialises v from `x.data`, which the tracer
    # freezes (batch size baked in); swap in the same arithmetic as plain, traceable tensor code.
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, neuron.LIFNode):
                setattr(parent, name, _TraceableLIF(child))
    features = torch.zeros(2, steps, model.feature_dim)
    lengths = torch.tensor([steps, max(1, steps // 2)])
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Wrapper(model), (features, lengths), str(tmp), input_names=["features", "lengths"],
            output_names=["scores"], dynamic_axes={"features": {0: "batch"}, "lengths": {0: "batch"}, "scores": {0: "batch"}},
            opset_version=OPSET, training=torch.onnx.TrainingMode.PRESERVE, **_TRACER,
        )


def run_onnx(path: str | Path, features: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Score ``features [B, steps, D]`` with onnxruntime (CPU), ``[B, steps]``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(["scores"], {"features": features.astype(np.float32), "lengths": lengths.astype(np.int64)})[0]
