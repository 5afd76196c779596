"""One NIR network from any exporter: load, check, quantise, run, record (the runtime's Python API).

::

    from ucfdvs.neuro_runtime import load_network
    net = load_network("graph.nir", dt=1e-4, reset="zero", source="snntorch")
    print(net.check())                              # nodes, latency per output, what was assumed
    net.quantize(calibration=x_cal)                 # optional: fixed point from a calibration input
    run = net.run(x, backend="emu", precision="fixed", record=("spikes", "v"), flush=True)
    run.outputs["output"]    # [B, T', *shape] float64: step t is step t of the input
    run.spikes["lif1.lif"]   # [B, T', *shape] uint8, dotted names for nested graphs
    run.v["lif1.lif"]        # [B, T', *shape] membrane (float units; fixed point: Loihi integers)
    records = net.run_sequences([x0, x1], backend="lava")   # different lengths: one flat RunRecord each

``x``: ``[T, *input_shape]`` (one sequence) or ``[B, T, *input_shape]``, any real dtype; ``T'`` is
``T``, or ``T`` plus the flush steps (the largest offset of any neuron or Output) with ``flush=True`` (zero input steps appended so
that the output of the last input step is not lost).  Every mistake is one
:class:`ucfdvs.errors.UserError`.

Membrane potentials (``record=("v",)``) are replayed per neuron node from the recorded
presynaptic activity (the Input and every sender's recorded messages) through the contract's
neuron update (:mod:`neuro_runtime.semantics`, the emulator's arithmetic): a node's input current
depends only on what its senders sent, so the replay needs no access to the executor's state.
``v`` is the membrane as NIR writes it (``v_reset`` added back; float units); in fixed point it is
Loihi's integer ``v`` (``run.v_scale[node]`` integers per float unit).  The replay's spikes are
compared with the recorded ones and any difference is reported (``run.v_mismatch``).

Numpy, nir and Lava only (Lava imported by ``backend="lava"``).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Sequence

import nir
import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime.emulator import Emulator
from ucfdvs.neuro_runtime.fixed_agreement import PlaneChoice, choose_weight_planes
from ucfdvs.neuro_runtime.graph_check import RuntimeGraph, load_graph
from ucfdvs.neuro_runtime.native_fixed import quantize_native
from ucfdvs.neuro_runtime.quantize import QuantizationWarning, QuantizedGraph, quantize
from ucfdvs.neuro_runtime.records import RunRecord
from ucfdvs.neuro_runtime.semantics import lif_fixed_update, wrap_int32
from ucfdvs.neuro_runtime.sources import SOURCES, SourceRecord, SourceWarning, load_foreign

BACKENDS = ("emu", "lava")
PRECISIONS = {"float": "floating_pt", "fixed": "fixed_pt"}
RECORDABLE = ("spikes", "v")


def lava_precision(backend: str, precision: str) -> str:
    """Check ``backend`` and ``precision`` (``float``/``fixed`` or Lava's names); -> Lava's name."""
    if backend not in BACKENDS:
        raise UserError(f"unknown --backend {backend!r} (known: {', '.join(BACKENDS)})")
    prec = PRECISIONS.get(precision, precision)
    if prec not in PRECISIONS.values():
        raise UserError(f"unknown --precision {precision!r} (known: {', '.join(PRECISIONS)})")
    return prec


def _shape(types: dict | None) -> tuple[int, ...]:
    """The shape of a node's (first) port from its ``input_type`` / ``output_type``."""
    if not types:
        return ()
    return tuple(int(s) for s in np.asarray(next(iter(types.values()))).reshape(-1))


@dataclass
class NetworkRun:
    """What :meth:`Network.run` returns (all arrays ``[B, T', ...]``; ``T'`` = input steps + flush).

    ``outputs``: Output node -> ``[B, T', *shape]`` float64; ``spikes``: spiking node ->
    ``[B, T', *shape]`` uint8; ``graded``: LI node -> its output ``[B, T', *shape]``; ``v``
    (recorded on request): neuron node -> membrane ``[B, T', *shape]``; ``v_scale``: integers per
    float unit of ``v`` (fixed point) or 1.0; ``v_mismatch``: per node, replayed spikes that differ
    from the recorded ones (0 expected).  ``record``: the executor's batched :class:`RunRecord`
    (flat ``[B, T', N]``); ``inputs``: ``[B, T', C]`` float64 as fed; ``wall_s``: seconds in the
    executor (Lava: build and start included).
    """

    backend: str
    precision: str
    outputs: dict[str, np.ndarray]
    spikes: dict[str, np.ndarray]
    graded: dict[str, np.ndarray]
    record: RunRecord
    inputs: np.ndarray
    input_steps: int
    flush_steps: int
    wall_s: float
    quant: QuantizedGraph | None = None
    v: dict[str, np.ndarray] = field(default_factory=dict)
    v_scale: dict[str, float] = field(default_factory=dict)
    v_mismatch: dict[str, int] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[1])


