"""The executable definition of the contract in :mod:`neuro_runtime.semantics`.

Vectorised NumPy, batched over sequences.  ``floating_pt`` follows Lava's float models operation
by operation (float64); ``fixed_pt`` replays Lava's bit-accurate Loihi models (int64 arithmetic
with Lava's int32 / 24-bit wrap-around and clipping), so it is bit-identical to Lava fixed_pt.
No Lava import.

Layer at once: the graph is split into blocks (its strongly connected components: a recurrent
loop is one block, every other node one of its own), run in dependency order.  A block's input
from earlier blocks is one product over all ``T x B`` steps and sequences; only products inside a
block (recurrent weights) and the neuron updates run step by step.  Weights are multiplied
dense (BLAS) or sparse (:class:`SynapseMatrix`: convolutions, pooling; spikes as events).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ucfdvs.neuro_runtime.graph_check import RuntimeGraph, load_graph
from ucfdvs.neuro_runtime.quantize import QuantizedGraph, quantize
from ucfdvs.neuro_runtime.records import RunRecord, count_synaptic_events, synapse_fan_out
from ucfdvs.neuro_runtime.semantics import PRECISIONS, lif_fixed_update, shift_exp, wrap_int32
from ucfdvs.errors import UserError


def check_sequences(graph: RuntimeGraph, x: Any) -> np.ndarray:
    """Validate input sequences: ``[T, C]`` or ``[B, T, C]`` finite floats -> ``[B, T, C]`` float64."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise UserError(f"input is not a numeric array ({err})") from None
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise UserError(f"input must be [T, C] or [B, T, C], got shape {tuple(np.shape(x))}")
    if a.shape[2] != graph.input_size:
        raise UserError(
            f"input has {a.shape[2]} channels, the graph's Input '{graph.input_name}' takes {graph.input_size}"
        )
    if a.shape[1] == 0:
        raise UserError("input sequence has no time steps")
    if not np.all(np.isfinite(a)):
        raise UserError("input contains NaN or infinite values")
    return a


