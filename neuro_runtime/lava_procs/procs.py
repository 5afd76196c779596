"""Small Lava processes the converter needs (imports Lava; only the Lava modules import this).

Lava style: the Process says what, one ProcessModel per precision tag says how.

* :class:`GradedSource`: the Input node; sends column ``(time_step - 1) % T`` of ``data`` ``[N, T]``
  each step as a graded message (float, or int32 in fixed_pt).
* :class:`Readout`: the Output node; a non-spiking sink that stores per step
  ``a_in + d_in + bias`` (float) or the raw integers ``a_in`` and ``d_in`` (fixed) in ``[N, T]``
  buffers.  ``a_in`` takes Dense/DelayDense paths, ``d_in`` direct (zero-delay) wires.
* :class:`RecLIF`: Lava's ``LIF`` plus a spike buffer ``spk`` ``[N, T]``; its models *are*
  Lava's ``PyLifModelFloat`` / ``PyLifModelBitAcc`` plus the spike record, a per-neuron
  subtractive reset (``reset_sub``) and a per-neuron start step (``start_step``, bias gating).
* :class:`GradedLI`: a leaky integrator that sends ``v`` (float) or ``v >> msg_shift`` (fixed) as a graded
  message and stores it in ``rec``; it reuses Lava's LIF sub-threshold code (no threshold).

``RecLIF`` and ``GradedLI`` take ``du``, ``dv`` (and ``vth``) per neuron (``[N]``), so layers with
different time constants or thresholds share one population (Loihi 2 keeps such parameters per
neuron profile); the arithmetic per neuron is Lava's.

Synapse models (``SYNAPSE_MODELS["fast"]``, picked with the run configuration's
``exception_proc_model_map``): ProcessModels of Lava's own ``Dense`` and ``DelayDense`` processes
that run Lava's arithmetic (Lava's ``run_spk``; the same integer results in fixed_pt) with two
changes: ``DelayDense`` builds its per-delay weight matrices once instead of every step (Lava's
``calc_act`` rebuilds and multiplies a ``[(D+1) N_out, N_in]`` matrix each step, ~10 ms at our
sizes), and both clear their synaptic buffer at the first step of every sequence, so sequences
follow each other with no drain steps.  ``SYNAPSE_MODELS["lava"]`` keeps Lava's models.

Two I/O modes (process kwarg ``io``):

* ``io=None``: inputs and records live in Lava Vars (``data``, ``spk``, ``rec``), read and written
  with ``Var.get()/set()``, and the state is reset with ``Var.set`` between sequences.  Lava
  0.10 moves a Var element by element through a pipe, which costs ~10 us per element (0.4-0.7 s
  per sequence on the MSF-sized graph).
* ``io={"dir": ..., "name": ...}``: inputs and records go through memory-mapped files (in
  /dev/shm) that the parent writes/reads while the runtime is paused; a control file holds
  ``(first time step, active steps)`` of the current sequence.  After the active steps every
  process stays *silent* for as many steps as the longest synaptic delay (neurons reset u = v = 0
  and send zeros, the source sends zeros), so every Dense/DelayDense buffer drains to zero: the
  next sequence starts from rest with no ``Var.set`` at all.  Lava's own Dense/DelayDense run
  unchanged; the neuron dynamics are Lava's code.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import (
    AbstractPyDelayDenseModel, AbstractPyDenseModelBitAcc, AbstractPyDenseModelFloat, PyDelayDenseModelBitAcc,
    PyDelayDenseModelFloat,
)
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.lif.models import AbstractPyLifModelFixed, AbstractPyLifModelFloat, PyLifModelBitAcc, PyLifModelFloat
from lava.proc.lif.process import LIF

from ucfdvs.neuro_runtime.semantics import LI_MSG_SHIFT


class _ShmIO:
    """Memory-mapped I/O shared by the models below (opened lazily inside the Lava child)."""

    def _io(self) -> dict | None:
        return self.proc_params.get("io", None)

    def _mm(self, key: str, shape: tuple, dtype: type = np.float64, mode: str = "r+") -> np.ndarray:
        cache = self.__dict__.setdefault("_mms", {})
        if key not in cache:
            cache[key] = np.memmap(f"{self._io()['dir']}/{key}.bin", dtype=dtype, mode=mode, shape=shape)
        return cache[key]

    def _phase(self, buf_len: int) -> tuple[int, bool]:
        """(index k of this step within the sequence, whether it is an active step)."""
        io = self._io()
        if io is None:
            return (self.time_step - 1) % buf_len, True
        ctrl = self._mm("ctrl", (2,), np.int64, "r")
        k = int(self.time_step - ctrl[0])
        return k, k < int(ctrl[1])

    def _record(self, key: str, k: int, value: np.ndarray, buf_len: int) -> None:
        self._mm(key, (buf_len, value.shape[0]))[k] = value

    def _sequence_start(self) -> bool:
        """True at the first (active) step of a sequence: the state goes back to rest."""
        k, active = self._phase(self.proc_params["buf_len"])
        return active and k == 0


class GradedSource(AbstractProcess):
    """Feeds ``data[:, k]`` (``io=None``) or row k of the shared input file at sequence step k."""

    def __init__(self, *, data: np.ndarray, buf_len: int, io: dict | None = None, name: str | None = None) -> None:
        super().__init__(data=data, buf_len=buf_len, io=io, name=name)
        self.s_out = OutPort(shape=(data.shape[0],))
        self.data = Var(shape=data.shape, init=data)


class _SourceRun(_ShmIO):
    def run_spk(self) -> None:
        buf = self.proc_params["buf_len"]
        k, active = self._phase(buf)
        if self._io() is None:
            self.s_out.send(self.data[:, k])
        elif active:
            self.s_out.send(np.asarray(self._mm("in", (buf, self.data.shape[0]), mode="r")[k]).astype(self.data.dtype))
        else:
            self.s_out.send(np.zeros(self.data.shape[0], dtype=self.data.dtype))


@implements(proc=GradedSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyGradedSourceFloat(_SourceRun, PyLoihiProcessModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    data: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=GradedSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyGradedSourceFixed(_SourceRun, PyLoihiProcessModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    data: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)


class Readout(AbstractProcess):
    """Non-spiking read-out: records what arrives each step into ``data`` (and ``data_d``)."""

    def __init__(self, *, shape: tuple[int], buf_len: int, bias: np.ndarray, io: dict | None = None,
                 name: str | None = None) -> None:
        super().__init__(shape=shape, buf_len=buf_len, bias=bias, io=io, name=name)
        vbuf = 1 if io is not None else buf_len
        self.a_in = InPort(shape=shape)
        self.d_in = InPort(shape=shape)
        self.bias = Var(shape=shape, init=bias)
        self.data = Var(shape=shape + (vbuf,), init=0)
        self.data_d = Var(shape=shape + (vbuf,), init=0)


class _ReadoutRun(_ShmIO):
    fixed = False

    def run_spk(self) -> None:
        buf = self.proc_params["buf_len"]
        a, d = self.a_in.recv(), self.d_in.recv()
        k, active = self._phase(buf)
        if not active:
            return
        io = self._io()
        if self.fixed:
            if io is None:
                self.data[:, k] = a
                self.data_d[:, k] = d
            else:
                self._record(f"out_{io['name']}", k, a.astype(np.float64), buf)
                self._record(f"outd_{io['name']}", k, d.astype(np.float64), buf)
        else:
            val = a + d + self.bias
            if io is None:
                self.data[:, k] = val
            else:
                self._record(f"out_{io['name']}", k, val, buf)


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyReadoutFloat(_ReadoutRun, PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    d_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    data: np.ndarray = LavaPyType(np.ndarray, float)
    data_d: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyReadoutFixed(_ReadoutRun, PyLoihiProcessModel):
    fixed = True
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=32)
    d_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=32)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    data: np.ndarray = LavaPyType(np.ndarray, np.int64)
    data_d: np.ndarray = LavaPyType(np.ndarray, np.int64)


class RecLIF(LIF):
    """Lava ``LIF`` with ``du``, ``dv``, ``vth`` per neuron (``[N]``) that also records its spikes
    (Var ``spk`` ``[N, buf_len]`` or shared file).

    Two additions to Lava's LIF, per neuron: ``reset_sub`` (0: reset ``v`` to 0 at a spike, as
    Lava; > 0: subtract it from ``v``, the subtractive reset Lava's LIF lacks) and ``start_step`` (the
    sequence step before which the neuron holds ``u = u_init``, ``v = 0`` and sends nothing: its
    arrival; ``u_init`` lets a bias rise through the current, see ``NeuronSpec.u_init``)."""

    def __init__(self, *, shape: tuple[int], du: np.ndarray, dv: np.ndarray, vth: np.ndarray, buf_len: int,
                 reset_sub: np.ndarray | float = 0, start: np.ndarray | int = 0, u_init: np.ndarray | float = 0,
                 io: dict | None = None, **kwargs) -> None:
        super().__init__(shape=shape, buf_len=buf_len, io=io, **kwargs)
        vbuf = 1 if io is not None else buf_len
        self.du = Var(shape=shape, init=np.broadcast_to(du, shape).copy())
        self.dv = Var(shape=shape, init=np.broadcast_to(dv, shape).copy())
        self.vth = Var(shape=shape, init=np.broadcast_to(vth, shape).copy())
        self.reset_sub = Var(shape=shape, init=np.broadcast_to(reset_sub, shape).copy())
        self.start_step = Var(shape=shape, init=np.broadcast_to(start, shape).copy())
        self.u_init = Var(shape=shape, init=np.broadcast_to(u_init, shape).copy())
        self.spk = Var(shape=tuple(shape) + (vbuf,), init=0)


class _NeuronRun(_ShmIO):
    """Run Lava's step on active steps; on silent steps drain: reset u, v and send zeros.  A
    sequence starts from ``u = u_init``, ``v = 0``."""

    def _lava_step(self) -> np.ndarray:
        raise NotImplementedError

    def _hold_gated(self) -> None:
        """Neurons before their start step stay at rest."""
        self.u[self._gated] = self.u_init[self._gated]
        self.v[self._gated] = 0

    def spiking_activation(self) -> np.ndarray:
        """Lava's activation, silenced before the start step."""
        return self._lava_activation() & ~self._gated

    def reset_voltage(self, spike_vector: np.ndarray) -> None:
        """Lava's reset to 0, or ``v -= reset_sub`` where ``reset_sub > 0``; then the gate."""
        sub = self.reset_sub > 0
        self.v[:] = np.where(spike_vector, np.where(sub, self.v - self.reset_sub, 0), self.v)
        self._hold_gated()

    def run_spk(self) -> None:
        buf = self.proc_params["buf_len"]
        k, active = self._phase(buf)
        if not active:
            self.a_in.recv()
            self.u[:] = 0
            self.v[:] = 0
            self.s_out.send(np.zeros(self.u.shape, dtype=self.u.dtype))
            return
        if k == 0:
            self.u[:] = self.u_init
            self.v[:] = 0
        self._gated = k < self.start_step
        out = self._lava_step()
        io = self._io()
        if io is None:
            self._var_record(k, out)
        else:
            self._record(f"pop_{io['name']}", k, np.asarray(out, dtype=np.float64), buf)


