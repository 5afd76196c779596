"""Operation counting: spikes, neuron updates, synaptic operations, dense MACs.

Conventions (those of SpikingJelly's op counters and sinabs' ``SynOpCounter``):

* a **synaptic operation** (synop, an accumulate, AC) = one spike delivered to one target: a
  spike of neuron j costs ``fan_out[j]`` synops, ``fan_out[j]`` = the targets it reaches (in a
  graph, non-zero weights in column j of every synapse layer leaving j; direct zero-delay wires
  are not synapses);
* a **graded message** (Input, LI) delivered to ``fan_out`` targets is counted separately
  (``graded_ops``: Loihi 2 multiplies its payload by the weight);
* a **dense MAC** is a multiply-accumulate on a real-valued input (a convolution or linear
  layer on features, a graph-adjacency product): what a GPU executes whatever the sparsity;
* a **neuron update** = one neuron in one step (N x steps); an *active* update is one where the
  neuron spiked.

Two counters: :func:`count_graph` for a NIR graph run (emulator, Lava, the NIR interpreter) from
the recorded spikes and the graph's matrices; :func:`count_reference` for a PyTorch model (the
reference MSF), counted from the model itself while it runs (:class:`OpCounter`: every linear,
convolution, matrix product and spike-driven element-wise operation it executes, with the actual
spikes of its SpikingJelly neurons).  All counts are plain integers for the videos given (no
units beyond "operations").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode


@dataclass
class LayerCount:
    """One neuron population / LIF layer summed over videos.

    ``neurons`` N; ``neuron_steps`` = N x steps (neuron updates); ``spikes``; ``synops``: spikes x
    fan-out (accumulates); ``graded_ops``: graded messages x fan-out; ``fan_out``: mean targets per
    neuron (a PyTorch model: per neuron-step, as its fan-out may change from step to step);
    ``spiking``: False for graded populations (LI, the Input).
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
    ``inputs[i]``: ``[T_i, C_in]`` the graded input fed (its non-zero entries are graded messages;
    with ``events`` the Input's graded ops are the runtime's count, as for LI nodes);
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
        if events is not None and any(k.split("->")[0] == graph.input_name for k in events[i]):
            ops = sum(int(np.asarray(v).sum()) for k, v in events[i].items() if k.split("->")[0] == graph.input_name)
            inp.graded_ops += ops  # what the runtime sent: in fixed point, inputs that quantise to 0 send nothing
            inp.graded_messages += int(round(ops / inp.fan_out)) if inp.fan_out else 0
        elif inputs is not None:
            sent = (np.asarray(inputs[i]) != 0).astype(np.int64)
            inp.graded_messages += int(sent.sum())
            inp.graded_ops += int((sent @ in_fan).sum())
    count.layers[f"{graph.input_name} (input)"] = inp
    count.dense_equivalent_macs = int(sum(
        np.count_nonzero(t.matrix) for p in graph.projections for t in p.terms if t.delay > 0) * count.steps)
    return count


# -- a PyTorch spiking model, counted while it runs -------------------------------------------

_WEIGHT_OPS = {"linear": "linear", "conv1d": "conv1d", "conv2d": "conv2d", "conv3d": "conv3d",
               "matmul": "matmul", "__matmul__": "matmul", "mm": "matmul", "bmm": "matmul"}
_ELEMENTWISE_OPS = {"mul": "mul", "__mul__": "mul", "__rmul__": "mul", "multiply": "mul",
                    "add": "add", "__add__": "add", "__radd__": "add",
                    "sub": "add", "__sub__": "add", "__rsub__": "add", "subtract": "add"}
_JOIN_OPS = ("cat", "concat", "concatenate", "stack")


def _spiking_types() -> tuple[type, ...]:
    """SpikingJelly's neuron base class (imported through :mod:`train.model.neurons`, which silences its banners)."""
    import ucfdvs.train.model.neurons  # noqa: F401
    from spikingjelly.activation_based.neuron import BaseNode

    return (BaseNode,)


@dataclass
class OperatorCount:
    """One operator (innermost module path + op, e.g. ``head linear``) summed over its calls.

    ``macs``: multiply-accumulates on graded inputs; ``acs``: accumulates driven by spikes;
    ``dense``: the operator executed densely whatever its input (MACs, or one op per element for an
    element-wise op), what a GPU executes.
    """

    macs: int = 0
    acs: int = 0
    dense: int = 0


