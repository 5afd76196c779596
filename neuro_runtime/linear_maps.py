"""NIR's structured linear nodes as exact matrices: Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten.

Every one of them is a fixed linear map of its (C-order flattened) input, so the lowering
(:mod:`neuro_runtime.graph_check`) multiplies it into the synapse matrix of its path like an
``Affine``.  Shapes are without batch: Conv1d ``[C, N]``, Conv2d and pooling ``[C, H, W]``.
Equations (PyTorch's, which NIR 1.0.8 follows; zero padding)::

    Conv2d:    y[o, i, j] = b[o] + sum_{c, k, l} W[o, c, k, l] x[g(o) C_g + c, s_h i - p_h + d_h k, s_w j - p_w + d_w l]
               H_out = floor((H + 2 p_h - d_h (K_h - 1) - 1) / s_h) + 1   (likewise W_out)
    SumPool2d: y[c, i, j] = sum_{k < K_h, l < K_w} x[c, s_h i - p_h + k, s_w j - p_w + l]
    AvgPool2d: SumPool2d / (K_h K_w)   (padding counted, PyTorch's count_include_pad=True)
    Flatten:   a reshape (the identity on the flattened vector)

``g(o) = o // (C_out / groups)``, ``C_g = C_in / groups``; padding ``"same"`` pads
``d (K - 1)`` in total, ``floor`` of half before; ``"valid"`` pads nothing.  Matrices are built
with scipy.sparse (COO, summed duplicates) and returned dense ``[N_out, N_in]`` float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ucfdvs.errors import UserError


def _pair(name: str, what: str, value: Any, dims: int) -> tuple[int, ...]:
    a = np.asarray(value).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, dims)
    if a.size != dims:
        raise UserError(f"node {name}: {what} {a.tolist()} must have {dims} value(s)")
    return tuple(int(x) for x in a)


def _padding(name: str, value: Any, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """(before, after) per spatial dim."""
    if isinstance(value, str):
        if value == "valid":
            return tuple((0, 0) for _ in kernel)
        if value == "same":
            return tuple(((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2) for k, d in zip(kernel, dilation))
        raise UserError(f"node {name}: padding {value!r} is not 'same', 'valid' or a number")
    p = _pair(name, "padding", value, len(kernel))
    return tuple((x, x) for x in p)


def conv_matrix(name: str, weight: np.ndarray, in_shape: tuple[int, ...], stride: Any, padding: Any,
                dilation: Any, groups: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Conv1d/Conv2d as ``(M [N_out, N_in], out_shape)``; ``weight`` ``[C_out, C_in/groups, *K]``."""
    w = np.asarray(weight, dtype=np.float64)
    dims = w.ndim - 2
    if dims not in (1, 2):
        raise UserError(f"node {name}: convolution weight must be 3-D or 4-D, got shape {w.shape}")
    if len(in_shape) != dims + 1:
        raise UserError(f"node {name}: input shape {list(in_shape)} does not fit a {dims}-D convolution")
    groups = int(np.asarray(groups).reshape(-1)[0]) if np.size(groups) else 1
    c_out, c_g = w.shape[:2]
    c_in = in_shape[0]
    if groups < 1 or c_out % groups or c_g * groups != c_in:
        raise UserError(f"node {name}: weight {list(w.shape)} with groups={groups} does not take "
                        f"{c_in} input channels")
    kernel = w.shape[2:]
    s = _pair(name, "stride", stride, dims)
    d = _pair(name, "dilation", dilation, dims)
    pads = _padding(name, padding, kernel, d)
    space = in_shape[1:]
    out_sp = tuple((n + pb + pa - dd * (k - 1) - 1) // ss + 1 for n, (pb, pa), dd, k, ss in zip(space, pads, d, kernel, s))
    if min(out_sp) < 1:
        raise UserError(f"node {name}: input {list(in_shape)} is smaller than the kernel {list(kernel)}")
    # every (o, out position, c, kernel offset) combination, vectorised
    o, c, *ks = np.meshgrid(np.arange(c_out), np.arange(c_g), *[np.arange(k) for k in kernel], indexing="ij")
    o, c, ks = o.reshape(-1), c.reshape(-1), [k.reshape(-1) for k in ks]
    wv = w.reshape(-1)
    keep = wv != 0
    o, c, ks, wv = o[keep], c[keep], [k[keep] for k in ks], wv[keep]
    ci = (o // (c_out // groups)) * c_g + c
    rows, cols, vals = [], [], []
    for pos in np.ndindex(*out_sp):
        idx = [p * ss - pb + dd * k for p, ss, (pb, _), dd, k in zip(pos, s, pads, d, ks)]
        ok = np.ones(o.shape, dtype=bool)
        for i, n in zip(idx, space):
            ok &= (i >= 0) & (i < n)
        col = ci[ok]
        for i, n in zip(idx, space):
            col = col * n + i[ok]
        row = o[ok]
        for p, n in zip(pos, out_sp):
            row = row * n + p
        rows.append(row)
        cols.append(col)
        vals.append(wv[ok])
    n_out, n_in = c_out * int(np.prod(out_sp)), int(np.prod(in_shape))
    m = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_out, n_in))
    return m.toarray(), (c_out,) + out_sp


def pool_matrix(name: str, in_shape: tuple[int, ...], kernel: Any, stride: Any, padding: Any,
                average: bool) -> tuple[np.ndarray, tuple[int, ...]]:
    """SumPool2d / AvgPool2d as ``(M [N_out, N_in], out_shape)`` on ``[C, H, W]``."""
    if len(in_shape) != 3:
        raise UserError(f"node {name}: 2-D pooling needs a [C, H, W] input, got {list(in_shape)}")
    k = _pair(name, "kernel_size", kernel, 2)
    s = _pair(name, "stride", stride if np.size(stride) else k, 2)
    c = in_shape[0]
    w = np.zeros((c, 1) + k)
    w[:, 0] = 1.0 / (k[0] * k[1]) if average else 1.0
    return conv_matrix(name, w, in_shape, s, padding, 1, c)


def conv_bias(bias: Any, out_shape: tuple[int, ...]) -> np.ndarray:
    """A per-channel bias ``[C_out]`` repeated over the output positions (C order)."""
    b = np.asarray(bias, dtype=np.float64).reshape(-1)
    per = int(np.prod(out_shape[1:]))
    if b.size == 1:
        b = np.repeat(b, out_shape[0])
    return np.repeat(b, per)
