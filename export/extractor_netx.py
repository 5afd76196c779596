"""The spiking feature extractor on Lava: export to a lava-dl netx HDF5 network and run it in the Loihi 2 simulator.

Export (`export_netx`), per conv stage of `train.extractor.SpikingBackbone`:

- BatchNorm is folded into the convolution: W' = W gamma / sigma, b' = beta - mu gamma / sigma (eval statistics).
- The toolkit's LIF has decay_input (v += (x - v) / tau); Loihi's CUBA neuron adds its input undecayed, so W' and
  b' are divided by tau. With current_decay 1 (no current memory) and voltage_decay 1 / tau the CUBA neuron
  then follows the same recursion v[t] = (1 - 1/tau) v[t-1] + W' s[t] + b', spike when v crosses the threshold,
  hard reset to 0.
- Each stage becomes a lava-dl `slayer.block.cuba.Conv` through SpikingJelly's
  `lava_exchange.to_lava_block_conv` (a bias-free `nn.Conv2d` + a `LIFNode(decay_input=False)` proxy) and is
  written with the block's own `export_hdf5`; the folded bias is added as the layer's per-channel `bias`
  (netx maps it to the LIF `bias_mant`). The per-layer `scale` (the lava_exchange `lava_s_cale`, a power of two)
  is the largest that keeps the 8-bit weights (2k / scale, k in [-128, 127]) in range.

What cannot go to netx: SEW residual adds (netx builds a feed-forward chain of input/conv/dense/flatten layers;
`add`, `pool`, `average` and `concat` raise NotImplementedError), so `residual=True` backbones are refused; the
readout (per channel, the firing rate at its most active position: the feature) is computed on the host from the recorded
spikes; the classification head is not needed for features and is not exported.

Run (`run_netx`): snippets go back to back through `lava.lib.dl.netx.hdf5.Network` (fixed-point
`Loihi2SimCfg(select_tag='fixed_pt')`, LIF state reset every `interval` steps with netx's per-layer offsets;
`reset_offset=1` because the source's frame reaches the first layer one step after it is sent, so without it
the first layer would integrate one extra step of bias before the snippet's first frame),
each layer's spikes recorded by a ring-buffer sink. The source's frame t reaches layer 0 one step later and each
layer adds one more step: layer k's spike for input frame t is entry [snippet, t + k + 1] of `run_netx`'s output.

Only this module imports Lava; it does so inside its functions.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime.netx_run import run_netx
from ucfdvs.train.extractor.backbone import ConvStage, SpikingBackbone, readout
from ucfdvs.train.model.neurons import TAU

logger = logging.getLogger(__name__)

MAX_SCALE = 1 << 10
WEIGHT_LIMIT = 254


@dataclass
class NetxExport:
    """What `export_netx` wrote: the HDF5 path, the stages exported, and per layer the scale used."""

    path: Path
    layers: list[str]
    scales: list[int]
    quantized: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # per layer (weight, bias) as written
    not_exported: list[str] = field(default_factory=list)


@dataclass
class LavaComparison:
    """Lava vs PyTorch on the same snippets: per-layer spike agreement, spike counts, feature error."""

    layers: list[str]
    agreement: list[float]  # fraction of equal binary spike entries per layer (all neurons, all T steps)
    agreement_quantized: list[float]  # the same against PyTorch with the exported 8-bit weights
    torch_spikes: list[int]
    lava_spikes: list[int]
    feature_mae: float  # mean |feature_lava - feature_torch| over [n_snippets, D] (firing rates)
    feature_max_error: float
    feature_cosine: float
    feature_mae_quantized: float
    seconds: float
    snippets: int
    scales: list[int]

    def as_dict(self) -> dict:
        return {
            "layers": {name: {"agreement": a, "agreement_quantized": aq, "torch_spikes": ts, "lava_spikes": ls,
                              "scale": sc}
                       for name, a, aq, ts, ls, sc in zip(self.layers, self.agreement, self.agreement_quantized,
                                                          self.torch_spikes, self.lava_spikes, self.scales)},
            "feature_mae": self.feature_mae, "feature_max_error": self.feature_max_error,
            "feature_cosine": self.feature_cosine, "feature_mae_quantized": self.feature_mae_quantized,
            "seconds": self.seconds, "snippets": self.snippets,
            "snippets_per_second": self.snippets / max(self.seconds, 1e-9),
        }


def exportable_stages(model: SpikingBackbone) -> list[tuple[str, ConvStage]]:
    """The conv stages in order (all of them); refuses backbones with a SEW residual block."""
    if model.sew is not None:
        raise UserError("the backbone has a SEW residual add, which lava-dl netx cannot express (no add layer)")
    stages = [(f"stages.{i}", stage) for i, stage in enumerate(model.stages)]
    return stages + [("out_stage", model.out_stage)]


def folded_stage(stage: ConvStage) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight [O, I, k, k], bias [O]) with BatchNorm folded in and divided by tau (Loihi's undecayed input)."""
    bn = stage.bn
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    weight = stage.conv.weight.detach() * scale[:, None, None, None]
    bias = bn.bias.detach() - bn.running_mean * scale
    return weight / TAU, bias / TAU


def _layer_scale(weight: torch.Tensor, threshold: float) -> int:
    """Largest power-of-two scale with |w| * scale <= 254 (8-bit weights of step 2 / scale), capped at 1024."""
    largest = float(weight.abs().max()) if weight.numel() else 0.0
    scale = MAX_SCALE
    while scale > 1 and (largest * scale > WEIGHT_LIMIT or threshold * scale >= 1 << 17):
        scale //= 2
    return scale