class Network:
    """A foreign NIR graph prepared for the runtime: ``nir_graph`` (contract form, flat, dotted
    names), ``graph`` (the lowered :class:`RuntimeGraph`), ``source`` (:class:`SourceRecord`),
    ``input_shape`` and the per-node shapes."""

    def __init__(self, nir_graph: nir.NIRGraph, source: SourceRecord, where: str,
                 source_warnings: Sequence[str] = ()) -> None:
        self.nir_graph = nir_graph
        self.source = source
        self.where = where
        self.source_warnings = list(source_warnings)
        try:
            self.graph: RuntimeGraph = load_graph(nir_graph, reset=source.reset, reset_amount=source.reset_amount)
        except UserError as exc:
            raise UserError(str(exc), where) from None
        self.graph.source = source.path
        g = self.graph
        self.input_shapes = {name: tuple(g.shapes.get(name) or (size,)) for name, (_, size) in g.inputs.items()}
        self.input_shape = next(iter(self.input_shapes.values())) if len(self.input_shapes) == 1 else (g.input_size,)
        self.shapes: dict[str, tuple[int, ...]] = {}
        for name in list(g.neurons) + list(g.outputs):
            shape = tuple(g.shapes.get(name) or ())
            self.shapes[name] = shape if shape and int(np.prod(shape, dtype=np.int64)) == g.size(name) else (g.size(name),)
        self._quant: QuantizedGraph | None = None
        self._quant_automatic = False  # chosen by a fixed run from its own input, not by quantize()
        self._quant_integer = False  # chosen for integer inputs (sent as they are)
        self.quant_input_range: float | None = None
        self.quant_origin = ""
        self.plane_choice: PlaneChoice | None = None
        self._emulators: dict[str, tuple[QuantizedGraph | None, Emulator]] = {}

    # -- inspection ----------------------------------------------------------------------------
    def latency(self) -> dict[str, int | None]:
        """Steps from input step t to its first effect at each Output (one per synapse hop)."""
        return dict(self.graph.latency)

    def flush_steps(self) -> int:
        """Zero steps that let every Output and neuron show its response to the last input step
        (the largest hop offset)."""
        return self.graph.flush_steps

    def check(self) -> str:
        """A readable summary: source conventions applied, dt, nodes, arrival steps, latency."""
        s = self.source
        lines = [f"{self.where}: source {s.source}, dt {s.dt:g} s ({s.dt_origin}), reset {s.reset}, "
                 "inputs " + ", ".join(f"{n!r} {list(sh)}" for n, sh in self.input_shapes.items())]
        if s.flattened:
            lines.append(f"  flattened subgraphs: {', '.join(s.flattened)}")
        lines += [f"  note: {n}" for n in s.notes]
        lines.append(self.graph.report())
        return "\n".join(lines)

    # -- fixed point -----------------------------------------------------------------------------
    def quantize(self, calibration: Any = None, input_range: float | None = None,
                 weight_planes: int | str | Mapping[str, int | str] = 1, choice_input: Any = None,
                 integer_input: bool | None = None) -> QuantizedGraph:
        """Choose Loihi fixed-point parameters, kept for later fixed runs.  ``calibration``: input
        sequences as :meth:`run` takes them; the input scale comes from their largest ``|x|`` and
        every node's scale from the membrane ranges of a float run of them (:func:`quantize`);
        without it the input scale comes from ``input_range`` (default 1.0) and node scales from
        worst-case bounds.  ``weight_planes``: 8-bit weight planes per synapse layer (1 to 4,
        ``"exact"``, or ``{layer: value}``; plane k+1 carries the residual of planes 1..k in a
        further synapse process, :func:`quantize`), or ``"auto"``: per layer the cheapest setting
        (1, 2, exact, 3) that brings each spiking layer to 99 % spike agreement with float on
        ``choice_input`` (default: ``calibration``; one of them is needed),
        :func:`fixed_agreement.choose_weight_planes`, kept in ``self.plane_choice``.
        ``integer_input``: the input holds integers (events, counts) and is sent as it is
        (``S_in = 1``); default: True when the calibration (or choice) input is all integers.  A
        lava-dl network (source ``lava-dl``) keeps its own integers where they sit on Loihi's grid
        (:func:`neuro_runtime.native_fixed.quantize_native`; ``quant.origins`` per node); ``"auto"``
        then means one plane, which holds them exactly."""
        cal = choice = None
        if calibration is not None:
            cal = self.check_input(calibration, "calibration input")
            input_range = float(np.abs(cal).max()) or 1.0
            origin = "calibration input (max |x|; node scales from its float run)"
        elif input_range is not None:
            origin = "given input range (node scales from bounds)"
        else:
            input_range, origin = 1.0, "default input range 1.0 (node scales from bounds)"
        if weight_planes == "auto":
            if choice_input is None and cal is None:
                raise UserError("weight_planes='auto' chooses the planes on an input: give calibration= or choice_input=")
            choice = self.check_input(choice_input, "choice input") if choice_input is not None else cal
        elif isinstance(weight_planes, str) and weight_planes != "exact":
            raise UserError(f"weight_planes must be 1 to 4, 'exact', a mapping or 'auto', got {weight_planes!r}")
        if integer_input is None:
            seen = [a for a in (cal, choice) if a is not None]
            integer_input = bool(seen) and all(integer_valued(a) for a in seen)
        kw = dict(input_range=input_range, calibration=cal, integer_input=integer_input)
        self.plane_choice = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", QuantizationWarning)  # kept in quant.warnings
            if self.source.source == "lava-dl":  # its own integers fit one plane: "auto" means one
                self._quant = quantize_native(self.graph, weight_planes=1 if choice is not None else weight_planes, **kw)
            elif choice is not None:
                self.plane_choice = choose_weight_planes(self.graph, choice, **kw)
                self._quant = self.plane_choice.quant
            else:
                self._quant = quantize(self.graph, weight_planes=weight_planes, **kw)
        self.quant_input_range, self.quant_origin = input_range, origin
        self._quant_automatic, self._quant_integer = False, integer_input
        return self._quant

    def _fixed_point_for(self, peak: float, integer: bool) -> QuantizedGraph:
        """The fixed-point parameters for a run whose input peaks at ``peak`` (max ``|x|``; ``integer``:
        all its values are integers): those of :meth:`quantize` (with a warning when ``peak`` exceeds
        their input range), or parameters chosen from the run's input, chosen again when a later
        run's input exceeds them."""
        peak = peak or 1.0
        outside = peak > self.quant_input_range if self._quant is not None else True
        fractional = self._quant_integer and not integer
        if self._quant is None or (self._quant_automatic and (outside or fractional)):
            quant = self.quantize(input_range=peak, integer_input=integer)
            self.quant_origin, self._quant_automatic = "this run's input (max |x|)", True
            return quant
        if outside:
            warnings.warn(
                f"{self.where}: input max |x| {peak:.4g} exceeds the fixed-point input range "
                f"{self.quant_input_range:.4g} ({self.quant_origin}); states may saturate: quantize again "
                "with this input as calibration", QuantizationWarning, stacklevel=3)
        if fractional:
            warnings.warn(f"{self.where}: fixed point was chosen for integer inputs (sent as they are); this "
                          "input has fractions, which are rounded away", QuantizationWarning, stacklevel=3)
        return self._quant

    @property
    def quant(self) -> QuantizedGraph | None:
        return self._quant

    # -- inputs ------------------------------------------------------------------------------------
    def check_input(self, x: Any, what: str = "input") -> np.ndarray:
        """Input sequences -> ``[B, T, C]`` float64 (``C`` = all Inputs' values concatenated).

        ``x``: one real array ``[T, *input_shape]`` or ``[B, T, *input_shape]`` for a graph with one
        Input, or a mapping ``{Input name: array}`` (one array per Input, equal ``B`` and ``T``)."""
        g = self.graph
        if isinstance(x, Mapping):
            unknown = sorted(set(x) - set(self.input_shapes))
            absent = sorted(set(self.input_shapes) - set(x))
            if unknown or absent:
                raise UserError(f"arrays {sorted(x)} do not match the graph's Input nodes {sorted(self.input_shapes)}")
            parts = [_check_array(x[name], name, shape, f"{what} {name!r}") for name, shape in self.input_shapes.items()]
            if len({p.shape[:2] for p in parts}) > 1:
                raise UserError(f"{what}: the Inputs' arrays differ in batch or steps: "
                                + ", ".join(f"{n} {list(p.shape[:2])}" for n, p in zip(self.input_shapes, parts)))
            return np.concatenate(parts, axis=2)
        if len(self.input_shapes) > 1:
            raise UserError(f"the graph has {len(self.input_shapes)} Inputs {sorted(self.input_shapes)}: give one array "
                            "per Input (an .npz, or a mapping)")
        return _check_array(x, g.input_name, self.input_shape, what)

    # -- running -------------------------------------------------------------------------------------
    def _emulator(self, precision: str, quant: QuantizedGraph | None) -> Emulator:
        """The emulator of ``precision`` (``floating_pt`` / ``fixed_pt``) with ``quant``, prepared
        once (its weight matrices) and reused while the quantisation stays the same."""
        kept = self._emulators.get(precision)
        if kept is None or kept[0] is not quant:
            kept = (quant, Emulator(self.graph, precision, quant))
            self._emulators[precision] = kept
        return kept[1]

    def run(self, x: Any, backend: str = "emu", precision: str = "float", record: Sequence[str] = ("spikes",),
            flush: bool = False, progress: bool = False) -> NetworkRun:
        """Run ``x`` from rest (see the module docstring); ``precision`` ``float`` or ``fixed``
        (Lava's names ``floating_pt`` / ``fixed_pt`` also accepted)."""
        prec = lava_precision(backend, precision)
        unknown = [r for r in record if r not in RECORDABLE]
        if unknown:
            raise UserError(f"unknown --record {unknown[0]!r} (known: {', '.join(RECORDABLE)})")
        xs = self.check_input(x)
        pad = self.flush_steps() if flush else 0
        if pad:
            xs = np.concatenate([xs, np.zeros((xs.shape[0], pad, xs.shape[2]))], axis=1)
        quant = self._fixed_point_for(float(np.abs(xs).max()), integer_valued(xs)) if prec == "fixed_pt" else None
        t0 = time.perf_counter()
        if backend == "emu":
            rec = self._emulator(prec, quant).run(xs)
        else:
            from ucfdvs.neuro_runtime.lava_run import run_lava

            recs = run_lava(self.graph, list(xs), prec, quant=quant, progress=progress)
            rec = _stack(recs)
        wall = time.perf_counter() - t0
        B, T = xs.shape[:2]
        g = self.graph
        run = NetworkRun(
            backend, prec,
            outputs={o: rec.outputs[o].reshape(B, T, *self.shapes[o]) for o in g.outputs},
            spikes={n: rec.activity[n].reshape(B, T, *self.shapes[n]).astype(np.uint8)
                    for n in g.neurons if g.neurons[n].spiking},
            graded={n: rec.activity[n].reshape(B, T, *self.shapes[n]) for n in g.neurons if not g.neurons[n].spiking},
            record=rec, inputs=xs, input_steps=T - pad, flush_steps=pad, wall_s=wall, quant=quant,
        )
        if "v" in record:
            self._replay_voltage(run)
        return run

    def run_sequences(self, sequences: Sequence[np.ndarray], backend: str = "emu", precision: str = "float",
                      batch_size: int = 32, progress: bool = False) -> list[RunRecord]:
        """Sequences of different lengths (each ``[T_i, *input_shape]``), each from rest -> one flat
        :class:`RunRecord` (``[T_i, N]``) per sequence, in order.

        The emulator runs them in batches of similar length, each padded with zeros to its longest
        sequence and cut back (the runtime is causal: steps after a sequence never change it); Lava
        runs them back to back in one network.  Fixed point uses :attr:`quant`, chosen from the
        largest ``|x|`` of all sequences when :meth:`quantize` was not called.
        """
        prec = lava_precision(backend, precision)
        checked = [self.check_input(s) for s in sequences]
        if any(c.shape[0] != 1 for c in checked):
            raise UserError("run_sequences takes one sequence [T, *input_shape] per item, not a batch")
        seqs = [c[0] for c in checked]
        if not seqs:
            raise UserError("no sequences to run")
        quant = None
        if prec == "fixed_pt":
            quant = self._fixed_point_for(max(float(np.abs(q).max()) for q in seqs), all(integer_valued(q) for q in seqs))
        if backend == "lava":
            from ucfdvs.neuro_runtime.lava_run import run_lava

            return run_lava(self.graph, seqs, prec, quant=quant, progress=progress)
        emulator = self._emulator(prec, quant)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        records: dict[int, RunRecord] = {}
        chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        if progress:
            from tqdm import tqdm

            chunks = tqdm(chunks, desc=f"emulator {prec}", unit="batch")
        for chunk in chunks:
            steps = max(len(seqs[i]) for i in chunk)
            batch = np.zeros((len(chunk), steps, self.graph.input_size))
            for row, i in enumerate(chunk):
                batch[row, :len(seqs[i])] = seqs[i]
            for i, rec in zip(chunk, emulator.run(batch).split()):
                records[i] = _cut(rec, len(seqs[i]))
        return [records[i] for i in range(len(seqs))]

    def _replay_voltage(self, run: NetworkRun) -> None:
        """Fill ``run.v`` / ``v_scale`` / ``v_mismatch`` (see the module docstring)."""
        g, rec, q = self.graph, run.record, run.quant
        B, T = run.inputs.shape[:2]
        emu = self._emulator(run.precision, q)
        if q is None:
            msgs = {g.input_name: run.inputs, **rec.activity}
        else:
            msgs = {g.input_name: q.quantize_input(run.inputs).astype(np.float64)}
            for n, spec in g.neurons.items():
                a = rec.activity[n]
                msgs[n] = a if spec.spiking else np.rint(a * q.neurons[n].msg_units)
        for n, spec in g.neurons.items():
            a_syn = np.zeros((B, T, spec.size))
            a_dir = np.zeros((B, T, spec.size))
            for src, d, mt, exp in emu.into[n]:
                m = msgs[src]
                shifted = np.zeros_like(m)
                shifted[:, d:] = m[:, :T - d] if d else m
                if mt is None:
                    a_dir += shifted
                else:
                    a_syn += emu.term_input(src, mt, exp, shifted, q is not None)
            v_out = np.zeros((B, T, spec.size))
            fired = np.zeros((B, T, spec.size), dtype=bool)
            start, reset_sub = spec.start, spec.reset_sub  # steps before its first input; None: reset to v_reset
            if q is None:
                u = np.broadcast_to(spec.u_init, (B, spec.size)).copy()
                v = np.zeros((B, spec.size))
                for t in range(start, T):
                    u = u * (1 - spec.du) + (a_syn[:, t] + a_dir[:, t])
                    v = v * (1 - spec.dv) + u + spec.bias
                    if spec.spiking:
                        fired[:, t] = v > spec.vth
                        v = np.where(fired[:, t], 0.0 if reset_sub is None else v - reset_sub, v)
                    v_out[:, t] = v
                v_reset = _v_reset(self.nir_graph.nodes[n], spec.size)
                run.v[n] = (v_out + v_reset).reshape(B, T, *self.shapes[n])
                run.v_scale[n] = 1.0
            else:
                qn = q.neurons[n]
                u = np.broadcast_to(qn.u_init_q, (B, spec.size)).copy()
                v = np.zeros((B, spec.size), dtype=np.int64)
                a_all = wrap_int32(a_syn.astype(np.int64) + a_dir.astype(np.int64))
                reset_q = qn.reset_q
                for t in range(start, T):
                    u, v = lif_fixed_update(u, v, a_all[:, t], qn.du_q, qn.dv_q, qn.bias_eff)
                    if spec.spiking:
                        fired[:, t] = v > np.left_shift(qn.vth_q, 6)
                        v = np.where(fired[:, t], 0 if reset_q is None else v - reset_q, v)
                    v_out[:, t] = v
                run.v[n] = v_out.reshape(B, T, *self.shapes[n])
                run.v_scale[n] = float(qn.scale)
            if spec.spiking:
                run.v_mismatch[n] = int(np.count_nonzero(fired != (rec.activity[n] != 0)))


