"""NIR (lowered :class:`RuntimeGraph`) -> Lava process graph, with fusion.  Imports Lava.

Mapping (details and parameter formulas in :mod:`neuro_runtime.semantics`):

* Input -> :class:`~neuro_runtime.lava_procs.GradedSource` (graded messages).
* LIF / CubaLIF -> Lava ``LIF`` (as :class:`~neuro_runtime.lava_procs.RecLIF`, a ``LIF`` subclass
  whose models run Lava's LIF code and add spike recording and the between-sequence drain).
* IF, Threshold -> the same ``LIF`` (IF: ``dv = 0``; Threshold: ``du = dv = 1``); subtractive
  reset and the per-neuron start step are :class:`~neuro_runtime.lava_procs.RecLIF`'s additions.
* LI, CubaLI, I -> :class:`~neuro_runtime.lava_procs.GradedLI` (I: ``dv = 0``; CubaLI: ``du < 1``).
* Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten: folded by the lowering into the matrix of their
  path (exact), so they run as ``Dense`` / ``DelayDense`` like Affine.
* Output -> :class:`~neuro_runtime.lava_procs.Readout`.
* Every lowered term ``M @ out_src[t - d]`` with d >= 1 -> ``Dense`` (d = 1) or ``DelayDense``
  (delay d - 1); graded senders use ``num_message_bits = 24``, spiking senders 0.
  Terms with d = 0 -> direct port connection (identity).

Fusion (``fuse=True``): all spiking neurons (LIF, CubaLIF) go into one Lava ``LIF`` population
and all LI neurons into one ``GradedLI`` population, whatever NIR node they came from (parallel
branches *and* consecutive layers; du, dv and the threshold are per neuron; a connection between
two fused layers becomes a recurrent block of one Dense).  Nodes with a zero-delay (direct port)
connection keep a population of their own.  All terms between the same pair of populations go
into one Dense/DelayDense (block matrix, per-entry delays) where their entries do not collide
(a temporal kernel's taps use the same entry at several delays: one process per tap); in fixed_pt
only layers with the same weight exponent and sign mode, and only exponents >= 0 when two synapse
layers share a process (a right shift of a sum differs from the sum of right shifts).
Consecutive synapse nodes are always multiplied into one matrix by the lowering.
``fuse=False`` gives one population per NIR neuron node and one Dense/DelayDense per term.

Synapse models (``synapses``): ``"fast"`` (default) runs Lava's Dense/DelayDense arithmetic with
cached delay matrices and a buffer reset at each sequence start (no drain steps); ``"lava"`` runs
Lava's own models and drains the buffers with silent steps between sequences (see
:mod:`neuro_runtime.lava_procs`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ucfdvs.neuro_runtime.graph_check import RuntimeGraph
from ucfdvs.neuro_runtime.quantize import QuantizedGraph, quantize
from ucfdvs.neuro_runtime.semantics import GRADED_MESSAGE_BITS, PRECISIONS
from ucfdvs.errors import UserError

LAVA_MISSING = ("the Lava backend needs Lava (lava-nc 0.10, Python 3.10), which is not installed here: "
                "pip install -r requirements.txt (or the [lava] extra)")


@dataclass
class Pop:
    """One Lava neuron population: members are (NIR node, indices in node) at ``offset``."""

    kind: str  # "LIF" (Lava LIF: LIF and CubaLIF nodes) or "LI"
    members: list[tuple[str, np.ndarray, int]] = field(default_factory=list)
    size: int = 0
    proc: Any = None

    def add(self, node: str, idx: np.ndarray) -> None:
        self.members.append((node, idx, self.size))
        self.size += len(idx)

    def gather(self, per_node: dict[str, np.ndarray]) -> np.ndarray:
        """Per-neuron parameter ``[size]`` from per-node values (``[N_node]`` arrays or scalars)."""
        return np.concatenate([np.broadcast_to(per_node[n], idx.shape)[idx] for n, idx, _ in self.members])


@dataclass
class Conn:
    """One Lava Dense/DelayDense between two endpoints (weights ``[N_dst, N_src]``, delays in steps)."""

    src: str  # endpoint id
    dst: str
    key: tuple
    weights: np.ndarray
    delays: np.ndarray
    graded: bool
    exp: int = 0
    sign_mode: str | None = None
    layers: set = field(default_factory=set)
    proc: Any = None
    exclusive: bool = False  # rows owned by one layer each (negative weight exponent)
    row_owner: dict = field(default_factory=dict)


@dataclass
class LavaNetwork:
    """The built Lava processes plus the index maps needed to feed and read them.

    ``io_dir`` set: shared-memory I/O (see :mod:`neuro_runtime.lava_procs`): each sequence runs
    ``T + silent_steps`` steps; else Var I/O: each sequence runs ``buf_len`` steps after a
    ``Var.set`` reset.
    """

    graph: RuntimeGraph
    precision: str
    quant: QuantizedGraph | None
    buf_len: int
    source: Any
    readouts: dict[str, Any]
    pops: list[Pop]
    conns: list[Conn]
    io_dir: str | None = None
    silent_steps: int = 0
    steps_done: int = 0
    synapses: str = "fast"

    @property
    def processes(self) -> list[Any]:
        return [self.source, *self.readouts.values(), *(p.proc for p in self.pops), *(c.proc for c in self.conns)]

    @property
    def n_processes(self) -> int:
        return len(self.processes)

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for p in self.processes:
            kinds[type(p).__name__] = kinds.get(type(p).__name__, 0) + 1
        return f"{self.n_processes} Lava processes: " + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))

    def run_cfg(self) -> Any:
        from lava.magma.core.run_configs import Loihi2SimCfg

        from ucfdvs.neuro_runtime.lava_procs import SYNAPSE_MODELS

        return Loihi2SimCfg(select_tag=self.precision,
                            exception_proc_model_map=dict(SYNAPSE_MODELS[self.synapses][self.precision]))

    def encode(self, seq: np.ndarray) -> np.ndarray:
        """Input sequence ``[T, C]`` float -> what the source sends (float, or 24-bit ints)."""
        return self.quant.quantize_input(seq).astype(np.float64) if self.quant is not None else seq

    def source_data(self, seq: np.ndarray) -> np.ndarray:
        """One sequence ``[T, C]`` (T <= buf_len) -> the source buffer ``[C, buf_len]`` (zero-padded)."""
        buf = np.zeros((self.graph.input_size, self.buf_len))
        buf[:, : seq.shape[0]] = self.encode(seq).T
        return buf

    def _mm(self, key: str, shape: tuple, dtype: type = np.float64) -> np.ndarray:
        return np.memmap(f"{self.io_dir}/{key}.bin", dtype=dtype, mode="r+", shape=shape)

    def load_sequence(self, seq: np.ndarray, first: bool) -> int:
        """Prepare the next sequence; returns the number of Lava steps to run for it."""
        if self.io_dir is not None:
            x = self._mm("in", (self.buf_len, self.graph.input_size))
            x[: seq.shape[0]] = self.encode(seq)
            ctrl = self._mm("ctrl", (2,), np.int64)
            ctrl[:] = (self.steps_done + 1, seq.shape[0])
            n = seq.shape[0] + self.silent_steps
        else:
            if not first:
                if self.synapses == "lava":
                    self.reset_state()
                self.source.data.set(self.source_data(seq))
            n = self.buf_len
        self.steps_done += n
        return n

    def reset_state(self) -> None:
        """Lava's synapse models, Var I/O: every synapse buffer back to 0 with ``Var.set`` (the
        neurons reset themselves at each sequence start)."""
        for c in self.conns:
            c.proc.a_buff.set(np.zeros(c.proc.a_buff.shape))

    def read(self, kind: str, index: str, shape: tuple, T: int) -> np.ndarray:
        """Recorded buffer ``[T, N]`` of a readout (``out``/``outd``) or population (``pop``)."""
        if self.io_dir is not None:
            return np.array(self._mm(f"{kind}_{index}", (self.buf_len,) + shape)[:T])
        if kind == "pop":
            proc = self.pops[int(index[1:])].proc
            var = proc.rec if hasattr(proc, "rec") else proc.spk
        else:
            r = self.readouts[index]
            var = r.data if kind == "out" else r.data_d
        return np.asarray(var.get()).T[:T].astype(np.float64)

    def close(self) -> None:
        if self.io_dir is not None:
            shutil.rmtree(self.io_dir, ignore_errors=True)


def import_lava() -> None:
    """Import Lava's runtime, leaving this process's multiprocessing start method as it was.

    lava-nc 0.10 calls ``multiprocessing.set_start_method('fork')`` (without ``force``) when its
    message infrastructure is first imported, which raises "context has already been set" if
    anything (e.g. importing torch) fixed the start method before.  The method is cleared for the
    import and put back afterwards; Lava's processes use the default context, ``fork`` on Linux
    unless this process chose another (Lava runs in a worker, :mod:`neuro_runtime.lava_worker`).
    """
    import multiprocessing as mp
    import sys

    if "lava.magma.runtime.message_infrastructure.multiprocessing" in sys.modules:
        return
    before = mp.get_start_method(allow_none=True)
    mp.set_start_method(None, force=True)
    try:
        import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
    except ModuleNotFoundError as err:
        if (err.name or "").partition(".")[0] != "lava":  # Lava is there, something it imports is not
            raise
        raise UserError(LAVA_MISSING) from err
    finally:
        mp.set_start_method(before, force=True)


def io_root() -> str | None:
    """Where shared-memory I/O folders go: ``/dev/shm`` if writable, else None (the temp folder)."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _endpoint_id(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def build_lava(
    graph: RuntimeGraph, precision: str = "floating_pt", *, quant: QuantizedGraph | None = None,
    fuse: bool = True, buf_len: int = 1, first_sequence: np.ndarray | None = None, io: str = "shm",
    synapses: str = "fast", io_root: str | None = None,
) -> LavaNetwork:
    """Build the Lava processes for ``graph`` (nothing runs yet).

    ``buf_len``: the longest sequence (steps); ``first_sequence`` ``[T, C]`` initialises the
    source buffer (Var I/O).  ``io``: ``"shm"`` (memory-mapped files; fast) or ``"var"`` (Lava
    Var get/set; slow for big populations).  ``synapses``: ``"fast"`` or ``"lava"`` (see above).
    ``io_root``: the folder in which the shared-memory I/O folder is made (default: :func:`io_root`).
    """
    if io not in ("shm", "var"):
        raise UserError(f"io must be 'shm' or 'var', got {io!r}")
    if synapses not in ("fast", "lava"):
        raise UserError(f"synapses must be 'fast' or 'lava', got {synapses!r}")
    import_lava()
    if precision not in PRECISIONS:
        raise UserError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    fixed = precision == "fixed_pt"
    if fixed and quant is None:
        quant = quantize(graph)
    if not fixed:
        quant = None
    g = graph

    # ---- populations -------------------------------------------------------------------
    direct_nodes = {p.src for p in g.projections if any(t.delay == 0 for t in p.terms)}
    direct_nodes |= {p.dst for p in g.projections if p.dst in g.neurons and any(t.delay == 0 for t in p.terms)}
    pops: list[Pop] = []
    where: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}  # node -> (pop index, node idx, pop idx)
    bykey: dict[str, int] = {}
    for n, spec in g.neurons.items():
        kind = "LIF" if spec.spiking else "LI"
        if fuse and n not in direct_nodes and kind in bykey:
            pi = bykey[kind]
        else:
            pi = len(pops)
            pops.append(Pop(kind))
            if fuse and n not in direct_nodes:
                bykey[kind] = pi
        idx = np.arange(spec.size)
        off = pops[pi].size
        pops[pi].add(n, idx)
        where[n] = [(pi, idx, off + idx)]

    def ep_slices(name: str) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
        """Endpoint(s) of a node: (endpoint id, node indices, endpoint indices, endpoint size)."""
        if name == g.input_name:
            ar = np.arange(g.input_size)
            return [(_endpoint_id("in", name), ar, ar, g.input_size)]
        if name in g.outputs:
            ar = np.arange(g.outputs[name].size)
            return [(_endpoint_id("out", name), ar, ar, g.outputs[name].size)]
        return [(_endpoint_id("pop", str(pi)), idx, pidx, pops[pi].size) for pi, idx, pidx in where[name]]

    # ---- connections ---------------------------------------------------------------------
    conns: list[Conn] = []
    direct: list[tuple[str, str]] = []  # (src endpoint, dst endpoint)
    qproj = {qp.name: qp for qp in quant.projections} if fixed else {}
    for p in g.projections:
        qp = qproj.get(p.name)
        # fixed point: one synapse process per weight plane (8-bit mantissas, its own exponent)
        planes = ([({t.delay: t.wq for t in pl.terms}, pl.weight_exp, pl.sign_mode) for pl in qp.planes]
                  if qp else [({}, 0, None)])
        for t, (qterms, exp, mode) in ((t, pl) for t in p.terms for pl in planes):
            if t.delay == 0:
                if qterms is planes[0][0]:
                    (s_ep, _, _, _), (d_ep, _, _, _) = ep_slices(p.src)[0], ep_slices(p.dst)[0]
                    direct.append((s_ep, d_ep))
                continue
            mat = qterms[t.delay].astype(np.float64) if fixed else t.matrix
            for s_ep, s_idx, s_pidx, s_n in ep_slices(p.src):
                for d_ep, d_idx, d_pidx, d_n in ep_slices(p.dst):
                    block = mat[np.ix_(d_idx, s_idx)]
                    if not np.any(block):
                        continue
                    w = np.zeros((d_n, s_n))
                    w[np.ix_(d_pidx, s_pidx)] = block
                    dl = np.zeros((d_n, s_n), dtype=np.int64)
                    dl[np.ix_(d_pidx, s_pidx)] = t.delay
                    key: tuple = (s_ep, d_ep, p.graded)
                    if fixed:
                        key += (exp, mode)
                    if not fuse:
                        key += (p.name, t.delay, len(conns))
                    # a right shift of a sum is not the sum of right shifts: layers with a negative
                    # exponent may share a process only where no (row, delay) slot mixes layers
                    _place(conns, key, s_ep, d_ep, w, dl, p.graded, exp, mode, p.name,
                           exclusive_rows=fixed and exp < 0, delay=t.delay)

    # ---- everything must hang together: Lava runs the source's connected component only ----
    src_ep = _endpoint_id("in", g.input_name)
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        parent.setdefault(a, a)
        while parent[a] != a:
            a = parent[a]
        return a

    for c in conns:
        parent[find(c.src)] = find(c.dst)
    for s_ep, d_ep in direct:
        parent[find(s_ep)] = find(d_ep)
    eps = [_endpoint_id("pop", str(i)) for i in range(len(pops))] + [_endpoint_id("out", o) for o in g.outputs]
    sizes = {e: (pops[int(e.split(":", 1)[1])].size if e.startswith("pop:") else g.outputs[e.split(":", 1)[1]].size)
             for e in eps}
    for e in eps:
        if find(e) != find(src_ep):  # e.g. an all-zero weight matrix: tie it on with a zero Dense
            conns.append(Conn(src_ep, e, ("tie", e), np.zeros((sizes[e], g.input_size)),
                              np.ones((sizes[e], g.input_size), dtype=np.int64), True, 0,
                              "EXCITATORY" if fixed else None, set()))
            parent[find(e)] = find(src_ep)

    # ---- Lava processes ------------------------------------------------------------------
    if first_sequence is None:
        first_sequence = np.zeros((buf_len, g.input_size))
    net = LavaNetwork(g, precision, quant, buf_len, None, {}, pops, conns, synapses=synapses)
    try:
        _make_processes(net, g, fixed, quant, pops, conns, direct, io, buf_len, first_sequence, io_root)
    except BaseException:
        net.close()
        raise
    return net


