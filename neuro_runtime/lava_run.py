"""Run many sequences through one Lava network, in a worker process of its own.

:func:`run_lava` checks its input in the caller and runs :func:`run_here` in a worker
(:mod:`neuro_runtime.lava_worker`): Lava's start method, processes, shared memory and banners
never touch the caller, and records come back one sequence at a time.  In the worker one network
is built and compiled once; sequences run back to back with ``run(condition=RunSteps(n))`` and no
rebuild.  Every process returns to rest by itself at the first step of each sequence (neurons and,
with ``synapses="fast"``, synapses); with Lava's own synapse models (``synapses="lava"``) each
sequence is followed by ``silent_steps`` drain steps that empty the synapse buffers (see
:mod:`neuro_runtime.lava_procs`).  Default ``io="shm"``: input and records go through
memory-mapped files; ``io="var"``: Lava Vars (all sequences padded to the longest); Lava 0.10
moves Vars element by element, so this costs ~1 s per sequence on the MSF-sized graph.

The runtime is always stopped (exceptions, KeyboardInterrupt), which releases Lava's shared
memory; if ``stop()`` hangs or fails, the worker terminates its own children (all Lava's).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import tempfile
import threading
import time
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ucfdvs.neuro_runtime.emulator import check_sequences, dequantize_output
from ucfdvs.neuro_runtime.graph_check import RuntimeGraph, load_graph
from ucfdvs.neuro_runtime.lava_build import LavaNetwork, build_lava, io_root
from ucfdvs.neuro_runtime.lava_worker import call_in_worker
from ucfdvs.neuro_runtime.quantize import QuantizedGraph, quantize
from ucfdvs.neuro_runtime.records import RunRecord, count_synaptic_events
from ucfdvs.errors import UserError

logger = logging.getLogger(__name__)


def run_lava(
    graph: RuntimeGraph | str, sequences: Sequence[np.ndarray] | np.ndarray, precision: str = "floating_pt",
    *, quant: QuantizedGraph | None = None, fuse: bool = True, progress: bool = True,
    on_sequence: Callable[[int, RunRecord], None] | None = None, timings: dict | None = None,
    io: str = "shm", synapses: str = "fast",
) -> list[RunRecord]:
    """Run each sequence (``[T_i, C_in]`` float; or an array ``[B, T, C_in]``) in Lava from rest.

    Lava runs in a worker process of its own (:mod:`neuro_runtime.lava_worker`); records come back
    one sequence at a time.  Returns one :class:`RunRecord` per sequence (``[T_i, N]`` arrays).
    ``on_sequence(i, record)`` is called in the caller as each sequence arrives.  ``io``: ``"shm"``
    (default; memory-mapped I/O) or ``"var"`` (Lava ``Var.get/set``).  ``synapses``: ``"fast"``
    (default) or ``"lava"`` (Lava's own Dense/DelayDense models, drained between sequences; see
    :mod:`neuro_runtime.lava_build`).  ``timings`` (a dict) receives ``build_s``, ``first_run_s``
    (compile + start + first sequence), ``run_s`` (later sequences' steps, drain included),
    ``reset_s`` (loading the next sequence and resetting), ``read_s``, ``steps`` (sequence steps
    after the first), ``lava_steps`` (all Lava steps), ``n_processes`` (Lava processes) and
    ``worker_s`` (the whole call, worker start-up and shutdown included).
    """
    t0 = time.perf_counter()
    if not isinstance(graph, RuntimeGraph):
        graph = load_graph(graph)
    if isinstance(sequences, np.ndarray) and sequences.ndim == 3:
        seqs = [s for s in check_sequences(graph, sequences)]
    elif isinstance(sequences, np.ndarray) and sequences.ndim == 2:
        seqs = [check_sequences(graph, sequences)[0]]
    else:
        seqs = [check_sequences(graph, s)[0] for s in sequences]
    if not seqs:
        raise UserError("no sequences to run")
    if precision == "fixed_pt" and quant is None:
        quant = quantize(graph)
    tm = timings if timings is not None else {}
    records: list[RunRecord] = []
    bar = _progress(len(seqs), progress)

    def arrived(item: tuple[int, RunRecord, dict]) -> None:
        i, rec, worker_tm = item
        tm.update(worker_tm)
        records.append(rec)
        if on_sequence is not None:
            on_sequence(i, rec)
        if bar is not None:
            bar.update(1)

    try:  # the caller owns the I/O folder: it goes even if the worker dies
        with tempfile.TemporaryDirectory(prefix=f"neuro_runtime_{os.getpid()}_", dir=io_root()) as root:
            call_in_worker("ucfdvs.neuro_runtime.lava_run:run_here", arrived, graph=graph, seqs=seqs,
                           precision=precision, quant=quant, fuse=fuse, io=io, synapses=synapses, io_root=root)
    finally:
        if bar is not None:
            bar.close()
    tm["worker_s"] = time.perf_counter() - t0
    return records


def run_here(emit: Callable[[tuple[int, RunRecord, dict]], None], graph: RuntimeGraph, seqs: list[np.ndarray],
             precision: str, quant: QuantizedGraph | None, fuse: bool, io: str, synapses: str,
             io_root: str | None = None) -> None:
    """:func:`run_lava` in this process (the worker): ``emit((i, record, timings))`` per sequence."""
    buf_len = max(s.shape[0] for s in seqs)
    t0 = time.perf_counter()
    net = build_lava(graph, precision, quant=quant, fuse=fuse, buf_len=buf_len, first_sequence=seqs[0], io=io,
                     synapses=synapses, io_root=io_root)
    tm = dict(build_s=time.perf_counter() - t0, n_processes=net.n_processes, run_s=0.0, reset_s=0.0,
              read_s=0.0, steps=0, lava_steps=0, first_run_s=0.0, silent_steps=net.silent_steps)
    try:
        with LavaSession(net) as sess:
            for i, seq in enumerate(seqs):
                t1 = time.perf_counter()
                n = net.load_sequence(seq, first=i == 0)
                if i > 0:
                    tm["reset_s"] += time.perf_counter() - t1
                t1 = time.perf_counter()
                sess.run_steps(n)
                dt = time.perf_counter() - t1
                tm["lava_steps"] += n
                if i == 0:
                    tm["first_run_s"] = dt
                else:
                    tm["run_s"] += dt
                    tm["steps"] += seq.shape[0]
                t1 = time.perf_counter()
                rec = read_record(net, seq)
                tm["read_s"] += time.perf_counter() - t1
                emit((i, rec, dict(tm)))
    finally:
        net.close()


def _progress(n: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=n, desc="lava", unit="seq", leave=False)


class LavaSession:
    """Context manager owning a Lava runtime: ``run_steps`` and a guaranteed, bounded stop.

    Meant for the worker process, where every child process is Lava's.
    """

    def __init__(self, net: LavaNetwork, stop_timeout_s: float = 20.0) -> None:
        self.net = net
        self.stop_timeout_s = stop_timeout_s
        self._before: set[int] = set()
        self._lava_procs: list = []
        self._started = False

    def __enter__(self) -> "LavaSession":
        self._before = {p.pid for p in mp.active_children()}
        return self

    def run_steps(self, n: int) -> None:
        from lava.magma.core.run_conditions import RunSteps

        if self.net.source.runtime is None:
            try:
                with _interrupts_deferred():  # compile, fork Lava's processes, start its shared memory
                    self.net.source.create_runtime(run_cfg=self.net.run_cfg())
            finally:
                self._lava_procs = self._new_children()
        self._started = True
        self.net.source.run(condition=RunSteps(num_steps=n))

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _new_children(self) -> list:
        return [p for p in mp.active_children() if p.pid not in self._before]

    def _crashed(self) -> bool:
        """True if a Lava child has exited abnormally (``stop()`` would then wait for it forever)."""
        for p in self._lava_procs:
            try:
                code = p.exitcode
            except (ValueError, AttributeError):  # closed by Lava's own join
                continue
            if code not in (None, 0):
                return True
        return False

    def close(self) -> None:
        """Stop the runtime (which shuts Lava's shared memory down); then end any child process
        this session started that is still alive."""
        if self._started:
            failures: list[Exception] = []

            def _stop() -> None:
                try:
                    self.net.source.stop()
                except Exception as err:  # noqa: BLE001 - logged; the children are ended below
                    failures.append(err)

            th = threading.Thread(target=_stop, daemon=True)
            th.start()
            deadline = time.monotonic() + self.stop_timeout_s
            crashed_at = None
            while th.is_alive() and time.monotonic() < deadline:
                th.join(0.1)
                if crashed_at is None and self._crashed():
                    crashed_at = time.monotonic()
                if crashed_at is not None and time.monotonic() - crashed_at > 0.5:
                    break
            if th.is_alive() or failures:
                logger.warning("Lava's stop() %s; ending its processes",
                               f"failed: {failures[0]!r}" if failures else "did not finish")
            self._started = False
        self._release_shared_memory()
        left = [p for p in self._new_children() if p.is_alive()]
        for p in left:
            p.terminate()
        for p in left:
            mp.Process.join(p, 2.0)  # Lava's SystemProcess.join() takes no timeout
            if p.is_alive():
                p.kill()
                mp.Process.join(p, 1.0)


    def _release_shared_memory(self) -> None:
        """Shut Lava's shared-memory manager down (it unlinks every segment) if ``stop()`` did not:
        stopping a runtime interrupted while it started skips it (lava-nc 0.10's ``Runtime``
        keeps it in ``_messaging_infrastructure.smm``; its ``shutdown`` may be called twice)."""
        runtime = self.net.source.runtime if self.net.source is not None else None
        infrastructure = getattr(runtime, "_messaging_infrastructure", None)
        smm = getattr(infrastructure, "smm", None)
        if smm is not None:
            smm.shutdown()


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """SIGINT (KeyboardInterrupt) waits until the block has ended (main thread only).

    Lava forks its processes and its shared-memory server in the block; a child forked while a
    SIGINT is pending in Python would raise KeyboardInterrupt too, and a dead server leaves its
    shared memory behind.
    """
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def read_record(net: LavaNetwork, seq: np.ndarray) -> RunRecord:
    """Read one sequence's records from the (paused) Lava network into a :class:`RunRecord`."""
    g, q = net.graph, net.quant
    T = seq.shape[0]
    outs: dict[str, np.ndarray] = {}
    for j, (o, spec) in enumerate(g.outputs.items()):
        key = f"o{j}" if net.io_dir else o
        a = net.read("out", key, (spec.size,), T)
        if q is None:
            outs[o] = a
        else:
            d = net.read("outd", key, (spec.size,), T)
            outs[o] = dequantize_output(q, o, np.rint(a).astype(np.int64), np.rint(d).astype(np.int64))
    act: dict[str, np.ndarray] = {n: np.zeros((T, s.size)) for n, s in g.neurons.items()}
    for pi, pop in enumerate(net.pops):
        buf = net.read("pop", f"p{pi}", (pop.size,), T)
        for n, idx, off in pop.members:
            act[n][:, idx] = buf[:, off: off + len(idx)]
    msgs: dict[str, np.ndarray] = {}
    for n, spec in g.neurons.items():
        msgs[n] = act[n]
        if q is not None and not spec.spiking:
            act[n] = act[n] / q.neurons[n].msg_units
    msgs[g.input_name] = net.encode(seq)
    ev = count_synaptic_events(g, msgs)
    spiking = tuple(n for n, s in g.neurons.items() if s.spiking)
    return RunRecord(net.precision, outs, act, ev, spiking)
