"""Float :class:`RuntimeGraph` -> Loihi fixed-point parameters (Lava ``fixed_pt`` models).

Formats (lava-nc 0.10 ``PyLifModelBitAcc`` / ``PyDenseModelBitAcc``):

* du, dv: 12-bit unsigned (Lava adds 1 to du: ``du_q = round(4096 du) - 1``; ``dv_q = round(4096 dv)``)
* vth: 17-bit unsigned, compared as ``v > vth << 6``
* bias: 13-bit signed mantissa << 3-bit exponent (0..7), added to v unshifted
* u, v: 24 bit (u wraps, v clips)
* weights: 8-bit mantissa, one ``weight_exp`` per synapse process (weight plane); mixed-sign layers
  use even values in [-256, 254] (Lava truncates the LSB in MIXED mode), single-sign layers
  0..255 / -255..0
* activation: Lava shifts ``a_in`` left by 6 before adding it to u

Per neuron node a power-of-two scale ``S`` (``v_q ~= S * v``) is chosen to lose least: as large
as possible with ``vth_q`` <= 2**16 (one bit of headroom below the 17-bit limit) and the bias
inside ``4095 << 7`` (Lava adds the bias to v unshifted, so it caps S), reduced while a
worst-case bound on ``|v|`` / ``|u|`` would leave 24 bits (down to a floor, then a saturation
warning).  Weights take the largest exponent-free mantissa that fits.  Every layer's error is
reported (relative RMS and max error of the effective weights; threshold, bias and decay
rounding errors).

Exponent alignment (``align_exponents=True``, the default): Lava applies one ``weight_exp`` per
synapse process, so layers with different exponents cannot share one, and every extra process
slows the simulator.  A node's scale is therefore lowered by ``2**k`` until the layers arriving
from spiking senders need exponent 0 (never below ``vth_q = 256``, i.e. 2**14 membrane steps per
threshold, for LIF, or 16 bits of range for LI): the weights keep their 8-bit mantissas, only the
membrane's spare low bits go.  Such layers all use the MIXED sign mode (even mantissas).  An LI
sends ``v >> msg_shift``, ``msg_shift`` raised from 6 (to at most 16) where its receivers' lower
scale would push their exponent below Loihi 2's -8 (coarser LI messages; reported per LI node).  The input scale
is lowered (at most 4 bits) where an input layer would need an exponent below -8, and an Output's
scale raised where one of its layers would (both only move exponents, mantissas keep 8 bits).

Weight planes (``weight_planes=N``, or per layer): a synapse layer's weight is the sum of up to N
8-bit planes, each its own Lava synapse process with its own exponent and sign mode; plane k+1
rounds what planes 1..k leave, with an exponent about 8 lower but never below Loihi 2's -8.  Lava
shifts each process's sum on its own (``a >> -exp`` floors), so every plane with a negative
exponent adds a floor of up to one activation unit per step: a third plane (at -8) usually
costs more agreement than it buys.  ``"exact"`` planes avoid the floor: plane 1, then its residual
rounded to whole activation units in an EXCITATORY and an INHIBITORY plane at exponent 0.  An integer input (``integer_input=True``: events, counts) is
sent as it is (``S_in = 1``), which lifts the input layers' exponents by ~10 bits above the
graded 12-bit scale and leaves their planes room above -8.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Union
from dataclasses import dataclass, field

import numpy as np

from ucfdvs.neuro_runtime.graph_check import Projection, RuntimeGraph
from ucfdvs.neuro_runtime.semantics import (
    ACT_SHIFT, BIAS_EXP_MAX, BIAS_MANT_MAX, BIAS_MANT_MIN, DECAY_UNITY, GRADED_MAX, LI_MSG_SHIFT,
    MAX_UV, VTH_MAX,
)
from ucfdvs.errors import UserError


class QuantizationWarning(UserWarning):
    """A parameter saturated or lost most of its precision in the Loihi formats."""


@dataclass
class QNeuron:
    """Fixed-point parameters of one neuron node (vectors ``[N]``, int64)."""

    name: str
    scale: float  # S: v_q ~= S * v
    du_q: np.ndarray
    dv_q: np.ndarray
    vth_q: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    msg_shift: int = LI_MSG_SHIFT  # LI: sends v >> msg_shift
    reset_q: np.ndarray | None = None  # subtractive reset: v -= reset_q at a spike (None: v = 0)
    u_init_q: np.ndarray | int = 0  # u held until the start step: round(S * u_init), 24-bit

    @property
    def bias_eff(self) -> np.ndarray:
        return np.left_shift(self.bias_mant.astype(np.int64), self.bias_exp.astype(np.int64))

    @property
    def msg_units(self) -> float:
        """Integer message units per unit of the float output (spikes: 1; LI: S / 2**msg_shift)."""
        return self.scale / (1 << self.msg_shift)


@dataclass
class QTerm:
    delay: int
    wq: np.ndarray  # [N_dst, N_src] int64 mantissas


@dataclass
class QPlane:
    """One weight plane of a synapse layer: 8-bit mantissas with one exponent and sign mode, run as
    its own Lava synapse process; the layer's weight is ``sum over planes of wq * 2**weight_exp``."""

    weight_exp: int
    sign_mode: str  # "MIXED" | "EXCITATORY" | "INHIBITORY"
    terms: list[QTerm]