def _make_processes(net: LavaNetwork, g: RuntimeGraph, fixed: bool, quant: Any, pops: list[Pop],
                    conns: list[Conn], direct: list[tuple[str, str]], io: str, buf_len: int,
                    first_sequence: np.ndarray, root: str | None) -> None:
    from lava.proc.dense.process import Dense, DelayDense
    from lava.utils.weightutils import SignMode

    from ucfdvs.neuro_runtime.lava_procs import GradedLI, GradedSource, Readout, RecLIF

    if io == "shm":
        net.io_dir = tempfile.mkdtemp(prefix="neuro_runtime_", dir=root if root is not None else io_root())
        if net.synapses == "lava":
            net.silent_steps = max([1] + [int(c.delays[c.weights != 0].max()) for c in conns if c.weights.any()])
        files = {"ctrl": ((2,), np.int64), "in": ((buf_len, g.input_size), np.float64)}
        for j, (o, spec) in enumerate(g.outputs.items()):
            files[f"out_o{j}"] = files[f"outd_o{j}"] = ((buf_len, spec.size), np.float64)
        for pi, pop in enumerate(pops):
            files[f"pop_p{pi}"] = ((buf_len, pop.size), np.float64)
        for key, (shape, dt_) in files.items():
            np.memmap(f"{net.io_dir}/{key}.bin", dtype=dt_, mode="w+", shape=shape).flush()
    src_io = {"dir": net.io_dir, "name": "in"} if net.io_dir else None
    net.source = GradedSource(data=net.source_data(first_sequence) if src_io is None else np.zeros((g.input_size, 1)),
                              buf_len=buf_len, io=src_io, name=f"in_{g.input_name}")
    for j, (o, spec) in enumerate(g.outputs.items()):
        bias = spec.bias if not fixed else np.zeros(spec.size)
        r_io = {"dir": net.io_dir, "name": f"o{j}"} if net.io_dir else None
        net.readouts[o] = Readout(shape=(spec.size,), buf_len=buf_len, bias=bias.astype(np.float64), io=r_io,
                                  name=f"out_{o}")
    for pi, pop in enumerate(pops):
        if fixed:
            qn = quant.neurons
            du = pop.gather({n: qn[n].du_q for n, _, _ in pop.members})
            dv = pop.gather({n: qn[n].dv_q for n, _, _ in pop.members})
            vth = pop.gather({n: qn[n].vth_q for n, _, _ in pop.members})
            bm = pop.gather({n: qn[n].bias_mant for n, _, _ in pop.members})
            be = pop.gather({n: qn[n].bias_exp for n, _, _ in pop.members})
            shift = pop.gather({n: qn[n].msg_shift for n, _, _ in pop.members})
            rsub = pop.gather({n: qn[n].reset_q if qn[n].reset_q is not None else 0 for n, _, _ in pop.members})
            u0 = pop.gather({n: qn[n].u_init_q for n, _, _ in pop.members})
        else:
            sp = g.neurons
            du = pop.gather({n: sp[n].du for n, _, _ in pop.members})
            dv = pop.gather({n: sp[n].dv for n, _, _ in pop.members})
            vth = pop.gather({n: sp[n].vth for n, _, _ in pop.members})
            bm = pop.gather({n: sp[n].bias for n, _, _ in pop.members})
            be = np.zeros(pop.size)
            shift = np.zeros(pop.size, dtype=np.int64)
            rsub = pop.gather({n: sp[n].reset_sub if sp[n].reset_sub is not None else 0.0 for n, _, _ in pop.members})
            u0 = pop.gather({n: sp[n].u_init for n, _, _ in pop.members})
        start = pop.gather({n: g.neurons[n].start for n, _, _ in pop.members})
        name = "pop%d_%s" % (pi, "+".join(sorted({m[0] for m in pop.members}))[:60])
        p_io = {"dir": net.io_dir, "name": f"p{pi}"} if net.io_dir else None
        if pop.kind == "LI":
            pop.proc = GradedLI(shape=(pop.size,), du=du, dv=dv, bias_mant=bm, bias_exp=be, msg_shift=shift,
                                buf_len=buf_len, start=start, u_init=u0, io=p_io, name=name)
        else:
            pop.proc = RecLIF(shape=(pop.size,), du=du, dv=dv, vth=vth, bias_mant=bm, bias_exp=be, buf_len=buf_len,
                              reset_sub=rsub, start=start, u_init=u0, io=p_io, name=name)

    def out_port(ep: str) -> Any:
        kind, name = ep.split(":", 1)
        if kind == "in":
            return net.source.s_out
        return pops[int(name)].proc.s_out

    def in_port(ep: str, direct_wire: bool) -> Any:
        kind, name = ep.split(":", 1)
        if kind == "out":
            r = net.readouts[name]
            return r.d_in if direct_wire else r.a_in
        return pops[int(name)].proc.a_in

    for c in conns:
        if fixed and c.weights.any() and int(c.delays[c.weights != 0].max()) - 1 > 63:
            raise UserError(
                f"a path of {int(c.delays.max())} steps ({', '.join(sorted(c.layers))}) exceeds Loihi 2's "
                "6-bit synaptic delay (at most 64 steps per synapse hop) in fixed_pt"
            )
    for ci, c in enumerate(conns):
        nmb = GRADED_MESSAGE_BITS if c.graded else 0
        kw: dict[str, Any] = {}
        if fixed:
            kw = dict(weight_exp=int(c.exp), num_weight_bits=8, sign_mode=getattr(SignMode, c.sign_mode))
        w = c.weights.astype(np.int64) if fixed else c.weights
        kw.update(buf_len=buf_len, io={"dir": net.io_dir, "name": f"c{ci}"} if net.io_dir else None)
        if np.all(c.delays[c.weights != 0] == 1):
            c.proc = Dense(weights=w, num_message_bits=nmb, name=f"dense{ci}", **kw)
        else:
            dl = np.where(c.weights != 0, c.delays - 1, 0)
            c.proc = DelayDense(weights=w, delays=dl, num_message_bits=nmb, name=f"delaydense{ci}", **kw)
        out_port(c.src).connect(c.proc.s_in)
        c.proc.a_out.connect(in_port(c.dst, False))
    for s_ep, d_ep in direct:
        out_port(s_ep).connect(in_port(d_ep, True))


def _place(conns: list[Conn], key: tuple, s_ep: str, d_ep: str, w: np.ndarray, dl: np.ndarray,
           graded: bool, exp: int, mode: str | None, layer: str, exclusive_rows: bool = False,
           delay: int = 1) -> None:
    """Put a block into the first compatible connection of the same key whose entries are free
    (and, with ``exclusive_rows``, whose (row, delay) slots are not used by another layer)."""
    nz = w != 0
    rows = [(int(r), delay) for r in np.nonzero(nz.any(axis=1))[0]]
    for c in conns:
        if c.key != key or np.any(nz & (c.weights != 0)):
            continue
        if c.exclusive and any(c.row_owner.get(rd, layer) != layer for rd in rows):
            continue
        c.weights = c.weights + w
        c.delays = np.where(nz, dl, c.delays)
        c.layers.add(layer)
        if c.exclusive:
            c.row_owner.update({rd: layer for rd in rows})
        return
    c = Conn(s_ep, d_ep, key, w, dl, graded, exp, mode, {layer})
    c.exclusive = exclusive_rows
    c.row_owner = {rd: layer for rd in rows} if exclusive_rows else {}
    conns.append(c)
