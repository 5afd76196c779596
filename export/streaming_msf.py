"""The streaming (deployed) form of MSF: a step-by-step simulator of a NIR-expressible graph.

One step = one snippet (``dt`` = 0.533328 s). The model is a graph of named nodes of the kinds
NIR 1.0.8 can write and Lava can run, executed exactly as the deployed graph runs
(the contract of ``neuro_runtime.semantics``):

* ``input``: graded ``x[t]`` (``[B, D]`` per step; zero before step 0).
* ``affine`` / ``linear`` / ``scale`` (synapse nodes, one Lava Dense hop): ``y[t] = W u[t-1] + b``,
  ``y[0] = b``. A synapse node never feeds another synapse node or a Delay (so that every reading
  of "before step 0" agrees: the biases are constant from step 0 on).
* ``delay``: ``y[t] = u[t-k]`` (``k >= 1`` steps, zero before), no extra hop.
* ``lif``: forward Euler, ``v[t] = v[t-1] + (dt/tau)(v_leak - v[t-1] + r I[t])``, spike when
  ``v[t] > v_threshold`` (strict), then ``v[t] = v_reset``; ``v[-1] = v_reset`` (the contract's
  initial state: the membrane rests where a reset puts it, Lava's shifted membrane 0).
* ``cubalif``: a synaptic current first, ``I[t] = I[t-1] + (dt/tau_syn)(w_in x[t] - I[t-1])``, then
  the ``lif`` step on ``I[t]`` with ``tau_mem``; ``I[-1] = 0`` (a bias rises through the current
  from the start step).
* ``li``: the same Euler step with no spike; its output is ``v[t]`` (graded); ``v[-1] = 0``.
* ``output``: the sum of its inputs at step t (no delay); the sigmoid is applied outside.
* a neuron holds its initial state and sends 0 before its start step (the shortest path from the
  input, in steps): biases and leaks do not act before its first input can arrive.

Several edges into one node sum. Neuron parameters are kept as float64 NumPy arrays in the
NIR units (seconds); ``dt / tau`` is computed in float64 and cast to the working dtype, which
is exactly what the NIR interpreter does, so both produce bit-identical spikes in float64.
Spikes use a sigmoid surrogate gradient (alpha 4, SpikingJelly's default) with a detached reset.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime.graph_check import SUPPORTED, check_structure
from ucfdvs.neuro_runtime.graph_search import shortest_steps
from ucfdvs.timebase import SNIPPET_S

DT_SECONDS = SNIPPET_S  # one snippet: 16 frames at 30 fps (533,328 us)
STREAMING_FORMAT = "ucfdvs-streaming/1"

SYNAPSES = ("affine", "linear", "scale")
NEURONS = ("lif", "cubalif", "li")
KINDS = ("input", "output", "delay") + SYNAPSES + NEURONS
NIR_TYPE = {t.lower(): t for t in SUPPORTED}  # node kind -> NIR type (graph_check's one table)
NEURON_FIELDS = {"lif": ("tau", "r", "v_leak", "v_threshold", "v_reset"), "li": ("tau", "r", "v_leak"),
                 "cubalif": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")}


@dataclass
class NodeSpec:
    """One node: its kind, input and output widths, delay in steps (``delay`` nodes) and,
    for neurons, NIR parameters (float64 arrays ``[N]``, tau in seconds)."""

    kind: str
    size_in: int
    size_out: int
    delay: int = 0
    neuron: dict[str, np.ndarray] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "size_in": self.size_in, "size_out": self.size_out, "delay": self.delay,
                "neuron": {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in self.neuron.items()}}

    @staticmethod
    def from_dict(d: dict) -> "NodeSpec":
        return NodeSpec(d["kind"], int(d["size_in"]), int(d["size_out"]), int(d["delay"]),
                        {k: np.asarray(v, dtype=np.float64) for k, v in d["neuron"].items()})


def _key(node: str, what: str) -> str:
    return f"{node}__{what}"


class SpikeFn(torch.autograd.Function):
    """Heaviside ``x > 0`` forward, sigmoid surrogate ``4 s(4x)(1 - s(4x))`` backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(4.0 * x)
        return grad * 4.0 * s * (1.0 - s)


