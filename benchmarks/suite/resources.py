"""Loihi 2 resources of a NIR graph: neurons, synapses, synaptic memory and cores per population.

An estimate under the per-core and per-chip limits of the constants table (``loihi2_*``): each
population gets ``cores = max(ceil(N / neurons_per_core), ceil(synaptic memory / memory_per_core), 1)``
cores of its own (no sharing between populations, which is how Lava's compiler places layers by
default).  Synapses = non-zero weights of every synapse layer into the population (a multi-step
``DelayDense`` stores one weight per tap).  Synaptic memory = synapses x ``loihi2_weight_bits``;
compression, index and axon-routing overhead and neuron-state memory are not counted.  The Input
(graded values from the host) takes no neuro core.  The graph fits one chip when its cores, neurons
and synapses are within the per-chip limits.  Published: 128 neuro cores, 1 million neurons and
120 million synapses per chip, 192 KB of memory per core; the 8,192 neurons per core is an
assumption (see ``benchmarks/energy_constants.json``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ucfdvs.benchmarks.suite.constants import Constants


@dataclass
class PopulationResources:
    """One population: ``neurons``, ``synapses`` in, ``memory_kib`` of weights, ``cores``;
    ``weight_planes``: the most weight planes of a synapse layer into it (fixed point)."""

    neurons: int
    synapses: int
    memory_kib: float
    cores: int
    weight_planes: int = 1


@dataclass
class Resources:
    """The whole graph: ``populations`` by name and their totals; ``fits_one_chip``: cores, neurons
    and synapses within the per-chip limits."""

    populations: dict[str, PopulationResources]
    cores: int
    neurons: int
    synapses: int
    memory_kib: float
    fits_one_chip: bool
    synapse_processes: int = 0  # synapse layers x their weight planes (before Lava's fusion)


def loihi2_resources(graph, constants: Constants, quant=None) -> Resources:
    """Per-population and total Loihi 2 resources of a :class:`neuro_runtime.RuntimeGraph`.

    ``quant`` (a :class:`neuro_runtime.QuantizedGraph`): fixed point, where synapses are the
    non-zero 8-bit mantissas of every weight plane (a layer with N planes stores its synapses up
    to N times, one synapse process per plane)."""
    per_core_kib = constants["loihi2_memory_per_core_kib"]
    per_core_neurons = constants["loihi2_neurons_per_core"]
    bits = constants["loihi2_weight_bits"]
    qplanes = {qp.name: qp.planes for qp in quant.projections} if quant is not None else {}
    pops: dict[str, PopulationResources] = {}
    processes = 0
    for name, spec in graph.neurons.items():
        layers = [p for p in graph.into(name) if any(t.delay > 0 for t in p.terms)]
        if quant is None:
            synapses = int(sum(np.count_nonzero(t.matrix) for p in layers for t in p.terms if t.delay > 0))
            planes = [1 for _ in layers]
        else:
            synapses = int(sum(np.count_nonzero(t.wq) for p in layers for pl in qplanes[p.name] for t in pl.terms))
            planes = [len(qplanes[p.name]) for p in layers]
        processes += sum(planes)
        kib = synapses * bits / 8.0 / 1024.0
        cores = max(math.ceil(spec.size / per_core_neurons), math.ceil(kib / per_core_kib) if per_core_kib else 0, 1)
        pops[name] = PopulationResources(spec.size, synapses, kib, cores, max(planes, default=1))
    cores = sum(p.cores for p in pops.values())
    neurons = sum(p.neurons for p in pops.values())
    synapses = sum(p.synapses for p in pops.values())
    fits = (cores <= constants["loihi2_cores_per_chip"] and neurons <= constants["loihi2_neurons_per_chip"]
            and synapses <= constants["loihi2_synapses_per_chip"])
    return Resources(pops, cores, neurons, synapses, sum(p.memory_kib for p in pops.values()), fits, processes)
