"""The executable definition of the contract in :mod:`neuro_runtime.semantics`.

Vectorised NumPy, batched over sequences.  ``floating_pt`` follows Lava's float models operation
by operation (float64); ``fixed_pt`` replays Lava's bit-accurate Loihi models (int64 arithmetic
with Lava's int32 / 24-bit wrap-around and clipping), so it is bit-identical to Lava fixed_pt.
No Lava import.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ucfdvs.neuro_runtime.graph_check import RuntimeGraph, load_graph
from ucfdvs.neuro_runtime.quantize import QuantizedGraph, quantize
from ucfdvs.neuro_runtime.records import RunRecord, count_synaptic_events
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
        self.L = g.max_delay() + 1
        self.into: dict[str, list[tuple[str, int, np.ndarray, int]]] = {n: [] for n in g.order}
        if self.quant is None:
            for p in g.projections:
                for t in p.terms:
                    self.into[p.dst].append((p.src, t.delay, np.ascontiguousarray(t.matrix.T), 0))
        else:
            q = self.quant
            for p, qp in zip(g.projections, q.projections):
                for plane in qp.planes:  # each weight plane: its own synapse process and exponent
                    for t in plane.terms:
                        self.into[p.dst].append((p.src, t.delay, np.ascontiguousarray(t.wq.T.astype(np.float64)),
                                                 plane.weight_exp))
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

    # -- floating point ---------------------------------------------------------------------
    def _run_float(self, x: np.ndarray) -> RunRecord:
        g = self.graph
        B, T, _ = x.shape
        L = self.L
        hist = {g.input_name: np.zeros((L, B, g.input_size))}
        state = {}
        for n, spec in g.neurons.items():
            hist[n] = np.zeros((L, B, spec.size))
            state[n] = (np.broadcast_to(spec.u_init, (B, spec.size)).copy(), np.zeros((B, spec.size)))
        outs = {o: np.zeros((T, B, s.size)) for o, s in g.outputs.items()}  # time-major inside
        act = {n: np.zeros((T, B, s.size)) for n, s in g.neurons.items()}
        xt = np.ascontiguousarray(x.transpose(1, 0, 2))
        # projections from the Input do not depend on the state: one large matmul for all steps
        pre = {id(mt): xt @ mt for n in g.order for src, d, mt, _ in self.into[n]
               if src == g.input_name and mt is not None}
        for t in range(T):
            slot = t % L
            for n in g.order:
                a = None
                for src, d, mt, _ in self.into[n]:
                    if t - d < 0:
                        continue
                    if src == g.input_name:
                        c = pre[id(mt)][t - d] if mt is not None else xt[t - d]
                    else:
                        c = hist[src][(t - d) % L] @ mt
                    a = c if a is None else a + c
                if n in g.neurons:
                    spec = g.neurons[n]
                    if t < spec.start:  # before its first input can arrive: initial state, silent
                        hist[n][slot] = 0.0
                        continue
                    u, v = state[n]
                    if a is None:
                        a = np.zeros((B, spec.size))
                    u = u * (1 - spec.du)
                    u = u + a
                    v = v * (1 - spec.dv) + u + spec.bias
                    if hasattr(self, "_ranges"):
                        ru, rv = self._ranges[n]
                        self._ranges[n] = (max(ru, float(np.abs(u).max())), max(rv, float(np.abs(v).max())))
                    if spec.spiking:
                        s = v > spec.vth
                        v = np.where(s, 0.0 if spec.reset_sub is None else v - spec.reset_sub, v)
                        o = s.astype(np.float64)
                    else:
                        o = v
                    state[n] = (u, v)
                    hist[n][slot] = o
                    act[n][t] = o
                else:
                    outs[n][t] = (0.0 if a is None else a) + g.outputs[n].bias
        outs = {k: v.transpose(1, 0, 2) for k, v in outs.items()}
        act = {k: v.transpose(1, 0, 2) for k, v in act.items()}
        msgs = {g.input_name: x, **act}
        ev = count_synaptic_events(g, msgs)
        return RunRecord("floating_pt", outs, act, ev, tuple(n for n, s in g.neurons.items() if s.spiking))

    # -- fixed point ------------------------------------------------------------------------
    def _run_fixed(self, x: np.ndarray) -> RunRecord:
        g, q = self.graph, self.quant
        B, T, _ = x.shape
        L = self.L
        xq = q.quantize_input(x)
        hist = {g.input_name: np.zeros((L, B, g.input_size), dtype=np.int64)}
        state = {}
        for n, spec in g.neurons.items():
            hist[n] = np.zeros((L, B, spec.size), dtype=np.int64)
            state[n] = (np.broadcast_to(q.neurons[n].u_init_q, (B, spec.size)).copy(),
                        np.zeros((B, spec.size), dtype=np.int64))
        raw_a = {o: np.zeros((B, T, s.size), dtype=np.int64) for o, s in g.outputs.items()}
        raw_d = {o: np.zeros((B, T, s.size), dtype=np.int64) for o, s in g.outputs.items()}
        msgs = {n: np.zeros((B, T, s.size), dtype=np.int64) for n, s in g.neurons.items()}
        # Integer matmuls in float64 are exact while |sum| < 2**53 (8-bit weights x 24-bit messages).
        pre = {}
        xqf = xq.astype(np.float64)
        for n in g.order:
            for src, d, mt, exp in self.into[n]:
                if src == g.input_name and mt is not None:
                    acc = wrap_int32(np.rint(xqf @ mt).astype(np.int64))  # int32 dot (graded)
                    pre[id(mt)] = wrap_int32(shift_exp(acc, exp))
        mm = _spike_matmul([mt for n in g.order for src, d, mt, _ in self.into[n]
                            if mt is not None and src != g.input_name])
        for t in range(T):
            slot = t % L
            for n in g.order:
                a = np.zeros((B, g.size(n)), dtype=np.int64)
                direct = np.zeros((B, g.size(n)), dtype=np.int64)
                for src, d, mt, exp in self.into[n]:
                    if t - d < 0:
                        continue
                    if src == g.input_name:
                        if mt is None:
                            direct = direct + xq[:, t - d]
                        else:
                            a = a + pre[id(mt)][:, t - d]
                        continue
                    m = hist[src][(t - d) % L]
                    if mt is None:
                        direct = direct + m
                        continue
                    if g.is_graded(src):
                        acc = np.rint(m.astype(np.float64) @ mt).astype(np.int64)
                        acc = wrap_int32(acc)  # int32 dot in PyDenseModelBitAcc (graded)
                    else:
                        acc = mm(m, mt)
                    a = a + wrap_int32(shift_exp(acc, exp))
                if n in g.neurons:
                    spec, qn = g.neurons[n], q.neurons[n]
                    if t < spec.start:  # before its first input can arrive: initial state, silent
                        hist[n][slot] = 0
                        continue
                    u, v = state[n]
                    u, v = lif_fixed_update(u, v, wrap_int32(a + direct), qn.du_q, qn.dv_q, qn.bias_eff)
                    if spec.spiking:
                        s = v > np.left_shift(qn.vth_q, 6)
                        v = np.where(s, 0 if qn.reset_q is None else v - qn.reset_q, v)
                        o = s.astype(np.int64)
                    else:
                        o = np.right_shift(v, qn.msg_shift)
                    state[n] = (u, v)
                    hist[n][slot] = o
                    msgs[n][:, t] = o
                else:
                    raw_a[n][:, t] = wrap_int32(a)
                    raw_d[n][:, t] = direct
        outs = {o: dequantize_output(q, o, raw_a[o], raw_d[o]) for o in g.outputs}
        act = {}
        for n, spec in g.neurons.items():
            act[n] = msgs[n].astype(np.float64) if spec.spiking else msgs[n] / q.neurons[n].msg_units
        ev = count_synaptic_events(g, {g.input_name: xq, **msgs})
        return RunRecord("fixed_pt", outs, act, ev, tuple(n for n, s in g.neurons.items() if s.spiking),
                         meta={"raw_outputs": raw_a, "raw_direct": raw_d})


def _spike_matmul(mats: list) -> Any:
    """``(spikes [B, N] int, W^T [N, M] float64 of ints) -> exact int64 product`` (NumPy float64).

    (torch float32 would be exact too but was slower here: its OpenMP threads and NumPy's BLAS
    threads fight over 2 cores.)
    """
    return lambda s, mt: np.rint(s.astype(np.float64) @ mt).astype(np.int64)


def dequantize_output(q: QuantizedGraph, name: str, raw_a: np.ndarray, raw_d: np.ndarray) -> np.ndarray:
    """Float value of an Output from its recorded integers: ``a / S_a + d / S_d + bias``."""
    qo = q.outputs[name]
    return raw_a / qo.scale_a + raw_d / qo.scale_d + qo.bias
