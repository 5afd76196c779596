"""`ucfdvs simulate`: run an exported NIR graph on the test split in the emulator or in Lava.

Each video of n snippets is fed as n + L steps (zeros after the video), and its snippet score i
is sigmoid(output[i + L]): the graph's Output node carries the read-out's pre-sigmoid value, and
the sigmoid is applied here, outside the graph. L is the score latency the exporter stored in
`metadata["latency_steps"]` (where look-ahead taps exist it exceeds the first arrival of input
step 0 at the output); a graph without it uses the first-arrival latency.

Videos run as tasks (`ucfdvs.train.task_runner`): in this process (`workers=1`), on a local Dask
cluster of `workers` processes, or on an existing cluster (`scheduler`). The videos are dealt, longest
first, into `n_tasks` groups (:func:`video_tasks`); a task loads the NIR file once per worker process,
sets fixed point from the input range chosen over all videos in the caller, and runs its group (a Lava
task starts a Lava worker process of its own, which ends with the task). A video's result does not
depend on which videos share its task (emulator batches are padded and cut, Lava resets at every
sequence), so any `workers` gives the same files. A group that fails is run again one video at a time
in its task, so that each failing video is named with its error; the others finish, and the run then
ends with a `UserError` listing them, writing nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np

from ucfdvs.neuro_runtime.graph_check import RuntimeGraph
from ucfdvs.neuro_runtime.network import Network, load_network
from ucfdvs.neuro_runtime.records import RunRecord
from ucfdvs.atomic import atomic_dir, check_output_dir
from ucfdvs.errors import UserError
from ucfdvs.train.evaluate import TestSet, scored_videos
from ucfdvs.train.layout import FeatureLayout, Video
from ucfdvs.train.metrics import frame_metrics, json_ready
from ucfdvs.train.task_runner import check_workers, guarded, run_tasks

BACKENDS = ("emu", "lava")
PRECISIONS = {"float": "floating_pt", "fixed": "fixed_pt"}
EMULATOR_BATCH = 32
"""Most videos in one emulator task (one padded batch)."""


@dataclass
class VideoRun:
    """One video's result: snippet scores `[n]`, spikes per population `[n + L, N]`, synaptic events per layer `[n + L]`."""

    stem: str
    scores: np.ndarray
    spikes: dict[str, np.ndarray]
    synaptic_events: dict[str, np.ndarray]


def single_output(graph: RuntimeGraph, path: Path) -> tuple[str, int]:
    """The graph's one Output node of size 1 and its score latency in steps."""
    if len(graph.outputs) != 1:
        raise UserError(f"expected one Output node, found {len(graph.outputs)}", path)
    name = next(iter(graph.outputs))
    if graph.size(name) != 1:
        raise UserError(f"Output {name!r} has {graph.size(name)} channels, a score needs 1", path)
    first_arrival = graph.latency[name]
    if first_arrival is None:
        raise UserError(f"Output {name!r} is not reachable from the Input", path)
    stored = graph.metadata.get("latency_steps")
    if stored is None:
        return name, int(first_arrival)
    try:
        latency = int(np.asarray(stored).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        raise UserError(f'metadata "latency_steps" is not an integer: {stored!r}', path) from None
    if latency < first_arrival:
        raise UserError(
            f'metadata "latency_steps" = {latency} is below the first arrival of input at the output ({first_arrival})', path
        )
    return name, latency


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The read-out's sigmoid, applied outside the graph to its Output values."""
    return 1.0 / (1.0 + np.exp(-x))


def _video_run(video: Video, record: RunRecord, output: str, latency: int) -> VideoRun:
    steps = video.n_snippets + latency
    raw = record.outputs[output][latency:steps, 0]
    return VideoRun(
        video.stem,
        sigmoid(raw).astype(np.float32),
        {name: spikes[:steps] for name, spikes in record.spikes.items()},
        {name: events[:steps] for name, events in record.synaptic_events.items()},
    )


def padded_input(video: Video, latency: int, steps: int | None = None) -> np.ndarray:
    """A video's features `[n, D]` followed by zeros up to `steps` (default n + latency) rows, float64."""
    steps = steps or video.n_snippets + latency
    x = np.zeros((steps, video.features.shape[1]), dtype=np.float64)
    x[: video.n_snippets] = video.features
    return x


def run_videos(net: Network, videos: list[Video], backend: str, precision: str, batch_size: int = 32,
               progress: bool = True) -> list[VideoRun]:
    """Run each video (features then ``latency`` zero steps) through the network
    (:meth:`Network.run_sequences`: the emulator batches videos of similar length, Lava runs them
    back to back); fixed point uses ``net.quant`` (see :func:`fixed_point`)."""
    output, latency = single_output(net.graph, Path(net.graph.source or "graph"))
    records = net.run_sequences([padded_input(v, latency) for v in videos], backend, precision,
                                batch_size=batch_size, progress=progress)
    return [_video_run(v, r, output, latency) for v, r in zip(videos, records)]


def fixed_point(net: Network, videos: list[Video]) -> dict:
    """Choose the network's fixed-point parameters for these videos (input range = their largest
    |feature|); returns a report: ``input_range``, ``report`` (per-layer errors), ``warnings``."""
    input_range = float(max(np.abs(v.features).max() for v in videos))
    quant = net.quantize(input_range=input_range)
    return {"input_range": input_range, "report": quant.report(), "warnings": list(quant.warnings)}


def spread_indices(n: int, count: int) -> np.ndarray:
    """``count`` indices evenly spread over ``range(n)`` (all of them when ``count >= n``)."""
    return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(int))