def neuron_step(kind: str, p: dict[str, torch.Tensor], state: tuple[torch.Tensor, torch.Tensor],
                current: torch.Tensor, surrogate: bool = False
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One Euler step of a ``lif`` / ``cubalif`` / ``li`` population: returns (output, new state).

    ``state`` = (synaptic current ``I``, used by ``cubalif`` only; membrane ``v``), ``[B, N]`` each;
    ``p["k"]`` is ``dt / tau`` (``tau_mem``), ``p["k_syn"]`` ``dt / tau_syn``.
    """
    i, v = state
    if kind == "cubalif":
        i = i + p["k_syn"] * (p["w_in"] * current - i)
        current = i
    v = v + p["k"] * (p["v_leak"] - v + p["r"] * current)
    if kind == "li":
        return v, (i, v)
    if surrogate:
        spikes = SpikeFn.apply(v - p["v_threshold"])
    else:
        spikes = (v > p["v_threshold"]).to(v.dtype)
    v = torch.where(spikes.detach() > 0, p["v_reset"].expand_as(v), v)
    return spikes, (i, v)


def neuron_tensors(spec: NodeSpec, dt: float, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """Per-step neuron constants as tensors: ``k = dt / tau`` (``tau_mem``), ``k_syn = dt / tau_syn``
    (computed in float64) and the other parameters."""
    rates = {"tau": "k", "tau_mem": "k", "tau_syn": "k_syn"}
    return {rates.get(name, name): torch.as_tensor(dt / spec.neuron[name] if name in rates else spec.neuron[name],
                                                   dtype=dtype, device=device)
            for name in NEURON_FIELDS[spec.kind]}


def validate(nodes: dict[str, NodeSpec], edges: list[tuple[str, str]], where: str = "graph") -> None:
    """Check a streaming graph with the one validator (``neuro_runtime.graph_check.check_structure``:
    types, edges, widths, cycles), then what this executor needs on top: one output, delays >= 1
    step, no synapse -> synapse/Delay chains, a neuron fed only through synapse nodes, every node
    fed. Raises a one-line ``UserError`` naming the node."""
    for name, spec in nodes.items():
        if spec.kind not in KINDS:
            raise UserError(f"node {name!r} has unsupported kind {spec.kind!r} (streaming kinds: {', '.join(KINDS)})", where)
    try:
        check_structure({n: NIR_TYPE[s.kind] for n, s in nodes.items()}, edges,
                        {n: s.size_in for n, s in nodes.items()}, {n: s.size_out for n, s in nodes.items()},
                        {n: s.delay for n, s in nodes.items() if s.kind == "delay"})
    except UserError as err:
        raise UserError(str(err), where) from None
    outputs = [n for n, s in nodes.items() if s.kind == "output"]
    if len(outputs) != 1:
        raise UserError(f"needs exactly one output node (has {len(outputs)})", where)
    for name, spec in nodes.items():
        if spec.kind == "delay" and spec.delay < 1:
            raise UserError(f"delay node {name!r} must delay >= 1 step (has {spec.delay})", where)
    incoming: dict[str, list[str]] = defaultdict(list)
    for src, dst in edges:
        s, d = nodes[src], nodes[dst]
        if s.kind in SYNAPSES and d.kind in SYNAPSES + ("delay",):
            raise UserError(f"edge {src!r} -> {dst!r}: a synapse node may not feed a synapse or Delay node", where)
        if s.kind in NEURONS + ("input", "delay") and d.kind in NEURONS:
            raise UserError(f"edge {src!r} -> {dst!r}: a neuron takes input only through a synapse node", where)
        incoming[dst].append(src)
    for name, spec in nodes.items():
        if spec.kind not in ("input",) and not incoming[name]:
            raise UserError(f"node {name!r} has no incoming edge", where)


class StreamingNet(nn.Module):
    """A streaming graph with trainable synapse weights, run step by step.

    ``forward(x)`` with ``x`` ``[B, T, D]`` returns the Output node's values ``[B, T, O]``
    (raw, not shifted); ``run(x, record=True)`` also returns every neuron population's outputs
    ``{name: [B, T, N]}``.
    """

    def __init__(self, nodes: dict[str, NodeSpec], edges: list[tuple[str, str]],
                 tensors: dict[str, torch.Tensor], dt: float = DT_SECONDS, meta: dict | None = None) -> None:
        super().__init__()
        validate(nodes, edges)
        self.nodes = dict(nodes)
        self.edges = list(edges)
        self.dt = float(dt)
        self.meta = dict(meta or {})
        self.params = nn.ParameterDict({k: nn.Parameter(torch.as_tensor(v, dtype=torch.float32).clone())
                                        for k, v in tensors.items()})
        for name, spec in self.nodes.items():
            need = {"affine": ("weight", "bias"), "linear": ("weight",), "scale": ("scale",)}.get(spec.kind, ())
            for what in need:
                if _key(name, what) not in self.params:
                    raise UserError(f"node {name!r} lacks its {what}")
        self.input_name = next(n for n, s in nodes.items() if s.kind == "input")
        self.output_name = next(n for n, s in nodes.items() if s.kind == "output")
        self.sources: dict[str, list[str]] = defaultdict(list)
        for src, dst in self.edges:
            self.sources[dst].append(src)
        self._input_driven = self._find_input_driven()

    # -- structure -----------------------------------------------------------------------------
    def _find_input_driven(self) -> list[str]:
        """Nodes whose value depends only on the input (Input, its Delays, synapses on those), in order."""
        done: list[str] = [self.input_name]
        changed = True
        while changed:
            changed = False
            for name, spec in self.nodes.items():
                if name in done or spec.kind not in SYNAPSES + ("delay",):
                    continue
                if all(s in done for s in self.sources[name]):
                    done.append(name)
                    changed = True
        return done

    def weight(self, node: str, what: str) -> torch.Tensor:
        return self.params[_key(node, what)]

    def populations(self) -> list[str]:
        """Names of the neuron populations, in node order."""
        return [n for n, s in self.nodes.items() if s.kind in NEURONS]

    def latency(self) -> int:
        """Steps until input step 0 first reaches the output (shortest path; synapse 1, Delay k).

        With look-ahead taps this is earlier than the score latency of :class:`StreamingMSF`
        (future snippets reach the output before the snippet's own score is complete)."""
        return path_latency(self.nodes, self.edges)

    def payload(self) -> dict:
        """Everything needed to rebuild this model (tensors, lists and strings only)."""
        return {"format": STREAMING_FORMAT, "dt": self.dt, "meta": self.meta,
                "nodes": {n: s.to_dict() for n, s in self.nodes.items()}, "edges": [list(e) for e in self.edges],
                "tensors": {k: v.detach().cpu().clone() for k, v in self.params.items()}}

    @staticmethod
    def from_payload(payload: dict) -> "StreamingNet":
        nodes = {n: NodeSpec.from_dict(d) for n, d in payload["nodes"].items()}
        return StreamingNet(nodes, [tuple(e) for e in payload["edges"]], payload["tensors"], payload["dt"], payload["meta"])

    # -- execution -----------------------------------------------------------------------------
    def _synapse(self, name: str, u: torch.Tensor) -> torch.Tensor:
        kind = self.nodes[name].kind
        dtype = u.dtype
        if kind == "scale":
            return u * self.weight(name, "scale").to(dtype)
        y = u @ self.weight(name, "weight").to(dtype).T
        if kind == "affine":
            y = y + self.weight(name, "bias").to(dtype)
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[0]

    def run(self, x: torch.Tensor, record: bool = False, surrogate: bool | None = None
            ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run ``x`` ``[B, T, D]`` from rest for T steps; returns (output ``[B, T, O]``, records)."""
        if surrogate is None:
            surrogate = self.training
        batch, steps, _ = x.shape
        dtype, device = x.dtype, x.device
        # values of input-driven nodes for all steps at once, [B, T, N]
        seq: dict[str, torch.Tensor] = {self.input_name: x}
        for name in self._input_driven[1:]:
            spec = self.nodes[name]
            total = None
            for src in self.sources[name]:
                u = seq[src]
                if spec.kind == "delay":
                    k = spec.delay
                    val = torch.cat([u.new_zeros(batch, min(k, steps), u.shape[2]), u[:, : max(steps - k, 0)]], 1)
                else:
                    shifted = torch.cat([u.new_zeros(batch, 1, u.shape[2]), u[:, :-1]], 1)
                    val = self._synapse(name, shifted)
                total = val if total is None else total + val
            seq[name] = total
        hist: dict[str, list[torch.Tensor]] = {}
        state: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        consts: dict[str, dict[str, torch.Tensor]] = {}
        step_nodes = [n for n in self.nodes if n not in seq]
        delays = [n for n in step_nodes if self.nodes[n].kind == "delay"]
        synapses = [n for n in step_nodes if self.nodes[n].kind in SYNAPSES]
        neurons = [n for n in step_nodes if self.nodes[n].kind in NEURONS]
        for n in neurons:
            kind, size = self.nodes[n].kind, self.nodes[n].size_out
            consts[n] = neuron_tensors(self.nodes[n], self.dt, dtype, device)
            v0 = consts[n]["v_reset"] if kind != "li" else x.new_zeros(())
            state[n] = (x.new_zeros(batch, size), v0.expand(batch, size).clone())
        for n in step_nodes:
            hist[n] = []
        starts = path_steps(self.nodes, self.edges)

        def value(n: str, t: int) -> torch.Tensor | None:
            if t < 0:
                return None
            if n in seq:
                return seq[n][:, t]
            return hist[n][t]

        outputs = []
        for t in range(steps):
            for n in delays:
                total = None
                for src in self.sources[n]:
                    v = value(src, t - self.nodes[n].delay)
                    if v is None:
                        v = x.new_zeros(batch, self.nodes[n].size_out)
                    total = v if total is None else total + v
                hist[n].append(total)
            for n in synapses:
                total = None
                for src in self.sources[n]:
                    u = value(src, t - 1)
                    if u is None:
                        u = x.new_zeros(batch, self.nodes[n].size_in)
                    v = self._synapse(n, u)
                    total = v if total is None else total + v
                hist[n].append(total)
            for n in neurons:
                if t < starts.get(n, 0):  # before its first input can arrive: initial state, silent
                    hist[n].append(x.new_zeros(batch, self.nodes[n].size_out))
                    continue
                current = None
                for src in self.sources[n]:
                    v = value(src, t)
                    current = v if current is None else current + v
                out, state[n] = neuron_step(self.nodes[n].kind, consts[n], state[n], current, surrogate)
                hist[n].append(out)
            total = None
            for src in self.sources[self.output_name]:
                v = value(src, t)
                total = v if total is None else total + v
            outputs.append(total)
        out = torch.stack(outputs, 1)
        records = {n: torch.stack(hist[n], 1) for n in neurons} if record else {}
        return out, records


def path_steps(nodes: dict[str, NodeSpec], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Shortest input -> node path in steps for every reachable node (entering a synapse node
    costs 1, a Delay k, others 0): a neuron's start step, the output's latency."""
    def cost(n: str) -> int:
        k = nodes[n].kind
        return 1 if k in SYNAPSES else (nodes[n].delay if k == "delay" else 0)

    out_edges: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for s, d in edges:
        out_edges[s].append((d, cost(d)))
    start = next(n for n, s in nodes.items() if s.kind == "input")
    return shortest_steps(start, out_edges)


def path_latency(nodes: dict[str, NodeSpec], edges: list[tuple[str, str]]) -> int:
    """Shortest input -> output path in steps (entering a synapse node costs 1, a Delay k, others 0)."""
    goal = next(n for n, s in nodes.items() if s.kind == "output")
    dist = path_steps(nodes, edges)
    if goal not in dist:
        raise UserError("the output cannot be reached from the input")
    return dist[goal]


class StreamingMSF(nn.Module):
    """A :class:`StreamingNet` with MSF's read-out conventions: ``forward(x, lengths)`` -> scores.

    Runs ``T + latency`` steps (the input padded with zeros, as the reference pads), and shifts
    the output back by the latency: ``scores[:, i] = sigmoid(output[:, i + latency])``, ``[B, T]``.
    ``feature_dim`` and ``hyperparameters()`` mirror the reference model's interface.
    """

    def __init__(self, net: StreamingNet) -> None:
        super().__init__()
        self.net = net
        self.feature_dim = net.nodes[net.input_name].size_out
        self.latency = int(net.meta.get("latency", net.latency()))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        pad = x.new_zeros(x.shape[0], self.latency, x.shape[2])
        out = self.net(torch.cat([x, pad], 1))
        return out[:, self.latency:, 0]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def hyperparameters(self) -> dict:
        return dict(self.net.meta)


def save_streaming(path: Any, model: StreamingMSF | StreamingNet, extra: dict | None = None) -> None:
    """Write a streaming checkpoint atomically (``format`` ``ucfdvs-streaming/1``)."""
    from ucfdvs.atomic import atomic_path

    net = model.net if isinstance(model, StreamingMSF) else model
    payload = {**net.payload(), **(extra or {})}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def is_streaming_payload(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("format") == STREAMING_FORMAT