class Emulator:
    """Run a :class:`RuntimeGraph` in NumPy.

    ``Emulator(graph, "floating_pt").run(x)`` with ``x``: ``[B, T, C_in]`` (or ``[T, C_in]``)
    returns one batched :class:`RunRecord` (``[B, T, N]`` arrays; ``.split()`` per sequence).
    For ``fixed_pt`` pass a :class:`QuantizedGraph` as ``quant`` (else one is made with
    ``quantize(graph, **quant_kwargs)``).
    """

    def __init__(self, graph: RuntimeGraph | str, precision: str = "floating_pt",
                 quant: QuantizedGraph | None = None, **quant_kwargs: Any) -> None:
        if not isinstance(graph, RuntimeGraph):
            graph = load_graph(graph)
        if precision not in PRECISIONS:
            raise UserError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.graph = graph
        self.precision = precision
        self.quant = None
        if precision == "fixed_pt":
            self.quant = quant if quant is not None else quantize(graph, **quant_kwargs)
        self._prep()

    def _prep(self) -> None:
        g = self.graph
        self.blocks = _blocks(g)
        self.fan_out = synapse_fan_out(g)
        self.into: dict[str, list[tuple[str, int, SynapseMatrix | None, int]]] = {n: [] for n in g.order}
        if self.quant is None:
            for p in g.projections:
                for t in p.terms:
                    self.into[p.dst].append((p.src, t.delay, SynapseMatrix(t.matrix), 0))
        else:
            q = self.quant
            for p, qp in zip(g.projections, q.projections):
                bound = 1 if not g.is_graded(p.src) else 1 << 31  # largest |message|: a spike, an int32
                for plane in qp.planes:  # each weight plane: its own synapse process and exponent
                    for t in plane.terms:
                        self.into[p.dst].append((p.src, t.delay, SynapseMatrix(t.wq, bound), plane.weight_exp))
                for t in p.terms:
                    if t.delay == 0:  # direct wire: identity, exponent unused
                        self.into[p.dst].append((p.src, 0, None, 0))

    def run(self, x: Any) -> RunRecord:
        """Run sequences ``x`` (``[B, T, C_in]`` or ``[T, C_in]``, float) from rest."""
        single = np.asarray(x).ndim == 2
        xs = check_sequences(self.graph, x)
        rec = self._run_fixed(xs) if self.quant is not None else self._run_float(xs)
        if single:
            rec = rec.split()[0]
        return rec

    def state_ranges(self, x: Any) -> dict[str, tuple[float, float]]:
        """Largest ``|u|`` and ``|v|`` (Lava's shifted membrane) of every neuron node over a float
        run of ``x`` ``[B, T, C]``: what :func:`quantize` calibrates its scales with."""
        if self.quant is not None:
            raise UserError("state_ranges runs the float emulator (precision floating_pt)")
        self._ranges = {n: (0.0, 0.0) for n in self.graph.neurons}
        try:
            self._run_float(check_sequences(self.graph, x))
            return self._ranges
        finally:
            del self._ranges

    # -- shared ------------------------------------------------------------------------------
    def _contributions(self, n: str, inside: set[str], msgs: dict[str, np.ndarray], fixed: bool
                       ) -> list[np.ndarray | None]:
        """Per term into ``n`` (in ``self.into`` order): its input ``[T, B, N]`` for all steps when
        the source lies outside the block (one product over ``T x B`` rows), None when inside."""
        g = self.graph
        out: list[np.ndarray | None] = []
        for src, d, mt, exp in self.into[n]:
            if src in inside:
                out.append(None)
                continue
            m = msgs[src]
            T = m.shape[0]
            c = np.zeros(m.shape[:2] + (g.size(n),), dtype=m.dtype)
            if d < T:
                c[d:] = self.term_input(src, mt, exp, m[:T - d], fixed)
            out.append(c)
        return out

    def term_input(self, src: str, mt: SynapseMatrix | None, exp: int, m: np.ndarray, fixed: bool) -> np.ndarray:
        """One term's input from messages ``m`` ``[..., N_src]``: ``W m`` (float); in fixed point
        Lava's int32 dot (graded sources), shifted by the weight exponent and wrapped; ``m``
        itself for a direct wire (``mt`` None)."""
        if mt is None:
            return m
        if not fixed:
            return mt(m)
        acc = mt(m)
        graded = self.graph.is_graded(src)
        if graded:
            acc = wrap_int32(acc)  # int32 dot in PyDenseModelBitAcc (graded)
        out = shift_exp(acc, exp)  # wraps a left shift itself; a right shift of an int32 stays one
        return out if graded or exp > 0 else wrap_int32(out)

    # -- floating point ---------------------------------------------------------------------
    def _run_float(self, x: np.ndarray) -> RunRecord:
        g = self.graph
        B, T, _ = x.shape
        msgs = {g.input_name: np.ascontiguousarray(x.transpose(1, 0, 2))}  # time-major [T, B, N] inside
        outs = {}
        for block in self.blocks:
            inside = set(block)
            pre = {n: self._contributions(n, inside, msgs, False) for n in block}
            whole = {n: _sum_in_order(pre[n], (T, B, g.size(n))) for n in block  # fed from outside only
                     if all(c is not None for c in pre[n])}
            for n in block:
                if n in g.outputs:  # nothing leaves an Output: never inside a loop
                    outs[n] = (whole[n] + g.outputs[n].bias).transpose(1, 0, 2)
            neurons = [n for n in block if n in g.neurons]
            state = {}
            for n in neurons:
                msgs[n] = np.zeros((T, B, g.size(n)))
                state[n] = (np.broadcast_to(g.neurons[n].u_init, (B, g.size(n))).copy(), np.zeros((B, g.size(n))))
            keep = {n: (1 - g.neurons[n].du, 1 - g.neurons[n].dv) for n in neurons}
            for t in range(T):
                for n in neurons:
                    spec = g.neurons[n]
                    if t < spec.start:  # before its first input can arrive: initial state, silent
                        continue
                    if n in whole:
                        a = whole[n][t]
                    else:
                        a = np.zeros((B, spec.size))
                        for (src, d, mt, _), c in zip(self.into[n], pre[n]):
                            if t - d >= 0:
                                a = a + (c[t] if c is not None else self.term_input(src, mt, 0, msgs[src][t - d], False))
                    u, v = state[n]  # updated in place: u = u (1 - du) + a; v = v (1 - dv) + u + bias
                    u *= keep[n][0]
                    u += a
                    v *= keep[n][1]
                    v += u
                    v += spec.bias
                    if hasattr(self, "_ranges"):
                        ru, rv = self._ranges[n]
                        self._ranges[n] = (max(ru, float(np.abs(u).max())), max(rv, float(np.abs(v).max())))
                    if spec.spiking:
                        s = v > spec.vth
                        if spec.reset_sub is None:
                            v[s] = 0.0
                        else:
                            v -= s * spec.reset_sub
                        msgs[n][t] = s
                    else:
                        msgs[n][t] = v
        msgs = {k: v.transpose(1, 0, 2) for k, v in msgs.items()}
        act = {n: msgs[n] for n in g.neurons}
        ev = count_synaptic_events(g, msgs, self.fan_out)
        return RunRecord("floating_pt", outs, act, ev, tuple(n for n, s in g.neurons.items() if s.spiking))

    # -- fixed point ------------------------------------------------------------------------
    def _run_fixed(self, x: np.ndarray) -> RunRecord:
        g, q = self.graph, self.quant
        B, T, _ = x.shape
        msgs = {g.input_name: np.ascontiguousarray(q.quantize_input(x).transpose(1, 0, 2))}  # [T, B, N] inside
        raw_a, raw_d = {}, {}
        for block in self.blocks:
            inside = set(block)
            pre = {n: self._contributions(n, inside, msgs, True) for n in block}
            drive = {}  # nodes fed from outside only: their wrapped input [T, B, N] (Outputs: its two parts)
            for n in block:
                if all(c is not None for c in pre[n]):
                    syn = [c for (_, _, mt, _), c in zip(self.into[n], pre[n]) if mt is not None]
                    direct = [c for (_, _, mt, _), c in zip(self.into[n], pre[n]) if mt is None]
                    shape = (T, B, g.size(n))
                    # one synapse term is an int32 already (see term_input); sums wrap
                    a = syn[0] if len(syn) == 1 else wrap_int32(_sum_in_order(syn, shape, np.int64))
                    if n in g.outputs:  # nothing leaves an Output: never inside a loop
                        raw_a[n] = a.transpose(1, 0, 2)
                        raw_d[n] = _sum_in_order(direct, shape, np.int64).transpose(1, 0, 2)
                    else:
                        drive[n] = wrap_int32(_sum_in_order(syn + direct, shape, np.int64)) if direct else a
            neurons = [n for n in block if n in g.neurons]
            state = {}
            for n in neurons:
                msgs[n] = np.zeros((T, B, g.size(n)), dtype=np.int64)
                state[n] = (np.array(np.broadcast_to(q.neurons[n].u_init_q, (B, g.size(n))), dtype=np.int64, order="C"),
                            np.zeros((B, g.size(n)), dtype=np.int64))
            vth = {n: np.left_shift(q.neurons[n].vth_q, 6) for n in neurons}
            for t in range(T):
                for n in neurons:
                    spec, qn = g.neurons[n], q.neurons[n]
                    if t < spec.start:  # before its first input can arrive: initial state, silent
                        continue
                    if n in drive:
                        a_in = drive[n][t]
                    else:
                        a = np.zeros((B, spec.size), dtype=np.int64)
                        for (src, d, mt, exp), c in zip(self.into[n], pre[n]):
                            if t - d >= 0:
                                a = a + (c[t] if c is not None else self.term_input(src, mt, exp, msgs[src][t - d], True))
                        a_in = wrap_int32(a)
                    u, v = state[n]
                    u, v = lif_fixed_update(u, v, a_in, qn.du_q, qn.dv_q, qn.bias_eff, a_in_int32=True)
                    if spec.spiking:
                        s = v > vth[n]
                        if qn.reset_q is None:
                            v[s] = 0
                        else:
                            v -= s * qn.reset_q
                        msgs[n][t] = s
                    else:
                        msgs[n][t] = np.right_shift(v, qn.msg_shift)
                    state[n] = (u, v)
        outs = {o: dequantize_output(q, o, raw_a[o], raw_d[o]) for o in g.outputs}
        msgs = {k: v.transpose(1, 0, 2) for k, v in msgs.items()}
        act = {}
        for n, spec in g.neurons.items():
            act[n] = msgs[n].astype(np.float64) if spec.spiking else msgs[n] / q.neurons[n].msg_units
        ev = count_synaptic_events(g, msgs, self.fan_out)
        return RunRecord("fixed_pt", outs, act, ev, tuple(n for n, s in g.neurons.items() if s.spiking),
                         meta={"raw_outputs": raw_a, "raw_direct": raw_d})