def spread_subset(videos: list[Video], count: int | None) -> list[Video]:
    """`count` videos evenly spread over the split (so a subset mixes classes and normal videos); all if None."""
    if count is None or count >= len(videos):
        return videos
    if count < 1:
        raise UserError("--videos must be >= 1")
    return [videos[i] for i in spread_indices(len(videos), count)]


@dataclass(frozen=True)
class VideoTask:
    """A group of videos to run: the graph (NIR file path, or the graph itself), backend, precision,
    fixed-point input range (or None)."""

    source: str | nir.NIRGraph
    backend: str
    precision: str
    input_range: float | None
    videos: tuple[Video, ...]


_NETWORKS: dict[tuple[str, float | None], Network] = {}


def _network(task: VideoTask) -> Network:
    """The task's network (fixed point set from `input_range`); one read from a NIR file is kept per process
    (Dask workers keep it between tasks)."""
    key = (task.source, task.input_range) if isinstance(task.source, str) else None
    if key in _NETWORKS:
        return _NETWORKS[key]
    net = load_network(task.source)
    if task.input_range is not None:
        net.quantize(input_range=task.input_range)
    if key is not None:
        _NETWORKS.clear()
        _NETWORKS[key] = net
    return net


def run_task(task: VideoTask) -> list[tuple[str, VideoRun | None, str | None]]:
    """(stem, run, None) for each video of the task, or (stem, None, error) for the videos that fail
    (found by running a failed group again one video at a time)."""
    net = _network(task)

    def run(videos: list[Video]) -> list[VideoRun]:
        return run_videos(net, videos, task.backend, task.precision, batch_size=EMULATOR_BATCH, progress=False)

    runs, error = guarded(run, list(task.videos))
    if error is None:
        return [(r.stem, r, None) for r in runs]
    if len(task.videos) == 1:
        return [(task.videos[0].stem, None, error)]
    results = []
    for video in task.videos:
        one, error = guarded(run, [video])
        results.append((video.stem, one[0] if one else None, error))
    return results


def video_tasks(videos: list[Video], n_tasks: int) -> list[list[Video]]:
    """`videos` dealt longest first into `n_tasks` groups of near-equal total length."""
    order = sorted(videos, key=lambda v: -v.n_snippets)
    n_tasks = max(1, min(n_tasks, len(videos)))
    return [order[k::n_tasks] for k in range(n_tasks)]