@dataclass
class QProjection:
    """A synapse layer in fixed point: ``planes[0]`` holds the 8-bit weights, each further plane
    the residual of the planes before it (``quantize(weight_planes=...)``)."""

    name: str
    src: str
    dst: str
    planes: list[QPlane]

    @property
    def weight_exp(self) -> int:
        return self.planes[0].weight_exp

    @property
    def sign_mode(self) -> str:
        return self.planes[0].sign_mode

    @property
    def terms(self) -> list[QTerm]:
        return self.planes[0].terms


@dataclass
class QOutput:
    name: str
    scale_a: float  # a_in units per output unit (synapse paths)
    scale_d: float  # d_in units per output unit (direct paths)
    bias: np.ndarray


@dataclass
class LayerError:
    """Quantisation error of one layer (projection or neuron node)."""

    layer: str
    kind: str
    rel_rms: float
    max_abs: float
    detail: str

    def __str__(self) -> str:
        return f"{self.layer} [{self.kind}]: rel. RMS {self.rel_rms:.3g}, max abs {self.max_abs:.3g} ({self.detail})"


@dataclass
class QuantizedGraph:
    """A :class:`RuntimeGraph` with its Loihi fixed-point parameters."""

    graph: RuntimeGraph
    input_scale: float
    input_range: float
    neurons: dict[str, QNeuron]
    projections: list[QProjection]
    outputs: dict[str, QOutput]
    errors: list[LayerError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # neuron node -> "native" | "re-quantised: why"

    def src_units(self, name: str) -> float:
        """Integer message units per float unit sent by a source (Input, spiking, LI)."""
        g = self.graph
        if name == g.input_name:
            return self.input_scale
        if g.neurons[name].spiking:
            return 1.0
        return self.neurons[name].msg_units

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Graded input -> 24-bit integers ``round(x * S_in)`` (clipped; counts clips in warnings)."""
        q = np.round(np.asarray(x, dtype=np.float64) * self.input_scale)
        if self.origins and self.input_scale == 1 and np.any(q != np.asarray(x)):
            warnings.warn("a Loihi-native network takes spikes (integers) as input; non-integer input values "
                          "are rounded", QuantizationWarning, stacklevel=2)
        over = np.abs(q) > GRADED_MAX
        if over.any():
            warnings.warn(
                f"{int(over.sum())} input values exceed the 24-bit graded range (|x| > "
                f"{GRADED_MAX / self.input_scale:.4g}); clipped",
                QuantizationWarning, stacklevel=2,
            )
        return np.clip(q, -GRADED_MAX, GRADED_MAX).astype(np.int64)

    def report(self) -> str:
        lines = [f"input scale S_in = {self.input_scale:g} (range +-{self.input_range:g})"]
        lines += [f"  {e}" for e in self.errors]
        lines += [f"  {n}: {o}" for n, o in self.origins.items()]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


CALIBRATION_MARGIN = 2.0
"""Headroom over the calibration run's largest |u| and |v| (one more bit)."""


def _pow2_floor(x: float) -> float:
    return 2.0 ** math.floor(math.log2(x))


def _natural_exp(m: float, lim: float = 254.0) -> int:
    """Smallest weight exponent whose 8-bit mantissa holds ``m`` (> 0)."""
    return math.ceil(math.log2(m / lim))


def _quant_weights(w: list[np.ndarray], mixed: bool = False,
                   exp_min: int | None = None) -> tuple[int, str, list[np.ndarray]]:
    """Shared exponent and 8-bit mantissas for a list of matrices (one synapse layer);
    ``mixed``: MIXED sign mode whatever the signs; ``exp_min``: the lowest exponent allowed."""
    allw = np.concatenate([m.reshape(-1) for m in w]) if w else np.zeros(1)
    lo, hi = float(allw.min()), float(allw.max())
    if mixed:
        mode, lim = "MIXED", 254.0
    elif lo >= 0:
        mode, lim = "EXCITATORY", 255.0
    elif hi <= 0:
        mode, lim = "INHIBITORY", 255.0
    else:
        mode, lim = "MIXED", 254.0
    m = float(np.max(np.abs(allw)))
    if m == 0:
        return 0, mode, [np.zeros(x.shape, dtype=np.int64) for x in w]
    exp = _natural_exp(m, lim)
    if exp_min is not None:
        exp = max(exp, exp_min)
    out = []
    for x in w:
        y = x / 2.0 ** exp
        if mode == "MIXED":
            q = 2 * np.round(y / 2)
            q = np.clip(q, -256, 254)
        elif mode == "EXCITATORY":
            q = np.clip(np.round(y), 0, 255)
        else:
            q = np.clip(np.round(y), -255, 0)
        out.append(q.astype(np.int64))
    return exp, mode, out


def quantize(
    graph: RuntimeGraph, *, input_range: float = 1.0, input_bits: int = 12, strict: bool = False,
    vth_bits: int = 16, align_exponents: bool = True, calibration: np.ndarray | None = None,
    horizon: int = 256, weight_planes: PlaneSpec | Mapping[str, PlaneSpec] = 1, integer_input: bool = False,
    native_scales: dict[str, float] | None = None, input_scale: float | None = None,
) -> QuantizedGraph:
    """Choose Loihi fixed-point parameters per layer (see module docstring).

    ``input_range``: expected max ``|x|`` of the graded input (sets ``S_in = 2**k`` with
    ``input_range * S_in <= 2**(input_bits-1) - 1``; with ``align_exponents`` S_in is lowered, by
    at most 4 bits, where a layer from the input would need an exponent below -8).  ``strict``:
    raise :class:`UserError` instead of warning when a value saturates its format.
    ``calibration``: input sequences ``[B, T, C]``; the float emulator runs them and each node's
    scale is chosen so that ``CALIBRATION_MARGIN`` times the largest ``|u|`` and ``|v|`` seen fits
    the 24-bit state (and ``input_range`` becomes their largest ``|x|``), instead of worst-case
    bounds.  ``horizon``: steps a non-leaky integrator (I, IF) is assumed to integrate for its
    worst-case bound when no calibration is given.  ``weight_planes``: weight planes per synapse
    layer, one count (1 to :data:`MAX_WEIGHT_PLANES`) for all or ``{layer name: count}`` (1 where
    absent).  Plane k+1 is a further Lava synapse process carrying the residual of planes 1..k (8
    more bits, its own exponent, about 8 lower, never below -8): two planes give ~15-bit weights
    for twice the synapse processes and synaptic memory; ``"exact"`` (for all, or as a layer's
    value): plane 1 plus its residual on the integer grid in an EXCITATORY and an INHIBITORY plane
    at exponent 0 (three processes, no floor, see :func:`_quant_planes`).  Exponent alignment is
    off as soon as one layer has more than one plane (it would shift the residual out).
    ``integer_input``: the
    input holds integers (events, spike counts; ``|x| <= input_range``), sent as they are
    (``S_in = 1``, raised only where an input layer's exponent would pass 7): lossless, and it
    lifts the input layers' exponents by ~10 bits, which leaves their weight planes room above
    Loihi 2's lowest exponent.
    ``native_scales``: neuron node -> scale ``S`` used as
    given (no choice from bounds; pass ``align_exponents=False``) and ``input_scale``: ``S_in`` as
    given, for networks already on Loihi's grid (:mod:`neuro_runtime.native_fixed`).
    """
    planes_of = _planes_per_layer(graph, weight_planes)
    if any(planes_of(p.name) != 1 for p in graph.projections):
        align_exponents = False
    cal = None
    if calibration is not None:
        from ucfdvs.neuro_runtime.emulator import Emulator

        xs = np.asarray(calibration, dtype=np.float64)
        cal = Emulator(graph, "floating_pt").state_ranges(xs)
        xmax = float(np.max(np.abs(xs))) if xs.size else 0.0
        input_range = xmax if xmax > 0 else input_range
    if input_range <= 0:
        raise UserError(f"input_range must be > 0, got {input_range}")
    warn: list[str] = []
    errors: list[LayerError] = []
    s_in = _pow2_floor(((1 << (input_bits - 1)) - 1) / input_range)

    # worst-case |message| per source in float units (spikes 1; LI bound computed below)
    src_max: dict[str, float] = {graph.input_name: input_range}
    for n, spec in graph.neurons.items():
        if spec.spiking:
            src_max[n] = 1.0

    def in_bound(dst: str) -> float:
        tot = np.zeros(graph.size(dst))
        for p in graph.into(dst):
            sm = src_max.get(p.src, 1.0)
            for t in p.terms:
                tot = tot + np.abs(t.matrix).sum(axis=1) * sm
        return float(tot.max()) if tot.size else 0.0

    # LI bounds depend on their sources; iterate a few times (loops use the previous estimate)
    for _ in range(3):
        for n, spec in graph.neurons.items():
            if not spec.spiking:
                src_max[n] = (float(np.max(np.abs(spec.bias))) + in_bound(n)) / max(float(np.min(spec.dv)), 1.0 / horizon)
                if cal is not None:
                    src_max[n] = max(CALIBRATION_MARGIN * cal[n][1], 1e-30)

    scales: dict[str, float] = {}
    for n, spec in graph.neurons.items():
        ib = in_bound(n)
        u_bound = ib / float(np.min(spec.du))
        bmax = float(np.max(np.abs(spec.bias)))
        s_bias = _pow2_floor(BIAS_MANT_MAX * (1 << BIAS_EXP_MAX) / bmax) if bmax > 0 else math.inf
        if spec.spiking:
            vth = float(np.max(spec.vth))
            s = min(_pow2_floor(((1 << vth_bits) * 64) / vth), s_bias)
            s_floor = s / 16
            v_bound = vth + u_bound + float(np.max(np.abs(spec.bias)))
        else:
            s = min(_pow2_floor((MAX_UV // 2) / max(src_max[n], 1e-30)), s_bias)
            s_floor = s
            v_bound = src_max[n]
        if cal is not None:  # measured ranges replace the worst case; precision may go lower
            u_bound = CALIBRATION_MARGIN * cal[n][0]
            v_bound = CALIBRATION_MARGIN * max(cal[n][1], float(np.max(spec.vth)) if spec.spiking else 0.0)
            s_floor = s / 2.0 ** 10
        if native_scales and n in native_scales:
            s = s_floor = native_scales[n]
        while s > s_floor and (s * v_bound >= MAX_UV or s * u_bound >= MAX_UV):
            s /= 2
        if s * u_bound >= MAX_UV or s * v_bound >= MAX_UV:
            warn.append(
                f"neuron '{n}': worst-case |u| or |v| ({max(u_bound, v_bound):.4g} x scale {s:g}) can "
                f"exceed the 24-bit state (u wraps, v clips)"
            )
        scales[n] = s
    msg_shifts = {n: LI_MSG_SHIFT for n, spec in graph.neurons.items() if not spec.spiking}
    if align_exponents:
        _align_exponents(graph, scales, msg_shifts, src_max)
        s_in = _align_input_scale(graph, scales, s_in)
    if integer_input:
        s_in = _integer_input_scale(graph, scales)
    if input_scale is not None:
        s_in = input_scale

    qneurons: dict[str, QNeuron] = {}
    for n, spec in graph.neurons.items():
        s = scales[n]
        bmax = float(np.max(np.abs(spec.bias)))
        du_q = np.round(spec.du * DECAY_UNITY).astype(np.int64) - 1
        dv_q = np.round(spec.dv * DECAY_UNITY).astype(np.int64)
        for what, q, f in (("du", du_q + 1, spec.du), ("dv", dv_q, spec.dv)):
            if np.any(q > DECAY_UNITY):
                warn.append(f"neuron '{n}': {what} = {float(f.max()):.6g} needs {int(q.max())}/4096, saturates at 12 bit")
            if np.any((q <= 0) & (f > 0)) and what == "dv":
                msg = f"neuron '{n}': dv = {float(f.min()):.3g} rounds to 0 in 12 bits (no leak)"
                if strict:
                    raise UserError(msg)
                warn.append(msg)
        du_q = np.clip(du_q, 0, 4095)
        dv_q = np.clip(dv_q, 0, DECAY_UNITY)  # 4096 (a full decay: tau = dt, Threshold) is kept
        if spec.spiking:
            vth_q = np.round(spec.vth * s / (1 << 6)).astype(np.int64)
            if np.any(vth_q > VTH_MAX):
                msg = f"neuron '{n}': threshold {float(spec.vth.max()):.6g} -> {int(vth_q.max())} exceeds 17 bits"
                if strict:
                    raise UserError(msg)
                warn.append(msg)
            vth_q = np.clip(vth_q, 1, VTH_MAX)
            vrel = float(np.max(np.abs(vth_q * 64 / s - spec.vth) / spec.vth))
            if vrel > 0.01:
                msg = (
                    f"neuron '{n}': threshold {float(spec.vth.max()):.6g} -> vth_q {int(vth_q.max())} at "
                    f"scale {s:g} (rel. error {vrel:.3g}); the bias {bmax:.6g} caps the scale "
                    f"(bias mantissa 4095 << 7)"
                )
                if strict:
                    raise UserError(msg)
                warn.append(msg)
        else:
            vth_q = np.zeros(spec.size, dtype=np.int64)
        bq = spec.bias * s
        bexp = np.zeros(spec.size, dtype=np.int64)
        need = np.abs(bq) > BIAS_MANT_MAX
        if need.any():
            bexp[need] = np.ceil(np.log2(np.abs(bq[need]) / BIAS_MANT_MAX)).astype(np.int64)
        if np.any(bexp > BIAS_EXP_MAX):
            msg = (
                f"neuron '{n}': bias {float(np.max(np.abs(spec.bias))):.6g} (x scale {s:g} = "
                f"{float(np.max(np.abs(bq))):.6g}) exceeds 13-bit mantissa << 7; saturated"
            )
            if strict:
                raise UserError(msg)
            warn.append(msg)
            bexp = np.minimum(bexp, BIAS_EXP_MAX)
        bmant = np.clip(np.round(bq / 2.0 ** bexp), BIAS_MANT_MIN, BIAS_MANT_MAX).astype(np.int64)
        reset_q = None if spec.reset_sub is None else np.round(spec.reset_sub * s).astype(np.int64)
        u_init_q = np.round(spec.u_init * s)
        if np.any(np.abs(u_init_q) >= MAX_UV):
            msg = (f"neuron '{n}': initial current {float(np.max(np.abs(spec.u_init))):.6g} (x scale {s:g}) "
                   "exceeds the 24-bit state; saturated")
            if strict:
                raise UserError(msg)
            warn.append(msg)
        u_init_q = np.clip(u_init_q, -MAX_UV + 1, MAX_UV - 1).astype(np.int64)
        qn = QNeuron(n, s, du_q, dv_q, vth_q, bmant, bexp, msg_shifts.get(n, LI_MSG_SHIFT), reset_q, u_init_q)
        qneurons[n] = qn
        b_back = qn.bias_eff / s
        parts = [f"scale {s:g}", f"dv_q {sorted(set(dv_q.tolist()))[:3]}"]
        if spec.spiking:
            vrel = float(np.max(np.abs(vth_q * 64 / s - spec.vth) / spec.vth))
            parts.append(f"vth_q {int(vth_q.max())}, vth rel. err {vrel:.2g}")
        else:
            parts.append(f"sends v >> {qn.msg_shift} ({qn.msg_units:g} per unit)")
        dv_err = float(np.max(np.abs(dv_q / DECAY_UNITY - spec.dv)))
        parts.append(f"dv err {dv_err:.2g}")
        errors.append(LayerError(
            n, spec.kind, _rel_rms(b_back, spec.bias), float(np.max(np.abs(b_back - spec.bias), initial=0.0)),
            "bias; " + ", ".join(parts),
        ))

    def units(src: str) -> float:
        if src == graph.input_name:
            return s_in
        if graph.neurons[src].spiking:
            return 1.0
        return qneurons[src].msg_units

    # outputs: a_in scale chosen so the largest weight fills the mantissa (power of two)
    qoutputs: dict[str, QOutput] = {}
    for o, spec in graph.outputs.items():
        cands = []
        direct_units = set()
        for p in graph.into(o):
            for t in p.terms:
                if t.delay == 0:
                    direct_units.add(units(p.src))
                elif np.any(t.matrix):
                    cands.append(254.0 * units(p.src) / float(np.max(np.abs(t.matrix))))
        if len(direct_units) > 1:
            raise UserError(
                f"Output '{o}': direct (zero-delay) inputs with different message scales "
                "(e.g. spikes and a graded value) are not supported in fixed_pt"
            )
        scale_a = _pow2_floor(min(cands)) if cands else 1.0
        if cands:  # the largest layer needs exponent 0; raise the scale (up to exponent 7) if another needs < -8
            exps = [math.ceil(math.log2(scale_a / c)) for c in cands]
            scale_a *= 2.0 ** max(0, min(7 - max(exps), -8 - min(exps)))
        scale_d = direct_units.pop() if direct_units else 1.0
        qoutputs[o] = QOutput(o, scale_a, scale_d, spec.bias.copy())

    qprojs: list[QProjection] = []
    for p in graph.projections:
        if p.dst in qneurons and any(t.delay == 0 for t in p.terms):
            raise UserError(
                f"zero-delay path {p.src} -> {p.dst} into a neuron is not supported in fixed_pt "
                "(Lava cannot scale a direct connection); insert an Affine/Scale node"
            )
        dst_units = qneurons[p.dst].scale / (1 << ACT_SHIFT) if p.dst in qneurons else qoutputs[p.dst].scale_a
        su = units(p.src)
        syn = [t for t in p.terms if t.delay > 0]
        targets = [t.matrix * dst_units / su for t in syn]
        planes = _quant_planes(targets, planes_of(p.name), mixed=align_exponents and not graph.is_graded(p.src))
        qplanes = [QPlane(exp, mode, [QTerm(t.delay, q) for t, q in zip(syn, qs)]) for exp, mode, qs in planes]
        if syn:
            got_q = [sum(qs[i] * 2.0 ** exp for exp, _, qs in planes) for i in range(len(syn))]
            ref = np.concatenate([t.matrix.ravel() for t in syn])
            got = np.concatenate([g_.ravel() * su / dst_units for g_ in got_q])
            nz = ref != 0
            lost = int(np.sum(nz & (got == 0)))
            exp, mode = planes[0][0], planes[0][1]
            detail = f"weight_exp {exp}, {mode}, {lost} of {int(nz.sum())} non-zero weights round to 0"
            if len(planes) > 1:
                detail += "; further planes (exp, mode): " + ", ".join(f"{e} {m}" for e, m, _ in planes[1:])
            errors.append(LayerError(p.name, "synapses", _rel_rms(got, ref), float(np.max(np.abs(got - ref))), detail))
            if not -8 <= exp <= 7:
                warn.append(f"layer '{p.name}': weight_exp {exp} is outside Loihi 2's range [-8, 7]")
            if nz.sum() and lost > 0.5 * nz.sum():
                warn.append(f"layer '{p.name}': {lost} of {int(nz.sum())} non-zero weights quantise to 0")
        qprojs.append(QProjection(p.name, p.src, p.dst, qplanes))

    for w in warn:
        warnings.warn(w, QuantizationWarning, stacklevel=2)
    return QuantizedGraph(graph, s_in, input_range, qneurons, qprojs, qoutputs, errors, warn)


MAX_WEIGHT_PLANES = 4
"""Most weight planes (Lava synapse processes) per synapse layer."""

PLANE_EXP_MIN = -8
"""Lowest weight exponent of Loihi 2; a residual plane never goes below it (coarser instead)."""


EXACT = "exact"
"""A layer's weight planes: plane 1 and its residual on the integer grid (see :func:`_quant_planes`)."""

PlaneSpec = Union[int, str]
"""Weight planes of one synapse layer: a count from 1 to :data:`MAX_WEIGHT_PLANES`, or :data:`EXACT`."""


def _planes_per_layer(graph: RuntimeGraph, weight_planes: PlaneSpec | Mapping[str, PlaneSpec]
                      ) -> Callable[[str], PlaneSpec]:
    """``weight_planes`` (one value for every layer, or synapse layer name -> value, 1 where
    absent) -> a function of the layer name; checks values and names."""
    names = {p.name for p in graph.projections}
    per = dict(weight_planes) if isinstance(weight_planes, Mapping) else {}
    unknown = sorted(set(per) - names)
    if unknown:
        raise UserError(f"weight_planes names {unknown[0]!r}, not a synapse layer of the graph (layers: "
                        f"{', '.join(sorted(names))})")
    for v in list(per.values()) + ([] if isinstance(weight_planes, Mapping) else [weight_planes]):
        if v != EXACT and (isinstance(v, bool) or not isinstance(v, (int, np.integer))
                           or not 1 <= v <= MAX_WEIGHT_PLANES):
            raise UserError(f"weight_planes must be an integer from 1 to {MAX_WEIGHT_PLANES} or {EXACT!r}, got {v!r}")
    default = 1 if isinstance(weight_planes, Mapping) else weight_planes
    return lambda name: per.get(name, default) if per.get(name, default) == EXACT else int(per.get(name, default))


def _quant_planes(targets: list[np.ndarray], n: PlaneSpec, mixed: bool) -> list[tuple[int, str, list[np.ndarray]]]:
    """Weight planes for a synapse layer's target matrices (in mantissa units x 2**exp).

    ``n`` planes: plane 1 as :func:`_quant_weights`, plane k+1 the 8-bit rounding of what planes
    1..k leave (``residual = target - sum_j wq_j 2**exp_j``), its exponent never below
    :data:`PLANE_EXP_MIN`; a plane whose residual rounds to all zeros is left out.
    :data:`EXACT`: plane 1, then its residual rounded to integers and split into an EXCITATORY
    and an INHIBITORY plane at exponent 0 (8-bit magnitudes, no MIXED lost bit): every weight on
    the grid of one activation unit and every sum exact (no floor from Lava's shift).  Where plane
    1's exponent is negative (weights below ~128 units: the integer grid would be coarser than
    the planes) it falls back to two planes."""
    planes = [_quant_weights(targets, mixed=mixed)]
    resid = [t - q * 2.0 ** planes[0][0] for t, q in zip(targets, planes[0][2])]
    if n == EXACT:
        if planes[0][0] < 0:
            return _quant_planes(targets, 2, mixed)
        qs = [np.clip(np.round(r), -255, 255).astype(np.int64) for r in resid]  # |r| <= 2**exp_1 (<= 128 in Loihi 2's range)
        for mode, part in (("EXCITATORY", [np.maximum(q, 0) for q in qs]), ("INHIBITORY", [np.minimum(q, 0) for q in qs])):
            if any(np.any(q) for q in part):
                planes.append((0, mode, part))
        return planes
    while len(planes) < n and any(np.any(r) for r in resid):
        exp, mode, qs = _quant_weights(resid, exp_min=PLANE_EXP_MIN)
        if not any(np.any(q) for q in qs):
            break
        planes.append((exp, mode, qs))
        resid = [r - q * 2.0 ** exp for r, q in zip(resid, qs)]
    return planes


def _wmax(p: Projection) -> float:
    """Largest |weight| of a projection's synapse terms (0 if none)."""
    return max((float(np.max(np.abs(t.matrix))) for t in p.terms if t.delay > 0), default=0.0)


# An LI keeps at least 8 bits of its 24-bit membrane in its messages.
_MSG_SHIFT_MAX = 16


def _align_exponents(graph: RuntimeGraph, scales: dict[str, float], msg_shifts: dict[str, int],
                     src_max: dict[str, float]) -> None:
    """Lower node scales so that layers from spiking senders need weight exponent 0, then raise
    LI message shifts (up to 16) where that pushed a graded layer's exponent below -8 (see module
    docstring).  Updates ``scales`` and ``msg_shifts`` in place."""
    for n, spec in graph.neurons.items():
        ms = [_wmax(p) for p in graph.into(n) if not graph.is_graded(p.src)]
        ms = [m for m in ms if m > 0]
        if not ms:
            continue
        s = scales[n]
        e = _natural_exp(max(ms) * s / (1 << ACT_SHIFT))
        if spec.spiking:
            s_min = 256 * 64 / float(np.max(spec.vth))
        else:
            s_min = (1 << 16) / max(src_max[n], 1e-30)
        k = max(0, min(e, math.floor(math.log2(s / s_min)) if s > s_min else 0))
        scales[n] = s / 2.0 ** k

    for n in msg_shifts:
        units = scales[n] / (1 << LI_MSG_SHIFT)
        exps = [_natural_exp(_wmax(p) * scales[p.dst] / (1 << ACT_SHIFT) / units)
                for p in graph.projections if p.src == n and p.dst in scales and _wmax(p) > 0]
        msg_shifts[n] = min(_MSG_SHIFT_MAX, LI_MSG_SHIFT + max([0] + [-8 - e for e in exps]))


def _input_layer_exps(graph: RuntimeGraph, scales: dict[str, float], s_in: float) -> list[int]:
    """The weight exponent each non-zero layer from the input needs at input scale ``s_in``."""
    return [_natural_exp(_wmax(p) * scales[p.dst] / (1 << ACT_SHIFT) / s_in) for p in graph.projections
            if p.src == graph.input_name and p.dst in scales and _wmax(p) > 0]


def _integer_input_scale(graph: RuntimeGraph, scales: dict[str, float]) -> float:
    """``S_in`` for an integer input: 1 (every value sent as it is), raised by powers of two only
    where a layer from the input would need a weight exponent above 7 (still lossless)."""
    return 2.0 ** max([0] + [e - 7 for e in _input_layer_exps(graph, scales, 1.0)])


def _align_input_scale(graph: RuntimeGraph, scales: dict[str, float], s_in: float) -> float:
    """Lower ``s_in`` (by at most 2**4) so that the layers from the input need exponents >= -8."""
    return s_in / 2.0 ** min(4, max([0] + [-8 - e for e in _input_layer_exps(graph, scales, s_in)]))


def _rel_rms(got: np.ndarray, ref: np.ndarray) -> float:
    den = float(np.sqrt(np.mean(np.square(ref)))) if np.size(ref) else 0.0
    num = float(np.sqrt(np.mean(np.square(np.asarray(got) - ref)))) if np.size(ref) else 0.0
    return num / den if den > 0 else num
