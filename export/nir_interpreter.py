"""A second, independent executor of the contract (``neuro_runtime.semantics``) on nirtorch.

nirtorch (``nirtorch.nir_to_torch``) wires the graph into a ``torch.fx.GraphModule`` that runs
every node once per call (one call = one step) and feeds cycles with the previous call's output.
Each node computes the contract's equations literally (the emulator computes Lava's shifted,
folded form instead), so the conformance suite compares two different computations:

* ``Affine`` / ``Linear`` / ``Scale``: a stateful one-step synapse, ``y[t] = W u[t-1] + b``; before
  step 0 it holds its rest value (its response to the rest values upstream, ``RuntimeGraph.rest``).
  A synapse that nirtorch reads through its "previous output" (the back edge of a cycle) is mapped
  stateless instead, because nirtorch's previous output already is the one-step delay; its first
  previous output is its rest value.
* ``Delay``: ``y[t] = u[t - k_c]`` per channel (``k_c = delay_c / dt`` steps, 0 allowed), rest
  value before.
* ``LIF`` / ``CubaLIF`` / ``LI``: forward Euler with ``dt`` from ``metadata["dt"]``, strict ``>``,
  reset to ``v_reset``; the membrane starts at ``v_reset`` (LI: 0), CubaLIF's current at its rest
  value ``w_in * (rest input)``. Parameters may be scalars or per-neuron arrays.
* ``Output``: nirtorch returns the inputs of the Output separately; we sum them.

The graph is validated by the one validator (``neuro_runtime.graph_check.load_graph``); this
interpreter runs graphs with exactly one Output whose cycles close through a synapse node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

    def compute(self, x: torch.Tensor) -> torch.Tensor:
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
    """NIR LIF, CubaLIF or LI by forward Euler (``neuro_runtime.semantics``), ``size`` neurons::

        I[t] = I[t-1] + (dt/tau_syn)(-I[t-1] + w_in x[t])          (CubaLIF; else I = x)
        v[t] = v[t-1] + (dt/tau)(v_leak - v[t-1] + r I[t])
        s[t] = v[t] > v_threshold;  v[t] = v_reset where s[t]       (LIF, CubaLIF)

    ``v[-1] = v_reset`` (LI: 0); CubaLIF's ``I[-1] = w_in * rest_in`` (its rest value).
    """

    def __init__(self, node: Any, kind: str, dt: float, size: int, rest_in: np.ndarray) -> None:
        super().__init__()
        self.kind = kind
        tau = node.tau_mem if kind == "CubaLIF" else node.tau
        self.register_buffer("k", _vec(dt / np.asarray(tau, dtype=np.float64), size))
        self.register_buffer("r", _vec(node.r, size))
        self.register_buffer("v_leak", _vec(node.v_leak, size))
        spiking = kind != "LI"
        self.register_buffer("v_threshold", _vec(node.v_threshold if spiking else np.inf, size))
        self.register_buffer("v_reset", _vec(node.v_reset if spiking else 0.0, size))
        if kind == "CubaLIF":
            self.register_buffer("k_syn", _vec(dt / np.asarray(node.tau_syn, dtype=np.float64), size))
            self.register_buffer("w_in", _vec(node.w_in, size))
            self.register_buffer("i_rest", self.w_in * torch.from_numpy(np.asarray(rest_in, dtype=np.float64)))

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        if state is None:
            v0 = self.v_reset.to(x.dtype).expand_as(x).clone()
            i0 = self.i_rest.to(x.dtype).expand_as(x).clone() if self.kind == "CubaLIF" else x
            state = (i0, v0)
        current, v = state
        if self.kind == "CubaLIF":
            current = current + self.k_syn * (-current + self.w_in * x)
        else:
            current = x
        v = v + self.k * (self.v_leak - v + self.r * current)
        if self.kind == "LI":
            return v, (current, v)
        spikes = v > self.v_threshold
        v = torch.where(spikes, self.v_reset.expand_as(v), v)
        return spikes.to(v.dtype), (current, v)


def _type(node: Any) -> str:
    return type(node).__name__


def check_graph(graph: Any, where: str | Path = "NIR graph") -> RuntimeGraph:
    """Validate a NIR graph with the one validator (``load_graph``) and check that this
    interpreter can run it (exactly one Output); one-line ``UserError`` naming ``where``."""
    import nir

    if not isinstance(graph, nir.NIRGraph):
        raise UserError(f"expected a NIR graph, got {_type(graph)}", where)
    try:
        lowered = load_graph(graph)
    except UserError as err:
        raise UserError(str(err), where) from None
    if len(lowered.outputs) != 1:
        raise UserError(f"this interpreter runs graphs with one Output node (has {len(lowered.outputs)})", where)
    return lowered


class NIRInterpreter:
    """Run a NIR file (or graph) step by step through ``nirtorch.nir_to_torch``.

    ``run(x)``: ``x`` ``[B, T, C_in]`` -> (output ``[B, T, C_out]``, ``{neuron node: [B, T, N]}``).
    """

    def __init__(self, source: str | Path | Any, dtype: torch.dtype = torch.float64) -> None:
        from ucfdvs.export.to_nir import read_nir

        where = source if isinstance(source, (str, Path)) else "NIR graph"
        graph = read_nir(source) if isinstance(source, (str, Path)) else source
        self.lowered = check_graph(graph, where)
        self.dt = self.lowered.dt
        self.graph = graph
        self.dtype = dtype
        self.output_name = next(iter(self.lowered.outputs))
        self.back_edges: set[str] = set()
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
        import nir

        g, back = self.lowered, self.back_edges
        names = {id(node): name for name, node in self.graph.nodes.items()}
        preds: dict[str, list[str]] = {n: [] for n in self.graph.nodes}
        for s, d in self.graph.edges:
            preds[d].append(s)

        def rest(name: str, size: int) -> np.ndarray:
            return g.rest.get(name, np.zeros(size))

        def rest_in(name: str, size: int) -> np.ndarray:
            return sum((rest(p, size) for p in preds[name]), np.zeros(size))

        def synapse(node: Any) -> nn.Module:
            name = names[id(node)]
            cls = BackEdgeSynapse if name in back else Synapse
            if isinstance(node, nir.Scale):
                return cls(None, None, node.scale, rest(name, np.size(node.scale)))
            bias = node.bias if isinstance(node, nir.Affine) else None
            return cls(node.weight, bias, None, rest(name, np.shape(node.weight)[0]))

        def delay(node: Any) -> nn.Module:
            name = names[id(node)]
            steps = np.rint(np.asarray(node.delay, dtype=np.float64).reshape(-1) / g.dt).astype(np.int64)
            return DelayLine(steps, rest(name, steps.size))

        def neuron(node: Any) -> nn.Module:
            name = names[id(node)]
            size = g.neurons[name].size
            return EulerNeuron(node, _type(node), g.dt, size, rest_in(name, size))

        return {nir.Affine: synapse, nir.Linear: synapse, nir.Scale: synapse, nir.Delay: delay,
                nir.LIF: neuron, nir.CubaLIF: neuron, nir.LI: neuron}

    def _build(self) -> torch.fx.GraphModule:
        import nirtorch

        return nirtorch.nir_to_torch(self.graph, self._node_map(), dtype=self.dtype)

    def _prev_output_sources(self) -> set[str]:
        found = set()
        for node in self.module.graph.nodes:
            if node.op == "call_method" and node.target == "get" and isinstance(node.args[1], str):
                key = node.args[1]
                if key.endswith("_prev_output"):
                    found.add(key[: -len("_prev_output")])
        return found

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = torch.as_tensor(x).to(self.dtype)
        batch, steps, _ = x.shape
        records: dict[str, list[torch.Tensor]] = {}
        handles = []
        for name, module in self.module.named_children():
            if isinstance(module, EulerNeuron):
                records[name] = []
                handles.append(module.register_forward_hook(lambda _m, _i, out, key=name: records[key].append(out[0])))
        state: dict[str, Any] = {name: None for name, _ in self.module.named_children()}
        for name in self.back_edges:
            state[f"{name}_prev_output"] = getattr(self.module, name).rest(batch, x)
        outputs = []
        try:
            for t in range(steps):
                result = self.module(x[:, t], state)
                *values, state = result
                total = values[0]
                for v in values[1:]:
                    total = total + v
                outputs.append(total)
        finally:
            for h in handles:
                h.remove()
        return torch.stack(outputs, 1), {k: torch.stack(v, 1) for k, v in records.items() if v}