def run_in_tasks(source: str | Path | nir.NIRGraph, net: Network, videos: list[Video], backend: str, precision: str,
                 workers: int = 1, scheduler: str | None = None, progress: bool = True) -> list[VideoRun]:
    """:func:`run_videos` on `videos` as tasks (see the module docstring): in this process (`workers=1`),
    on `workers` local Dask processes, or on the cluster at `scheduler` (`workers` tasks, or more for
    the emulator). `net` is the network read from `source` (a NIR file or graph), with fixed point set
    (:func:`fixed_point`) for fixed precision. Runs in `videos`' order; a `UserError` naming every video
    that failed, after the others finished."""
    from tqdm import tqdm

    check_workers(workers)
    fixed = PRECISIONS.get(precision, precision) == "fixed_pt"
    if fixed and net.quant is None:
        fixed_point(net, videos)
    input_range = net.quant_input_range if fixed else None
    if isinstance(source, (str, Path)):
        source = str(Path(source).resolve())
        _NETWORKS.clear()
        _NETWORKS[(source, input_range)] = net
    n_tasks = max(workers, math.ceil(len(videos) / EMULATOR_BATCH)) if backend == "emu" else workers
    tasks = [VideoTask(source, backend, precision, input_range, tuple(group)) for group in video_tasks(videos, n_tasks)]
    by_stem: dict[str, VideoRun] = {}
    failed: dict[str, str] = {}
    bar = tqdm(total=len(videos), desc=f"{backend} {precision}", unit="video", disable=not progress)
    try:
        for task, results, error in run_tasks(run_task, tasks, workers, scheduler):
            for stem, run, video_error in results or [(v.stem, None, error) for v in task.videos]:
                if run is None:
                    failed[stem] = video_error or "failed"
                    bar.write(f"failed: {stem}: {failed[stem]}")
                else:
                    by_stem[stem] = run
            bar.update(len(task.videos))
    finally:
        bar.close()
    if failed:
        errors = "; ".join(f"{stem}: {failed[stem]}" for stem in sorted(failed))
        raise UserError(f"{len(failed)} of {len(videos)} videos failed: {errors}")
    return [by_stem[v.stem] for v in videos]


def simulate(
    nir_path: Path,
    data: FeatureLayout,
    backend: str,
    precision_name: str,
    out: Path,
    videos: int | None = None,
    force: bool = False,
    progress: bool = True,
    workers: int = 1,
    scheduler: str | None = None,
) -> dict:
    """Run the graph on the test split (or `videos` of its videos, evenly spread) and write `scores.npz`,
    `spikes.npz`, `metrics.json`; the videos run as tasks on `workers` local processes (1: in this process)
    or on the Dask cluster at `scheduler` (then `workers` sets how many tasks the videos are dealt into)."""
    if precision_name not in PRECISIONS:
        raise UserError(f"unknown precision {precision_name!r} (known: {', '.join(PRECISIONS)})")
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    check_workers(workers)
    check_output_dir(out, force)
    precision = PRECISIONS[precision_name]
    net = load_network(nir_path)
    graph = net.graph
    _, latency = single_output(graph, nir_path)
    test_set = TestSet(data)
    selected = spread_subset(test_set.videos, videos)
    for video in selected:
        if video.features.shape[1] != graph.input_size:
            raise UserError(
                f"features have D={video.features.shape[1]}, the graph's input has {graph.input_size} channels",
                data.feature_path(video.stem),
            )
    quantization = fixed_point(net, selected) if precision == "fixed_pt" else {}
    try:
        runs = run_in_tasks(nir_path, net, selected, backend, precision, workers, scheduler, progress)
    except UserError as err:
        raise UserError(f"{err} (nothing written)", out) from None
    scored = scored_videos(selected, {r.stem: r.scores for r in runs}, test_set.gt, data.gt_path)
    metrics = frame_metrics(scored)
    summary = {
        **metrics,
        "backend": backend,
        "precision": precision,
        "nir": str(nir_path),
        "latency_steps": latency,
        "n_videos": len(runs),
        "spikes_per_population": {
            name: int(sum(int(r.spikes[name].sum()) for r in runs)) for name in (runs[0].spikes if runs else {})
        },
        "synaptic_events_per_layer": {
            name: int(sum(int(r.synaptic_events[name].sum()) for r in runs))
            for name in (runs[0].synaptic_events if runs else {})
        },
        "steps": int(sum(len(r.scores) + latency for r in runs)),
        **({"quantization": quantization} if quantization else {}),
    }
    with atomic_dir(out, force=force) as tmp:
        np.savez(tmp / "scores.npz", **{r.stem: r.scores for r in runs})
        np.savez_compressed(
            tmp / "spikes.npz",
            **{f"{r.stem}/{name}": spikes.astype(np.uint8) for r in runs for name, spikes in r.spikes.items()},
        )
        (tmp / "metrics.json").write_text(json.dumps(json_ready(summary), indent=2, sort_keys=True) + "\n")
    return summary
