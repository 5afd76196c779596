"""Read a lava-dl netx HDF5 network (what slayer's ``export_hdf5`` writes) as a NIR graph.

The layout, as lava-dl 0.6.0 writes and reads it (``slayer/block/base.py`` ``export_hdf5``,
``netx/hdf5.py``, ``netx/utils.py``): a group ``layer`` with one group per layer, ``"0"``,
``"1"``, ... in order, each with ``type`` (``input``, ``dense``, ``dense_rec``, ``dense_comp``,
``conv``, ``pool``, ``flatten``, ``average``, ``concat``, ...), ``shape``, and for a dense layer
``weight`` ``[out, in]`` (Loihi's integer weights: slayer writes its 8-bit weights x 64, even values
in [-256, 254]), optional ``bias`` (netx: ``bias_mant`` with ``bias_exp`` 6), optional ``delay``
(steps, per output neuron or per input) and ``neuron/`` with ``type`` (``CUBA`` or ``LOIHI``),
``iDecay``, ``vDecay`` (12 bit: 4096 = full decay), ``vThMant`` (Loihi compares ``v > vThMant <<
6``), ``refDelay`` and ``gradedSpike``.  netx runs a dense layer as Lava's ``Dense`` (or
``DelayDense``) into ``LIF(du=iDecay - 1, dv=vDecay, vth=vThMant, bias_mant=bias, bias_exp=6)``::

    u[t] = u[t-1] (4096 - iDecay) / 4096 + 64 W s[t-1]      (integers, truncated towards zero)
    v[t] = v[t-1] (4096 - vDecay) / 4096 + u[t] + 64 bias
    spike and v[t] = 0 where v[t] > 64 vThMant

The graph is written in the lava-dl convention of :data:`neuro_runtime.sources.CONVENTIONS`
(lava-dl PR #218's reader): per dense layer ``Linear(weight)`` (``Delay`` nodes for delays) into
``CubaLIF(tau_syn = 1/iDecay, tau_mem = 1/vDecay, r = 1, w_in = tau_syn, v_threshold = vThMant,
v_leak = bias 4096/vDecay)`` with ``metadata["dt"] = 1/4096`` s, then an ``Output`` on the last
layer.  In float units of ``v/64`` the file's integers are the values as written, so
:mod:`neuro_runtime.native_fixed` keeps them bit for bit.

A ``conv`` layer (slayer writes PyTorch's ``weight [out, in/groups, kH, kW]``, ``stride``,
``padding``, ``dilation`` as (H, W) pairs, ``groups``, ``shape`` (C, H, W); netx turns them into
Lava's (W, H, C) layout) becomes ``Conv2d`` into a CubaLIF of shape (C, H, W) (bias per channel);
``flatten`` becomes ``Flatten`` in C order (netx transposes (W, H, C) back to (C, H, W) first).

Read: ``input`` layers without a neuron (their shape only), ``flatten``, ``dense`` and ``conv``
with CUBA/LOIHI neurons.  Refused with a one-line :class:`UserError` naming the file and layer:
every other layer type (pool, convT, unpool, average, concat, dense_rec, dense_comp), a conv layer
first without an input layer (its input size is unknown) or with delays, input layers with a
neuron, other neuron types (SDNN, RF, ...), graded spikes, layers without a neuron or with a
17-bit-overflowing threshold (slayer ``Affine`` read-outs), ``iDecay = 0`` or ``vDecay = 0``
(NIR's CubaLIF cannot add its input with unit gain to a current or membrane that never decays),
non-integer weights.  ``refDelay`` is ignored, as netx does.

NumPy, h5py and nir only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir
import numpy as np

from ucfdvs.errors import UserError

NETX_DT = 1.0 / 4096
"""The lava-dl convention's step (s): decays are written as ``tau = 1/decay`` in these units."""
VTH_MANT_MAX = (1 << 17) - 1
READ_TYPES = ("input", "flatten", "dense", "conv")


