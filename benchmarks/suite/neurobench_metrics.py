"""NeuroBench's metrics under NeuroBench's names, computed by us from a NIR graph and a run.

NeuroBench (Yik et al., "The neurobench framework for benchmarking neuromorphic computing
algorithms and systems", Nature Communications 2025; package ``neurobench`` 2.3) defines, per
model (static) and per evaluated sample (workload):

* ``Footprint`` (bytes): parameters + buffers of the model (``numel x element_size``).  Ours:
  4 bytes x (every weight entry of every synapse layer + the non-zero constant drives (biases)
  of neuron nodes + the per-neuron state-update parameters: 2 for LIF (decay, threshold), 3 for
  CubaLIF, 1 for LI).  snnTorch also stores per-layer scalars (``graded_spikes_factor``,
  ``reset_mechanism_val``, an empty ``mem``) that a NIR graph does not have.
* ``ConnectionSparsity``: zero weights / all weights of the connection layers (Linear, Conv).
  Ours: the same over the synapse matrices.
* ``ActivationSparsity``: zero outputs / all outputs of the neuron layers, over layers, steps
  and samples.  Ours: ``1 - (spikes + non-zero LI outputs) / neuron updates``.
* ``SynapticOperations``: per layer call, the input is *spiking* when all its values are 0 or
  +-1; then ``Effective_ACs`` += sum over non-zero inputs of their non-zero weights, else
  ``Effective_MACs`` += the same count; ``Dense`` += every weight entry (zeros included) at every
  step; biases are not operations; all divided by the number of samples.  Ours: spikes x
  non-zero fan-out (``synops``) are ACs; graded messages (LI outputs; the Input unless
  ``binary_input``) x non-zero fan-out (``graded_ops``) are MACs; ``Dense`` = weight entries x
  steps.  NeuroBench decides spiking per call (one step of one layer); we decide per source over
  the run, which differs only on a graded step whose values happen to be all 0 or +-1.
* ``MembraneUpdates``: per neuron layer, all neurons at the first step, then the neurons whose
  membrane changed (``count_nonzero(pre - post)``), per sample.  Ours: every neuron at every step
  (what Loihi executes), an upper bound of NeuroBench's; equal when every neuron's membrane
  moves every step (e.g. non-zero biases).

Everything here is NumPy on the runtime's counts (:class:`benchmarks.suite.ops.OpCount`), so it
applies to any graph ``neuro_runtime`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ucfdvs.benchmarks.suite.ops import OpCount, count_graph

NEURON_PARAMETERS = {"LIF": 2, "CubaLIF": 3, "LI": 1}
BYTES_PER_PARAMETER = 4


@dataclass
class GraphParameters:
    """A graph's stored numbers: ``weights`` (entries of every synapse matrix, zeros included),
    ``zero_weights``, ``biases`` (non-zero constant drives), ``neuron_parameters``."""

    weights: int
    zero_weights: int
    biases: int
    neuron_parameters: int

    @property
    def footprint_bytes(self) -> int:
        return BYTES_PER_PARAMETER * (self.weights + self.biases + self.neuron_parameters)


def graph_parameters(graph) -> GraphParameters:
    """Count the weights (every tap of every synapse layer), zeros, biases and neuron parameters."""
    mats = [t.matrix for p in graph.projections for t in p.terms if t.delay > 0]
    weights = int(sum(m.size for m in mats))
    zeros = weights - int(sum(np.count_nonzero(m) for m in mats))
    biases = int(sum(np.count_nonzero(s.bias) for s in graph.neurons.values()))
    params = int(sum(NEURON_PARAMETERS.get(s.kind, 1) * s.size for s in graph.neurons.values()))
    return GraphParameters(weights, zeros, biases, params)


def neurobench_metrics(graph, counts: OpCount, samples: int, binary_input: bool = False) -> dict[str, float]:
    """NeuroBench's metrics of a run (``counts`` over ``samples`` sequences), NeuroBench's names.

    ``binary_input``: the Input sends only 0 / +-1 (spike trains): its operations are ACs, not MACs.
    Workload metrics are per sample, as NeuroBench reports them.
    """
    par = graph_parameters(graph)
    n = max(samples, 1)
    inp = next((c for k, c in counts.layers.items() if k.endswith("(input)")), None)
    neurons = {k: c for k, c in counts.layers.items() if not k.endswith("(input)")}
    input_ops = inp.graded_ops if inp is not None else 0
    acs = sum(c.synops for c in neurons.values()) + (input_ops if binary_input else 0)
    macs = sum(c.graded_ops for c in neurons.values()) + (0 if binary_input else input_ops)
    updates = sum(c.neuron_steps for c in neurons.values())
    active = sum(c.spikes + c.graded_messages for c in neurons.values())
    return {
        "Footprint": float(par.footprint_bytes),
        "ConnectionSparsity": par.zero_weights / par.weights if par.weights else 0.0,
        "ActivationSparsity": 1.0 - active / updates if updates else 0.0,
        "Effective_MACs": macs / n,
        "Effective_ACs": acs / n,
        "Dense": par.weights * counts.steps / n,
        "MembraneUpdates": updates / n,
    }


def source_window(graph, record, inputs: np.ndarray, steps: int) -> tuple[list, list, list]:
    """A batched :class:`neuro_runtime.RunRecord` cut to the source network's ``steps`` steps.

    In the runtime every synapse layer delays by one step, so node ``n`` sees the input of source
    step ``t`` at runtime step ``t + arrival[n]``; its activity over ``[arrival[n], arrival[n] +
    steps)`` is the source network's ``[0, steps)``.  ``inputs``: ``[B, T >= steps, C]``.
    Returns per-sample lists (spikes, inputs, graded) in :func:`ops.count_graph`'s format.
    """
    spikes, graded, xs = [], [], []
    for b in range(inputs.shape[0]):
        window = {n: np.asarray(a[b])[graph.arrival[n]: graph.arrival[n] + steps] for n, a in record.activity.items()}
        spikes.append({n: w for n, w in window.items() if graph.neurons[n].spiking})
        graded.append({n: w for n, w in window.items() if not graph.neurons[n].spiking})
        xs.append(np.asarray(inputs[b, :steps]))
    return spikes, xs, graded


def record_metrics(graph, record, inputs: np.ndarray, steps: int, binary_input: bool) -> tuple[dict[str, float], OpCount]:
    """NeuroBench's metrics of a batched emulator / Lava record over the source's ``steps`` steps."""
    spikes, xs, graded = source_window(graph, record, inputs, steps)
    counts = count_graph(graph, spikes, xs, graded=graded, snippets=len(xs) * steps)
    return neurobench_metrics(graph, counts, len(xs), binary_input), counts
