"""The execution contract of ``neuro_runtime`` (NIR graph -> discrete-time SNN), shared helpers.

This docstring is the contract; :mod:`neuro_runtime.emulator` is its executable definition (the
reference implementation).  Every other executor follows it for every parameter value
(``v_reset != 0``, ``v_leak != 0``, ``r != 1``, CubaLIF, per-neuron parameters of any shape, which
are flattened in C order): Lava ``floating_pt`` and ``fixed_pt`` (:mod:`neuro_runtime.lava_build`),
the nirtorch interpreter (``export/nir_interpreter.py``) and the streaming PyTorch model
(``export/streaming_msf.py``); ``ucfdvs export`` writes these conventions into the graph's
metadata.  ``tests/test_conformance.py`` runs one list of small graphs through all of them:
float executors agree with the emulator to 1e-12 with identical spikes, Lava ``fixed_pt`` is
bit-identical to the emulator's ``fixed_pt``.  Validation, the node-type table and the graph
searches are shared (:mod:`neuro_runtime.graph_check`, :mod:`neuro_runtime.graph_search`).

Time
----
Discrete steps ``t = 0, 1, ...``; one step is ``dt`` seconds, taken from the graph's
``metadata["dt"]`` (float, seconds; required; the product uses 0.533328 s = one video snippet).

Start step (timing that matches the source)
-------------------------------------------
Every neuron node has a start step ``start = arrival`` (the fewest steps from an Input, through
synapse nodes and Delays).  For ``t < start`` it holds its initial state (below) and sends 0: no
bias, leak or reset acts on it before its first input can arrive.  A feed-forward graph's layer
at arrival k therefore computes at step ``t + k`` exactly what the source framework (no hop
delays) computes at step t; ``RuntimeGraph.offset``, ``latency`` and ``flush_steps`` expose it.

Values before step 0 ("rest")
-----------------------------
Input values before step 0 are zero.  Neuron outputs (spikes, LI voltage) before their start step are zero.
A synapse node's output before step 0 is its *rest value* (its response to zero input held
forever: its bias, plus the upstream synapse nodes' rest values pushed through its weights).
Consequence: every bias is a constant from step 0 on, so a chain ``Affine1 -> Affine2`` delivers
``W2 W1 x[t-2] + (W2 b1 + b2)``.  This is the one place where the contract deviates from a literal
"zeros before step 0" reading: Lava folds biases into the receiving neurons' constant bias, which
cannot express a bias that switches on at step 1 (see "Deviation" below).

Nodes
-----
* ``Input`` (one or several): ``x[t]`` given by the user each step, graded (float); several
  Inputs are concatenated in node order into one input vector.
* ``Affine(W, b)``, ``Linear(W)``, ``Scale(s)``, ``Conv1d``, ``Conv2d``, ``SumPool2d``,
  ``AvgPool2d`` ("synapse nodes"; the structured ones are exact matrices, see
  :mod:`neuro_runtime.linear_maps`): one Lava Dense hop each; they
  delay by exactly one step: ``y[t] = W @ u[t-1] + b`` (Scale: ``s * u[t-1]``).
* ``Flatten``: a reshape; no step, no process.
  A chain of k synapse nodes delays by k steps; fusing it into one matrix keeps the k-step delay
  (Lava ``DelayDense`` with delay k-1).
* ``Delay(delay)`` (seconds per channel, integer multiples of dt): ``y[t] = u[t-k]``; no extra hop.
* Several edges into one node sum their values.
* ``LIF(tau, r, v_leak, v_threshold, v_reset)``: forward Euler with step dt, update in the step the
  input arrives, spike in that same step, strict ``>``::

      v[t] = v[t-1] + (dt/tau) * (v_leak - v[t-1] + r * I[t])
      s[t] = v[t] > v_threshold
      v[t] = v_reset where s[t]

  Initial state: the membrane starts at ``v[-1] = v_reset``, where a reset puts it (SpikingJelly's
  convention).  Why v_reset and not 0: Lava runs the shifted membrane ``v - v_reset`` (below),
  so ``v = v_reset`` is its natural rest 0, the value Lava's LIF starts from and the one our
  synapse models restore between sequences; ``v[-1] = 0`` would need a per-neuron initial value
  ``-v_reset`` reloaded at every sequence start.  For ``v_reset = 0`` (MSF) both readings agree.
  With dt/tau = 1/1.6,
  r = 1, v_leak = v_reset = 0 this is SpikingJelly ``LIFNode(tau=1.6, decay_input=True,
  v_reset=0.)`` except SpikingJelly fires at ``>=``.  Lava's LIF models also compare strictly
  (``PyLifModelFloat``: ``v > vth``; ``PyLifModelBitAcc``: ``v > vth << 6``), so Lava = NIR here.
* ``CubaLIF(tau_syn, tau_mem, r, v_leak, v_threshold, v_reset, w_in)``::

      I[t] = I[t-1] + (dt/tau_syn) * (-I[t-1] + w_in * x[t])
      v[t] = v[t-1] + (dt/tau_mem) * (v_leak - v[t-1] + r * I[t]);  spike/reset as LIF

  ``I[-1] = 0`` and ``v[-1] = v_reset``: a bias in the input rises through the current from the
  start step, as in the source frameworks (snnTorch's ``Synaptic``: ``syn = alpha syn + W x + b``
  from ``syn = 0``).
* ``LI(tau, r, v_leak)``: ``v[t] = v[t-1] + (dt/tau) * (v_leak - v[t-1] + r * I[t])``, no spike;
  its output is ``v[t]`` (graded); ``v[-1] = 0``.  ``CubaLI``: CubaLIF's current, then LI.
* ``IF(r, v_threshold, v_reset)`` (NIR: dv/dt = R I): ``v[t] = v[t-1] + dt * r * I[t]``, spike and
  reset as LIF.  ``I(r)``: the same without spike, output ``v[t]`` (graded).  Lava: ``dv = 0``.
* ``Threshold(threshold)``: ``s[t] = I[t] > threshold`` (stateless; threshold > 0).  Lava: LIF
  with ``du = dv = 1`` (fixed point: ``dv_q = 4096``).
* Reset (spiking nodes): to ``v_reset`` (above), or by subtraction ``v[t] -= amount`` where
  ``s[t]`` (``load_graph(reset="subtract")`` or ``metadata["reset"]``; ``amount`` per node,
  default ``v_threshold``).  Lava: :class:`neuro_runtime.lava_procs.RecLIF`'s ``reset_sub``
  (float: ``amount``; fixed: ``round(amount * S)``).
* ``Output``: records the (summed) value arriving at step t; it adds no delay.  In Lava it is a
  non-spiking read-out process (:class:`neuro_runtime.lava_procs.Readout`) with two input ports:
  ``a_in`` (from Dense / DelayDense, i.e. synapse paths) and ``d_in`` (direct, zero-delay edges
  from neurons or the Input); it records ``a_in + d_in + bias`` per step (into a shared-memory
  file, or a Var with ``io="var"``).
* Cycles are allowed if every cycle contains a synapse node or a Delay with all delays >= 1 step
  (else ``UserError("cycle with no delay: a -> b -> a")``).  Cycles made only of synapse/Delay
  nodes (no neuron) are refused (their rest value is not defined).
* Zero-delay edges into a *neuron* (neuron -> neuron, Input -> neuron, no synapse node between)
  are supported only where the folded input gain is exactly 1 (Lava connects ports directly and
  cannot scale); zero-delay edges into an Output are always fine.

End-to-end latency = the first step at which input step 0 can reach an Output (shortest path in
steps).  ``align=True`` (see :mod:`neuro_runtime.graph_check`) delays the early paths so that all forward
paths into a node arrive at the same step (what a PyTorch model without explicit delays means);
recurrent (back) edges are left alone.

Mapping NIR -> Lava (floating_pt)
---------------------------------
Lava's LIF (``lava/proc/lif/models.py``)::

    u[t] = u[t-1] * (1 - du) + a_in[t]
    v[t] = v[t-1] * (1 - dv) + u[t] + bias
    s[t] = v[t] > vth;  v[t] = 0 where s[t]

We use the shifted membrane ``v' = v - v_reset`` (so Lava's reset-to-0 is exact for any v_reset):

* LIF:     ``du = 1``, ``dv = dt/tau``, ``vth = v_threshold - v_reset``,
           ``bias = dv * (v_leak - v_reset) + dv * r * b_rest``, incoming weights scaled by
           ``dv * r`` (row scaling of every incoming matrix).
* CubaLIF: ``du = dt/tau_syn``, ``dv = dt/tau_mem``, ``vth = v_threshold - v_reset``,
           ``u = dv * r * I``; incoming weights scaled by ``dv * r * du * w_in``;
           ``bias = dv * (v_leak - v_reset) + dv * r * w_in * b_rest``.  Lava adds ``bias`` to v
           (the current's steady response to ``b_rest``) at once, so ``u`` starts at
           ``u_init = -dv * r * w_in * b_rest`` (held until the start step; a Var of our LIF
           process, fixed point ``round(S * u_init)``): ``u[t] + bias`` is then exactly the
           response of ``I`` from ``I[-1] = 0``, ``dv r w_in b_rest (1 - (1 - du)**(t - start + 1))``.
* LI:      like LIF with ``vth = inf`` (no spikes, no reset); a small custom process
           (:class:`neuro_runtime.lava_procs.GradedLI`) that reuses Lava's LIF sub-threshold code
           and sends ``v`` as a graded message.
* ``b_rest`` is the rest value arriving at the neuron (sum of upstream synapse biases).

Dense semantics in Lava (checked in lava-nc 0.10 ``PyDenseModelFloat.run_spk``): at step t it
first sends ``a_buff`` (computed at t-1), then receives ``s_in`` of step t and computes
``a_buff = W @ s_in``.  LIF at step t receives ``a_in`` of step t (``run_spk``: recv then update).
So Dense delivers at t what was sent at t-1: exactly our one-step synapse.  ``DelayDense`` with
delay d delivers at t+1+d.  Graded messages use ``num_message_bits = 24`` (Dense would otherwise
cast its input to bool); spiking senders use ``num_message_bits = 0``.

Mapping NIR -> Lava (fixed_pt, ``PyLifModelBitAcc`` / ``PyDenseModelBitAcc``)
---------------------------------------------------------------------------
Per neuron population a scale ``S`` (v_fixed ~= S * v') is chosen by
:mod:`neuro_runtime.quantize`; then (``<<`` left shift, ``>>`` arithmetic right shift)::

    du_q   = round(4096 * du) - 1        (12 bit; Lava adds ds_offset = 1)
    dv_q   = round(4096 * dv)            (12 bit; dm_offset = 0)
    vth_q  = round(S * vth / 64)         (17 bit; Lava compares v > vth_q << 6)
    bias   = bias_mant << bias_exp  ~= S * bias    (13-bit signed mantissa, exponent 0..7)
    weights: W_q * 2**weight_exp ~= S / 64 * W_eff / S_src  (8-bit W_q, one weight_exp per
             synapse layer; mixed-sign layers use even values in [-256, 254] because Lava
             truncates the LSB in MIXED sign mode)
    u: 24-bit wrap, v: clipped to +-(2**23 - 1) (exactly Lava's code).

With ``quantize(weight_planes=N)`` a synapse layer has up to N processes (weight planes), plane
k+1's 8-bit weights (own exponent, >= -8) carrying the residual of planes 1..k; all add into the
same ``a_in``, each after its own shift (so each plane with a negative exponent floors its own sum).  Scales come from
worst-case bounds, or from a float run on calibration inputs (``quantize(calibration=x)``).

A graded Input is quantised to ``round(x * S_in)`` with ``S_in = 2**k`` chosen so that
``input_range`` fits ``input_bits`` (default 14; the message itself may use 24 bits); a fixed LI
sends ``v >> msg_shift`` (6 unless the quantiser's exponent alignment raised it).  fixed_pt refuses zero-delay paths into neurons and paths longer than 64 steps
per synapse hop (DelayDense's 6-bit delay).
An Output stores the integer it receives; the float value is ``a_in / S_out + d_in / S_direct +
bias``.  The emulator's fixed mode replays these integer operations bit for bit, including Lava's
int32 wrap-around in the Dense accumulation and the per-synapse-layer shift.

Recording
---------
Per sequence and step: every Output's value, every neuron node's spikes (LIF/CubaLIF; in Lava
via :class:`neuro_runtime.lava_procs.RecLIF`, Lava's LIF with a spike buffer) or graded output
(LI), and the synaptic events per synapse layer (``src->dst``): senders with a non-zero message
times their number of non-zero outgoing weights, counted at the step the message is sent.

Deviation from the issue text
-----------------------------
Only the rest-value rule above, and only for Outputs and recurrent paths: a chain ``Affine ->
Affine`` passes the upstream bias on before step 0 instead of zeros, because Lava folds biases
into a constant neuron bias.  Neurons do not see it (they start at their arrival step, when the
chain's bias is what the source computes too); an Output shows its rest value before its latency.  Everything else is as issued; Lava forced nothing
else (its Dense delivers one step late, its LIF integrates a_in of the same step and compares
strictly).
"""