def is_netx(path: str | Path) -> bool:
    """True when ``path`` is an HDF5 file with a top-level ``layer`` group and no NIR ``node`` group."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "layer" in f and "node" not in f
    except OSError:
        return False


def _text(ds: Any) -> str:
    v = ds[()]
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0]
    return v.decode("ascii") if isinstance(v, bytes) else str(v)


def _value(group: Any, key: str) -> Any:
    v = group[key][()]
    return v.item() if isinstance(v, np.ndarray) and v.size == 1 else v


def read_netx(path: str | Path) -> nir.NIRGraph:
    """The netx HDF5 file as a NIR graph in the lava-dl convention (see the module docstring)."""
    import h5py

    p = Path(path)
    try:
        f = h5py.File(p, "r")
    except OSError:
        raise UserError("not an HDF5 file", p) from None
    with f:
        if "layer" not in f:
            raise UserError("not a lava-dl netx HDF5 file (no 'layer' group)", p)
        group = f["layer"]
        try:
            keys = sorted(group, key=int)
        except ValueError:
            raise UserError(f"netx 'layer' group has non-numeric layer names {sorted(group)[:4]}", p) from None
        if not keys:
            raise UserError("netx file has no layers", p)
        return _graph(p, [(k, group[k]) for k in keys])


def _graph(p: Path, layers: list[tuple[str, Any]]) -> nir.NIRGraph:
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    frame: tuple[int, ...] | None = None  # the input layer's shape (C, H, W) or (C,)
    last: str | None = None  # the node the next layer reads from
    shape: tuple[int, ...] = ()  # its output shape
    for key, layer in layers:
        where = f"layer {key}"
        if "type" not in layer:
            raise UserError(f"netx {where} has no 'type'", p)
        kind = _text(layer["type"])
        if kind not in READ_TYPES:
            raise UserError(f"netx {where} has type {kind!r}, which the runtime does not read "
                            f"(supported: {', '.join(READ_TYPES)} with CUBA neurons)", p)
        if kind == "input":
            if "neuron" in layer:
                raise UserError(f"netx {where}: an input layer with a neuron (slayer Input block) is not supported", p)
            if last is None and "shape" in layer:
                frame = tuple(int(v) for v in np.asarray(layer["shape"][()]).reshape(-1))
            continue
        if kind == "flatten":
            if last is not None and len(shape) > 1:  # C-order (C, H, W), as netx's transpose-then-flatten
                nodes[f"flatten_{key}"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
                edges.append((last, f"flatten_{key}"))
                last, shape = f"flatten_{key}", (int(np.prod(shape)),)
            continue
        w = np.asarray(layer["weight"][()], dtype=np.float64) if "weight" in layer else None
        if w is None:
            raise UserError(f"netx {where} ({kind}) has no weight", p)
        if not np.all(np.isfinite(w)) or np.any(w != np.round(w)):
            raise UserError(f"netx {where} ({kind}): weights must be integers (Loihi's weights)", p)
        if last is None:  # the first weighted layer reads the Input
            if kind == "dense":
                n_in = w.shape[1] if w.ndim == 2 else None
                frame = frame if frame is not None and n_in is not None and int(np.prod(frame)) == n_in else \
                    ((n_in,) if n_in is not None else frame)
            if frame is None:
                raise UserError(f"netx {where} ({kind}): the input shape is unknown (no input layer)", p)
            nodes["input"] = nir.Input(input_type={"input": np.array(frame)})
            last, shape = "input", frame
            if kind == "dense" and len(frame) > 1:  # a dense layer reads the frame flattened in C order
                nodes["flatten_input"] = nir.Flatten(input_type={"input": np.array(frame)}, start_dim=0, end_dim=-1)
                edges.append(("input", "flatten_input"))
                last, shape = "flatten_input", (int(np.prod(frame)),)
        syn, out_shape = (_dense if kind == "dense" else _conv)(p, where, layer, w, shape)
        neuron = f"cuba_{key}"
        nodes[f"{kind}_{key}"] = syn
        delay = _delays(p, where, layer, int(np.prod(out_shape)), int(np.prod(shape)))
        if delay is not None and kind == "conv":
            raise UserError(f"netx {where} (conv): delays are not supported (netx ignores them too)", p)
        if delay is not None and delay[0] == "in":
            nodes[f"delay_{key}"] = nir.Delay(delay=delay[1].reshape(shape) * NETX_DT)
            edges += [(last, f"delay_{key}"), (f"delay_{key}", f"{kind}_{key}")]
        else:
            edges.append((last, f"{kind}_{key}"))
        if delay is not None and delay[0] == "out":
            nodes[f"delay_{key}"] = nir.Delay(delay=delay[1] * NETX_DT)
            edges += [(f"{kind}_{key}", f"delay_{key}"), (f"delay_{key}", neuron)]
        else:
            edges.append((f"{kind}_{key}", neuron))
        nodes[neuron] = _cuba(p, where, layer, out_shape)
        last, shape = neuron, out_shape
    if last is None or last == "input":
        raise UserError("netx file has no dense or conv layer", p)
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges.append((last, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": NETX_DT, "source": "lava-dl netx", "file": str(p)})


def _dense(p: Path, where: str, layer: Any, w: np.ndarray,
           shape: tuple[int, ...]) -> tuple[nir.Linear, tuple[int, ...]]:
    """A dense layer's ``Linear`` (weight ``[out, in]``) and its output shape ``(out,)``."""
    if w.ndim == 1:
        out = int(np.prod(layer["shape"][()])) if "shape" in layer else 0
        if out <= 0 or w.size % out:
            raise UserError(f"netx {where} (dense): a flat weight of {w.size} values needs a layer shape that "
                            "divides it", p)
        w = w.reshape(out, -1)
    if w.ndim != 2:
        raise UserError(f"netx {where} (dense): weight must be 2-D [out, in], got shape {list(w.shape)}", p)
    if w.shape[1] != int(np.prod(shape)):
        raise UserError(f"netx {where} (dense) takes {w.shape[1]} inputs but the layer before it has "
                        f"{int(np.prod(shape))} outputs", p)
    return nir.Linear(weight=w), (w.shape[0],)