class OpCounter(TorchFunctionMode):
    """Counts a PyTorch spiking network's operations while it runs: ``with OpCounter(model) as c: model(x)``.

    Spikes are the outputs of SpikingJelly neurons (``BaseNode``) and anything that shares their
    memory (a transpose, an index, eval-mode dropout), or a ``cat`` / ``stack`` of them: provenance
    is kept per element, so an operator fed a concatenation of several layers charges each layer
    for its own spikes.  Every other tensor is graded (a tensor mixing spikes and graded values
    too).  Per call of

    * a weight operator (``linear``, ``conv1d/2d/3d``, ``matmul`` / ``@``): on a graded input,
      dense MACs = output elements x inputs per output (padded taps included, as thop and fvcore
      count); on a spike input (either matmul operand), ACs = the sum, over its non-zero elements,
      of each element's fan-out;
    * an element-wise ``mul`` (spikes times a weight) or ``add`` / ``sub`` of two tensors (a spike
      added to a graded value: a residual) with a spike operand: ACs likewise, fan-out 1 (times the
      broadcast);

    where an element's fan-out is the number of multiply-accumulates it enters: d(sum of the
    output) / d(element) with every operand replaced by ones, so exact at padded edges and for any
    stride, dilation, groups or broadcast (computed once per argument shape and forward).  ACs are charged to
    the neuron layer the spikes came from (``layers[name].synops``).  What runs inside a neuron
    (its state update) is a neuron update, counted as N x steps; nothing else is counted
    (normalisation, biases, softmax, element-wise ops on graded values).  Counts cover the batch as
    given, padding included: feed one sequence per call to count a video over its true length.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.layers: dict[str, LayerCount] = {}
        self.operators: dict[str, OperatorCount] = {}
        self._names: list[str] = []  # spiking layers in call order; a label is an index into it
        self._potential: dict[str, float] = {}
        self._sources: dict[int, tuple[torch.Tensor, int | torch.Tensor]] = {}
        self._scope: list[str] = []
        self._in_neuron = 0
        self._fans: dict[tuple, torch.Tensor] = {}
        self._handles: list = []

    def __enter__(self) -> "OpCounter":
        spiking = _spiking_types()
        for name, module in self.model.named_modules():
            if isinstance(module, spiking):
                self._handles += [module.register_forward_pre_hook(self._enter_neuron),
                                  module.register_forward_hook(partial(self._neuron_output, name))]
            else:
                self._handles += [module.register_forward_pre_hook(partial(self._push, name or type(module).__name__)),
                                  module.register_forward_hook(self._pop)]
        return super().__enter__()

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._sources.clear()
        super().__exit__(*exc)

    def result(self, snippets: int, steps: int) -> OpCount:
        """The counts so far as an :class:`OpCount` (``fan_out`` of a layer: targets per neuron-step, mean)."""
        for name, layer in self.layers.items():
            layer.fan_out = self._potential.get(name, 0.0) / layer.neuron_steps if layer.neuron_steps else 0.0
        return OpCount(
            layers=dict(self.layers), dense_macs=sum(o.macs for o in self.operators.values()),
            dense_macs_by_op={k: o.macs for k, o in self.operators.items() if o.macs},
            dense_equivalent_macs=sum(o.dense for o in self.operators.values()), snippets=snippets, steps=steps)

    # hooks

    def _push(self, name: str, module: nn.Module, _args) -> None:
        if module is self.model:  # a new forward: earlier tensors may be freed and their memory reused,
            self._sources.clear()  # and fan-outs of another sequence length are not needed again
            self._fans.clear()
        self._scope.append(name)

    def _pop(self, _module, _args, _out) -> None:
        self._scope.pop()

    def _enter_neuron(self, _module, _args) -> None:
        self._in_neuron += 1

    def _neuron_output(self, name: str, module: nn.Module, _args, out: torch.Tensor) -> None:
        """Neuron updates and spikes of one call (``[T, B, *N]`` multi-step, ``[B, *N]`` single-step)."""
        self._in_neuron -= 1
        if name not in self.layers:
            steps_batch = out.shape[0] * out.shape[1] if getattr(module, "step_mode", "s") == "m" else out.shape[0]
            self.layers[name] = LayerCount(out.numel() // steps_batch)
            self._names.append(name)
        layer = self.layers[name]
        layer.neuron_steps += out.numel()
        layer.spikes += int(torch.count_nonzero(out))
        self._sources[out.untyped_storage().data_ptr()] = (out, self._names.index(name))

    # the function mode

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self._in_neuron and isinstance(out, torch.Tensor):
            name = getattr(func, "__name__", "")
            if name in _JOIN_OPS:
                self._track_join(func, args, kwargs, out)
            elif name in _WEIGHT_OPS or name in _ELEMENTWISE_OPS:
                self._count(func, _WEIGHT_OPS.get(name) or _ELEMENTWISE_OPS[name], args, out)
        return out

    def _labels(self, t, keep_graded: bool = False) -> int | torch.Tensor | None:
        """The spiking layer (index) of every element of ``t``: one int for a whole layer's output, a
        tensor shaped like ``t`` for a concatenation (-1: a graded element; such a tensor is graded
        unless ``keep_graded``), or None for a graded tensor."""
        if not isinstance(t, torch.Tensor):
            return None
        entry = self._sources.get(t.untyped_storage().data_ptr())
        if entry is None:
            return None
        labels = entry[1]
        if isinstance(labels, int):
            return labels
        labels = torch.as_strided(labels, t.size(), t.stride(), t.storage_offset())
        return labels if keep_graded or not bool((labels < 0).any()) else None

    def _track_join(self, func, args: tuple, kwargs: dict, out: torch.Tensor) -> None:
        """Labels of a ``cat`` / ``stack`` result: the same join applied to its inputs' labels."""
        tensors = args[0]
        labels = [self._labels(t, keep_graded=True) for t in tensors]
        if all(lab is None for lab in labels) or not out.is_contiguous() or out.storage_offset():
            return
        parts = [lab if isinstance(lab, torch.Tensor) else
                 torch.full(t.shape, -1 if lab is None else lab, dtype=torch.int64, device=t.device)
                 for t, lab in zip(tensors, labels)]
        self._sources[out.untyped_storage().data_ptr()] = (out, func(parts, *args[1:], **kwargs).reshape(-1))

    def _count(self, func, kind: str, args: tuple, out: torch.Tensor) -> None:
        """Count one call of a weight or element-wise operator (``kind``: linear, conv1d, matmul, mul, add...)."""
        elementwise = kind in ("mul", "add")
        operands = [i for i, a in enumerate(args[:2]) if isinstance(a, torch.Tensor)]
        if kind == "add" and len(operands) < 2:
            return  # adding a constant is no synaptic operation
        if kind == "linear":
            operands, dense = [0], args[0].numel() * args[1].shape[0]
        elif kind.startswith("conv"):
            operands, dense = [0], out.numel() * math.prod(args[1].shape[1:])
        elif kind == "matmul":
            dense = out.numel() * args[0].shape[-1]
        else:
            dense = out.numel()
        index, labels = next(((i, lab) for i in operands if (lab := self._labels(args[i])) is not None), (None, None))
        if index is None and elementwise:
            return  # element-wise arithmetic on graded values: not counted
        scope = self._scope[-1] if self._scope else type(self.model).__name__
        op = self.operators.setdefault(f"{scope} {kind}", OperatorCount())
        op.dense += dense
        if index is None:
            op.macs += dense
            return
        fan = self._fan(func, args, index, elementwise)
        fired = args[index] != 0
        if isinstance(labels, int):
            acs, potential = {labels: float(fan[fired].sum())}, {labels: float(fan.sum())}
        else:
            acs = dict(enumerate(torch.bincount(labels[fired], weights=fan[fired]).tolist()))
            potential = dict(enumerate(torch.bincount(labels.reshape(-1), weights=fan.reshape(-1)).tolist()))
        for source, value in acs.items():
            self.layers[self._names[source]].synops += round(value)
            op.acs += round(value)
        for source, value in potential.items():
            name = self._names[source]
            self._potential[name] = self._potential.get(name, 0.0) + value

    def _fan(self, func, args: tuple, index: int, elementwise: bool) -> torch.Tensor:
        """Fan-out of every element of ``args[index]``: d(sum of the output) / d(element), all operands ones."""
        key = (func, index, tuple(tuple(a.shape) if isinstance(a, torch.Tensor) else repr(a) for a in args))
        if key not in self._fans:
            target = torch.ones(args[index].shape, dtype=torch.float64, device=args[index].device, requires_grad=True)
            ones = [target if i == index else
                    torch.ones(a.shape, dtype=torch.float64, device=a.device) if isinstance(a, torch.Tensor) else
                    1.0 if elementwise and i < 2 else a
                    for i, a in enumerate(args)]
            with torch.enable_grad():
                func(*ones).sum().backward()
            self._fans[key] = target.grad
        return self._fans[key]


@torch.no_grad()
def count_reference(model: nn.Module, videos: list[np.ndarray], device: torch.device) -> OpCount:
    """Count a PyTorch model taking ``[B, T, D]`` features (the reference MSF) over ``videos``
    (``[T_i, D]`` each), one video per forward so no padding step is counted, with :class:`OpCounter`.

    ``tim.*`` layers of the MSF step T - 1 times (TIM starts from ``h[0] = z[0]``).
    """
    model.eval()
    with OpCounter(model) as counter:
        for features in videos:
            model(torch.as_tensor(np.asarray(features, dtype=np.float32), device=device)[None])
    snippets = int(sum(len(f) for f in videos))
    return counter.result(snippets=snippets, steps=snippets)
