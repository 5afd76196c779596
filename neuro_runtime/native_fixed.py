"""Fixed point for networks already on Loihi's grid (lava-dl): keep their own integers.

A network trained for Loihi (lava-dl, slayer) carries Loihi's integers: 8-bit weights (slayer
writes them x 64: even values in [-256, 254]), 12-bit decays, the threshold mantissa.  In the
lava-dl convention (:data:`neuro_runtime.sources.CONVENTIONS`, :mod:`neuro_runtime.netx_graph`)
the float membrane is ``v_int / 64``, i.e. every neuron node has the native scale ``S = 64`` and
input spikes are messages of 1 (``S_in = 1``).  At that scale a node is *native* when all of its
parameters land exactly on the fixed-point formats (:func:`native_reason` says why not)::

    4096 du, 4096 dv            integers in 1..4096 / 0..4096
    vth S / 64                  integer in 1..2**17 - 1
    bias S                      mant << exp (13-bit signed mantissa, exp 0..7)
    W S / 64 / S_src            8-bit mantissas << one exponent in [-8, 7] per projection (even
                                mantissas where signs are mixed: Lava drops the LSB there)

:func:`quantize_native` gives native nodes exactly those integers (no re-scaling, no re-rounding:
bit-identical to lava-dl netx's own Lava ``fixed_pt`` run) and re-quantises the others with
:func:`neuro_runtime.quantize.quantize`; ``QuantizedGraph.origins`` says which, per node.
Relative tolerance 1e-9 on "integer" absorbs the float64 round trip of the NIR convention.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ucfdvs.neuro_runtime.graph_check import RuntimeGraph
from ucfdvs.neuro_runtime.quantize import QuantizedGraph, quantize
from ucfdvs.neuro_runtime.semantics import BIAS_EXP_MAX, BIAS_MANT_MAX, BIAS_MANT_MIN, DECAY_UNITY, VTH_MAX

NATIVE_SCALE = 64.0
"""Integers per float unit of ``v`` in the lava-dl convention (the file's integers are Loihi's)."""
NATIVE_INPUT_SCALE = 1.0
"""Input spikes are messages of 1."""
_TOL = 1e-9


def _integral(x: np.ndarray) -> bool:
    x = np.asarray(x, dtype=np.float64)
    return bool(np.all(np.abs(x - np.round(x)) <= _TOL * np.maximum(1.0, np.abs(x))))


def _weights_native(m: np.ndarray) -> str | None:
    """None if ``m`` (target integers ``W S/64/S_src``) is 8-bit mantissas << one exponent, else why not."""
    if not _integral(m):
        return "weights are not integers at the native scale"
    m = np.round(m)
    top = float(np.max(np.abs(m))) if m.size else 0.0
    if top == 0:
        return None
    mixed = m.min() < 0 < m.max()
    lim = 254.0 if mixed else 255.0
    exp = max(-8, math.ceil(math.log2(top / lim)))
    if exp > 7:
        return f"largest |weight| {top:g} needs weight_exp {exp} > 7"
    mant = m / 2.0 ** exp
    if not _integral(mant) or (mixed and np.any(np.round(mant) % 2)):
        odd = " (odd mantissas in mixed-sign mode)" if mixed else ""
        return f"weights need more than 8 bits at weight_exp {exp}{odd}"
    return None


def native_reason(graph: RuntimeGraph, node: str, scale: float = NATIVE_SCALE,
                  input_scale: float = NATIVE_INPUT_SCALE) -> str | None:
    """None when neuron node ``node`` and every projection into it sit on Loihi's grid at ``scale``
    (see the module docstring), else the first reason why not."""
    spec = graph.neurons[node]
    if not spec.spiking:
        return "graded node (no native form)"
    du, dv = spec.du * DECAY_UNITY, spec.dv * DECAY_UNITY
    if not _integral(du) or not _integral(dv) or np.any(np.round(du) < 1) or np.any(np.round(dv) < 0):
        return "decays are not 12-bit integers"
    vth = spec.vth * scale / 64
    if not _integral(vth) or np.any(np.round(vth) < 1) or np.any(np.round(vth) > VTH_MAX):
        return "threshold is not a 17-bit integer at the native scale"
    bq = spec.bias * scale
    if not _integral(bq):
        return "bias is not an integer at the native scale"
    bq = np.round(bq)
    big = np.abs(bq) > BIAS_MANT_MAX
    bexp = np.zeros(bq.shape)
    bexp[big] = np.ceil(np.log2(np.abs(bq[big]) / BIAS_MANT_MAX))
    if np.any(bexp > BIAS_EXP_MAX) or not _integral(bq / 2.0 ** bexp) or np.any(bq / 2.0 ** bexp < BIAS_MANT_MIN):
        return "bias does not fit a 13-bit mantissa << 0..7"
    if spec.reset_sub is not None and not _integral(spec.reset_sub * scale):
        return "reset amount is not an integer at the native scale"
    for p in graph.into(node):
        if p.src == graph.input_name:
            units = input_scale
        elif graph.neurons[p.src].spiking:
            units = 1.0
        else:
            return f"input from graded node '{p.src}'"
        if any(t.delay == 0 for t in p.terms):
            return f"zero-delay path from '{p.src}'"
        m = np.concatenate([t.matrix.ravel() for t in p.terms]) * (scale / 64) / units
        why = _weights_native(m)
        if why:
            return f"layer {p.name}: {why}"
    return None


def quantize_native(graph: RuntimeGraph, **quant_kwargs: Any) -> QuantizedGraph:
    """Loihi fixed point keeping a Loihi-trained network's own integers (see the module docstring).

    Native nodes get scale :data:`NATIVE_SCALE`; when any native node reads the Input, the input
    scale is :data:`NATIVE_INPUT_SCALE` (inputs are spikes, sent as they are).  The other nodes are
    re-quantised by :func:`neuro_runtime.quantize.quantize` (``quant_kwargs``), without exponent
    alignment.  ``QuantizedGraph.origins``: node -> ``"native"`` or ``"re-quantised: <why>"``.
    """
    reasons = {n: native_reason(graph, n) for n in graph.neurons}
    native = {n: NATIVE_SCALE for n, why in reasons.items() if why is None}
    reads_input = any(p.src == graph.input_name and p.dst in native for p in graph.projections)
    q = quantize(graph, **{**quant_kwargs, "align_exponents": False}, native_scales=native,
                 input_scale=NATIVE_INPUT_SCALE if reads_input else None)
    q.origins = {n: "native" if why is None else f"re-quantised: {why}" for n, why in reasons.items()}
    return q