def _sum_in_order(parts: list[np.ndarray], shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """``parts[0] + parts[1] + ...`` left to right (float sums keep the per-step order); zeros if none."""
    if not parts:
        return np.zeros(shape, dtype=dtype)
    total = parts[0]
    for c in parts[1:]:
        total = total + c
    return total


def _blocks(g: RuntimeGraph) -> list[list[str]]:
    """``g.order`` split into its strongly connected components (recurrent loops; every other node
    is a block of its own), ordered so that every projection into a block comes from the Input,
    an earlier block or the block itself.  Within a block, ``g.order``."""
    index = {n: i for i, n in enumerate(g.order)}
    pairs = np.array([(index[p.src], index[p.dst]) for p in g.projections if p.src in index], dtype=np.int64)
    pairs = pairs.reshape(-1, 2)
    adj = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(index), len(index)))
    _, label = connected_components(adj, directed=True, connection="strong")
    blocks: dict[int, list[str]] = {}
    for n in g.order:
        blocks.setdefault(int(label[index[n]]), []).append(n)
    needs = {k: {int(label[i]) for i, j in pairs if label[j] == k and label[i] != k} for k in blocks}
    ordered: list[list[str]] = []
    done: set[int] = set()
    while len(done) < len(blocks):
        k = next(k for k in blocks if k not in done and needs[k] <= done)  # first ready block in g.order
        done.add(k)
        ordered.append(blocks[k])
    return ordered


