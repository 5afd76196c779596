"""Run snnTorch and Norse networks step by step as the libraries run them, recording every layer's spikes.

Layers are named by their module names, which the libraries' NIR exporters use as node names
(snnTorch: the names of an ``nn.Sequential(OrderedDict)``, a recurrent layer ``r`` becomes
``r.lif``; Norse ``SequentialState``: ``"0"``, ``"1"``, ...).

A recurrent snnTorch file runs through snnTorch's own importer with one adaptation
(:func:`snntorch_import_flat`), as a ``torch.fx.GraphModule`` (:func:`run_graph_module`).
"""

from __future__ import annotations

from typing import Any

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


def snntorch_import_flat(graph: Any) -> torch.nn.Module:
    """snnTorch 1.0's ``import_nir.import_from_nir`` of ``graph`` without its RNN-subgraph wrapping.

    ``import_from_nir`` first wraps each ``LIF|CubaLIF <-> Affine`` cycle into a nested NIRGraph
    (``_replace_rnn_subgraph_with_nirgraph``), then hands the graph to nirtorch 2.6's
    ``nir_to_torch`` with its node map.  Two defects stop that on a recurrent file: nirtorch wires
    a nested graph before checking that its inputs exist, so when the subgraph comes before its
    producer in the node order it is deferred and wired a second time, from the GraphModule it
    already became (``AttributeError: 'GraphModule' object has no attribute 'items'``); and the
    subgraph snnTorch builds feeds its Input into ``w_rec`` instead of the neuron (edge
    ``(lif1.input, lif1.w_rec)``), so even with the nodes reordered the neuron would receive
    ``W_rec (W_1 x + s[t-1]) + b_rec``.  nirtorch 2.6 runs the flat cycle itself (the recurrent
    Affine's previous output, zero at step 0, summed into the neuron's input), so the wrapping is
    skipped (patched out for this one call; nothing else changes): every module is the one
    snnTorch's node map makes (``snn.Synaptic``/``snn.Leaky`` with ``init_hidden=True``,
    ``reset_delay=False``; ``torch.nn.Linear`` with the file's bias).  Its notices on stdout are
    swallowed.
    """
    import warnings
    from unittest import mock

    from snntorch import import_nir

    from ucfdvs.benchmarks.environment import library_notices_silenced

    with mock.patch.object(import_nir, "_replace_rnn_subgraph_with_nirgraph", lambda g: g), \
            library_notices_silenced(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_nir.import_from_nir(graph)


def run_graph_module(net: torch.nn.Module, x: torch.Tensor, state: dict[str, Any] | None = None
                     ) -> dict[str, torch.Tensor]:
    """Run a nirtorch ``GraphModule`` of snnTorch neurons over ``x [B, T, ...]`` from rest, passing
    its state dict from step to step (``state``: the one before step 0, e.g.
    ``{"<node>_prev_output": tensor}`` for what a back edge delivers at step 0; default: nirtorch's
    zeros); returns ``{neuron module name: spikes [B, T, ...]}`` (module names are node names with
    ``.`` -> ``_``)."""
    import snntorch as snn
    from snntorch import utils

    rec: dict[str, list[torch.Tensor]] = {n: [] for n, m in net.named_modules() if isinstance(m, snn.SpikingNeuron)}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: rec[n].append(o[0] if isinstance(o, tuple) else o))
             for n, m in net.named_modules() if n in rec]
    try:
        utils.reset(net)
        for t in range(x.shape[1]):
            _, state = net(x[:, t], state)
    finally:
        for h in hooks:
            h.remove()
    return {n: torch.stack(v, 1) for n, v in rec.items()}


def run_rockpool(net: Any, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run a Rockpool torch network (e.g. a ``Sequential``) over ``x [B, T, C]`` from rest with its
    own ``evolve`` (``record=True``); returns ``{LIF module name: spikes [B, T, N]}`` (Rockpool's
    spike counts per step; its ``to_nir`` names the nodes after the same modules)."""
    net.reset_state()
    _, _, rec = net(x, record=True)
    return {name: r["spikes"] for name, r in rec.items() if isinstance(r, dict) and "spikes" in r}


def to_numpy_spikes(spikes: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Spike tensors -> uint8 arrays (the libraries emit 0/1 floats)."""
    return {n: s.detach().cpu().numpy().astype(np.uint8) for n, s in spikes.items()}
