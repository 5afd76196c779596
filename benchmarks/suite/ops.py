"""Operation counting: spikes, neuron updates, synaptic operations, dense MACs.

Conventions (those of SpikingJelly's op counters and sinabs' ``SynOpCounter``):

* a **synaptic operation** (synop, an accumulate) = one spike delivered to one target: a spike
  of neuron j costs ``fan_out[j]`` synops, ``fan_out[j]`` = non-zero weights in column j of every
  synapse layer leaving j (direct zero-delay wires are not synapses);
* a **graded message** (Input, LI) delivered to ``fan_out`` targets is counted separately
  (``graded_ops``: Loihi 2 multiplies its payload by the weight);
* a **dense MAC** is a multiply-accumulate on a real-valued input (a convolution or linear
  layer on features, a graph-adjacency product): what a GPU executes whatever the sparsity;
* a **neuron update** = one neuron in one step (N x steps); an *active* update is one where the
  neuron spiked.

Two counters: :func:`count_graph` for a NIR graph run (emulator, Lava, the NIR interpreter) from
the recorded spikes and the graph's matrices; :func:`count_reference` for the PyTorch reference
MSF from its recorded LIF spikes and a per-operator table (:func:`reference_operators`).
All counts are plain integers for the videos given (no units beyond "operations").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LayerCount:
    """One neuron population / LIF layer summed over videos.

    ``neurons`` N; ``neuron_steps`` = N x steps (neuron updates); ``spikes``; ``synops``: spikes x
    fan-out (accumulates); ``graded_ops``: graded messages x fan-out; ``fan_out``: mean targets per
    neuron; ``spiking``: False for graded populations (LI, the Input).
    """

    neurons: int
    neuron_steps: int = 0
    spikes: int = 0
    synops: int = 0
    graded_messages: int = 0
    graded_ops: int = 0
    fan_out: float = 0.0
    spiking: bool = True

    @property
    def firing_rate(self) -> float:
        """Spikes per neuron per step (0..1)."""
        return self.spikes / self.neuron_steps if self.neuron_steps else float("nan")

    @property
    def sparsity(self) -> float:
        """Fraction of neuron-steps without a spike."""
        return 1.0 - self.firing_rate


@dataclass
class OpCount:
    """Counts of one backend over its videos: per layer, plus dense MACs and step totals."""

    layers: dict[str, LayerCount] = field(default_factory=dict)
    dense_macs: int = 0
    dense_macs_by_op: dict[str, int] = field(default_factory=dict)
    dense_equivalent_macs: int = 0  # every synaptic layer executed densely (what a GPU does)
    snippets: int = 0  # video snippets scored
    steps: int = 0  # time steps executed (snippets + latency padding for streaming graphs)

    @property
    def spikes(self) -> int:
        return sum(c.spikes for c in self.layers.values())

    @property
    def synops(self) -> int:
        return sum(c.synops for c in self.layers.values())

    @property
    def graded_ops(self) -> int:
        return sum(c.graded_ops for c in self.layers.values())

    @property
    def graded_messages(self) -> int:
        return sum(c.graded_messages for c in self.layers.values())

    @property
    def neuron_updates(self) -> int:
        return sum(c.neuron_steps for c in self.layers.values() if c.neurons and c.neuron_steps)

    @property
    def active_neuron_updates(self) -> int:
        return self.spikes


# -- NIR graphs -------------------------------------------------------------------------------

def graph_fan_out(graph) -> dict[str, np.ndarray]:
    """Per source (Input or neuron node) ``[N_src]`` number of non-zero weights leaving each neuron
    (summed over the synapse layers it feeds; zero-delay wires excluded, as the runtime counts)."""
    fan: dict[str, np.ndarray] = {}
    for p in graph.projections:
        nnz = fan.setdefault(p.src, np.zeros(graph.size(p.src), dtype=np.int64))
        for term in p.terms:
            if term.delay > 0:
                nnz += np.count_nonzero(term.matrix, axis=0)
    return fan


def graph_targets(graph) -> dict[str, int]:
    """Per source: the number of synapse layers (destination populations) its messages go to."""
    out: dict[str, int] = {}
    for p in graph.projections:
        if any(t.delay > 0 and np.count_nonzero(t.matrix) for t in p.terms):
            out[p.src] = out.get(p.src, 0) + 1
    return out


def count_graph(
    graph, spikes: list[dict[str, np.ndarray]], inputs: list[np.ndarray] | None = None,
    graded: list[dict[str, np.ndarray]] | None = None, snippets: int = 0,
    events: list[dict[str, np.ndarray]] | None = None,
) -> OpCount:
    """Count a graph run from its records, one dict per video.

    ``spikes[i][pop]``: ``[T_i, N]`` 0/1 per spiking population (what the runtime recorded);
    ``inputs[i]``: ``[T_i, C_in]`` the graded input fed (its non-zero entries are graded messages);
    ``graded[i][pop]``: ``[T_i, N]`` outputs of graded neuron nodes (LI); when absent, an LI node is
    taken to send a message from every neuron at every step (an upper bound) unless ``events[i]``
    (the runtime's synaptic events per layer ``src->dst``, ``[T_i]``) is given: then an LI node's
    graded ops are the runtime's own count and its messages that count / mean fan-out.
    Neuron updates count every neuron node (LIF and LI) for every executed step.
    """
    fan = graph_fan_out(graph)
    count = OpCount(snippets=snippets)
    for name, spec in graph.neurons.items():
        nnz = fan.get(name, np.zeros(spec.size, np.int64))
        count.layers[name] = LayerCount(spec.size, fan_out=float(nnz.mean()) if nnz.size else 0.0, spiking=spec.spiking)
    in_fan = fan.get(graph.input_name, np.zeros(graph.input_size, np.int64))
    inp = LayerCount(0, fan_out=float(in_fan.mean()) if in_fan.size else 0.0, spiking=False)
    for i, video in enumerate(spikes):
        steps = None
        for name, layer in count.layers.items():
            nnz = fan.get(name, np.zeros(layer.neurons, np.int64))
            if layer.spiking:
                s = np.asarray(video[name])
                steps = s.shape[0]
                layer.spikes += int(s.sum())
                layer.synops += int((s.astype(np.int64) @ nnz).sum())
        if steps is None:
            steps = inputs[i].shape[0] if inputs is not None else 0
        count.steps += steps
        for name, layer in count.layers.items():
            layer.neuron_steps += layer.neurons * steps
            if not layer.spiking:
                nnz = fan.get(name, np.zeros(layer.neurons, np.int64))
                if graded is not None and name in graded[i]:
                    sent = (np.asarray(graded[i][name]) != 0).astype(np.int64)
                elif events is not None:
                    ops = sum(int(np.asarray(v).sum()) for k, v in events[i].items() if k.split("->")[0] == name)
                    layer.graded_ops += ops
                    layer.graded_messages += int(round(ops / layer.fan_out)) if layer.fan_out else 0
                    continue
                else:
                    sent = np.ones((steps, layer.neurons), np.int64)
                layer.graded_messages += int(sent.sum())
                layer.graded_ops += int((sent @ nnz).sum())
        if inputs is not None:
            sent = (np.asarray(inputs[i]) != 0).astype(np.int64)
            inp.graded_messages += int(sent.sum())
            inp.graded_ops += int((sent @ in_fan).sum())
    count.layers[f"{graph.input_name} (input)"] = inp
    count.dense_equivalent_macs = int(sum(
        np.count_nonzero(t.matrix) for p in graph.projections for t in p.terms if t.delay > 0) * count.steps)
    return count


# -- the PyTorch reference MSF ----------------------------------------------------------------

@dataclass(frozen=True)
class Operator:
    """One weight operator of the reference model.

    ``source``: the LIF layer whose spikes drive it (spike-driven: ACs = spikes x ``fan_out``), or
    None for a real-valued input (dense MACs = ``macs_per_step`` x T + ``macs_per_step2`` x T^2).
    ``dense_per_step``: MACs per step if executed densely (what the GPU does either way).
    """

    name: str
    source: str | None
    fan_out: int = 0
    macs_per_step: int = 0
    macs_per_step2: int = 0
    dense_per_step: int = 0


def reference_operators(model) -> list[Operator]:
    """The weight operators of :class:`train.model.msf.MSF` with their inputs, from its config.

    Local: 3 Conv1d(D -> C, k=3) on features (MACs).  Global: Conv1d 1x1 (D -> C) on features
    (MACs); per GCN branch, layer 1 ``x W`` (C -> H) and residual Conv1d(C -> H, k=5) driven by
    ``global_.lif_in`` spikes (ACs), the adjacency product ``adj @ (xW)`` (T x T x H MACs, a real
    matrix times a real matrix); layer 2 ``x W`` (H -> H, ACs from ``lif1``), identity residual
    (1 AC), adjacency product (MACs); the similarity adjacency itself (T x T x C MACs on the
    normalised spike vectors); mix Linear(2H -> C) (ACs from each branch's ``lif2``).  TIM:
    ``(1 - alpha) z[t]`` (1 AC per spike of each fused layer), W h (D x D, ACs from ``tim.lif_out``),
    ``alpha * LIF_in`` (1 AC per spike of ``tim.lif_in``).  Head: Linear(D -> 1) on ``h + x``
    (real-valued: MACs).
    """
    cfg = model.config
    d, c, h = cfg.feature_dim, cfg.dim, cfg.gcn_hidden
    ops: list[Operator] = []
    for i, _ in enumerate(cfg.dilations):
        ops.append(Operator(f"local.blocks.{i}.conv", None, macs_per_step=3 * d * c, dense_per_step=3 * d * c))
        ops.append(Operator(f"tim z <- local.blocks.{i}.lif", f"local.blocks.{i}.lif", fan_out=1, dense_per_step=c))
    ops.append(Operator("global_.project", None, macs_per_step=d * c, dense_per_step=d * c))
    ops.append(Operator("gcn.similarity_adjacency", None, macs_per_step2=c))
    for branch in ("similarity_branch", "distance_branch"):
        pre = f"global_.gcn.{branch}"
        ops.append(Operator(f"{pre}.gc1 xW + residual", "global_.lif_in", fan_out=h + 5 * h,
                            dense_per_step=c * h + 5 * c * h))
        ops.append(Operator(f"{pre}.gc1 adj@", None, macs_per_step2=h))
        ops.append(Operator(f"{pre}.gc2 xW + residual", f"{pre}.lif1", fan_out=h + 1, dense_per_step=h * h + h))
        ops.append(Operator(f"{pre}.gc2 adj@", None, macs_per_step2=h))
        ops.append(Operator(f"global_.gcn.mix <- {branch}", f"{pre}.lif2", fan_out=c, dense_per_step=h * c))
    ops.append(Operator("tim z <- global_.lif_out", "global_.lif_out", fan_out=1, dense_per_step=c))
    ops.append(Operator("tim.mix", "tim.lif_out", fan_out=d, dense_per_step=d * d))
    ops.append(Operator("tim alpha * lif_in", "tim.lif_in", fan_out=1, dense_per_step=d))
    ops.append(Operator("head (h + x)", None, macs_per_step=d, dense_per_step=d))
    return ops


def count_reference(model, spikes: list[dict[str, np.ndarray]], lengths: list[int]) -> OpCount:
    """Count the reference MSF over videos: ``spikes[i][layer]`` ``[T_i, N]`` per LIF layer,
    ``lengths[i]`` = T_i snippets.  Neuron updates: N x T for every LIF layer (``tim.*`` layers
    step T - 1 times: TIM starts from ``h[0] = z[0]``)."""
    ops = reference_operators(model)
    fan_by_layer: dict[str, int] = {}
    for op in ops:
        if op.source is not None:
            fan_by_layer[op.source] = fan_by_layer.get(op.source, 0) + op.fan_out
    count = OpCount(snippets=int(sum(lengths)), steps=int(sum(lengths)))
    for video, steps in zip(spikes, lengths):
        for name, s in video.items():
            s = np.asarray(s)
            layer = count.layers.setdefault(name, LayerCount(s.shape[-1], fan_out=float(fan_by_layer.get(name, 0))))
            layer.neuron_steps += s.shape[-1] * s.shape[0]
            n_spikes = int(s.sum())
            layer.spikes += n_spikes
            layer.synops += n_spikes * fan_by_layer.get(name, 0)
        for op in ops:
            dense = op.macs_per_step * steps + op.macs_per_step2 * steps * steps
            if op.source is None:
                count.dense_macs += dense
                count.dense_macs_by_op[op.name] = count.dense_macs_by_op.get(op.name, 0) + dense
            count.dense_equivalent_macs += op.dense_per_step * steps + op.macs_per_step2 * steps * steps
    return count