def _pair(layer: Any, key: str, default: int) -> tuple[int, int]:
    v = np.asarray(layer[key][()] if key in layer else default).reshape(-1)
    return (int(v[0]), int(v[0])) if v.size == 1 else (int(v[0]), int(v[1]))


def _conv(p: Path, where: str, layer: Any, w: np.ndarray, shape: tuple[int, ...]) -> tuple[nir.Conv2d, tuple[int, ...]]:
    """A conv layer's ``Conv2d`` (slayer writes PyTorch's ``[out, in/groups, kH, kW]`` and (H, W) pairs;
    netx flips them into Lava's (W, H, C) layout itself) and its output shape ``(C, H, W)``."""
    w = w.reshape(w.shape[:4]) if w.ndim == 5 and w.shape[4] == 1 else w
    if w.ndim != 4 or len(shape) != 3:
        raise UserError(f"netx {where} (conv): needs a [out, in, kH, kW] weight and a (C, H, W) input, got "
                        f"{list(w.shape)} and {list(shape)}", p)
    stride, padding, dilation = _pair(layer, "stride", 1), _pair(layer, "padding", 0), _pair(layer, "dilation", 1)
    groups = int(np.asarray(layer["groups"][()]).reshape(-1)[0]) if "groups" in layer else 1
    if w.shape[1] * groups != shape[0]:
        raise UserError(f"netx {where} (conv) takes {w.shape[1] * groups} channels but the layer before it has "
                        f"{shape[0]}", p)
    out = (w.shape[0],) + tuple(
        (shape[1 + i] + 2 * padding[i] - dilation[i] * (w.shape[2 + i] - 1) - 1) // stride[i] + 1 for i in range(2))
    written = tuple(int(v) for v in np.asarray(layer["shape"][()]).reshape(-1)) if "shape" in layer else out
    if written != out:
        raise UserError(f"netx {where} (conv): shape {list(written)} does not follow from input {list(shape)}, "
                        f"kernel {list(w.shape[2:])}, stride {list(stride)}, padding {list(padding)}", p)
    conv = nir.Conv2d(input_shape=shape[1:], weight=w, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=np.zeros(w.shape[0]))
    return conv, out


def _cuba(p: Path, where: str, layer: Any, shape: tuple[int, ...]) -> nir.CubaLIF:
    """The layer's neuron as a CubaLIF in the lava-dl convention (see the module docstring),
    parameters of the layer's ``shape``; netx's bias is per neuron or per channel (first axis)."""
    n = int(np.prod(shape))
    if "neuron" not in layer:
        raise UserError(f"netx {where} has no neuron (a non-spiking integrator), not supported", p)
    neuron = layer["neuron"]
    ntype = _text(neuron["type"]) if "type" in neuron else "?"
    if ntype not in ("CUBA", "LOIHI"):
        raise UserError(f"netx {where}: neuron type {ntype!r} is not supported (CUBA or LOIHI only)", p)
    if "gradedSpike" in neuron and bool(_value(neuron, "gradedSpike")):
        raise UserError(f"netx {where}: graded spikes are not supported", p)
    params = {}
    for key in ("iDecay", "vDecay", "vThMant"):
        if key not in neuron:
            raise UserError(f"netx {where}: neuron has no {key}", p)
        params[key] = np.broadcast_to(np.asarray(neuron[key][()], dtype=np.float64).reshape(-1), (n,)).copy() \
            if np.size(neuron[key][()]) in (1, n) else None
        if params[key] is None:
            raise UserError(f"netx {where}: neuron {key} has {np.size(neuron[key][()])} values for {n} neurons", p)
    i_decay, v_decay, vth = params["iDecay"], params["vDecay"], params["vThMant"]
    for key, d in (("iDecay", i_decay), ("vDecay", v_decay)):
        if np.any(d < 0) or np.any(d > 4096) or np.any(d != np.round(d)):
            raise UserError(f"netx {where}: {key} must be integers in 0..4096, got {d.min():g}..{d.max():g}", p)
        if np.any(d == 0):
            raise UserError(f"netx {where}: {key} = 0 (no decay) cannot be written as a NIR CubaLIF "
                            "(its input gain would be infinite)", p)
    if np.any(vth < 1) or np.any(vth > VTH_MANT_MAX) or np.any(vth != np.round(vth)):
        raise UserError(f"netx {where}: vThMant {vth.max():g} is outside Loihi's 17-bit threshold 1..{VTH_MANT_MAX} "
                        "(a slayer Affine read-out layer?)", p)
    bias = np.zeros(shape)
    if "bias" in layer:
        b = np.asarray(layer["bias"][()], dtype=np.float64).reshape(-1)
        if b.size not in (1, n, shape[0]) or np.any(b != np.round(b)):
            raise UserError(f"netx {where}: bias must be integers (bias_mant), one per neuron or channel", p)
        bias = np.broadcast_to(b.reshape((-1,) + (1,) * (len(shape) - 1)) if b.size == shape[0] and b.size != n
                               else b.reshape(shape) if b.size == n else b, shape).copy()
    tau_syn, tau_mem, vth, v_decay = (a.reshape(shape) for a in (1.0 / i_decay, 1.0 / v_decay, vth, v_decay))
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=np.ones(shape), v_leak=bias * 4096.0 / v_decay,
                       v_threshold=vth, v_reset=np.zeros(shape), w_in=tau_syn.copy())


def _delays(p: Path, where: str, layer: Any, n_out: int, n_in: int) -> tuple[str, np.ndarray] | None:
    """``("out", [n_out])`` or ``("in", [n_in])`` delays in steps (clamped to 62 as netx does), or None."""
    if "delay" not in layer:
        return None
    d = np.asarray(layer["delay"][()], dtype=np.float64).reshape(-1)
    if np.any(d < 0) or np.any(d != np.round(d)):
        raise UserError(f"netx {where}: delays must be non-negative integers (steps)", p)
    d = np.minimum(d, 62)
    if d.size == 1:
        return "out", np.full(n_out, d[0])
    if d.size == n_out:
        return "out", d
    if d.size == n_in:
        return "in", d
    raise UserError(f"netx {where}: {d.size} delays fit neither the {n_out} neurons nor the {n_in} inputs", p)