from __future__ import annotations

import numpy as np

# Loihi / Lava bit-accurate constants (lava/proc/lif/models.py AbstractPyLifModelFixed)
DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT
VTH_SHIFT = 6
ACT_SHIFT = 6
UV_BITS = 24
MAX_UV = 1 << (UV_BITS - 1)
VTH_MAX = (1 << 17) - 1
BIAS_MANT_MAX = 4095
BIAS_MANT_MIN = -4096
BIAS_EXP_MAX = 7
GRADED_MAX = (1 << 23) - 1
GRADED_MESSAGE_BITS = 24
LI_MSG_SHIFT = 6  # a fixed-point LI sends v >> 6 by default (QNeuron.msg_shift)

PRECISIONS = ("floating_pt", "fixed_pt")


def wrap_int32(a: np.ndarray) -> np.ndarray:
    """Wrap an integer array to int32 two's complement (what numpy int32 arithmetic does)."""
    return np.asarray(a, dtype=np.int64).astype(np.int32).astype(np.int64)


def shift_exp(a: np.ndarray, exp: int) -> np.ndarray:
    """Lava Dense weight exponent: ``a << exp`` if exp > 0 else ``a >> -exp`` (arithmetic), int32."""
    if exp > 0:
        return wrap_int32(np.left_shift(a, exp))
    return np.right_shift(a, -exp)


