"""An independent NIR interpreter on ``nirtorch.nir_to_torch`` with our node semantics.

nirtorch wires the graph into a ``torch.fx.GraphModule`` that runs every node once per call
(one call = one step) and feeds cycles with the previous call's output. Our mapping gives each
node the contract's meaning (``neuro_runtime.semantics``; ``export.streaming_msf``):

* ``Affine`` / ``Linear`` / ``Scale``: a stateful one-step synapse, ``y[t] = W u[t-1] + b``,
  ``y[0] = b``. A synapse that nirtorch reads through its "previous output" (the back edge of a
  cycle) is mapped stateless instead, because nirtorch's previous output already is the one-step
  delay; its first previous output is set to the bias.
* ``Delay(delay)``: a FIFO of ``round(delay / dt)`` steps (uniform over channels).
* ``LIF`` / ``LI``: forward Euler with ``dt`` from ``metadata["dt"]``, strict ``>``, reset to
  ``v_reset``.
* ``Output``: nirtorch returns the inputs of the Output separately; we sum them.

Only the NIR file is read: nothing is shared with the streaming model's code.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ucfdvs.errors import UserError

SUPPORTED = ("Input", "Output", "Affine", "Linear", "Scale", "Delay", "LIF", "LI")
SYNAPSE_TYPES = ("Affine", "Linear", "Scale")


class Synapse(nn.Module):
    """One-step synapse: returns the value computed from the previous step's input."""

    def __init__(self, weight: np.ndarray | None, bias: np.ndarray | None, scale: np.ndarray | None) -> None:
        super().__init__()
        self.weight = None if weight is None else nn.Parameter(torch.from_numpy(np.array(weight)), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(torch.from_numpy(np.array(bias)), requires_grad=False)
        self.scale = None if scale is None else nn.Parameter(torch.from_numpy(np.array(scale)), requires_grad=False)
        self.size_out = len(scale) if scale is not None else np.shape(weight)[0]

    def compute(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale is not None:
            return x * self.scale
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def rest(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        base = like.new_zeros(batch, self.size_out)
        return base + self.bias if self.bias is not None else base

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.rest(x.shape[0], x) if state is None else state
        return out, self.compute(x)


class BackEdgeSynapse(Synapse):
    """The same synapse without state: nirtorch delays it by one step through its previous output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.compute(x)


class DelayFIFO(nn.Module):
    """``y[t] = x[t - steps]``, zeros before."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            state = x.new_zeros((self.steps,) + tuple(x.shape))
        return state[0], torch.cat([state[1:], x[None]], 0)


class EulerNeuron(nn.Module):
    """NIR LIF (``spiking=True``) or LI by forward Euler: ``v += (dt/tau)(v_leak - v + r I)``."""

    def __init__(self, node: Any, dt: float, spiking: bool) -> None:
        super().__init__()
        self.spiking = spiking
        self.register_buffer("k", torch.from_numpy(dt / np.asarray(node.tau, dtype=np.float64)))
        self.register_buffer("r", torch.from_numpy(np.asarray(node.r, dtype=np.float64)))
        self.register_buffer("v_leak", torch.from_numpy(np.asarray(node.v_leak, dtype=np.float64)))
        if spiking:
            self.register_buffer("v_threshold", torch.from_numpy(np.asarray(node.v_threshold, dtype=np.float64)))
            self.register_buffer("v_reset", torch.from_numpy(np.asarray(node.v_reset, dtype=np.float64)))

    def forward(self, current: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        v = torch.zeros_like(current) if state is None else state
        v = v + self.k * (self.v_leak - v + self.r * current)
        if not self.spiking:
            return v, v
        spikes = v > self.v_threshold
        v = torch.where(spikes, self.v_reset.expand_as(v), v)
        return spikes.to(v.dtype), v


def _type(node: Any) -> str:
    return type(node).__name__


def _size(node: Any, key: str) -> int:
    types = node.input_type if key == "input" else node.output_type
    shape = np.asarray(list(types.values())[0]).reshape(-1)
    return int(np.prod(shape)) if shape.size else 0


def check_graph(graph: Any, where: str | Path = "NIR graph") -> float:
    """Validate a NIR graph for this interpreter; returns ``dt``. One-line ``UserError`` naming the node."""
    import nir

    if not isinstance(graph, nir.NIRGraph):
        raise UserError(f"expected a NIR graph, got {_type(graph)}", where)
    for name, node in graph.nodes.items():
        if _type(node) not in SUPPORTED:
            raise UserError(f"node {name!r} has unsupported type {_type(node)} (supported: {', '.join(SUPPORTED)})", where)
    metadata = graph.metadata or {}
    if "dt" not in metadata:
        raise UserError("graph metadata has no 'dt' (time step in seconds)", where)
    dt = float(np.asarray(metadata["dt"]))
    if not dt > 0:
        raise UserError(f"metadata dt must be > 0, got {dt}", where)
    inputs = [n for n, v in graph.nodes.items() if _type(v) == "Input"]
    outputs = [n for n, v in graph.nodes.items() if _type(v) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(f"needs exactly one Input and one Output node (has {len(inputs)} and {len(outputs)})", where)
    fed = set()
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in graph.nodes:
                raise UserError(f"dangling edge {src!r} -> {dst!r}: no node {end!r}", where)
        a, b = _size(graph.nodes[src], "output"), _size(graph.nodes[dst], "input")
        if a != b:
            raise UserError(f"edge {src!r} -> {dst!r}: shape mismatch ({_type(graph.nodes[src])} gives {a}, "
                            f"{_type(graph.nodes[dst])} takes {b})", where)
        fed.add(dst)
    for name, node in graph.nodes.items():
        if _type(node) != "Input" and name not in fed:
            raise UserError(f"node {name!r} ({_type(node)}) has no incoming edge", where)
        if _type(node) == "Delay":
            steps = np.asarray(node.delay, dtype=np.float64) / dt
            if not np.allclose(steps, np.round(steps), atol=1e-6) or np.unique(np.round(steps)).size != 1 or np.round(steps).min() < 1:
                raise UserError(f"Delay node {name!r}: delays must be one integer number >= 1 of dt steps", where)
    _check_cycles(graph, where)
    return dt


def _check_cycles(graph: Any, where: str | Path) -> None:
    """Every cycle must pass through a synapse node or a Delay (else it has no step to break it)."""
    instant = {n for n, v in graph.nodes.items() if _type(v) not in SYNAPSE_TYPES + ("Delay",)}
    succ: dict[str, list[str]] = {n: [] for n in instant}
    for s, d in graph.edges:
        if s in instant and d in instant:
            succ[s].append(d)
    colour: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        colour[n] = 1
        for m in succ[n]:
            if colour.get(m) == 1:
                raise UserError(f"cycle with no delay: {' -> '.join(stack + [n, m])}", where)
            if m not in colour:
                visit(m, stack + [n])
        colour[n] = 2

    for n in instant:
        if n not in colour:
            visit(n, [])


class NIRInterpreter:
    """Run a NIR file (or graph) step by step through ``nirtorch.nir_to_torch``.

    ``run(x)``: ``x`` ``[B, T, C_in]`` -> (output ``[B, T, C_out]``, ``{neuron node: [B, T, N]}``).
    """

    def __init__(self, source: str | Path | Any, dtype: torch.dtype = torch.float64) -> None:
        from ucfdvs.export.to_nir import read_nir

        where = source if isinstance(source, (str, Path)) else "NIR graph"
        graph = read_nir(source) if isinstance(source, (str, Path)) else source
        self.dt = check_graph(graph, where)
        self.graph = graph
        self.dtype = dtype
        self.output_name = next(n for n, v in graph.nodes.items() if _type(v) == "Output")
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

        dt, back = self.dt, self.back_edges

        def synapse(node: Any) -> nn.Module:
            cls = BackEdgeSynapse if any(node is self.graph.nodes[n] for n in back) else Synapse
            if isinstance(node, nir.Scale):
                return cls(None, None, node.scale)
            return cls(node.weight, getattr(node, "bias", None) if isinstance(node, nir.Affine) else None, None)

        return {
            nir.Affine: synapse, nir.Linear: synapse, nir.Scale: synapse,
            nir.Delay: lambda node: DelayFIFO(int(round(float(np.asarray(node.delay).reshape(-1)[0]) / dt))),
            nir.LIF: lambda node: EulerNeuron(node, dt, True),
            nir.LI: lambda node: EulerNeuron(node, dt, False),
        }

    def _build(self) -> torch.fx.GraphModule:
        import nirtorch

        with contextlib.redirect_stdout(io.StringIO()):
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