def _check_array(x: Any, name: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """One Input's array ``[T, *shape]`` or ``[B, T, *shape]`` of reals -> ``[B, T, prod(shape)]`` float64."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise UserError(f"{what} has dtype {a.dtype}; the graph's Input {name!r} takes real numbers "
                        "(bool, integer or float)")
    k = len(shape)
    if a.ndim == k + 1:
        a = a[None]
    if a.ndim != k + 2 or tuple(a.shape[2:]) != tuple(shape):
        raise UserError(f"{what} has shape {list(np.shape(x))}; the graph's Input {name!r} takes "
                        f"[T, {', '.join(map(str, shape))}] or [B, T, {', '.join(map(str, shape))}]")
    if a.shape[1] == 0 or a.shape[0] == 0:
        raise UserError(f"{what} has no time steps or no sequences (shape {list(np.shape(x))})")
    out = a.reshape(a.shape[0], a.shape[1], -1).astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise UserError(f"{what} contains NaN or infinite values")
    return out


def _v_reset(node: Any, size: int) -> np.ndarray:
    value = getattr(node, "v_reset", None)
    if value is None:
        return np.zeros(size)
    a = np.asarray(value, dtype=np.float64).reshape(-1)
    return np.full(size, a[0]) if a.size == 1 else a


def _cut(rec: RunRecord, steps: int) -> RunRecord:
    """A per-sequence record cut to its first ``steps`` steps."""
    return RunRecord(rec.precision, {k: v[:steps] for k, v in rec.outputs.items()},
                     {k: v[:steps] for k, v in rec.activity.items()},
                     {k: v[:steps] for k, v in rec.synaptic_events.items()}, rec.spiking, dict(rec.meta))


def _stack(records: list[RunRecord]) -> RunRecord:
    """Per-sequence records of equal length -> one batched record."""
    first = records[0]
    return RunRecord(
        first.precision,
        {k: np.stack([r.outputs[k] for r in records]) for k in first.outputs},
        {k: np.stack([r.activity[k] for r in records]) for k in first.activity},
        {k: np.stack([r.synaptic_events[k] for r in records]) for k in first.synaptic_events},
        first.spiking,
    )


def load_network(path_or_graph: str | Path | nir.NIRGraph, *, dt: float | None = None, reset: str | None = None,
                 source: str = "nir") -> Network:
    """Read a NIR file from any exporter (see :func:`neuro_runtime.sources.load_foreign`), validate
    and lower it.  ``reset``: ``"zero"`` (to ``v_reset``) or ``"subtract"``; default the source
    library's (snnTorch, Sinabs, Rockpool subtract), with the amount the library subtracts
    (``SourceRecord.reset_amount``)."""
    if source not in SOURCES:
        raise UserError(f"unknown --source {source!r}; valid: {', '.join(SOURCES)}")
    where = str(path_or_graph) if isinstance(path_or_graph, (str, Path)) else "graph"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SourceWarning)
        graph, record = load_foreign(path_or_graph, source=source, dt=dt, reset=reset)
    for w in caught:  # kept on the network and passed on to the caller
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return Network(graph, record, where, [str(w.message) for w in caught if issubclass(w.category, SourceWarning)])


def load_inputs(path: str | Path, net: Network) -> Any:
    """Read ``X.npy`` (one array) or ``X.npz`` (one array per named Input) for ``net``, checked.

    Returns the array as ``[B, T, *input_shape]`` (a batch axis added to ``[T, *input_shape]``), or
    for an ``.npz`` a dict ``{Input name: [B, T, *shape]}``, as :meth:`Network.run` takes them."""
    p = Path(path)
    if not p.is_file():
        raise UserError("input file not found", p)
    try:
        data = np.load(p, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise UserError(f"cannot read input array: {type(exc).__name__}: {exc}", p) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            arrays: Any = {k: data[k] for k in data.files}
    else:
        arrays = data
    try:
        net.check_input(arrays, "input array" if isinstance(arrays, np.ndarray) else "array")
    except UserError as exc:
        raise UserError(str(exc), p) from None
    if isinstance(arrays, dict):
        return {k: (a if a.ndim == len(net.input_shapes[k]) + 2 else a[None]) for k, a in arrays.items()}
    return arrays if arrays.ndim == len(net.input_shape) + 2 else arrays[None]


def integer_valued(x: np.ndarray) -> bool:
    """Whether every value of ``x`` is an integer (events, spike counts)."""
    return bool(np.array_equal(x, np.round(x)))
