"""Streaming model -> ``nir.NIRGraph`` (NIR 1.0.8 primitives only) -> ``.nir`` file.

Mapping (one node each, names kept): input -> ``Input``, output -> ``Output``, affine ->
``Affine(weight [out, in], bias)``, linear -> ``Linear``, scale -> ``Scale``, delay ->
``Delay(delay = k * dt seconds per channel)``, lif -> ``LIF(tau [s], r, v_leak, v_threshold,
v_reset)``, cubalif -> ``CubaLIF``, li -> ``LI(tau [s], r, v_leak)``. Graph metadata: ``dt`` (s), its meaning, the
latency, the toolkit and nir versions, the source checkpoint's SHA-256 and the conventions.
Anything else is refused with a ``UserError`` naming the module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ucfdvs.export.streaming_msf import KINDS, NEURON_FIELDS, NodeSpec, StreamingMSF, StreamingNet
from ucfdvs import __version__
from ucfdvs.atomic import atomic_path
from ucfdvs.errors import UserError

CONVENTIONS = (
    "one step = dt = one snippet; synapse nodes (Affine, Linear, Scale) delay one step: y[t] = W u[t-1] + b, y[0] = b; "
    "Delay(k dt): y[t] = u[t-k]; edges into a node sum; LIF/LI: forward Euler v[t] = v[t-1] + (dt/tau)(v_leak - v[t-1] + r I[t]), "
    "spike when v > v_threshold (strict), reset to v_reset (reset to value, not subtract), LIF v[-1] = v_reset, LI v[-1] = 0; neurons update and spike "
    "in the step their input arrives and hold v[-1] (silent) before their arrival step; Output = value arriving at step t (logit; apply the sigmoid outside the graph); "
    "score of snippet i = sigmoid(output[i + latency])"
)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def to_nir_graph(model: StreamingMSF | StreamingNet | nn.Module, source_sha256: str = "", source_path: str = "") -> Any:
    """The NIR graph of a streaming model; refuses any other module with a one-line ``UserError``."""
    import nir

    if isinstance(model, StreamingMSF):
        latency = model.latency
        net = model.net
    elif isinstance(model, StreamingNet):
        net, latency = model, int(model.meta.get("latency", model.latency()))
    else:
        raise UserError(f"cannot express module {type(model).__name__} in NIR: only streaming models (export.convert) can be exported")
    dt = net.dt
    nodes: dict[str, Any] = {}
    for name, spec in net.nodes.items():
        k = spec.kind
        if k == "input":
            nodes[name] = nir.Input(input_type={"input": np.array([spec.size_out])})
        elif k == "output":
            nodes[name] = nir.Output(output_type={"output": np.array([spec.size_in])})
        elif k == "affine":
            nodes[name] = nir.Affine(weight=_np(net.weight(name, "weight")), bias=_np(net.weight(name, "bias")))
        elif k == "linear":
            nodes[name] = nir.Linear(weight=_np(net.weight(name, "weight")))
        elif k == "scale":
            nodes[name] = nir.Scale(scale=_np(net.weight(name, "scale")))
        elif k == "delay":
            nodes[name] = nir.Delay(delay=np.full(spec.size_out, spec.delay * dt))
        elif k == "lif":
            p = spec.neuron
            nodes[name] = nir.LIF(tau=p["tau"], r=p["r"], v_leak=p["v_leak"], v_threshold=p["v_threshold"], v_reset=p["v_reset"])
        elif k == "cubalif":
            nodes[name] = nir.CubaLIF(**spec.neuron)
        elif k == "li":
            p = spec.neuron
            nodes[name] = nir.LI(tau=p["tau"], r=p["r"], v_leak=p["v_leak"])
        else:
            raise UserError(f"cannot express node {name!r} of kind {k!r} in NIR 1.0.8")
    metadata = {
        "dt": float(dt),
        "dt_meaning": f"one snippet of events: 16 frames at 30 fps = {round(dt * 1e6)} us",
        "latency_steps": int(latency),
        "first_arrival_steps": int(net.latency()),
        "toolkit": f"ucfdvs {__version__}",
        "nir_version": nir.version,
        "source_checkpoint_sha256": source_sha256,
        "source_checkpoint": source_path,
        "conventions": CONVENTIONS,
        "model": json.dumps(net.meta, sort_keys=True, default=str),
    }
    return nir.NIRGraph(nodes=nodes, edges=[tuple(e) for e in net.edges], metadata=metadata)


def from_nir_graph(graph: Any) -> StreamingNet:
    """The streaming model of a NIR graph (the inverse of :func:`to_nir_graph`).

    Validated by ``neuro_runtime.graph_check.load_graph``; a graph the streaming model cannot
    express (per-channel or zero delays, synapse chains, neuron -> neuron edges, several
    Outputs) is refused with a one-line ``UserError``. Neuron parameters of any shape are flattened
    and broadcast to the population size; weights become float32 trainable parameters.
    """
    from ucfdvs.neuro_runtime.graph_check import load_graph

    lowered = load_graph(graph)
    dotted = [n for n in graph.nodes if "." in n]
    if dotted:
        raise UserError(f"node {dotted[0]!r}: the streaming model needs node names without dots "
                        "(torch parameter names); flattened subgraphs are not supported")
    if len(lowered.inputs) != 1:
        raise UserError(f"the streaming model has one Input (graph: {len(lowered.inputs)})")
    if lowered.reset != "zero":
        raise UserError(f"the streaming model resets to v_reset only (graph reset: {lowered.reset})")
    nodes: dict[str, NodeSpec] = {}
    tensors: dict[str, torch.Tensor] = {}
    for name, node in graph.nodes.items():
        t = type(node).__name__
        kind = t.lower()
        if kind not in KINDS:
            raise UserError(f"node {name!r} ({t}): the streaming model has no {t}")
        if kind in ("input", "output"):
            n = lowered.size(name)
            nodes[name] = NodeSpec(kind, n, n)
        elif kind in ("affine", "linear"):
            w = np.asarray(node.weight, dtype=np.float64)
            nodes[name] = NodeSpec(kind, w.shape[1], w.shape[0])
            tensors[f"{name}__weight"] = torch.from_numpy(w)
            if kind == "affine":
                tensors[f"{name}__bias"] = torch.from_numpy(np.asarray(node.bias, dtype=np.float64).reshape(-1))
        elif kind == "scale":
            sc = np.asarray(node.scale, dtype=np.float64).reshape(-1)
            nodes[name] = NodeSpec(kind, sc.size, sc.size)
            tensors[f"{name}__scale"] = torch.from_numpy(sc)
        elif kind == "delay":
            steps = np.unique(np.rint(np.asarray(node.delay, dtype=np.float64).reshape(-1) / lowered.dt))
            if steps.size != 1:
                raise UserError(f"node {name!r} (Delay): the streaming model needs one delay for all channels")
            n = np.size(node.delay)
            nodes[name] = NodeSpec(kind, n, n, delay=int(steps[0]))
        else:
            n = lowered.neurons[name].size
            params = {f: np.broadcast_to(np.asarray(getattr(node, f), dtype=np.float64).reshape(-1), (n,)).copy()
                      for f in NEURON_FIELDS[kind]}
            nodes[name] = NodeSpec(kind, n, n, neuron=params)
    return StreamingNet(nodes, [(e[0], e[1]) for e in graph.edges], tensors, lowered.dt)


def write_nir(model: StreamingMSF | StreamingNet, path: str | Path, source_sha256: str = "", source_path: str = "") -> Any:
    """Write the model's NIR graph to ``path`` atomically (temporary file, then rename); returns the graph."""
    import nir

    graph = to_nir_graph(model, source_sha256, source_path)
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
    return graph


def read_nir(path: str | Path) -> Any:
    """``nir.read`` with one-line ``UserError``s for a missing, truncated or non-HDF5 file."""
    import h5py
    import nir

    path = Path(path)
    if not path.is_file():
        raise UserError("NIR file not found", path)
    if not h5py.is_hdf5(path):
        raise UserError("not a NIR file (not HDF5)", path)
    try:
        return nir.read(path)
    except Exception as err:  # h5py/nir raise many types for damaged files
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise UserError(f"not a readable NIR file (truncated or damaged: {type(err).__name__}: {first})", path) from None
