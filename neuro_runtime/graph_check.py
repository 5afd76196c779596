"""Load and validate a NIR graph and lower it to a :class:`RuntimeGraph` (see ``semantics``).

This module is the one validator and the one table of supported node types for every executor
(emulator, Lava, the streaming PyTorch model, the nirtorch interpreter): :func:`check_types` and
:func:`check_structure` check any graph described by node types, edges, widths and delays.

Lowering: every value arriving at a *state node* (neuron or Output) is written as a sum of
*terms* ``M @ out_src[t - d]`` from state nodes or the Input (``src``), plus a constant bias
(rest value).  Chains of synapse nodes (Affine, Linear, Scale) and Delay nodes are multiplied
out; each synapse node adds one step, a Delay node adds its k steps.  Neuron gains (``dt/tau * r``
and the like) are folded into the rows of the matrices, so ``M`` is in the units of Lava's
``a_in``.  All of this is exact in float64.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime.graph_search import back_edges, find_cycle, shortest_steps

# The one table of supported NIR node types (an executor that supports fewer says so itself).
# Synapse nodes: one step (one Lava Dense hop) each.  Flatten: a reshape, no step.
SYNAPSE_TYPES = ("Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d")
NEURON_TYPES = ("LIF", "CubaLIF", "LI", "CubaLI", "IF", "I", "Threshold")
SPIKING_TYPES = ("LIF", "CubaLIF", "IF", "Threshold")
LINEAR_TYPES = SYNAPSE_TYPES + ("Delay", "Flatten")
SUPPORTED = ("Input", "Output") + NEURON_TYPES + LINEAR_TYPES
RESET_MODES = ("zero", "subtract")


def check_types(types: Mapping[str, str]) -> None:
    """Refuse node types outside :data:`SUPPORTED` (``types``: node name -> NIR type name)."""
    for name, t in types.items():
        if t == "NIRGraph":
            raise UserError(f"node '{name}' (NIRGraph): nested subgraphs must be flattened first "
                            "(neuro_runtime.sources.load_foreign does it)")
        if t not in SUPPORTED:
            raise UserError(
                f"node '{name}' has type {t}, which is not supported "
                f"(supported: {', '.join(SUPPORTED)})"
            )


def check_structure(
    types: Mapping[str, str], edges: Sequence[tuple[str, str]], size_in: Mapping[str, int],
    size_out: Mapping[str, int], delay_min: Mapping[str, int],
) -> tuple[str, list[str], dict[str, list[str]], dict[str, list[str]]]:
    """The one structural check of a graph (names -> NIR types, edges, widths, Delay steps).

    Checks: supported types, no edge to an unknown node, at least one Input, each with no incoming
    edge, at least one Output, each fed and feeding nothing, matching widths on every edge, and every
    cycle through a synapse node or a Delay of >= 1 step (``delay_min``: smallest delay of each
    Delay node, steps) and through a neuron.  Returns ``(inputs, outputs, preds, succs)``; raises a
    one-line ``UserError``.
    """
    check_types(types)
    preds: dict[str, list[str]] = {n: [] for n in types}
    succs: dict[str, list[str]] = {n: [] for n in types}
    for s, d in edges:
        for x in (s, d):
            if x not in types:
                raise UserError(f"edge {s} -> {d} refers to unknown node '{x}'")
        preds[d].append(s)
        succs[s].append(d)
    inputs = [n for n, t in types.items() if t == "Input"]
    outputs = [n for n, t in types.items() if t == "Output"]
    if not inputs:
        raise UserError("graph has no Input node")
    if not outputs:
        raise UserError("graph has no Output node")
    for inp in inputs:
        if preds[inp]:
            raise UserError(f"Input node '{inp}' has incoming edges from {preds[inp]}")
    for o in outputs:
        if succs[o]:
            raise UserError(f"Output node '{o}' has outgoing edges to {succs[o]}")
        if not preds[o]:
            raise UserError(f"Output node '{o}' has no incoming edge")
    for s, d in edges:
        if size_out[s] != size_in[d]:
            raise UserError(
                f"shape mismatch on edge {s} -> {d}: '{s}' ({types[s]}) outputs "
                f"{size_out[s]} values, '{d}' ({types[d]}) takes {size_in[d]}"
            )
    instant = [n for n, t in types.items() if not (t in SYNAPSE_TYPES or (t == "Delay" and delay_min[n] >= 1))]
    cyc = find_cycle(instant, succs)
    if cyc:
        raise UserError("cycle with no delay: " + " -> ".join(cyc + [cyc[0]]))
    cyc = find_cycle([n for n, t in types.items() if t in LINEAR_TYPES], succs)
    if cyc:
        raise UserError(
            "cycle without a neuron (only synapse/Delay nodes): " + " -> ".join(cyc + [cyc[0]])
            + "; its rest value is undefined"
        )
    return inputs, outputs, preds, succs


@dataclass
class NeuronSpec:
    """One NIR neuron node in Lava's parametrisation (all vectors ``[N]``, float64).

    ``du``, ``dv``: Lava decays (dimensionless, per step); ``vth``: threshold of the shifted
    membrane ``v - v_reset`` (``inf`` for graded nodes); ``bias``: constant added to v each step.
    ``reset_sub``: None (reset to ``v_reset``) or the amount subtracted from ``v`` at a spike
    ``[N]``; ``start``: the first step the neuron updates (its arrival step; before it the neuron
    holds its initial state and sends nothing).  ``u_init``: the current ``u`` held until the start
    step: minus the share of ``bias`` that reaches v through a CubaLIF/CubaLI current
    (``dv r w_in b_rest``; 0 elsewhere), so that this share rises through the current's filter
    from the start step, ``bias_syn (1 - (1 - du)**(t - start + 1))``, as the current I[t] of a
    constant input starting from I[-1] = 0 does, while ``bias`` stays Lava's constant.
    """

    name: str
    kind: str
    size: int
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias: np.ndarray
    reset_sub: np.ndarray | None = None
    start: int = 0
    u_init: np.ndarray | None = None  # None: zeros

    def __post_init__(self) -> None:
        if self.u_init is None:
            self.u_init = np.zeros(self.size)

    @property
    def spiking(self) -> bool:
        return self.kind in SPIKING_TYPES


@dataclass
class OutputSpec:
    """One NIR Output node: ``size`` channels and the constant rest value ``bias`` ``[N]``."""

    name: str
    size: int
    bias: np.ndarray


@dataclass
class Term:
    """``matrix @ out_src[t - delay]`` (``matrix``: ``[N_dst, N_src]``; delay = hops + explicit)."""

    delay: int
    matrix: np.ndarray
    hops: int
    explicit: int


@dataclass
class Projection:
    """All terms from one source (Input or neuron) into one target (neuron or Output): one
    synapse layer (shares one weight exponent in fixed point)."""

    src: str
    dst: str
    terms: list[Term]
    graded: bool

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"


@dataclass
class RuntimeGraph:
    """A validated, lowered NIR graph: what the emulator and the Lava builder execute."""

    dt: float
    input_name: str
    input_size: int
    neurons: dict[str, NeuronSpec]
    outputs: dict[str, OutputSpec]
    projections: list[Projection]
    order: list[str]
    arrival: dict[str, int | None]
    latency: dict[str, int | None]
    inserted_delays: list[tuple[str, str, int]] = field(default_factory=list)
    aligned: bool = False
    misaligned: list[str] = field(default_factory=list)
    source: str | None = None
    metadata: dict = field(default_factory=dict)
    rest: dict[str, np.ndarray] = field(default_factory=dict)
    """Rest value of each synapse and Delay node's output ``[N]`` (its output before step 0 and
    under zero input; see ``semantics``); neurons and the Input rest at 0 and are not listed."""
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Output shape of every NIR node (without batch), e.g. ``(C, H, W)``."""
    inputs: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Each NIR Input node -> (offset, size) in the concatenated input vector (``input_size``)."""
    reset: str = "zero"

    def offset(self, name: str) -> int:
        """Steps by which node ``name`` (neuron or Output) lags the source framework's run of a
        feed-forward graph: its step ``t + offset`` is the source's step ``t`` (= its arrival)."""
        a = self.arrival.get(name)
        return 0 if a is None else int(a)

    @property
    def flush_steps(self) -> int:
        """Extra zero-input steps after a sequence so that every Output and neuron has shown its
        response to the last input step (the largest offset)."""
        return max([self.offset(n) for n in list(self.neurons) + list(self.outputs)], default=0)

    def pack_inputs(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """``{Input name: [B, T, *shape] or [T, *shape]}`` -> the concatenated ``[B, T, input_size]``."""
        missing = set(self.inputs) - set(arrays)
        extra = set(arrays) - set(self.inputs)
        if missing or extra:
            raise UserError(f"inputs must be named {sorted(self.inputs)}; missing {sorted(missing)}, "
                            f"unknown {sorted(extra)}")
        parts = []
        for name, (_, size) in self.inputs.items():
            a = np.asarray(arrays[name], dtype=np.float64)
            shape = self.shapes[name]
            lead = a.ndim - len(shape)
            if lead not in (1, 2) or tuple(a.shape[lead:]) != tuple(shape):
                raise UserError(f"input '{name}' has shape {list(a.shape)}, the graph's Input takes "
                                f"[B, T, {', '.join(map(str, shape))}] or [T, ...]")
            a = a.reshape(a.shape[:lead] + (size,))
            parts.append(a if lead == 2 else a[None])
        return np.concatenate(parts, axis=-1)

    def size(self, name: str) -> int:
        """Number of channels of the Input, a neuron node or an Output."""
        if name == self.input_name:
            return self.input_size
        if name in self.inputs:
            return self.inputs[name][1]
        if name in self.neurons:
            return self.neurons[name].size
        return self.outputs[name].size

    def is_graded(self, name: str) -> bool:
        """True where the node's output is a graded value (Input, LI)."""
        return name == self.input_name or (name in self.neurons and not self.neurons[name].spiking)

    def into(self, dst: str) -> list[Projection]:
        return [p for p in self.projections if p.dst == dst]

    def max_delay(self) -> int:
        return max((t.delay for p in self.projections for t in p.terms), default=0)

    def report(self) -> str:
        """Human-readable summary: nodes, arrival times, inserted delays, latency."""
        lines = [f"dt = {self.dt} s; input '{self.input_name}' ({self.input_size} channels); reset {self.reset}; "
                 f"flush {self.flush_steps} step(s)"]
        for n in self.order:
            lines.append(f"  {n}: arrival step {self.arrival.get(n)}")
        for s, d, k in self.inserted_delays:
            lines.append(f"  inserted delay of {k} step(s) on {s} -> {d}")
        for m in self.misaligned:
            lines.append(f"  not aligned: {m}")
        for o, lat in self.latency.items():
            lines.append(f"  latency to output '{o}': {lat} step(s)")
        return "\n".join(lines)


def _arr(node_name: str, what: str, value: Any, size: int | None = None) -> np.ndarray:
    """A parameter as a float64 vector: any shape is flattened (C order); a single value is
    broadcast to ``size``; otherwise it must hold exactly ``size`` values."""
    a = np.asarray(value, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise UserError(f"node '{node_name}': parameter {what} is not finite")
    if size is not None:
        if a.size == 1:
            a = np.full(size, float(a[0]))
        elif a.size != size:
            raise UserError(
                f"node '{node_name}': parameter {what} has shape {tuple(np.shape(value))}, expected {size} values"
            )
    return a


def _type_name(node: Any) -> str:
    return type(node).__name__


def load_graph(path_or_graph: Any, *, align: bool = False, reset: str | None = None,
               reset_amount: Mapping[str, Any] | None = None) -> RuntimeGraph:
    """Read a NIR file (or take a ``nir.NIRGraph``), validate it and lower it.

    ``align=True`` shifts whole projections so that paths meeting at a node arrive at the same step
    (explicit Delay nodes stay on top); the padding is listed in ``inserted_delays``.
    ``reset``: ``"zero"`` (to ``v_reset``) or ``"subtract"`` (``v -= amount`` at a spike); default
    ``metadata["reset"]``, else ``"zero"``.  ``reset_amount``: per spiking node the amount to
    subtract (e.g. :class:`neuro_runtime.sources.SourceRecord.reset_amount`); default its
    ``v_threshold``.  Raises :class:`UserError` (one line) on anything unsupported.
    """
    import nir

    source = None
    if isinstance(path_or_graph, (str, Path)):
        source = str(path_or_graph)
        if not Path(path_or_graph).is_file():
            raise UserError("NIR file not found", path_or_graph)
        try:
            graph = nir.read(str(path_or_graph))
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
            raise UserError(f"cannot read NIR graph: {type(exc).__name__}: {exc}", path_or_graph) from None
    else:
        graph = path_or_graph
    try:
        return _lower(graph, align=align, source=source, reset=reset, reset_amount=reset_amount or {})
    except UserError as exc:
        if source is not None and not str(exc).startswith(source):
            raise UserError(str(exc), source) from None
        raise


def _shape_of(node: Any, key: str) -> tuple[int, ...] | None:
    types = node.input_type if key == "input" else node.output_type
    v = next(iter(types.values()), None) if types else None
    if v is None:
        return None
    return tuple(int(x) for x in np.asarray(v).reshape(-1))


def _param_shape(node: Any, fields: Sequence[str]) -> tuple[int, ...] | None:
    """Shape of a neuron node's largest parameter (None when all are scalars)."""
    best = None
    for f in fields:
        v = getattr(node, f, None)
        if v is not None and np.size(v) > 1 and (best is None or np.size(v) > int(np.prod(best))):
            best = tuple(np.shape(v))
    return best


NEURON_FIELDS = {
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"), "LI": ("tau", "r", "v_leak"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"), "IF": ("r", "v_threshold", "v_reset"),
    "I": ("r",), "Threshold": ("threshold",),
}


def _infer_shapes(nodes: Mapping[str, Any], types: Mapping[str, str], edges: Sequence[tuple[str, str]]
                  ) -> tuple[dict[str, tuple[int, ...]], dict[str, np.ndarray]]:
    """Output shape of every node (without batch) and the matrix of each structured linear node.

    Shapes come from the node itself where it fixes them (Input, Affine, Linear, array
    parameters), else from what feeds it; a node whose shape cannot be found is refused.
    """
    from ucfdvs.neuro_runtime.linear_maps import conv_matrix, pool_matrix

    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a in nodes and b in nodes:
            preds[b].append(a)
    out: dict[str, tuple[int, ...]] = {}
    mats: dict[str, np.ndarray] = {}

    def own(name: str, node: Any, t: str) -> tuple[int, ...] | None:
        if t == "Input":
            return _shape_of(node, "output")
        if t in ("Affine", "Linear"):
            w = np.asarray(node.weight)
            if w.ndim != 2:
                raise UserError(f"node '{name}' ({t}): weight must be 2-D [out, in], got shape {w.shape}")
            return (w.shape[0],)
        if t == "Scale":
            return tuple(np.shape(node.scale)) if np.size(node.scale) > 1 else None
        if t == "Delay":
            return tuple(np.shape(node.delay)) if np.size(node.delay) > 1 else None
        if t in NEURON_FIELDS:
            return _param_shape(node, NEURON_FIELDS[t])
        return None

    def derived(name: str, node: Any, t: str, ish: tuple[int, ...]) -> tuple[int, ...]:
        if t in ("Conv1d", "Conv2d"):
            m, shape = conv_matrix(f"'{name}' ({t})", node.weight, ish, node.stride, node.padding, node.dilation, node.groups)
            mats[name] = m
            return shape
        if t in ("SumPool2d", "AvgPool2d"):
            m, shape = pool_matrix(f"'{name}' ({t})", ish, node.kernel_size, node.stride, node.padding, t == "AvgPool2d")
            mats[name] = m
            return shape
        if t == "Flatten":
            from nir.ir.utils import calc_flatten_output

            try:
                return tuple(int(x) for x in calc_flatten_output(np.asarray(ish), int(node.start_dim), int(node.end_dim)))
            except Exception:  # noqa: BLE001 - dims outside the unbatched shape: flatten all
                return (int(np.prod(ish)),)
        return ish

    for name, node in nodes.items():
        shape = own(name, node, types[name])
        if shape is not None:
            out[name] = shape
    for _ in range(len(nodes) + 1):
        changed = False
        for name, node in nodes.items():
            if name in out:
                continue
            known = [out[p] for p in preds[name] if p in out]
            ish = known[0] if known else _shape_of(node, "input")
            if ish is None:
                continue
            out[name] = derived(name, node, types[name], ish)
            changed = True
        if not changed:
            break
    for name, t in types.items():
        if name not in out:
            raise UserError(f"node '{name}' ({t}): cannot determine its shape (nothing that feeds it has one)")
    return out, mats


def _lower(graph: Any, *, align: bool, source: str | None, reset: str | None,
           reset_amount: Mapping[str, Any]) -> RuntimeGraph:
    meta = getattr(graph, "metadata", None) or {}
    if "dt" not in meta:
        raise UserError('graph metadata has no "dt" (time step in seconds); set graph.metadata["dt"]')
    try:
        dt = float(np.asarray(meta["dt"]).reshape(-1)[0])
    except Exception:  # noqa: BLE001
        raise UserError(f'graph metadata "dt" is not a number: {meta["dt"]!r}') from None
    if not np.isfinite(dt) or dt <= 0:
        raise UserError(f'graph metadata "dt" must be a positive number of seconds, got {dt}')
    reset = reset or str(meta.get("reset", "zero"))
    if reset not in RESET_MODES:
        raise UserError(f"unknown reset {reset!r}; valid: {', '.join(RESET_MODES)}")

    nodes: dict[str, Any] = dict(graph.nodes)
    types = {name: _type_name(node) for name, node in nodes.items()}
    check_types(types)
    edges = [(e[0], e[1]) for e in graph.edges]
    for s_, d_ in edges:
        for x in (s_, d_):
            if x not in types:
                raise UserError(f"edge {s_} -> {d_} refers to unknown node '{x}'")
    shapes, mats = _infer_shapes(nodes, types, edges)

    # --- parameters and sizes -------------------------------------------------------------
    in_size: dict[str, int] = {}
    out_size: dict[str, int] = {name: int(np.prod(shape)) for name, shape in shapes.items()}
    delay_steps: dict[str, np.ndarray] = {}
    neurons: dict[str, NeuronSpec] = {}
    gains_x: dict[str, np.ndarray] = {}
    gains_b: dict[str, np.ndarray] = {}
    matrices: dict[str, np.ndarray] = {}
    biases: dict[str, np.ndarray] = {}
    for name, node in nodes.items():
        t = types[name]
        n_out = out_size[name]
        if t in ("Input", "Output"):
            in_size[name] = n_out
        elif t in ("Affine", "Linear"):
            w = np.asarray(node.weight, dtype=np.float64)
            if not np.all(np.isfinite(w)):
                raise UserError(f"node '{name}' ({t}): weight is not finite")
            in_size[name] = w.shape[1]
            matrices[name] = w
            biases[name] = _arr(name, "bias", node.bias, n_out) if t == "Affine" else np.zeros(n_out)
        elif t == "Scale":
            s = _arr(name, "scale", node.scale, n_out)
            in_size[name] = n_out
            matrices[name] = np.diag(s)
            biases[name] = np.zeros(n_out)
        elif t in ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d"):
            m = mats[name]
            if not np.all(np.isfinite(m)):
                raise UserError(f"node '{name}' ({t}): weight is not finite")
            in_size[name] = m.shape[1]
            matrices[name] = m
            if t.startswith("Conv"):
                from ucfdvs.neuro_runtime.linear_maps import conv_bias

                b = conv_bias(node.bias, shapes[name])
                if b.size != n_out:
                    raise UserError(f"node '{name}' ({t}): bias has {np.size(node.bias)} values, "
                                    f"expected one per output channel ({shapes[name][0]})")
                biases[name] = _arr(name, "bias", b, n_out)
            else:
                biases[name] = np.zeros(n_out)
        elif t == "Flatten":
            in_size[name] = n_out
        elif t == "Delay":
            d = _arr(name, "delay", node.delay, n_out)
            k = d / dt
            if np.any(d < 0) or np.any(np.abs(k - np.round(k)) > 1e-6 * np.maximum(1.0, np.abs(k))):
                raise UserError(
                    f"node '{name}' (Delay): delays {d.tolist()} s are not non-negative integer "
                    f"multiples of dt = {dt} s"
                )
            delay_steps[name] = np.round(k).astype(np.int64)
            in_size[name] = n_out
        else:
            spec, gx, gb = _neuron_spec(name, t, node, dt, n_out)
            if spec.spiking and reset == "subtract":
                amount = reset_amount.get(name)
                if amount is None:
                    amount = node.threshold if t == "Threshold" else node.v_threshold
                spec.reset_sub = _arr(name, "reset amount", amount, n_out)
                if np.any(spec.reset_sub <= 0):
                    raise UserError(f"node '{name}' ({t}): subtractive reset needs a positive amount "
                                    f"(min {spec.reset_sub.min():g})")
            neurons[name] = spec
            gains_x[name], gains_b[name] = gx, gb
            in_size[name] = n_out

    delay_min = {n: int(k.min()) if k.size else 0 for n, k in delay_steps.items()}
    input_nodes, outputs, preds, succs = check_structure(types, edges, in_size, out_size, delay_min)

    # several Inputs: one concatenated input vector, each Input selects its slice
    if len(input_nodes) == 1:
        inp = input_nodes[0]
        input_parts = {inp: (0, out_size[inp])}
    else:
        inp = "+".join(input_nodes)
        input_parts, off = {}, 0
        for n in input_nodes:
            input_parts[n] = (off, out_size[n])
            off += out_size[n]
    input_size = sum(size for _, size in input_parts.values())

    # --- lower linear chains into terms ----------------------------------------------------
    state = set(neurons) | set(outputs) | {inp}
    memo: dict[str, tuple[list[tuple[str, int, int, np.ndarray]], np.ndarray]] = {}

    def gather(n: str) -> tuple[list[tuple[str, int, int, np.ndarray]], np.ndarray]:
        """Sum of everything arriving at node n's input."""
        terms: list[tuple[str, int, int, np.ndarray]] = []
        bias = np.zeros(in_size[n])
        for p in preds[n]:
            if p in state:
                terms.append((p, 0, 0, np.eye(out_size[p])))
            elif p in input_parts:  # one of several Inputs: its slice of the concatenated input
                off, size = input_parts[p]
                terms.append((inp, 0, 0, np.eye(input_size)[off:off + size]))
            else:
                t2, b2 = expr(p)
                terms.extend(t2)
                bias = bias + b2
        return terms, bias

    def expr(n: str) -> tuple[list[tuple[str, int, int, np.ndarray]], np.ndarray]:
        """Output of linear node n as terms over state nodes."""
        if n in memo:
            return memo[n]
        terms_in, b_in = gather(n)
        t = types[n]
        out: list[tuple[str, int, int, np.ndarray]] = []
        if n in matrices:
            w = matrices[n]
            out = [(s, h + 1, e, w @ m) for s, h, e, m in terms_in]
            bias = w @ b_in + biases[n]
        elif t == "Flatten":
            out, bias = terms_in, b_in
        else:  # Delay
            k = delay_steps[n]
            for kv in np.unique(k):
                mask = (k == kv).astype(np.float64)[:, None]
                out += [(s, h, e + int(kv), mask * m) for s, h, e, m in terms_in]
            bias = b_in
        memo[n] = (out, np.asarray(bias, dtype=np.float64))
        return memo[n]

    projections: list[Projection] = []
    outputs_spec: dict[str, OutputSpec] = {}
    targets = list(neurons) + outputs
    for dst in targets:
        raw, b_rest = gather(dst)
        by_src: dict[str, dict[tuple[int, int], np.ndarray]] = {}
        for s, h, e, m in raw:
            key = (h, e)
            slot = by_src.setdefault(s, {})
            slot[key] = slot[key] + m if key in slot else m.copy()
        if dst in neurons:
            gx, gb = gains_x[dst], gains_b[dst]
            neurons[dst].bias = neurons[dst].bias + gb * b_rest
            cuba = neurons[dst].kind in ("CubaLIF", "CubaLI")
            neurons[dst].u_init = -gb * b_rest if cuba else np.zeros(neurons[dst].size)
        else:
            gx = np.ones(out_size[dst])
            outputs_spec[dst] = OutputSpec(dst, out_size[dst], b_rest.copy())
        for s, slot in by_src.items():
            terms = []
            for (h, e), m in sorted(slot.items()):
                m = gx[:, None] * m
                if not np.any(m):
                    continue
                terms.append(Term(delay=h + e, matrix=m, hops=h, explicit=e))
            if terms:
                graded = s == inp or (s in neurons and not neurons[s].spiking)
                projections.append(Projection(src=s, dst=dst, terms=terms, graded=graded))

    inserted: list[tuple[str, str, int]] = []
    misaligned: list[str] = []
    _align(inp, targets, projections, align, inserted, misaligned)
    for p in projections:  # one term per total delay (Lava accumulates a delay slot before shifting)
        merged: dict[int, Term] = {}
        for t in p.terms:
            if t.delay in merged:
                merged[t.delay].matrix = merged[t.delay].matrix + t.matrix
            else:
                merged[t.delay] = Term(t.delay, t.matrix.copy(), t.hops, t.explicit)
        p.terms = [merged[k] for k in sorted(merged)]

    # zero-delay terms (direct port connections in Lava)
    for p in projections:
        zero = [t for t in p.terms if t.delay == 0]
        if len(zero) > 1:
            raise UserError(f"edge {p.src} -> {p.dst}: several parallel zero-delay paths are not supported")
        for t in zero:
            if t.matrix.shape[0] != t.matrix.shape[1] or not np.array_equal(t.matrix, np.eye(t.matrix.shape[0])):
                why = (
                    f"neuron '{p.dst}' would need input gain {np.unique(np.diag(t.matrix)).tolist()[:4]} "
                    "but a direct (zero-delay) connection cannot scale"
                    if p.dst in neurons and t.matrix.shape[0] == t.matrix.shape[1]
                    else "a direct (zero-delay) path must be an identity map"
                )
                raise UserError(
                    f"zero-delay path {p.src} -> {p.dst} (no synapse node between): {why}; "
                    "insert an Affine/Scale node"
                )

    order = _eval_order(targets, projections)
    arrival = _arrivals(inp, targets, projections)
    for n, spec in neurons.items():
        spec.start = int(arrival[n]) if arrival[n] is not None else 0
    latency = {o: arrival[o] for o in outputs}
    shapes[inp] = shapes[inp] if inp in shapes else (input_size,)
    return RuntimeGraph(
        dt=dt, input_name=inp, input_size=input_size, neurons=neurons, outputs=outputs_spec,
        projections=projections, order=order, arrival=arrival, latency=latency,
        inserted_delays=inserted, aligned=align or not misaligned, misaligned=misaligned,
        source=source, metadata=dict(meta), rest={n: b for n, (_, b) in memo.items()},
        shapes=shapes, inputs=input_parts, reset=reset,
    )


def _neuron_spec(name: str, t: str, node: Any, dt: float, n: int) -> tuple[NeuronSpec, np.ndarray, np.ndarray]:
    """Lava parameters of one NIR neuron node of ``n`` neurons, plus its input gains (x gain, bias
    gain); see ``semantics`` for each type's discrete-time equations."""
    if t == "Threshold":
        vth = _arr(name, "threshold", node.threshold, n)
        if np.any(vth <= 0):
            raise UserError(f"node '{name}' (Threshold): threshold must be > 0 (Loihi's threshold is "
                            f"unsigned), got min {vth.min():g}")
        one = np.ones(n)
        return NeuronSpec(name, t, n, du=one, dv=one.copy(), vth=vth, bias=np.zeros(n)), one, one
    r = _arr(name, "r", node.r, n)
    if t in ("IF", "I"):  # dv/dt = R I: v[t] = v[t-1] + dt r I[t], no leak
        g = dt * r
        if t == "I":
            return NeuronSpec(name, t, n, du=np.ones(n), dv=np.zeros(n), vth=np.full(n, np.inf), bias=np.zeros(n)), g, g
        vth_abs = _arr(name, "v_threshold", node.v_threshold, n)
        v_reset = _arr(name, "v_reset", node.v_reset if node.v_reset is not None else 0.0, n)
        vth = vth_abs - v_reset
        if np.any(vth <= 0):
            raise UserError(f"node '{name}' (IF): v_threshold must be above v_reset "
                            f"(min v_threshold - v_reset = {vth.min():g})")
        return NeuronSpec(name, t, n, du=np.ones(n), dv=np.zeros(n), vth=vth, bias=np.zeros(n)), g, g
    cuba = t in ("CubaLIF", "CubaLI")
    if cuba:
        tau_syn = _arr(name, "tau_syn", node.tau_syn, n)
        tau = _arr(name, "tau_mem", node.tau_mem, n)
        w_in = _arr(name, "w_in", node.w_in, n)
    else:
        tau = _arr(name, "tau", node.tau, n)
    v_leak = _arr(name, "v_leak", node.v_leak, n)
    for what, tv in (("tau_mem" if cuba else "tau", tau),) + ((("tau_syn", tau_syn),) if cuba else ()):
        if np.any(tv <= 0):
            raise UserError(f"node '{name}' ({t}): {what} must be > 0, got min {tv.min()}")
        if np.any(dt / tv > 1):
            raise UserError(
                f"node '{name}' ({t}): dt/{what} = {float(np.max(dt / tv)):.4g} > 1 (forward Euler "
                f"with dt = {dt} s needs {what} >= dt)"
            )
    dv = dt / tau
    du = dt / tau_syn if cuba else np.ones(n)
    gx, gb = (dv * r * du * w_in, dv * r * w_in) if cuba else (dv * r, dv * r)
    if t in ("LI", "CubaLI"):
        return NeuronSpec(name, t, n, du=du, dv=dv, vth=np.full(n, np.inf), bias=dv * v_leak), gx, gb
    vth_abs = _arr(name, "v_threshold", node.v_threshold, n)
    v_reset = _arr(name, "v_reset", node.v_reset if node.v_reset is not None else 0.0, n)
    vth = vth_abs - v_reset
    if np.any(vth <= 0):
        raise UserError(
            f"node '{name}' ({t}): v_threshold must be above v_reset (min v_threshold - v_reset = {vth.min()})"
        )
    return NeuronSpec(name, t, n, du=du, dv=dv, vth=vth, bias=dv * (v_leak - v_reset)), gx, gb


def _arrivals(inp: str, targets: list[str], projections: list[Projection]) -> dict[str, int | None]:
    """Earliest step at which input step 0 reaches each node (Dijkstra over term delays)."""
    out_edges: dict[str, list[tuple[str, int]]] = {}
    for p in projections:
        for t in p.terms:
            out_edges.setdefault(p.src, []).append((p.dst, t.delay))
    dist = shortest_steps(inp, out_edges)
    return {n: dist.get(n) for n in [inp] + targets}


def _align(inp: str, targets: list[str], projections: list[Projection], align: bool,
           inserted: list[tuple[str, str, int]], misaligned: list[str]) -> None:
    """Find (and with ``align``, pad) forward paths that meet a node at unequal steps.

    A projection (all paths from one source to one target) arrives at ``arrival(src) + its
    smallest delay``; every forward projection into a node is shifted to the latest one (the
    whole projection moves, so a per-channel Delay pattern inside it is kept).  Back edges
    (recurrent loops, found by DFS from the Input) are left alone.
    """
    succ: dict[str, list[str]] = {}
    for p in projections:
        succ.setdefault(p.src, []).append(p.dst)
    back_pairs, topo = back_edges([inp], succ)
    back = {id(p) for p in projections if (p.src, p.dst) in back_pairs}
    level: dict[str, int] = {inp: 0}
    for node in topo:
        if node == inp:
            continue
        incoming = [p for p in projections if p.dst == node and id(p) not in back and p.src in level]
        if not incoming:
            continue
        lv = max(level[p.src] + min(t.delay for t in p.terms) for p in incoming)
        level[node] = lv
        for p in incoming:
            extra = lv - level[p.src] - min(t.delay for t in p.terms)
            if extra <= 0:
                continue
            if align:
                for t in p.terms:  # shift the whole projection: keeps its internal delay pattern
                    t.delay += extra
                    t.explicit += extra
                inserted.append((p.src, p.dst, extra))
            else:
                misaligned.append(
                    f"{p.src} -> {p.dst} arrives {extra} step(s) before the longest path into '{node}'"
                )


def _eval_order(targets: list[str], projections: list[Projection]) -> list[str]:
    """Targets sorted so that zero-delay sources are computed before their receivers."""
    deps = {n: {p.src for p in projections if p.dst == n and any(t.delay == 0 for t in p.terms)} for n in targets}
    order: list[str] = []
    done: set[str] = set()

    def visit(n: str) -> None:
        if n in done:
            return
        done.add(n)
        for d in deps.get(n, ()):  # Input is not in targets
            if d in deps:
                visit(d)
        order.append(n)

    for n in targets:
        visit(n)
    return order