def lif_fixed_update(
    u: np.ndarray, v: np.ndarray, a_in: np.ndarray, du_q: np.ndarray, dv_q: np.ndarray,
    bias_eff: np.ndarray, a_in_int32: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One bit-accurate sub-threshold step of Lava's ``AbstractPyLifModelFixed`` (int64 arrays).

    Shapes broadcast: states ``[B, N]``, parameters ``[N]``.  Returns new ``(u, v)`` before the
    spike/reset (the inputs are left as they are).  ``du_q`` is the stored 12-bit value (Lava adds
    ds_offset = 1 itself)::

        u = wrap24(wrap32(decay(u, du_q + 1) + wrap32(wrap32(a_in) << 6)))
        v = clip(wrap32(decay(v, dv_q)) + u + bias_eff, -2**23 + 1, 2**23 - 1)

    ``decay(x, c) = sign(x (4096 - c)) (|x (4096 - c)| >> 12)``; ``wrap24`` subtracts ``2**24``
    above ``2**23`` and adds it at or below ``-2**23`` (once, as Lava does).  Computed in place
    on fresh arrays with shifts and masks (a few temporaries per step, no ``np.where``).  Steps that
    cannot change a value are left out, exactly: ``wrap32`` after a decay (``|decay(x)| <= |x|``,
    and ``u`` and ``v`` stay within int32), the decay of ``u`` when every ``du_q + 1`` is 4096 (it
    is 0), the decay of ``v`` when every ``dv_q`` is 0 (it is ``v``), and the first ``wrap32`` of
    ``a_in`` when the caller says it holds int32 values already (``a_in_int32``).
    """
    act = np.left_shift(a_in if a_in_int32 else _wrap32_(np.array(a_in, dtype=np.int64)), ACT_SHIFT, dtype=np.int64)
    cur = _wrap32_(act)
    keep_u = DECAY_UNITY - (np.asarray(du_q, dtype=np.int64) + 1)
    if np.any(keep_u):
        cur += _decay_(np.multiply(u, keep_u, dtype=np.int64))
        _wrap32_(cur)
    over = MAX_UV - cur  # < 0 where cur > 2**23: subtract 2**24 there
    over >>= 63
    over &= 2 * MAX_UV
    cur -= over
    under = cur + (MAX_UV - 1)  # < 0 where cur <= -2**23: add 2**24 there
    under >>= 63
    under &= 2 * MAX_UV
    cur += under
    keep_v = DECAY_UNITY - np.asarray(dv_q, dtype=np.int64)
    v = np.array(v, dtype=np.int64) if np.all(keep_v == DECAY_UNITY) else _decay_(np.multiply(v, keep_v, dtype=np.int64))
    v += cur
    v += bias_eff
    np.clip(v, -MAX_UV + 1, MAX_UV - 1, out=v)
    return cur, v


def _wrap32_(a: np.ndarray) -> np.ndarray:
    """:func:`wrap_int32` in place on an int64 array: ``((a + 2**31) mod 2**32) - 2**31``."""
    a += 1 << 31
    a &= 0xFFFFFFFF
    a -= 1 << 31
    return a


def _decay_(prod: np.ndarray) -> np.ndarray:
    """``sign(prod) * (|prod| >> 12)`` in place on an int64 array (|prod| < 2**62): division by
    4096 rounded towards zero, ``(prod + (4095 if prod < 0 else 0)) >> 12``."""
    negative = prod >> 63  # -1 where prod < 0, else 0
    negative &= DECAY_UNITY - 1
    prod += negative
    prod >>= DECAY_SHIFT
    return prod


def lif_float_update(
    u: np.ndarray, v: np.ndarray, a_in: np.ndarray, du: np.ndarray, dv: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One step of Lava's ``AbstractPyLifModelFloat.subthr_dynamics`` (same operation order)."""
    u = u * (1 - du)
    u = u + a_in
    v = v * (1 - dv) + u + bias
    return u, v
