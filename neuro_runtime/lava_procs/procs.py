"""Small Lava processes the converter needs (imports Lava; only the Lava modules import this).

Lava style: the Process says what, one ProcessModel per precision tag says how.

* :class:`GradedSource`: the Input node; sends column ``(time_step - 1) % T`` of ``data`` ``[N, T]``
  each step as a graded message (float, or int32 in fixed_pt).
* :class:`Readout`: the Output node; a non-spiking sink that stores per step
  ``a_in + d_in + bias`` (float) or the raw integers ``a_in`` and ``d_in`` (fixed) in ``[N, T]``
  buffers.  ``a_in`` takes Dense/DelayDense paths, ``d_in`` direct (zero-delay) wires.
* :class:`RecLIF`: Lava's ``LIF`` plus a spike buffer ``spk`` ``[N, T]``; its models *are*
  Lava's ``PyLifModelFloat`` / ``PyLifModelBitAcc`` with one extra line that stores the spikes.
* :class:`GradedLI`: a leaky integrator that sends ``v`` (float) or ``v >> 6`` (fixed) as a graded
  message and stores it in ``rec``; it reuses Lava's LIF sub-threshold code (no threshold).

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
from lava.proc.lif.models import AbstractPyLifModelFixed, AbstractPyLifModelFloat, PyLifModelBitAcc, PyLifModelFloat
from lava.proc.lif.process import LIF

from neuro_runtime.semantics import LI_MSG_SHIFT


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
    """Lava ``LIF`` that also records its spikes (Var ``spk`` ``[N, buf_len]`` or shared file)."""

    def __init__(self, *, buf_len: int, io: dict | None = None, **kwargs) -> None:
        super().__init__(buf_len=buf_len, io=io, **kwargs)
        vbuf = 1 if io is not None else buf_len
        self.spk = Var(shape=tuple(self.a_in.shape) + (vbuf,), init=0)


class _NeuronRun(_ShmIO):
    """Run Lava's step on active steps; on silent steps drain: reset u, v and send zeros."""

    def _lava_step(self) -> np.ndarray:
        raise NotImplementedError

    def run_spk(self) -> None:
        buf = self.proc_params["buf_len"]
        k, active = self._phase(buf)
        if not active:
            self.a_in.recv()
            self.u[:] = 0
            self.v[:] = 0
            self.s_out.send(np.zeros(self.u.shape, dtype=self.u.dtype))
            return
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
    vth: float = PyLifModelFloat.vth
    spk: np.ndarray = LavaPyType(np.ndarray, float)
    spiking_activation = PyLifModelFloat.spiking_activation

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
    vth: int = PyLifModelBitAcc.vth
    spk: np.ndarray = LavaPyType(np.ndarray, np.int32)
    scale_threshold = PyLifModelBitAcc.scale_threshold
    spiking_activation = PyLifModelBitAcc.spiking_activation

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

    def __init__(self, *, shape: tuple[int], du: float, dv: float, bias_mant: np.ndarray,
                 bias_exp: np.ndarray | int = 0, buf_len: int, io: dict | None = None,
                 name: str | None = None) -> None:
        super().__init__(shape=shape, buf_len=buf_len, io=io, name=name)
        vbuf = 1 if io is not None else buf_len
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.du = Var(shape=(1,), init=du)
        self.dv = Var(shape=(1,), init=dv)
        self.bias_mant = Var(shape=shape, init=bias_mant)
        self.bias_exp = Var(shape=shape, init=bias_exp)
        self.rec = Var(shape=shape + (vbuf,), init=0)


@implements(proc=GradedLI, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyGradedLIFloat(_NeuronRun, AbstractPyLifModelFloat):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    rec: np.ndarray = LavaPyType(np.ndarray, float)

    def _lava_step(self) -> np.ndarray:
        a_in_data = self.a_in.recv()
        self.subthr_dynamics(activation_in=a_in_data)
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
    rec: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def _lava_step(self) -> np.ndarray:
        a_in_data = self.a_in.recv()
        self.scale_bias()
        self.subthr_dynamics(activation_in=a_in_data)
        out = np.right_shift(self.v, LI_MSG_SHIFT)
        self.s_out.send(out)
        return out

    def _var_record(self, k: int, out: np.ndarray) -> None:
        self.rec[:, k] = out
