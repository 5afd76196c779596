"""Run snnTorch and Norse networks step by step as the libraries run them, recording every layer's spikes.

Layers are named by their module names, which the libraries' NIR exporters use as node names
(snnTorch: the names of an ``nn.Sequential(OrderedDict)``, a recurrent layer ``r`` becomes
``r.lif``; Norse ``SequentialState``: ``"0"``, ``"1"``, ...).
"""

from __future__ import annotations

import numpy as np
import torch


def run_snntorch(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run an snnTorch net (neurons with ``init_hidden=True``) over ``x [B, T, ...]`` from rest.

    Returns the last layer's output ``[B, T, ...]`` and ``{neuron module name: spikes [B, T, ...]}``.
    """
    import snntorch as snn
    from snntorch import utils

    rec: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for name, mod in net.named_modules():
        if isinstance(mod, snn.SpikingNeuron):
            rec[name] = []
            hooks.append(mod.register_forward_hook(
                lambda m, i, o, n=name: rec[n].append(o[0] if isinstance(o, tuple) else o)))
    try:
        utils.reset(net)
        outs = []
        for t in range(x.shape[1]):
            o = net(x[:, t])
            outs.append(o[0] if isinstance(o, tuple) else o)
    finally:
        for h in hooks:
            h.remove()
    return torch.stack(outs, 1), {n: torch.stack(v, 1) for n, v in rec.items()}


def run_norse(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run a Norse ``SequentialState`` over ``x [B, T, ...]`` from rest, layer by layer.

    Returns the last layer's output ``[B, T, ...]`` and ``{cell name: spikes [B, T, ...]}`` for every
    stateful (spiking) child.
    """
    from norse.torch.module.snn import SNNCell, SNNRecurrentCell

    children = list(net.named_children())
    states: list = [None] * len(children)
    rec: dict[str, list[torch.Tensor]] = {
        n: [] for n, m in children if isinstance(m, (SNNCell, SNNRecurrentCell))}
    outs = []
    for t in range(x.shape[1]):
        h = x[:, t]
        for i, (name, mod) in enumerate(children):
            if name in rec:
                h, states[i] = mod(h, states[i])
                rec[name].append(h)
            else:
                h = mod(h)
        outs.append(h)
    return torch.stack(outs, 1), {n: torch.stack(v, 1) for n, v in rec.items()}


def to_numpy_spikes(spikes: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Spike tensors -> uint8 arrays (the libraries emit 0/1 floats)."""
    return {n: s.detach().cpu().numpy().astype(np.uint8) for n, s in spikes.items()}