def _lava_exchange():
    """SpikingJelly's lava_exchange (lava-dl's banners were printed, silenced, when
    :mod:`train.model.neurons` first imported SpikingJelly)."""
    from spikingjelly.activation_based import lava_exchange, neuron

    if getattr(lava_exchange, "slayer", None) is None:
        raise UserError("lava-dl (lava.lib.dl.slayer) cannot be imported; install lava-dl to export to Lava")
    return lava_exchange, neuron


def export_netx(model: SpikingBackbone, path: str | Path) -> NetxExport:
    """Write the backbone's conv stages as a netx HDF5 network (see the module docstring); returns what was written."""
    import h5py

    lava_exchange, neuron = _lava_exchange()
    path = Path(path)
    names, scales, quantized = [], [], []
    threshold = model.config.v_threshold
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (2, model.config.height, model.config.width)
    with h5py.File(path, "w") as handle:
        layers = handle.create_group("layer")
        for index, (name, stage) in enumerate(exportable_stages(model)):
            weight, bias = folded_stage(stage)
            conv = stage.conv
            proxy = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                    conv.padding, conv.dilation, conv.groups, bias=False)
            proxy.weight.data = weight.clone()
            lif = neuron.LIFNode(tau=TAU, decay_input=False, v_threshold=threshold, v_reset=0.0)
            scale = _layer_scale(weight, threshold)
            lif.lava_s_cale = scale
            block = lava_exchange.to_lava_block_conv(proxy, lif)
            with torch.no_grad():  # slayer blocks learn their neuron shape from a first input [N, C, H, W, T]
                shape = tuple(block(torch.zeros(1, *shape, 1)).shape[1:4])
            group = layers.create_group(str(index))
            block.export_hdf5(group)
            bias_mant = np.round(bias.numpy() * scale).astype(np.int64)
            group.create_dataset("bias", data=bias_mant)
            quantized.append((np.asarray(group["weight"][()]), bias_mant))
            names.append(name)
            scales.append(scale)
    logger.info("exported %d conv layers to %s (scales %s)", len(names), path, scales)
    return NetxExport(path, names, scales, quantized,
                      ["head (Linear, training only)", "readout: time mean, space max (host side)"])


def quantized_reference(model: SpikingBackbone, export: NetxExport) -> SpikingBackbone:
    """A copy of `model` whose stages use exactly the exported integer weights and biases (BatchNorm as identity).

    Comparing Lava with it separates the runtime's fixed-point arithmetic from the 8-bit weight quantization.
    """
    reference = copy.deepcopy(model).eval()
    for (_, stage), scale, (weight, bias) in zip(exportable_stages(reference), export.scales, export.quantized):
        with torch.no_grad():
            shape = stage.conv.weight.shape
            stage.conv.weight.copy_(torch.from_numpy(weight.reshape(shape).astype(np.float32)) * TAU / scale)
            stage.bn.weight.fill_(1.0)
            stage.bn.bias.copy_(torch.from_numpy(bias.astype(np.float32)) * TAU / scale)
            stage.bn.running_mean.zero_()
            stage.bn.running_var.fill_(1.0 - stage.bn.eps)
    return reference


@torch.no_grad()
def torch_stage_spikes(model: SpikingBackbone, snippets: np.ndarray) -> list[np.ndarray]:
    """PyTorch spikes of every stage for snippets [n, T, 2, H, W]: each [n, T, C, H, W] uint8."""
    from spikingjelly.activation_based import functional

    model.eval()
    spikes = model.spikes(torch.from_numpy(snippets.astype(np.float32)))
    functional.reset_net(model)
    return [s.transpose(0, 1).numpy().astype(np.uint8) for s in spikes]


def _features(spikes: np.ndarray) -> np.ndarray:
    """The extractor's feature (:func:`train.extractor.backbone.readout`) of last-stage spikes
    ``[n, T, D, H, W]`` -> ``[n, D]``."""
    return readout(torch.from_numpy(np.ascontiguousarray(spikes.swapaxes(0, 1))).double()).numpy()


def compare_lava_torch(model: SpikingBackbone, snippets: np.ndarray, workdir: str | Path,
                       interval: int = 16) -> LavaComparison:
    """Export, run in Lava and compare with PyTorch, layer by layer, on binary snippets [n, T, 2, H, W].

    Compared both with the float model and with `quantized_reference` (the exported 8-bit weights in PyTorch).
    """
    export = export_netx(model, Path(workdir) / "extractor_netx.h5")
    started = time.perf_counter()
    lava = run_netx(export.path, snippets, interval)
    seconds = time.perf_counter() - started
    steps = snippets.shape[1]
    aligned = [got[:, k + 1:k + 1 + steps] for k, got in enumerate(lava)]
    reference = torch_stage_spikes(model, snippets)
    quantized = torch_stage_spikes(quantized_reference(model, export), snippets)
    lava_features = _features(aligned[-1])
    torch_features = _features(reference[-1])
    error = np.abs(lava_features - torch_features)
    norms = np.linalg.norm(torch_features, axis=1) * np.linalg.norm(lava_features, axis=1)
    cosine = float(np.mean(np.sum(torch_features * lava_features, axis=1) / np.maximum(norms, 1e-12)))
    return LavaComparison(
        layers=export.layers,
        agreement=[float(np.mean(a == r)) for a, r in zip(aligned, reference)],
        agreement_quantized=[float(np.mean(a == q)) for a, q in zip(aligned, quantized)],
        torch_spikes=[int(r.sum()) for r in reference],
        lava_spikes=[int(a.sum()) for a in aligned],
        feature_mae=float(error.mean()),
        feature_max_error=float(error.max()),
        feature_cosine=cosine,
        feature_mae_quantized=float(np.abs(lava_features - _features(quantized[-1])).mean()),
        seconds=seconds,
        snippets=int(len(snippets)),
        scales=export.scales,
    )
