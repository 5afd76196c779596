"""Run every backend on the same test videos, timed, each failure caught into its own entry.

Backends (names used in ``results.json``):

* ``reference``: the PyTorch MSF of ``--checkpoint`` (GPU when there is one, else CPU), scored
  exactly as ``ucfdvs eval`` does (:func:`train.evaluate.score_videos`), its spikes and operations
  counted in a second pass, one video at a time (:func:`benchmarks.suite.ops.count_reference`);
* ``streaming``: the streaming MSF in PyTorch: the NIR graph run step by step by
  :class:`export.nir_interpreter.NIRInterpreter` (nirtorch), CPU;
* ``emu_float`` / ``emu_fixed``: the NumPy emulator of Lava ``floating_pt`` / bit-accurate
  ``fixed_pt`` on the full split (:func:`export.simulate.run_in_tasks`, as ``ucfdvs simulate``; with
  ``--workers N`` / ``--scheduler`` the videos run as Dask tasks, as ``ucfdvs simulate --workers``);
* ``lava_float`` / ``lava_fixed``: the real Lava simulator on ``--lava-videos`` videos evenly spread
  over the split (as ``ucfdvs simulate --videos N``), with the emulator re-run on that subset for
  an agreement check.

A backend whose inputs are absent is ``missing`` (with the reason); one that raises is ``failed``
(with the error text); the others still run.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ucfdvs.benchmarks.suite.ops import OpCount, count_graph, count_reference
from ucfdvs.train.layout import Video

GRAPH_BACKENDS = ("emu_float", "emu_fixed", "lava_float", "lava_fixed")
ALL_BACKENDS = ("reference", "streaming") + GRAPH_BACKENDS
LABELS = {
    "reference": "reference MSF, PyTorch (SpikingJelly)",
    "streaming": "streaming MSF, PyTorch (NIR interpreter, nirtorch)",
    "emu_float": "Lava floating_pt, emulator (full split)",
    "emu_fixed": "Lava fixed_pt, emulator (full split)",
    "lava_float": "Lava floating_pt, real Lava simulator (subset)",
    "lava_fixed": "Lava fixed_pt, real Lava simulator (subset)",
}


@dataclass
class BackendRun:
    """One backend's outcome on its videos.

    ``scores[stem]``: snippet scores ``[n]``; ``counts``: operation counts; ``wall_s``: seconds of
    execution (model loading and graph building excluded unless stated in ``timing``);
    ``latency_steps``: steps from a snippet's input to its score (graph backends) or None (offline).
    """

    name: str
    status: str = "ok"
    error: str = ""
    label: str = ""
    device: str = "cpu"
    stems: list[str] = field(default_factory=list)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    counts: OpCount | None = None
    wall_s: float = 0.0
    latency_steps: int | None = None
    spikes_per_population: dict[str, int] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    gpu_energy: Any = None  # energy.NvmlMeasurement when measured
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def failed(name: str, err: BaseException) -> BackendRun:
    text = f"{type(err).__name__}: {err}".strip()
    run = BackendRun(name, status="failed", error=text.splitlines()[0] if text else type(err).__name__,
                     label=LABELS.get(name, name))
    run.extra["traceback"] = traceback.format_exc(limit=6)
    return run


def missing(name: str, reason: str) -> BackendRun:
    return BackendRun(name, status="missing", error=reason, label=LABELS.get(name, name))


def guarded(name: str, fn: Callable[[], BackendRun]) -> BackendRun:
    """Run ``fn``; any exception (not KeyboardInterrupt) becomes a ``failed`` entry."""
    try:
        run = fn()
    except Exception as err:  # noqa: BLE001 - a failing backend must not stop the others
        return failed(name, err)
    run.label = run.label or LABELS.get(name, name)
    return run


# -- reference ---------------------------------------------------------------------------------

def run_reference(checkpoint, videos: list[Video], device: torch.device, nvml=None,
                  nvml_seconds: float = 5.0) -> BackendRun:
    """Score ``videos`` with the checkpoint's model (as ``ucfdvs eval``), time it, count its ops.

    ``nvml``: an :class:`benchmarks.suite.energy.EnergyCounter` (NVML on a CUDA device, RAPL on the
    CPU) to measure the scoring pass's energy (repeated for ``nvml_seconds``)."""
    from ucfdvs.train.evaluate import score_videos

    model = checkpoint.model.to(device)
    if not hasattr(model, "config") or type(model).__name__ != "MSF":
        raise ValueError(f"checkpoint holds architecture {checkpoint.arch!r}; the suite counts MSF operations only")
    run = BackendRun("reference", label=LABELS["reference"], device=str(device))
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":  # warm-up (kernels, allocator) outside the timed pass
        score_videos(model, videos[:1], device)
        sync()
    t0 = time.perf_counter()
    run.scores = score_videos(model, videos, device)
    sync()
    run.wall_s = time.perf_counter() - t0
    run.stems = [v.stem for v in videos]
    run.counts = count_reference(model, [v.features for v in videos], device)
    run.spikes_per_population = {k: c.spikes for k, c in run.counts.layers.items()}
    run.extra["parameter_words"] = int(sum(p.numel() for p in model.parameters()))
    run.extra["input_words"] = int(sum(v.features.size for v in videos))
    if nvml is not None:
        from ucfdvs.benchmarks.suite.energy import measure_nvml

        run.gpu_energy = measure_nvml(lambda: score_videos(model, videos, device), nvml, sync, min_seconds=nvml_seconds)
        run.extra["energy_counter"] = "nvml" if device.type == "cuda" else "rapl"
    run.notes.append("offline model: a score needs the whole video (global graph convolution, centred convolutions)")
    return run


