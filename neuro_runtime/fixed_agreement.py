"""How closely Loihi fixed point follows float on given inputs: per layer and per decision.

The emulator's ``fixed_pt`` is bit-identical to Lava ``fixed_pt`` (conformance suite), so this
measures Lava's fixed-point deployment without Lava.  Per spiking node::

    agreement = #(float spike and fixed spike at the same sequence, step, neuron) / max(#float, #fixed)

(1.0 when both are silent); per graded node (LI, CubaLI, I) the relative RMS error of its
output; per Output the share of sequences whose decision (argmax over channels of the output
summed over time) is the same.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ucfdvs.neuro_runtime.emulator import Emulator
from ucfdvs.neuro_runtime.graph_check import RuntimeGraph
from ucfdvs.neuro_runtime.quantize import QuantizationWarning, QuantizedGraph, quantize

AGREEMENT_GOAL = 0.99
"""Spike agreement per layer below which :func:`fixed_agreement` warns."""


@dataclass
class LayerAgreement:
    """One neuron node: spike counts in float and fixed point and their agreement (spiking), or
    the relative RMS error of its graded output."""

    node: str
    kind: str
    float_spikes: int = 0
    fixed_spikes: int = 0
    agreement: float = 1.0
    rel_rms: float | None = None


@dataclass
class AgreementReport:
    """Per layer (:class:`LayerAgreement`) and per Output (decision agreement, share of sequences)."""

    layers: dict[str, LayerAgreement]
    decisions: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    @property
    def worst_spike_agreement(self) -> float:
        return min((a.agreement for a in self.layers.values() if a.rel_rms is None), default=1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"layers": {k: vars(v) for k, v in self.layers.items()}, "decisions": self.decisions,
                "worst_spike_agreement": self.worst_spike_agreement, "warnings": self.warnings}


def spike_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Coinciding spikes over the larger spike count (1.0 if neither spikes)."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    most = max(int(a.sum()), int(b.sum()))
    return 1.0 if most == 0 else float(np.sum(a & b)) / most


def fixed_agreement(graph: RuntimeGraph, x: np.ndarray, quant: QuantizedGraph | None = None,
                    **quant_kwargs: Any) -> AgreementReport:
    """Run ``x`` ``[B, T, C]`` in the float and the fixed-point emulator and compare every layer.

    ``quant``: the fixed-point parameters (default ``quantize(graph, **quant_kwargs)``, e.g.
    ``calibration=x``).  Warns (:class:`QuantizationWarning`) naming each spiking layer below
    :data:`AGREEMENT_GOAL`.
    """
    if quant is None:
        quant = quantize(graph, **quant_kwargs)
    ref = Emulator(graph, "floating_pt").run(x)
    got = Emulator(graph, "fixed_pt", quant).run(x)
    layers: dict[str, LayerAgreement] = {}
    notes: list[str] = []
    for n, spec in graph.neurons.items():
        a, b = ref.activity[n], got.activity[n]
        if spec.spiking:
            agree = spike_agreement(a, b)
            layers[n] = LayerAgreement(n, spec.kind, int(a.sum()), int(b.sum()), agree)
            if agree < AGREEMENT_GOAL:
                notes.append(f"layer '{n}' ({spec.kind}): fixed point agrees with float on {agree:.1%} of "
                             f"spikes ({int(a.sum())} float, {int(b.sum())} fixed)")
        else:
            den = float(np.sqrt(np.mean(np.square(a)))) or 1.0
            layers[n] = LayerAgreement(n, spec.kind, rel_rms=float(np.sqrt(np.mean(np.square(b - a)))) / den)
    decisions = {}
    for o in graph.outputs:
        da = ref.outputs[o].sum(axis=1).argmax(axis=-1)
        db = got.outputs[o].sum(axis=1).argmax(axis=-1)
        decisions[o] = float(np.mean(da == db))
    for msg in notes:
        warnings.warn(msg, QuantizationWarning, stacklevel=2)
    return AgreementReport(layers, decisions, notes)
