"""Compare a library's own run of a network with the runtime's run of the library's NIR export.

Timing: every synapse node delays one step in the runtime, so a neuron layer whose input
arrives ``k`` steps after the Input (``RuntimeGraph.arrival``) fires at runtime step ``t + k``
what the library fires at step ``t``.  The input is padded with ``max k`` zero steps so that no
library step is cut off, and each layer is compared over the library's ``T`` steps::

    spike agreement(layer) = mean over [B, T, N] of  runtime[:, t + k] == library[:, t]
    decision = argmax over classes of the output layer's spike count (first maximum on ties)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime import Emulator, load_graph, run_lava
from ucfdvs.neuro_runtime.sources import load_foreign


def _node_for(layer: str, neurons: Any) -> str | None:
    """The NIR node of a library layer (a recurrent snnTorch layer ``r`` is ``r.lif``)."""
    for cand in (layer, layer + ".lif"):
        if cand in neurons:
            return cand
    return None


def _runtime_input(graph: Any, x: np.ndarray) -> np.ndarray:
    """``x [B, T, *shape]`` as the runtime takes it: as is, or flattened to ``[B, T, C]``."""
    if x.ndim == 3:
        return x
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    return flat if getattr(graph, "input_size", None) == flat.shape[2] else x


def compare_with_runtime(
    nir_path: str | Path, source: str, x: np.ndarray, labels: np.ndarray,
    library_spikes: dict[str, np.ndarray], output_layer: str, *, dt: float | None = None,
    reset: str | None = None, backend: str = "emu", precision: str = "floating_pt",
) -> dict[str, Any]:
    """Run ``nir_path`` (normalised by :func:`load_foreign`) on ``x [B, T, *shape]`` and compare.

    ``library_spikes``: layer name -> ``[B, T, *shape]`` as the library ran them; ``output_layer``:
    the layer whose spike counts decide the class.  ``backend``: ``"emu"`` or ``"lava"``.
    Returns ``{"status": "ran", ...metrics}`` or ``{"status": "refused", "stage", "reason"}``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            graph, record = load_foreign(nir_path, source=source, dt=dt, reset=reset)
            rg = load_graph(graph, reset_amount=record.reset_amount)
        except UserError as exc:
            return {"status": "refused", "stage": "load", "reason": str(exc)}
    result: dict[str, Any] = {
        "status": "ran", "backend": backend, "precision": precision, "dt": record.dt,
        "reset_source": record.reset, "source_notes": [str(w.message) for w in caught],
    }
    nodes = {layer: _node_for(layer, rg.neurons) for layer in library_spikes}
    missing = [layer for layer, n in nodes.items() if n is None]
    if missing:
        return {"status": "refused", "stage": "layers",
                "reason": f"no runtime neuron node for library layer(s) {missing}"}
    offsets = {layer: int(rg.arrival[n]) for layer, n in nodes.items()}
    B, T = x.shape[:2]
    pad = max(offsets.values())
    xin = np.concatenate([x, np.zeros((B, pad, *x.shape[2:]), dtype=x.dtype)], axis=1).astype(np.float64)
    xin = _runtime_input(rg, xin)
    try:
        if backend == "emu":
            spikes = Emulator(rg, precision).run(xin).spikes
        else:
            recs = run_lava(rg, list(xin), precision, progress=False)
            spikes = {n: np.stack([r.spikes[n] for r in recs]) for n in recs[0].spikes}
    except UserError as exc:
        return {"status": "refused", "stage": "run", "reason": str(exc)}
    layers = {}
    for layer, n in nodes.items():
        k = offsets[layer]
        rt = np.asarray(spikes[n])[:, k:k + T].reshape(B, T, -1).astype(np.uint8)
        lib = np.asarray(library_spikes[layer]).reshape(B, T, -1).astype(np.uint8)
        layers[layer] = {
            "node": n, "offset_steps": k,
            "spike_agreement": float(np.mean(rt == lib)),
            "samples_identical": float(np.mean(np.all(rt == lib, axis=(1, 2)))),
            "library_spikes": int(lib.sum()), "runtime_spikes": int(rt.sum()),
        }
        if layer == output_layer:
            lib_counts, rt_counts = lib.sum(1), rt.sum(1)
    dec_lib, dec_rt = lib_counts.argmax(1), rt_counts.argmax(1)
    result.update(
        layers=layers,
        decision_agreement=float(np.mean(dec_lib == dec_rt)),
        output_counts_identical=float(np.mean(np.all(lib_counts == rt_counts, axis=1))),
        library_accuracy=float(np.mean(dec_lib == labels)),
        runtime_accuracy=float(np.mean(dec_rt == labels)),
        samples=int(B), steps=int(T), pad_steps=int(pad),
    )
    return result