# -- NIR graph backends ------------------------------------------------------------------------

def _inputs(videos: list[Video], latency: int) -> list[np.ndarray]:
    from ucfdvs.export.simulate import padded_input

    return [padded_input(v, latency) for v in videos]


def _graph_counts(graph, videos: list[Video], latency: int, runs) -> OpCount:
    return count_graph(graph, [r.spikes for r in runs], _inputs(videos, latency),
                       snippets=sum(v.n_snippets for v in videos), events=[r.synaptic_events for r in runs])


def run_graph(name: str, source, net, videos: list[Video], progress: bool = False, workers: int = 1,
              scheduler: str | None = None) -> BackendRun:
    """``emu_*`` / ``lava_*``: ``videos`` through ``net`` (a :class:`neuro_runtime.Network` read from
    ``source``, a NIR file or graph) as tasks, as ``ucfdvs simulate --workers`` runs them
    (:func:`export.simulate.run_in_tasks`: in this process, or on ``workers`` local Dask processes or the
    cluster at ``scheduler``), timed."""
    from ucfdvs.export.simulate import fixed_point, run_in_tasks, run_videos, single_output

    graph = net.graph
    backend, precision = ("emu" if name.startswith("emu") else "lava"), ("fixed" if name.endswith("fixed") else "float")
    _, latency = single_output(graph, graph.source or "graph")
    qinfo = fixed_point(net, videos) if precision == "fixed" else {}
    t0 = time.perf_counter()
    runs = run_in_tasks(source, net, videos, backend, precision, workers, scheduler, progress=progress)
    wall = time.perf_counter() - t0
    run = BackendRun(name, label=LABELS[name], device="cpu", stems=[v.stem for v in videos],
                     scores={r.stem: r.scores for r in runs}, wall_s=wall, latency_steps=latency)
    run.counts = _graph_counts(graph, videos, latency, runs)
    run.spikes_per_population = {p: int(sum(int(r.spikes[p].sum()) for r in runs)) for p in (runs[0].spikes if runs else {})}
    run.extra["synaptic_events_per_layer"] = {
        k: int(sum(int(r.synaptic_events[k].sum()) for r in runs)) for k in (runs[0].synaptic_events if runs else {})}
    if qinfo:
        run.extra["quantization"] = qinfo
    if workers > 1 or scheduler is not None:
        run.notes.append(f"videos run as Dask tasks on {scheduler or f'{workers} local worker processes'}; wall "
                         "time includes starting and closing the local cluster")
    if backend == "lava":
        run.notes.append("wall time includes starting the Lava worker process and building and compiling "
                         "the Lava network")
        emu = run_videos(net, videos, "emu", precision, progress=False)
        diff = max(float(np.abs(e.scores - run.scores[e.stem]).max()) for e in emu) if emu else 0.0
        same = all(np.array_equal(e.spikes[p], r.spikes[p]) for e, r in zip(emu, runs) for p in e.spikes)
        run.extra["agreement_with_emulator"] = {"max_abs_score_difference": diff, "spikes_identical": bool(same)}
    return run


def run_streaming(nir_source, graph, videos: list[Video], batch_size: int = 32) -> BackendRun:
    """The graph in PyTorch (:class:`export.nir_interpreter.NIRInterpreter`), float64, CPU.

    Videos are batched by length; a video is padded with zeros after its end (the graph is causal,
    so padding never changes its scores); score i = sigmoid(output[i + latency])."""
    from ucfdvs.export.nir_interpreter import NIRInterpreter
    from ucfdvs.export.simulate import padded_input, sigmoid, single_output

    _, latency = single_output(graph, graph.source or "graph")
    t_build = time.perf_counter()
    interp = NIRInterpreter(nir_source)
    build_s = time.perf_counter() - t_build
    order = sorted(videos, key=lambda v: v.n_snippets)
    scores: dict[str, np.ndarray] = {}
    spikes: dict[str, dict[str, np.ndarray]] = {}
    graded: dict[str, dict[str, np.ndarray]] = {}
    spiking = {n for n, s in graph.neurons.items() if s.spiking}
    wall = 0.0
    for start in range(0, len(order), batch_size):
        chunk = order[start: start + batch_size]
        steps = max(v.n_snippets for v in chunk) + latency
        x = np.stack([padded_input(v, latency, steps) for v in chunk])
        t0 = time.perf_counter()
        outs, rec = interp.run(torch.from_numpy(x))
        wall += time.perf_counter() - t0
        out = next(iter(outs.values())).numpy()  # the graph's one Output (single_output)
        for row, v in enumerate(chunk):
            n = v.n_snippets
            raw = out[row, latency: n + latency, 0]
            scores[v.stem] = sigmoid(raw).astype(np.float32)
            spikes[v.stem] = {k: rec[k][row, : n + latency].numpy().astype(np.uint8) for k in rec if k in spiking}
            graded[v.stem] = {k: rec[k][row, : n + latency].numpy() for k in rec if k not in spiking}
    run = BackendRun("streaming", label=LABELS["streaming"], device="cpu", stems=[v.stem for v in videos],
                     scores={v.stem: scores[v.stem] for v in videos}, wall_s=wall, latency_steps=latency)
    run.timing["build_s"] = build_s
    run.counts = count_graph(graph, [spikes[v.stem] for v in videos], _inputs(videos, latency),
                             graded=[graded[v.stem] for v in videos], snippets=sum(v.n_snippets for v in videos))
    run.spikes_per_population = {k: c.spikes for k, c in run.counts.layers.items() if c.spiking}
    return run
