"""A second, independent executor of the contract (``neuro_runtime.semantics``) on nirtorch.

nirtorch (``nirtorch.nir_to_torch``) wires the graph into a ``torch.fx.GraphModule`` that runs
every node once per call (one call = one step) and feeds cycles with the previous call's output.
Each node computes the contract's equations literally (the emulator computes Lava's shifted,
folded form instead), so the conformance suite compares two different computations:

* ``Affine`` / ``Linear`` / ``Scale`` / ``Conv1d`` / ``Conv2d`` / ``SumPool2d`` / ``AvgPool2d``
  (torch's own conv and pooling functions): a stateful one-step synapse, ``y[t] = W u[t-1] + b``; before
  step 0 it holds its rest value (its response to the rest values upstream, ``RuntimeGraph.rest``).
  A synapse that nirtorch reads through its "previous output" (the back edge of a cycle) is mapped
  stateless instead, because nirtorch's previous output already is the one-step delay; its first
  previous output is its rest value.
* ``Delay``: ``y[t] = u[t - k_c]`` per channel (``k_c = delay_c / dt`` steps, 0 allowed), rest
  value before.
* ``Flatten``: a reshape, no step.
* ``LIF`` / ``CubaLIF`` / ``LI`` / ``CubaLI`` / ``IF`` / ``I`` / ``Threshold``: forward Euler with
  ``dt`` from ``metadata["dt"]``, strict ``>``, reset to ``v_reset`` or by subtraction
  (``RuntimeGraph.reset``); the membrane starts at ``v_reset`` (graded: 0), a current at 0 (a
  bias rises through it from the start step); a neuron holds that state and sends 0 before its
  start step (its arrival, ``NeuronSpec.start``). Parameters may be scalars or arrays of any shape.
* ``Input`` / ``Output``, one or several (nirtorch wires one of each): the Inputs become slices
  of one concatenated Input (in ``RuntimeGraph.inputs`` order, as the runtime packs them), each
  Output a tap that sums its inputs and is recorded; one Output collects the taps.

The graph is validated by the one validator (``neuro_runtime.graph_check.load_graph``); this
interpreter runs graphs whose cycles close through a synapse node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime.graph_check import SYNAPSE_TYPES, RuntimeGraph, load_graph


def _vec(value: Any, size: int) -> torch.Tensor:
    """A NIR parameter (scalar or any shape holding ``size`` values) as a float64 vector ``[size]``."""
    a = np.asarray(value, dtype=np.float64).reshape(-1)
    return torch.from_numpy(np.broadcast_to(a, (size,)).copy())


class Synapse(nn.Module):
    """One-step synapse: returns the value computed from the previous step's input."""

    def __init__(self, weight: np.ndarray | None, bias: np.ndarray | None, scale: np.ndarray | None,
                 rest: np.ndarray) -> None:
        super().__init__()
        self.weight = None if weight is None else nn.Parameter(torch.from_numpy(np.array(weight, dtype=np.float64)), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(torch.from_numpy(np.array(bias, dtype=np.float64).reshape(-1)), requires_grad=False)
        self.scale = None if scale is None else nn.Parameter(torch.from_numpy(np.array(scale, dtype=np.float64).reshape(-1)), requires_grad=False)
        self.register_buffer("rest_value", torch.from_numpy(np.asarray(rest, dtype=np.float64)))
        self.op: Any = None

    def compute(self, x: torch.Tensor) -> torch.Tensor:
        if self.op is not None:
            return self.op(x)
        if self.scale is not None:
            return x * self.scale
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def rest(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        return self.rest_value.to(like.dtype).expand(batch, -1).clone()

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.rest(x.shape[0], x) if state is None else state
        return out, self.compute(x)


class BackEdgeSynapse(Synapse):
    """The same synapse without state: nirtorch delays it by one step through its previous output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.compute(x)


class DelayLine(nn.Module):
    """``y[t] = x[t - k_c]`` per channel (``steps``: ``[N]`` integers >= 0), the rest value before."""

    def __init__(self, steps: np.ndarray, rest: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("steps", torch.from_numpy(np.asarray(steps, dtype=np.int64)))
        self.register_buffer("rest_value", torch.from_numpy(np.asarray(rest, dtype=np.float64)))

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        depth = int(self.steps.max()) + 1
        if state is None:  # state[j] = x[t-1-j]
            state = self.rest_value.to(x.dtype).expand(depth, *x.shape).clone()
        line = torch.cat([x[None], state[:-1]], 0)  # line[j] = x[t-j]
        out = line.gather(0, self.steps.expand(1, *x.shape)).squeeze(0)
        return out, line


class EulerNeuron(nn.Module):
    """A NIR neuron node by forward Euler (``neuro_runtime.semantics``), ``size`` neurons::

        I[t] = I[t-1] + (dt/tau_syn)(-I[t-1] + w_in x[t])          (CubaLIF, CubaLI; else I = x)
        v[t] = v[t-1] + (dt/tau)(v_leak - v[t-1] + r I[t])          (LIF, CubaLIF, LI, CubaLI)
        v[t] = v[t-1] + dt r I[t]                                   (IF, I)
        s[t] = v[t] > v_threshold;  v[t] = v_reset (or v - amount) where s[t]
        Threshold: s[t] = x[t] > threshold

    ``v[-1] = v_reset`` (graded: 0); a current's ``I[-1] = 0``.
    Before step ``start`` the state stays there and the output is 0.
    """

    def __init__(self, node: Any, kind: str, dt: float, size: int, start: int,
                 reset_sub: np.ndarray | None) -> None:
        super().__init__()
        self.kind = kind
        self.start = int(start)
        self.leaky = kind in ("LIF", "CubaLIF", "LI", "CubaLI")
        self.cuba = kind in ("CubaLIF", "CubaLI")
        self.spiking = kind in ("LIF", "CubaLIF", "IF", "Threshold")
        if kind == "Threshold":
            self.register_buffer("v_threshold", _vec(node.threshold, size))
            return
        if self.leaky:
            tau = node.tau_mem if self.cuba else node.tau
            self.register_buffer("k", _vec(dt / np.asarray(tau, dtype=np.float64), size))
            self.register_buffer("v_leak", _vec(node.v_leak, size))
        self.dt = dt
        self.register_buffer("r", _vec(node.r, size))
        self.register_buffer("v_threshold", _vec(node.v_threshold if self.spiking else np.inf, size))
        v_reset = getattr(node, "v_reset", None) if self.spiking else 0.0
        self.register_buffer("v_reset", _vec(0.0 if v_reset is None else v_reset, size))
        self.reset_sub = None if reset_sub is None else torch.from_numpy(np.asarray(reset_sub, dtype=np.float64))
        if self.cuba:
            self.register_buffer("k_syn", _vec(dt / np.asarray(node.tau_syn, dtype=np.float64), size))
            self.register_buffer("w_in", _vec(node.w_in, size))

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        if self.kind == "Threshold":
            t = 0 if state is None else state[0]
            out = (x > self.v_threshold).to(x.dtype) if t >= self.start else torch.zeros_like(x)
            return out, (t + 1,)
        if state is None:
            v0 = self.v_reset.to(x.dtype).expand_as(x).clone()
            i0 = torch.zeros_like(x) if self.cuba else x
            state = (i0, v0, 0)
        current, v, t = state
        if t < self.start:
            return torch.zeros_like(x), (current, v, t + 1)
        current = current + self.k_syn * (-current + self.w_in * x) if self.cuba else x
        if self.leaky:
            v = v + self.k * (self.v_leak - v + self.r * current)
        else:
            v = v + self.dt * self.r * current
        if not self.spiking:
            return v, (current, v, t + 1)
        spikes = v > self.v_threshold
        after = self.v_reset.expand_as(v) if self.reset_sub is None else v - self.reset_sub.to(v.dtype)
        v = torch.where(spikes, after, v)
        return spikes.to(v.dtype), (current, v, t + 1)


@dataclass(eq=False)
class InputSlice(nir.NIRNode):
    """Channels ``[start, stop)`` of the one concatenated Input: one NIR Input of the graph."""

    start: int
    stop: int
    total: int

    def __post_init__(self) -> None:
        self.input_type = {"input": np.array([self.total])}
        self.output_type = {"output": np.array([self.stop - self.start])}


@dataclass(eq=False)
class OutputTap(nir.NIRNode):
    """One NIR Output of the graph: the sum of its inputs, recorded, passed to the one Output."""

    size: int

    def __post_init__(self) -> None:
        self.input_type = {"input": np.array([self.size])}
        self.output_type = {"output": np.array([self.size])}


class Slice(nn.Module):
    """:class:`InputSlice`: ``x[:, start:stop]`` of the concatenated input ``[B, C_in]``."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start:self.stop]


class Tap(nn.Module):
    """:class:`OutputTap`: the identity on the summed input (a forward hook records it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _type(node: Any) -> str:
    return type(node).__name__


def _fresh(name: str, taken: Any) -> str:
    while name in taken:
        name += "_"
    return name


def single_io(graph: Any, lowered: RuntimeGraph) -> Any:
    """``graph`` with its Inputs replaced by :class:`InputSlice` nodes of one new Input (of all
    ``lowered.input_size`` channels) and its Outputs by :class:`OutputTap` nodes feeding one new
    Output; node names and every other node object stay."""
    nodes = dict(graph.nodes)
    edges = list(graph.edges)
    inp = _fresh("interpreter_input", nodes)
    out = _fresh("interpreter_output", nodes)
    for name, (offset, size) in lowered.inputs.items():
        nodes[name] = InputSlice(offset, offset + size, lowered.input_size)
        edges.append((inp, name))
    for name, spec in lowered.outputs.items():
        nodes[name] = OutputTap(spec.size)
        edges.append((name, out))
    total_out = sum(spec.size for spec in lowered.outputs.values())
    nodes = {inp: nir.Input(np.array([lowered.input_size])), **nodes, out: nir.Output(np.array([total_out]))}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(graph.metadata), type_check=False)


def check_graph(graph: Any, where: str | Path = "NIR graph") -> RuntimeGraph:
    """Validate a NIR graph with the one validator (``load_graph``); one-line ``UserError``
    naming ``where``."""
    if not isinstance(graph, nir.NIRGraph):
        raise UserError(f"expected a NIR graph, got {_type(graph)}", where)
    try:
        return load_graph(graph)
    except UserError as err:
        raise UserError(str(err), where) from None


class NIRInterpreter:
    """Run a NIR file (or graph) step by step through ``nirtorch.nir_to_torch``.

    ``run(x)``, as the runtime takes and returns them: ``x`` ``[B, T, C_in]`` (all Inputs'
    values concatenated in ``lowered.inputs`` order, flattened) or ``{Input name: [B, T, *shape]
    or [T, *shape]}`` -> (``{Output name: [B, T, N]}``, ``{neuron node: [B, T, N]}``).
    """

    def __init__(self, source: str | Path | Any, dtype: torch.dtype = torch.float64) -> None:
        from ucfdvs.export.to_nir import read_nir

        where = source if isinstance(source, (str, Path)) else "NIR graph"
        graph = read_nir(source) if isinstance(source, (str, Path)) else source
        self.lowered = check_graph(graph, where)
        self.dt = self.lowered.dt
        self.graph = graph
        self.wired = single_io(graph, self.lowered)
        self.dtype = dtype
        self.back_edges: set[str] = set()
        # nirtorch's module names: dots become "_", Python keywords get a "nir_node_" prefix
        self.module_names = {}
        for name in self.wired.nodes:
            mod = name.replace(".", "_")
            self.module_names[mod] = self.module_names[f"nir_node_{mod}"] = name
        self.module = self._build()
        found = self._prev_output_sources()
        if found:
            self.back_edges = found
            self.module = self._build()
            if self._prev_output_sources() != found:
                raise UserError("nirtorch changed its evaluation order between builds", where)
        bad = [n for n in self.back_edges if _type(graph.nodes[n]) not in SYNAPSE_TYPES]
        if bad:
            raise UserError(f"cycle closed by node {bad[0]!r} ({_type(graph.nodes[bad[0]])}); "
                            "this interpreter needs a synapse node there", where)

    def _node_map(self) -> dict:
        g, back = self.lowered, self.back_edges
        names = {id(node): name for name, node in self.wired.nodes.items()}
        preds: dict[str, list[str]] = {n: [] for n in self.graph.nodes}
        for s, d in self.graph.edges:
            preds[d].append(s)

        def rest(name: str, size: int) -> np.ndarray:
            return g.rest.get(name, np.zeros(size))

        def synapse(node: Any) -> nn.Module:
            name = names[id(node)]
            cls = BackEdgeSynapse if name in back else Synapse
            if isinstance(node, nir.Scale):
                return cls(None, None, np.broadcast_to(node.scale, g.shapes[name]).reshape(-1), rest(name, size_of(name)))
            bias = node.bias if isinstance(node, nir.Affine) else None
            return cls(node.weight, bias, None, rest(name, np.shape(node.weight)[0]))

        def size_of(name: str) -> int:
            return int(np.prod(g.shapes[name]))

        def structured(node: Any) -> nn.Module:
            """Conv / pooling with torch's functions on ``[B, *in_shape]``, flattened again."""
            import torch.nn.functional as F

            name = names[id(node)]
            cls = BackEdgeSynapse if name in back else Synapse
            module = cls(None, None, None, rest(name, size_of(name)))
            in_shape = g.shapes[preds[name][0]]
            t = _type(node)
            if t.startswith("Conv"):
                w = torch.from_numpy(np.asarray(node.weight, dtype=np.float64))
                b = torch.from_numpy(np.asarray(node.bias, dtype=np.float64).reshape(-1))
                conv = F.conv1d if t == "Conv1d" else F.conv2d
                pad = node.padding if isinstance(node.padding, str) else tuple(int(p) for p in np.atleast_1d(node.padding))
                kw = dict(stride=tuple(int(v) for v in np.atleast_1d(node.stride)), padding=pad,
                          dilation=tuple(int(v) for v in np.atleast_1d(node.dilation)),
                          groups=int(np.asarray(node.groups).reshape(-1)[0]))
                module.op = lambda x: conv(x.reshape(x.shape[0], *in_shape), w.to(x.dtype), b.to(x.dtype), **kw).flatten(1)
            else:
                k = tuple(int(v) for v in np.broadcast_to(node.kernel_size, (2,)))
                st = tuple(int(v) for v in np.broadcast_to(node.stride, (2,)))
                pd = tuple(int(v) for v in np.broadcast_to(node.padding, (2,)))
                factor = 1.0 if t == "AvgPool2d" else float(k[0] * k[1])
                module.op = lambda x: F.avg_pool2d(x.reshape(x.shape[0], *in_shape), k, st, pd).flatten(1) * factor
            return module

        def delay(node: Any) -> nn.Module:
            name = names[id(node)]
            steps = np.rint(np.asarray(node.delay, dtype=np.float64).reshape(-1) / g.dt).astype(np.int64)
            return DelayLine(steps, rest(name, steps.size))

        def neuron(node: Any) -> nn.Module:
            name = names[id(node)]
            spec = g.neurons[name]
            return EulerNeuron(node, _type(node), g.dt, spec.size, spec.start, spec.reset_sub)

        return {nir.Affine: synapse, nir.Linear: synapse, nir.Scale: synapse, nir.Delay: delay,
                nir.Conv1d: structured, nir.Conv2d: structured, nir.SumPool2d: structured,
                nir.AvgPool2d: structured, nir.Flatten: lambda node: nn.Identity(),
                nir.LIF: neuron, nir.CubaLIF: neuron, nir.LI: neuron, nir.CubaLI: neuron, nir.IF: neuron,
                nir.I: neuron, nir.Threshold: neuron,
                InputSlice: lambda node: Slice(node.start, node.stop), OutputTap: lambda node: Tap()}

    def _build(self) -> torch.fx.GraphModule:
        import nirtorch

        return nirtorch.nir_to_torch(self.wired, self._node_map(), dtype=self.dtype)

    def _prev_output_sources(self) -> set[str]:
        found = set()
        for node in self.module.graph.nodes:
            if node.op == "call_method" and node.target == "get" and isinstance(node.args[1], str):
                key = node.args[1]
                if key.endswith("_prev_output"):
                    found.add(self.module_names[key[: -len("_prev_output")]])
        return found

    @torch.no_grad()
    def run(self, x: torch.Tensor | np.ndarray | Mapping[str, Any]
            ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        if isinstance(x, Mapping):
            x = self.lowered.pack_inputs(x)
        x = torch.as_tensor(x).to(self.dtype)
        if x.ndim != 3 or x.shape[2] != self.lowered.input_size:
            raise UserError(f"input must be [B, T, {self.lowered.input_size}] (all Inputs concatenated) or "
                            f"a mapping of Input names {sorted(self.lowered.inputs)}, got shape {list(x.shape)}")
        batch, steps, _ = x.shape
        records: dict[str, list[torch.Tensor]] = {}
        outputs: dict[str, list[torch.Tensor]] = {}
        handles = []
        for name, module in self.module.named_children():
            key = self.module_names.get(name)
            if isinstance(module, EulerNeuron):
                records[key] = []
                handles.append(module.register_forward_hook(lambda _m, _i, out, key=key: records[key].append(out[0])))
            elif isinstance(module, Tap):
                outputs[key] = []
                handles.append(module.register_forward_hook(lambda _m, _i, out, key=key: outputs[key].append(out)))
        state: dict[str, Any] = {name: None for name, _ in self.module.named_children()}
        children = {self.module_names[c]: c for c, _ in self.module.named_children() if c in self.module_names}
        for name in self.back_edges:
            mod = children[name]
            state[f"{mod}_prev_output"] = getattr(self.module, mod).rest(batch, x)
        try:
            for t in range(steps):
                *_, state = self.module(x[:, t], state)
        finally:
            for h in handles:
                h.remove()
        return ({k: torch.stack(outputs[k], 1) for k in self.lowered.outputs},
                {k: torch.stack(v, 1) for k, v in records.items() if v})
