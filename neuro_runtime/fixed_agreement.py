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
from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime.quantize import (
    EXACT, MAX_WEIGHT_PLANES, PlaneSpec, QuantizationWarning, QuantizedGraph, quantize,
)
from ucfdvs.neuro_runtime.records import RunRecord

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
                    reference: RunRecord | None = None, **quant_kwargs: Any) -> AgreementReport:
    """Run ``x`` ``[B, T, C]`` in the float and the fixed-point emulator and compare every layer.

    ``quant``: the fixed-point parameters (default ``quantize(graph, **quant_kwargs)``, e.g.
    ``calibration=x``).  ``reference``: the float emulator's record of ``x`` when already run.
    Warns (:class:`QuantizationWarning`) naming each spiking layer below :data:`AGREEMENT_GOAL`.
    """
    if quant is None:
        quant = quantize(graph, **quant_kwargs)
    ref = reference if reference is not None else Emulator(graph, "floating_pt").run(x)
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


AUTO_MAX_PLANES = 3
"""Most synapse processes (weight planes) :func:`choose_weight_planes` gives a synapse layer by default."""

PLANE_LADDER: tuple[PlaneSpec, ...] = (1, 2, EXACT, 3, 4)
"""The weight-plane settings :func:`choose_weight_planes` climbs, cheapest first (``"exact"`` is
three synapse processes: plane 1 and its residual as an EXCITATORY and an INHIBITORY plane)."""


def plane_processes(spec: PlaneSpec) -> int:
    """Synapse processes of a weight-plane setting (at most; a plane that rounds to zero is left out)."""
    return 3 if spec == EXACT else int(spec)


@dataclass
class PlaneChoice:
    """What :func:`choose_weight_planes` chose: the weight-plane setting per synapse layer, the
    fixed-point parameters with them, their agreement on the choice input, and each step tried."""

    planes: dict[str, PlaneSpec]
    quant: QuantizedGraph
    report: AgreementReport
    tried: list[dict[str, Any]] = field(default_factory=list)


def choose_weight_planes(graph: RuntimeGraph, x: np.ndarray, *, goal: float = AGREEMENT_GOAL,
                         max_planes: int = AUTO_MAX_PLANES, min_gain: float = 0.005,
                         **quant_kwargs: Any) -> PlaneChoice:
    """The cheapest weight planes per synapse layer that bring every spiking layer to ``goal``
    spike agreement with float on ``x`` ``[B, T, C]`` (``weight_planes="auto"``).

    Greedy, from the input towards the outputs (a layer's disagreement flows downstream): start
    with one plane everywhere; take the first spiking node (in graph order) below ``goal`` and
    try the next settings of :data:`PLANE_LADDER` (at most ``max_planes`` synapse processes) for
    every synapse layer into it, cheapest first; keep the first that raises the node's agreement
    by at least ``min_gain`` or to ``goal`` (a plane costs a synapse process and its synaptic
    memory), else
    leave the node as it is and go on to the next.  Every trial is a fixed-point emulator run of
    ``x`` (the float run is made once).  ``quant_kwargs`` go to :func:`quantize` (e.g.
    ``input_range``, ``calibration``, ``integer_input``).
    """
    if not 1 <= max_planes <= MAX_WEIGHT_PLANES:
        raise UserError(f"max_planes must be from 1 to {MAX_WEIGHT_PLANES}, got {max_planes}")
    ladder = [v for v in PLANE_LADDER if plane_processes(v) <= max_planes]
    ref = Emulator(graph, "floating_pt").run(x)
    synaptic = {p.name for p in graph.projections if p.dst in graph.neurons and any(t.delay > 0 for t in p.terms)}
    planes: dict[str, PlaneSpec] = {name: 1 for name in sorted(synaptic)}
    tried: list[dict[str, Any]] = []

    def trial(pl: dict[str, PlaneSpec]) -> tuple[QuantizedGraph, AgreementReport]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", QuantizationWarning)
            q = quantize(graph, weight_planes=pl, **quant_kwargs)
            rep = fixed_agreement(graph, x, quant=q, reference=ref)
        tried.append({"planes": dict(pl), "layers": {k: v.agreement for k, v in rep.layers.items()
                                                     if v.rel_rms is None}, "decisions": rep.decisions})
        return q, rep

    quant, report = trial(planes)
    settled: set[str] = set()
    while True:
        below = [n for n in graph.order if n in graph.neurons and graph.neurons[n].spiking and n not in settled
                 and report.layers[n].agreement < goal]
        if not below:
            break
        node = below[0]
        into = [p.name for p in graph.into(node) if p.name in synaptic]
        step = min(ladder.index(planes[name]) for name in into) if into else len(ladder)
        for setting in ladder[step + 1:]:
            more = {**planes, **{name: setting for name in into}}
            q2, rep2 = trial(more)
            was, now = report.layers[node].agreement, rep2.layers[node].agreement
            if now >= was + min_gain or (now >= goal > was):
                planes, quant, report = more, q2, rep2
                break
        else:
            settled.add(node)
    return PlaneChoice(planes, quant, report, tried)