SPARSE_MAX_DENSITY = 0.15
"""Largest fraction of non-zero weights stored sparse (measured: CSR beats BLAS below ~0.2 on 512 x 512 to 4,096 x 4,096, 1 to 64 rows)."""
SPARSE_MIN_ENTRIES = 1 << 18
"""Smallest matrix (N_dst x N_src entries) stored sparse (smaller ones: BLAS's overhead is lower)."""
SPARSE_MAX_ACTIVITY = 0.1
"""Largest fraction of non-zero messages multiplied as a sparse matrix too (event-driven: the cost
follows spikes x fan-out; measured to beat CSR x dense below ~0.1 on the NIR paper CNN's layers)."""


class SynapseMatrix:
    """One synapse term ``W`` ``[N_dst, N_src]`` as the emulator multiplies it:
    ``SynapseMatrix(W)(x)`` = ``x @ W.T`` for ``x`` ``[..., N_src]`` -> ``[..., N_dst]``.

    Stored sparse (scipy CSR) when ``W`` has at least ``SPARSE_MIN_ENTRIES`` entries and at most
    ``SPARSE_MAX_DENSITY`` of them non-zero (the exact matrices of convolutions and pooling,
    :mod:`neuro_runtime.linear_maps`), else dense ``W.T`` (BLAS).  A sparse ``W`` meets messages
    with at most ``SPARSE_MAX_ACTIVITY`` non-zeros as a sparse matrix too (sparse x sparse), others
    as dense (CSR x dense).  Float: the summation order differs from a dense product's by rounding
    only (~1e-16 relative).

    ``message_bound`` (fixed point: ``W`` holds integer mantissas, ``x`` int64 messages with
    ``|x| <= message_bound``): the product is exact int64.  Sparse x sparse runs in int64;
    BLAS and CSR x dense run in float64, exact because every partial sum is an integer of at most
    ``max_row sum |W| * message_bound`` in magnitude, checked to be below 2**53 (else int64).  Dense
    BLAS runs in float32 (about twice as fast) when the messages at hand keep that bound below 2**24
    (checked per call with their largest ``|x|``; spikes: 1), where float32 sums are exact too.
    """

    def __init__(self, matrix: np.ndarray, message_bound: int | None = None) -> None:
        w = np.asarray(matrix)
        self.n_out = w.shape[0]
        self.integer = message_bound is not None
        self.message_bound = message_bound
        self.sparse = w.size >= SPARSE_MIN_ENTRIES and np.count_nonzero(w) <= SPARSE_MAX_DENSITY * w.size
        m = sp.csr_matrix(w) if self.sparse else w
        self.row_sum = float(np.asarray(abs(m).sum(axis=1)).max(initial=0)) if self.integer else 0.0
        self.exact_float = not self.integer or self.row_sum * message_bound < 2.0 ** 53
        self.w32 = None  # float32 copy of a dense integer W.T whose sums can stay below 2**24
        dtype = np.float64 if self.exact_float else np.int64
        if self.sparse:
            self.w = m.astype(dtype)
            self.wt = m.T.tocsr().astype(np.int64 if self.integer else np.float64)
        else:
            self.w = np.ascontiguousarray(w.T, dtype=dtype)
            if self.integer and self.row_sum < 2.0 ** 24:
                self.w32 = self.w.astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1])
        if self.integer:
            x2 = x2.astype(np.int64, copy=False)
        if self.sparse and np.count_nonzero(x2) <= SPARSE_MAX_ACTIVITY * x2.size:
            y = (sp.csr_matrix(x2) @ self.wt).toarray()
        else:
            w = self.w
            if self.integer:
                if self.w32 is not None:
                    peak = 1 if self.message_bound == 1 else int(np.abs(x2).max(initial=0))
                    if self.row_sum * peak < 2.0 ** 24:
                        w = self.w32
                x2 = x2.astype(w.dtype)
            y = (w @ x2.T).T if self.sparse else x2 @ w
            if self.integer:
                y = y.astype(np.int64)
        return y.reshape(lead + (self.n_out,))


def dequantize_output(q: QuantizedGraph, name: str, raw_a: np.ndarray, raw_d: np.ndarray) -> np.ndarray:
    """Float value of an Output from its recorded integers: ``a / S_a + d / S_d + bias``."""
    qo = q.outputs[name]
    return raw_a / qo.scale_a + raw_d / qo.scale_d + qo.bias