@implements(proc=RecLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyRecLifModelFloat(_NeuronRun, AbstractPyLifModelFloat):
    """Lava's ``PyLifModelFloat`` (its two declarations and its activation, copied: Lava forbids
    subclassing a model that already implements a process) + spike recording."""

    s_out: PyOutPort = PyLifModelFloat.s_out
    du: np.ndarray = LavaPyType(np.ndarray, float)
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    reset_sub: np.ndarray = LavaPyType(np.ndarray, float)
    start_step: np.ndarray = LavaPyType(np.ndarray, int)
    u_init: np.ndarray = LavaPyType(np.ndarray, float)
    spk: np.ndarray = LavaPyType(np.ndarray, float)
    _lava_activation = PyLifModelFloat.spiking_activation

    def _lava_step(self) -> np.ndarray:
        AbstractPyLifModelFloat.run_spk(self)
        return self.s_out_buff

    def _var_record(self, k: int, out: np.ndarray) -> None:
        self.spk[:, k] = out


@implements(proc=RecLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyRecLifModelBitAcc(_NeuronRun, AbstractPyLifModelFixed):
    """Lava's ``PyLifModelBitAcc`` (declarations, threshold scaling and activation taken from it)
    + spike recording."""

    s_out: PyOutPort = PyLifModelBitAcc.s_out
    du: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    reset_sub: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    start_step: np.ndarray = LavaPyType(np.ndarray, int)
    u_init: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    spk: np.ndarray = LavaPyType(np.ndarray, np.int32)
    scale_threshold = PyLifModelBitAcc.scale_threshold
    _lava_activation = PyLifModelBitAcc.spiking_activation

    def __init__(self, proc_params) -> None:  # noqa: ANN001 - Lava's signature
        super().__init__(proc_params)
        self.effective_vth = 0

    def _lava_step(self) -> np.ndarray:
        AbstractPyLifModelFixed.run_spk(self)
        return self.s_out_buff

    def _var_record(self, k: int, out: np.ndarray) -> None:
        self.spk[:, k] = out


class GradedLI(AbstractProcess):
    """Leaky integrator (Lava LIF sub-threshold dynamics, no threshold) with a graded output."""

    def __init__(self, *, shape: tuple[int], du: np.ndarray, dv: np.ndarray, bias_mant: np.ndarray,
                 bias_exp: np.ndarray | int = 0, msg_shift: np.ndarray | int = LI_MSG_SHIFT, buf_len: int,
                 start: np.ndarray | int = 0, u_init: np.ndarray | float = 0, io: dict | None = None,
                 name: str | None = None) -> None:
        super().__init__(shape=shape, buf_len=buf_len, io=io, name=name)
        vbuf = 1 if io is not None else buf_len
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.du = Var(shape=shape, init=np.broadcast_to(du, shape).copy())
        self.dv = Var(shape=shape, init=np.broadcast_to(dv, shape).copy())
        self.bias_mant = Var(shape=shape, init=bias_mant)
        self.bias_exp = Var(shape=shape, init=bias_exp)
        self.msg_shift = Var(shape=shape, init=np.broadcast_to(msg_shift, shape).copy())
        self.start_step = Var(shape=shape, init=np.broadcast_to(start, shape).copy())
        self.u_init = Var(shape=shape, init=np.broadcast_to(u_init, shape).copy())
        self.rec = Var(shape=shape + (vbuf,), init=0)


@implements(proc=GradedLI, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyGradedLIFloat(_NeuronRun, AbstractPyLifModelFloat):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    du: np.ndarray = LavaPyType(np.ndarray, float)
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    msg_shift: np.ndarray = LavaPyType(np.ndarray, int)
    start_step: np.ndarray = LavaPyType(np.ndarray, int)
    u_init: np.ndarray = LavaPyType(np.ndarray, float)
    rec: np.ndarray = LavaPyType(np.ndarray, float)

    def _lava_step(self) -> np.ndarray:
        a_in_data = self.a_in.recv()
        self.subthr_dynamics(activation_in=a_in_data)
        self._hold_gated()
        out = self.v.copy()
        self.s_out.send(out)
        return out

    def _var_record(self, k: int, out: np.ndarray) -> None:
        self.rec[:, k] = out


@implements(proc=GradedLI, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyGradedLIFixed(_NeuronRun, AbstractPyLifModelFixed):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    msg_shift: np.ndarray = LavaPyType(np.ndarray, np.int32)
    start_step: np.ndarray = LavaPyType(np.ndarray, int)
    u_init: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    rec: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def _lava_step(self) -> np.ndarray:
        a_in_data = self.a_in.recv()
        self.scale_bias()
        self.subthr_dynamics(activation_in=a_in_data)
        self._hold_gated()
        out = np.right_shift(self.v, self.msg_shift)
        self.s_out.send(out)
        return out

    def _var_record(self, k: int, out: np.ndarray) -> None:
        self.rec[:, k] = out


# ---- synapse models: Lava's Dense / DelayDense arithmetic, reset per sequence, cached delays ----

# A product |w * s| below this fits Lava's int32 elementwise product, so exact int64 sums give
# Lava's integer sums; sums below 2**53 are exact in a float64 (BLAS) matrix product.
_INT32_PRODUCT_LIMIT = 1 << 31
_FLOAT64_EXACT_LIMIT = 1 << 53


class _SynapseRun(_ShmIO):
    """Empty the synaptic buffer at a sequence's first step (so nothing of the previous sequence
    is delivered), then run Lava's step."""

    def run_spk(self) -> None:
        if self._sequence_start():
            self.a_buff[...] = 0
        self._lava_run_spk()


class _CachedDelays:
    """``calc_act`` of Lava's ``AbstractPyDelayDenseModel`` with its per-delay matrices built once.

    Lava: ``sum(vstack([where(delays == k, W, 0) for k]) * s, axis=1)`` every step.  Here the
    matrices of the delays that occur are stacked once (``[K N_out, N_in]``); spikes select
    columns, graded messages go through a float64 matrix product.  In fixed_pt the integer result
    is Lava's exactly: no product leaves int32 and every sum stays below 2**53 (checked each step;
    otherwise Lava's own code runs)."""

    fixed = False

    def calc_act(self, s_in: np.ndarray) -> np.ndarray:
        plan = self.__dict__.get("_delay_plan")
        if plan is None:
            w = self.weights.astype(np.float64)
            ks = np.unique(self.delays[w != 0]) if np.any(w) else np.zeros(1, dtype=np.int64)
            stack = np.concatenate([np.where(self.delays == k, w, 0.0) for k in ks], axis=0)
            plan = self._delay_plan = (ks, stack, float(np.max(np.abs(w), initial=0)))
        ks, stack, wmax = plan
        if s_in.dtype == bool:
            acc = stack[:, s_in].sum(axis=1)
        else:
            s = np.asarray(s_in, dtype=np.float64)
            if self.fixed:
                smax = float(np.max(np.abs(s), initial=0))
                if wmax * smax >= _INT32_PRODUCT_LIMIT or wmax * float(np.abs(s).sum()) >= _FLOAT64_EXACT_LIMIT:
                    return AbstractPyDelayDenseModel.calc_act(self, s_in)
            acc = stack @ s
        act = np.zeros((self.weights.shape[0], self.a_buff.shape[-1]), dtype=np.int64 if self.fixed else np.float64)
        act[:, ks] = acc.reshape(len(ks), -1).T
        return act


@implements(proc=Dense, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDenseResetFloat(_SynapseRun, AbstractPyDenseModelFloat):
    """Lava's ``PyDenseModelFloat`` + buffer reset at sequence start."""

    def _lava_run_spk(self) -> None:
        AbstractPyDenseModelFloat.run_spk(self)


@implements(proc=Dense, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyDenseResetBitAcc(_SynapseRun, AbstractPyDenseModelBitAcc):
    """Lava's ``PyDenseModelBitAcc`` + buffer reset at sequence start."""

    def _lava_run_spk(self) -> None:
        AbstractPyDenseModelBitAcc.run_spk(self)


@implements(proc=DelayDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDelayDenseFastFloat(_SynapseRun, _CachedDelays, AbstractPyDelayDenseModel):
    """Lava's ``PyDelayDenseModelFloat`` (declarations and ``run_spk``) with cached delay matrices."""

    s_in: PyInPort = PyDelayDenseModelFloat.s_in
    a_out: PyOutPort = PyDelayDenseModelFloat.a_out
    a_buff: np.ndarray = PyDelayDenseModelFloat.a_buff
    weights: np.ndarray = PyDelayDenseModelFloat.weights
    delays: np.ndarray = PyDelayDenseModelFloat.delays
    num_message_bits: np.ndarray = PyDelayDenseModelFloat.num_message_bits

    def _lava_run_spk(self) -> None:
        PyDelayDenseModelFloat.run_spk(self)


@implements(proc=DelayDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyDelayDenseFastBitAcc(_SynapseRun, _CachedDelays, AbstractPyDelayDenseModel):
    """Lava's ``PyDelayDenseModelBitAcc`` (declarations and ``run_spk``) with cached delay matrices."""

    fixed = True
    s_in: PyInPort = PyDelayDenseModelBitAcc.s_in
    a_out: PyOutPort = PyDelayDenseModelBitAcc.a_out
    a_buff: np.ndarray = PyDelayDenseModelBitAcc.a_buff
    weights: np.ndarray = PyDelayDenseModelBitAcc.weights
    delays: np.ndarray = PyDelayDenseModelBitAcc.delays
    num_message_bits: np.ndarray = PyDelayDenseModelBitAcc.num_message_bits

    def __init__(self, proc_params) -> None:  # noqa: ANN001 - Lava's signature
        super().__init__(proc_params)
        self.weights_set = False

    def _lava_run_spk(self) -> None:
        PyDelayDenseModelBitAcc.run_spk(self)


SYNAPSE_MODELS: dict[str, dict[str, dict]] = {
    "fast": {
        "floating_pt": {Dense: PyDenseResetFloat, DelayDense: PyDelayDenseFastFloat},
        "fixed_pt": {Dense: PyDenseResetBitAcc, DelayDense: PyDelayDenseFastBitAcc},
    },
    "lava": {"floating_pt": {}, "fixed_pt": {}},
}
"""Run-configuration exceptions per synapse-model choice and precision ("lava": Lava's models)."""
