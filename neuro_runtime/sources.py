"""Load a foreign NIR file as the runtime's contract (:mod:`neuro_runtime.semantics`) needs it.

NIR 1.0.8 has no field for the time step or the reset mechanism, and exporters disagree on what
``tau``, ``r`` and ``w_in`` mean.  :func:`load_foreign` reads a file (or takes a graph), flattens
nested subgraphs, fixes the time step, rewrites each exporter's parameters into the contract's
forward-Euler meaning and returns the graph with ``metadata["dt"]`` set, plus a
:class:`SourceRecord` saying what it assumed.

The contract (per step of ``dt`` seconds, strict ``>``, reset to ``v_reset``)::

    LIF:      v[t] = v[t-1] + dt/tau (v_leak - v[t-1] + r I[t]);  s[t] = v[t] > v_threshold
    CubaLIF:  I[t] = I[t-1] + dt/tau_syn (-I[t-1] + w_in x[t]);   v as LIF with I[t]
    synapse nodes (Affine, Linear, Conv, ...) delay one step

Every row of :data:`CONVENTIONS` was derived from the exporter's own source; the README table
``Exporter conventions`` cites file and version.  A per-step decay ``a`` (snnTorch ``beta``, an
exponential ``exp(-dt/tau)``, Loihi's ``1 - decay/4096``) becomes ``tau = dt / (1 - a)``; an input
added with gain ``g`` (``I <- a I + g x``) becomes ``w_in = g tau_syn / dt``; a membrane that adds
``c I`` becomes ``r = c tau_mem / dt``.  ``v >= theta`` (Sinabs, Rockpool, SpikingJelly) becomes
``v > nextafter(theta, -inf)``, identical for float64 membranes.

Numpy and nir only (no torch).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nir
import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime.netx_graph import is_netx, read_netx

RESET_MODES = ("zero", "subtract")


class SourceWarning(UserWarning):
    """A file loaded, but something about it could not be kept exactly (named in the message)."""


@dataclass(frozen=True)
class ExporterConvention:
    """What one exporter's NIR parameters mean, as its own source code writes them.

    ``exporter_dt``: the step (s) the exporter's taus are written in when the file carries none:
    fixed in its code (``dt_fixed``) or its default argument; None if it gives none.
    ``reset``: the library's default reset mechanism (NIR does not store it).
    ``threshold``: ``">"`` or ``">="``.  Text fields state the meaning in the library's terms.
    """

    source: str
    version: str
    cites: str
    exporter_dt: float | None
    dt_fixed: bool
    tau: str
    r: str
    w_in: str
    input_gain: str
    spike: str
    threshold: str
    reset: str
    notes: str = ""


CONVENTIONS: dict[str, ExporterConvention] = {
    "snntorch": ExporterConvention(
        source="snntorch", version="snntorch 1.0.0",
        cites="snntorch/export_nir.py, _neurons/leaky.py, synaptic.py, rleaky.py, neurons.py",
        exporter_dt=1e-4, dt_fixed=True,
        tau="tau = 1e-4 / (1 - beta) (dt hard-coded 1e-4 s): dt/tau = 1 - beta per step",
        r="r = tau_mem / dt = 1 / (1 - beta): v = beta v + I, the contract as written",
        w_in="CubaLIF w_in = tau_syn / dt: I = alpha I + x, the contract as written",
        input_gain="1 (Linear output added to mem / syn in the same step)",
        spike="1 (graded_spikes_factor 1)",
        threshold=">",
        reset="subtract",
        notes=("reset_delay=True: the reset acts one step later, after the leak: subtract is "
               "v[t] = beta v[t-1] + I[t] - theta s[t-1] (= subtracting theta/beta at the spike "
               "step); zero reset of Leaky/RLeaky equals the contract; zero reset of Synaptic/"
               "RSynaptic zeroes the whole membrane update of the next step (input of that step "
               "lost), which the contract cannot express; RLeaky/RSynaptic are written as "
               "subgraphs (input, lif, w_rec, output)"),
    ),
    "norse": ExporterConvention(
        source="norse", version="norse 1.1.0",
        cites="norse/torch/utils/export_nir.py, import_nir.py, functional/lif.py, functional/lif_box.py",
        exporter_dt=1e-3, dt_fixed=False,
        tau=("written as dt / tau_mem_inv = dt * tau (to_nir(dt=1e-3) default): tau = tau_file / dt; "
             "forward Euler as the contract"),
        r="1 (written as ones)",
        w_in=("LIFCell -> CubaLIF without w_in (NIR default 1), but LIFCell adds its input to i "
              "with gain 1: w_in = tau_syn / dt"),
        input_gain="1",
        spike="1",
        threshold=">",
        reset="zero",
        notes=("LIFBoxCell -> LIF, LIBoxCell -> LI, IAFCell -> IF; v_reset is not written (NIR "
               "default 0 = Norse default); the state starts at v_leak; LIFRecurrentCell has no "
               "export; Norse's own from_nir reads CubaLIF w_in with the NIR meaning, so its "
               "export and import disagree for LIFCell, and it reads tau_mem_inv = 1/tau, so "
               "round trips rescale time by 1/dt; Norse before 1.1 and after it (time_scaling_factor, "
               "main branch) write tau = 1/tau_mem_inv in seconds: load those files with source 'nir' "
               "(e.g. the NIR paper's lif_norse.nir); pooling, Flatten and LIFRecurrentCell are not exported"),
    ),
    "sinabs": ExporterConvention(
        source="sinabs", version="sinabs 3.1.0",
        cites="sinabs/nir.py, layers/functional/lif.py, activation/spike_generation.py, reset_mechanism.py",
        exporter_dt=1.0, dt_fixed=True,
        tau="tau_mem in steps, exact decay alpha = exp(-1/tau): dt/tau' = 1 - exp(-1/tau)",
        r="written as 1; right for norm_input=True (LIF default), IAF adds input with gain 1",
        w_in="-",
        input_gain="1",
        spike="MultiSpike (default): trunc(v / theta) spikes per step, graded",
        threshold=">=",
        reset="subtract",
        notes=("MembraneSubtract: v -= n theta; IAF's min_v_mem is not written; LIF's "
               "norm_input=False is not written (r would be 1/(1 - alpha)); the runtime emits at "
               "most one spike per step"),
    ),
    "rockpool": ExporterConvention(
        source="rockpool", version="rockpool 3.1.0",
        cites="rockpool/nn/modules/torch/nir.py, lif_torch.py",
        exporter_dt=1e-3, dt_fixed=False,
        tau=("tau_syn, tau_mem in seconds, exact decays beta = exp(-dt/tau_syn), alpha = "
             "exp(-dt/tau_mem); module dt (default 1e-3) is not written but r implies it "
             "(rockpool_module_dt)"),
        r="written as tau_mem exp(-dt/tau_mem) / dt; the module adds isyn with gain 1: r = tau_mem'/dt",
        w_in="not written; isyn = beta (isyn + x): w_in = beta tau_syn' / dt",
        input_gain="1, before the synaptic decay",
        spike="StepPWL: floor(v / theta) spikes per step when v >= theta, graded",
        threshold=">=",
        reset="subtract",
        notes=("v -= n theta; LIFTorch's bias is not written (v_leak = 0) nor its w_rec (has_rec=True "
               "exports a feed-forward CubaLIF); Input/Output carry to_nir's sample dimension (1, N), "
               "which fails nir.read's type checks (loaded with type_check=False, the leading 1s "
               "dropped); measured against Rockpool's evolve: one spike per step "
               "(max_spikes_per_dt=1) is exact at the hop offset (benchmarks/rockpool_agreement.py)"),
    ),
    "spikingjelly": ExporterConvention(
        source="spikingjelly", version="spikingjelly 0.0.0.1.0 nir_exchange (none in 0.0.0.0.14)",
        cites="spikingjelly/activation_based/nir_exchange/to_nir.py, neuron.py",
        exporter_dt=1e-4, dt_fixed=False,
        tau="tau = tau_steps * dt (export_to_nir(dt=1e-4) default), Euler as the contract",
        r="1 with decay_input=True, tau_steps without; IF: r = 1/dt",
        w_in="-",
        input_gain="1",
        spike="1",
        threshold=">=",
        reset="zero",
        notes=("v_leak = v_reset; soft reset (v_reset=None) is written as hard reset to 0 "
               "(the file cannot tell them apart: pass reset='subtract' for soft-reset models)"),
    ),
    "lava-dl": ExporterConvention(
        source="lava-dl", version="lava-dl PR #218 (unmerged; lava-dl 0.6.0 has no NIR bridge); netx HDF5 of 0.6.0",
        cites=("lava-dl PR #218 nir_graph.py read_cuba_lif; slayer/neuron/cuba.py, block/base.py export_hdf5, "
               "netx/hdf5.py (0.6.0)"),
        exporter_dt=1.0 / 4096, dt_fixed=True,
        tau="tau = 1 / iDecay, 1 / vDecay with decays in 1/4096 per step: dt = 1/4096 s",
        r="written as 1; Loihi adds u to v with gain 1: r = tau_mem / dt",
        w_in="written as tau_syn; Loihi adds the weighted input to u with gain 1: w_in = tau_syn / dt",
        input_gain="1",
        spike="1 (graded spikes refused with a warning by the exporter)",
        threshold=">",
        reset="zero",
        notes=("threshold is vThMant in the file's integer weight units (float v = Loihi's v / 64); refDelay "
               "is dropped (netx drops it too); iDecay or vDecay = 0 is refused (no CubaLIF form); a netx HDF5 "
               "file is read directly (neuro_runtime.netx_graph); fixed point keeps the file's integers where "
               "they sit on Loihi's grid (neuro_runtime.native_fixed)"),
    ),
    "nir": ExporterConvention(
        source="nir", version="NIR 1.0.8",
        cites="nir/ir/neuron.py (the NIR equations, forward Euler)",
        exporter_dt=None, dt_fixed=False,
        tau="seconds", r="as NIR", w_in="as NIR", input_gain="1", spike="1",
        threshold=">", reset="zero",
        notes="the file is taken as the contract; dt from metadata or the caller",
    ),
}

SOURCES = tuple(CONVENTIONS)


@dataclass
class SourceRecord:
    """What :func:`load_foreign` assumed: ``dt`` (s), ``reset`` mode, ``source``, notes.

    ``reset_amount`` (with ``reset == "subtract"``): per spiking node, what the contract must
    subtract from ``v`` at the spike step to reproduce the library: ``v_threshold``, except
    snnTorch, whose delayed reset subtracts ``v_threshold`` one step later after the leak, i.e.
    ``v_threshold / (1 - dt/tau_mem)`` at the spike step.
    """

    path: str | None
    source: str
    dt: float
    dt_origin: str  # "metadata" | "argument" | "exporter"
    reset: str
    flattened: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    reset_amount: dict[str, np.ndarray] = field(default_factory=dict)


def read_nir(path: str | Path) -> nir.NIRGraph:
    """``nir.read``; on a type-check failure read again with ``type_check=False`` and warn.

    Raises :class:`UserError` when the file is missing or not a NIR/HDF5 file.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError("NIR file not found", p)
    try:
        import h5py

        with h5py.File(p, "r") as f:
            if "node" not in f:
                raise UserError("neither a NIR graph nor a lava-dl netx network (HDF5 without a 'node' or "
                                "'layer' group)", p)
    except OSError:
        raise UserError("not a NIR/HDF5 file", p) from None
    try:
        return nir.read(str(p))
    except Exception as exc:  # noqa: BLE001 - retry without nir's type checks, below
        first = exc
    try:
        graph = nir.read(str(p), type_check=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise UserError(f"cannot read NIR graph: {type(exc).__name__}: {exc}", p) from None
    warnings.warn(f"{p}: nir.read type check failed ({type(first).__name__}: {first}); "
                  "loaded with type_check=False", SourceWarning, stacklevel=2)
    return graph


def flatten_graph(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nodes and edges of ``graph`` with every nested NIRGraph inlined under dotted names.

    A subgraph ``g`` contributes its nodes as ``g.name``; an edge into ``g`` (or ``g.input``,
    naming one of its Input nodes) goes to what that Input feeds, an edge out of ``g`` (or
    ``g.output``) leaves from what feeds that Output.  Only the top graph's Input/Output stay.
    """
    nodes, edges, passthrough = _inline(graph, prefix)
    for name in passthrough:  # bypass inner Input/Output nodes
        preds = [a for a, b in edges if b == name]
        succs = [b for a, b in edges if a == name]
        edges = [(a, b) for a, b in edges if name not in (a, b)]
        edges += [(a, b) for a in preds for b in succs]
        del nodes[name]
    return nodes, list(dict.fromkeys(edges))


def _inline(graph: nir.NIRGraph, prefix: str) -> tuple[dict[str, Any], list[tuple[str, str]], list[str]]:
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    passthrough: list[str] = []
    ports: dict[str, tuple[list[str], list[str]]] = {}  # subgraph -> (its Inputs, its Outputs)
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges, sub_pass = _inline(node, full + ".")
            nodes.update(sub_nodes)
            edges += sub_edges
            passthrough += sub_pass
            ins = [full + "." + k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [full + "." + k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            passthrough += ins + outs
            ports[full] = (ins, outs)
        else:
            nodes[full] = node
    for a, b in graph.edges:
        src, dst = prefix + a, prefix + b
        srcs = ports[src][1] if src in ports else [src]
        dsts = ports[dst][0] if dst in ports else [dst]
        edges += [(s, d) for s in srcs for d in dsts]
    return nodes, edges, passthrough


_TAUS = ("tau", "tau_mem", "tau_syn")


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _decay(dt_exp: float, tau: np.ndarray) -> np.ndarray:
    """The per-step Euler decay ``dt/tau`` of a tau written in the exporter's own step."""
    with np.errstate(divide="ignore"):
        return np.where(np.isinf(tau), 0.0, dt_exp / tau)


def _tau_for(dt: float, d: np.ndarray) -> np.ndarray:
    """tau (s) giving the per-step decay ``d`` = dt/tau at step ``dt`` (inf where d = 0)."""
    with np.errstate(divide="ignore"):
        return np.where(d == 0, np.inf, dt / np.where(d == 0, 1.0, d))


def _strict(theta: Any) -> np.ndarray:
    """``v >= theta`` as ``v > theta'`` for float64 v."""
    return np.nextafter(_arr(theta), -np.inf)


# (node name, node copy, dt, the exporter's step, per-node notes [(message, node name)]) -> node
Normaliser = Callable[[str, Any, float, float, list], Any]


def _euler_taus(node: Any, dt: float, dt_exp: float) -> Any:
    """Keep each per-step decay the exporter meant (its taus are in steps of ``dt_exp``)."""
    if dt == dt_exp:
        return node
    for attr in ("tau", "tau_mem", "tau_syn"):
        if hasattr(node, attr):
            setattr(node, attr, _tau_for(dt, _decay(dt_exp, _arr(getattr(node, attr)))))
    return node


def _norm_snntorch(name: str, node: Any, dt: float, dt_exp: float, notes: list) -> Any:
    return _euler_taus(node, dt, dt_exp)


def _norm_norse(name: str, node: Any, dt: float, dt_exp: float, notes: list) -> Any:
    for attr in _TAUS:  # Norse 1.1 writes dt * tau (dt of to_nir, taken equal to the run's dt)
        if hasattr(node, attr):
            setattr(node, attr, _arr(getattr(node, attr)) / dt)
    if isinstance(node, nir.CubaLIF):
        node.w_in = _arr(node.w_in) * _arr(node.tau_syn) / dt
    return node


def _norm_sinabs(name: str, node: Any, dt: float, dt_exp: float, notes: list) -> Any:
    if isinstance(node, (nir.LIF, nir.LI)):
        node.tau = _tau_for(dt, 1.0 - np.exp(-dt_exp / _arr(node.tau)))
    if hasattr(node, "v_threshold"):
        node.v_threshold = _strict(node.v_threshold)
        notes.append(("Sinabs MultiSpike emits up to trunc(v/theta) spikes per step, the runtime one", name))
    return node


def _norm_rockpool(name: str, node: Any, dt: float, dt_exp: float, notes: list) -> Any:
    if isinstance(node, (nir.Input, nir.Output)):  # to_nir's sample data (1, N) adds leading 1s
        shape = np.asarray(next(iter(node.input_type.values()))).reshape(-1)
        if shape.size > 1 and np.all(shape[:-1] == 1):
            notes.append(("Rockpool's leading sample dimensions of size 1 dropped", name))
            return type(node)(np.asarray(shape[-1:]))
        return node
    if isinstance(node, nir.CubaLIF):
        beta = np.exp(-dt_exp / _arr(node.tau_syn))
        alpha = np.exp(-dt_exp / _arr(node.tau_mem))
        node.tau_syn, node.tau_mem = _tau_for(dt, 1 - beta), _tau_for(dt, 1 - alpha)
        node.w_in = beta / (1 - beta)
        node.r = 1 / (1 - alpha)
        node.v_threshold = _strict(node.v_threshold)
        notes.append(("Rockpool emits up to floor(v/theta) spikes per step, the runtime one", name))
    elif isinstance(node, nir.LI):
        beta = np.exp(-dt_exp / _arr(node.tau))
        node.tau, node.r = _tau_for(dt, 1 - beta), beta / (1 - beta)
    return node


def _norm_spikingjelly(name: str, node: Any, dt: float, dt_exp: float, notes: list) -> Any:
    if hasattr(node, "v_threshold"):
        node.v_threshold = _strict(node.v_threshold)
    return node


def _norm_lava_dl(name: str, node: Any, dt: float, dt_exp: float, notes: list) -> Any:
    if isinstance(node, nir.CubaLIF):
        d_syn, d_mem = _decay(dt_exp, _arr(node.tau_syn)), _decay(dt_exp, _arr(node.tau_mem))
        for what, d in (("iDecay (tau_syn)", d_syn), ("vDecay (tau_mem)", d_mem)):
            if np.any(d == 0):  # Loihi adds the input with gain 1 to a state that never decays: w_in, r infinite
                raise UserError(f"node {name!r} (CubaLIF): {what} = 0 (no decay) has no NIR CubaLIF form "
                                "with lava-dl's unit input gain")
        node.tau_syn, node.tau_mem = _tau_for(dt, d_syn), _tau_for(dt, d_mem)
        node.w_in, node.r = 1.0 / d_syn, 1.0 / d_mem
    return node


def _norm_nir(name: str, node: Any, dt: float, dt_exp: float, notes: list) -> Any:
    return node


NORMALISERS: dict[str, Normaliser] = {
    "snntorch": _norm_snntorch, "norse": _norm_norse, "sinabs": _norm_sinabs,
    "rockpool": _norm_rockpool, "spikingjelly": _norm_spikingjelly, "lava-dl": _norm_lava_dl,
    "nir": _norm_nir,
}


def rockpool_module_dt(graph: nir.NIRGraph) -> float | None:
    """The module step (s) Rockpool's ``to_nir`` encodes in every LIF/CubaLIF/LI node's
    ``r = tau exp(-dt/tau) / dt`` (``tau``: tau_mem or tau), i.e. ``dt = tau W(1/r)`` (Lambert W),
    rounded to 6 significant digits (the file stores float32); None when no node carries it or the
    nodes disagree."""
    from scipy.special import lambertw

    nodes, _ = flatten_graph(graph)
    steps = []
    for node in nodes.values():
        if isinstance(node, (nir.LIF, nir.CubaLIF, nir.LI)):
            tau = _arr(node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau)
            r = _arr(node.r)
            if np.any(r <= 0) or np.any(tau <= 0):
                return None
            steps.append(np.broadcast_to(tau * np.real(lambertw(1.0 / r)), np.broadcast_shapes(tau.shape, r.shape)))
    if not steps:
        return None
    found = np.concatenate([np.ravel(a) for a in steps])
    step = float(f"{float(np.median(found)):.6g}")
    return step if np.allclose(found, step, rtol=1e-5) else None


def check_time_step(nodes: dict[str, Any], dt: float) -> None:
    """Raise :class:`UserError` naming the first node with ``dt/tau > 1`` (or ``tau <= 0``)."""
    for name, node in nodes.items():
        for attr in _TAUS:
            if not hasattr(node, attr):
                continue
            tau = _arr(getattr(node, attr))
            if np.any(tau <= 0) or np.any(np.isnan(tau)):
                raise UserError(f"node {name!r} ({type(node).__name__}): {attr} must be > 0")
            ratio = float(np.max(_decay(dt, tau)))
            if ratio > 1:
                raise UserError(f"node {name!r} ({type(node).__name__}): dt/{attr} = {ratio:.4g} > 1 "
                                f"(dt {dt:g} s, {attr} {float(np.min(tau)):g} s): forward Euler is unstable")


def load_foreign(
    path_or_graph: str | Path | nir.NIRGraph,
    *,
    source: str = "nir",
    dt: float | None = None,
    reset: str | None = None,
) -> tuple[nir.NIRGraph, SourceRecord]:
    """Read a NIR file from any exporter and return it in the runtime's contract.

    ``source``: one of :data:`SOURCES` (see :data:`CONVENTIONS`).  ``dt`` (s): used when the file
    has no ``metadata["dt"]``; without either, the exporter's own step where its source code fixes
    one or defaults to one (a note says so), else :class:`UserError` naming the file and ``--dt``.
    ``reset``: ``"zero"`` or ``"subtract"``; default: the library's own default.
    Returns a flat ``nir.NIRGraph`` with ``metadata["dt"]``, ``["reset"]``, ``["source"]``, and a
    :class:`SourceRecord`.  The reset mode is recorded, not applied: the graph's nodes are those
    of the contract with reset to ``v_reset``.
    """
    if source not in CONVENTIONS:
        raise UserError(f"unknown --source {source!r}; valid: {', '.join(SOURCES)}")
    conv = CONVENTIONS[source]
    if reset is not None and reset not in RESET_MODES:
        raise UserError(f"unknown --reset {reset!r}; valid: {', '.join(RESET_MODES)}")
    path = None
    if isinstance(path_or_graph, (str, Path)):
        path = str(path_or_graph)
        if is_netx(path):  # lava-dl's own export (slayer export_hdf5): read in the lava-dl convention
            if source not in ("nir", "lava-dl"):
                raise UserError(f"a lava-dl netx HDF5 file; --source {source} does not apply (lava-dl or none)", path)
            source, conv = "lava-dl", CONVENTIONS["lava-dl"]
            graph = read_netx(path)
        else:
            graph = read_nir(path_or_graph)
    else:
        graph = path_or_graph
    where = path or "graph"

    meta = dict(getattr(graph, "metadata", None) or {})
    notes: list[str] = []
    if "dt" in meta:
        step, origin = float(np.asarray(meta["dt"]).reshape(-1)[0]), "metadata"
        if dt is not None and not np.isclose(dt, step):
            notes.append(f"metadata dt {step:g} s used; --dt {dt:g} ignored")
    elif dt is not None:
        step, origin = float(dt), "argument"
    elif source == "rockpool" and (implied := rockpool_module_dt(graph)) is not None:
        step, origin = implied, "exporter"
        notes.append(f"no dt in the file: Rockpool's r = tau exp(-dt/tau)/dt implies its module step {step:g} s")
    elif conv.exporter_dt is not None:
        step, origin = conv.exporter_dt, "exporter"
        notes.append(f"no dt in the file: {conv.version}'s exporter step {step:g} s assumed")
    else:
        raise UserError("the graph has no metadata['dt'] and no --dt was given (time step in seconds)", where)
    if not np.isfinite(step) or step <= 0:
        raise UserError(f"dt must be a positive number of seconds, got {step}", where)

    nodes, edges = flatten_graph(graph)
    flattened = tuple(n for n, v in graph.nodes.items() if isinstance(v, nir.NIRGraph))
    # the exporter's taus are in its own step when that step is fixed in its code
    dt_exp = conv.exporter_dt if conv.dt_fixed else step
    if conv.dt_fixed and origin != "exporter" and not np.isclose(step, conv.exporter_dt):
        notes.append(f"{source} taus are written for dt {conv.exporter_dt:g} s; rescaled to dt {step:g} s "
                     "(same decay per step)")
    norm = NORMALISERS[source]
    out_nodes, node_notes = {}, []
    try:
        for name, node in nodes.items():
            out_nodes[name] = norm(name, copy.deepcopy(node), step, dt_exp, node_notes)
    except UserError as exc:
        raise UserError(str(exc), where) from None
    for msg in dict.fromkeys(m for m, _ in node_notes):
        notes.append(f"{msg} (nodes {', '.join(n for m, n in node_notes if m == msg)})")
    try:
        check_time_step(out_nodes, step)
    except UserError as exc:
        raise UserError(str(exc), where) from None
    mode = reset or conv.reset
    amounts = {}
    if mode == "subtract":
        for name, node in out_nodes.items():
            if hasattr(node, "v_threshold"):
                th = _arr(node.v_threshold)
                tau = getattr(node, "tau_mem", getattr(node, "tau", None))
                amounts[name] = th / (1 - _decay(step, _arr(tau))) if source == "snntorch" and tau is not None else th
    meta.update(dt=step, reset=mode, source=source)
    out = nir.NIRGraph(nodes=out_nodes, edges=edges, metadata=meta, type_check=False)
    for n in notes:
        warnings.warn(f"{where}: {n}", SourceWarning, stacklevel=2)
    return out, SourceRecord(path=path, source=source, dt=step, dt_origin=origin, reset=mode,
                             flattened=flattened, notes=notes, reset_amount=amounts)
