"""``ucfdvs bench``: every backend on the same test videos, one ``results.json``, one ``report.md``.

Order of work: check the output folder and the constants (before anything long), load the test
split, run the backends (each failure caught into its entry), compute the figures, then write
``results.json``, ``report.md`` and the PNGs into a temporary folder renamed onto ``--out`` only
at the end (an interrupted run leaves nothing half-written).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ucfdvs.benchmarks.suite.backends import (ALL_BACKENDS, BackendRun, failed, guarded, missing,
                                       run_graph, run_reference, run_streaming)
from ucfdvs.benchmarks.energy_calibration import calibrate
from ucfdvs.benchmarks.suite.constants import load_constants
from ucfdvs.benchmarks.suite.ops import graph_targets
from ucfdvs.benchmarks.suite.report import (SCHEMA, SNIPPET_S, backend_figures, calibration_figures, comparison, fig,
                                     resources_figures,
                                     write_json, write_markdown, write_plots)
from ucfdvs.benchmarks.suite.resources import loihi2_resources
from ucfdvs.atomic import atomic_dir, check_output_dir
from ucfdvs.errors import UserError
from ucfdvs.train.layout import FeatureLayout
from ucfdvs.train.task_runner import check_workers

log = logging.getLogger(__name__)


def _graph(nir_path: Path | None, checkpoint) -> tuple[Any, Any, str, dict]:
    """(NIR source for the interpreter, :class:`neuro_runtime.Network`, description, metadata) or
    raise with the reason."""
    from ucfdvs.neuro_runtime.network import load_network

    if nir_path is not None:
        net = load_network(nir_path)
        return nir_path, net, f"`{nir_path}` (--nir)", dict(net.nir_graph.metadata or {})
    if checkpoint is None:
        raise RuntimeError("no --nir graph and no MSF checkpoint to convert")
    from ucfdvs.export.convert import convert
    from ucfdvs.export.to_nir import to_nir_graph

    nir_graph = to_nir_graph(convert(checkpoint.model.cpu()), checkpoint.sha256)
    net = load_network(nir_graph)
    return nir_graph, net, "converted from --checkpoint by export.convert (not fine-tuned)", dict(nir_graph.metadata)


def run_bench(
    data: FeatureLayout, out: Path, checkpoint: Path | None = None, nir_path: Path | None = None,
    lava_videos: int = 12, constants_path: Path | None = None, device_name: str = "auto", force: bool = False,
    videos: int | None = None, backends: tuple[str, ...] = ALL_BACKENDS, progress: bool = True,
    nvml_counter: Any = None, nvml_seconds: float = 5.0, workers: int = 1, scheduler: str | None = None,
) -> dict:
    """Run the suite and write ``out``; returns the results dict (what ``results.json`` holds).
    ``workers`` / ``scheduler``: the emulator and Lava backends run their videos as Dask tasks
    (:func:`export.simulate.run_in_tasks`)."""
    from ucfdvs.benchmarks.environment import describe_machine
    from ucfdvs.export.simulate import spread_subset
    from ucfdvs.train.checkpoint import load_checkpoint
    from ucfdvs.train.evaluate import TestSet, scored_videos
    from ucfdvs.train.metrics import frame_metrics
    from ucfdvs.train.trainer import resolve_device

    check_output_dir(out, force)
    constants = load_constants(constants_path)
    unknown = [b for b in backends if b not in ALL_BACKENDS]
    if unknown:
        raise UserError(f"unknown backend {unknown[0]!r} (known: {', '.join(ALL_BACKENDS)})")
    if lava_videos < 1:
        raise UserError("--lava-videos must be >= 1")
    check_workers(workers)
    for path, flag in ((checkpoint, "--checkpoint"), (nir_path, "--nir")):
        if path is not None and not Path(path).is_file():
            raise UserError(f"{flag}: file not found", path)
    if checkpoint is None and nir_path is None:
        raise UserError("nothing to benchmark: give --checkpoint (reference MSF) and/or --nir (exported graph)")
    device = resolve_device(device_name)
    test_set = TestSet(data)
    selected = spread_subset(test_set.videos, videos)
    subset = spread_subset(selected, lava_videos)
    runs: dict[str, BackendRun] = {}
    warnings_: list[str] = []

    ckpt = None
    if checkpoint is not None:
        try:
            ckpt = load_checkpoint(checkpoint)
        except Exception as err:  # noqa: BLE001
            runs["reference"] = failed("reference", err)
    elif "reference" in backends:
        runs["reference"] = missing("reference", "no --checkpoint given")
    measurement = {"gpu_nvml": "no GPU on this machine: not measured, untested here"}
    if "reference" in backends and "reference" not in runs:
        from ucfdvs.benchmarks.suite.energy import open_nvml, open_rapl

        counter, reason = nvml_counter, ""
        if device.type == "cuda" and counter is None:
            counter, reason = open_nvml(device.index or 0)
        elif device.type != "cuda" and counter is None:
            counter, reason = open_rapl()
        run = guarded("reference", lambda: run_reference(ckpt, selected, device, counter, nvml_seconds))
        if device.type != "cuda":
            run.notes.append("no GPU on this machine: ran on the CPU; GPU energy is a 45 nm model, not a measurement")
            measurement["cpu_rapl"] = reason or "measured"
            if reason:
                run.notes.append(reason)
        else:
            measurement["gpu_nvml"] = f"GPU energy not measured: {reason}" if reason else "measured"
        runs["reference"] = run

    graph_backends = [b for b in backends if b != "reference"]
    graph = nir_source = None
    graph_desc, graph_meta = "none", {}
    if graph_backends:
        try:
            nir_source, net, graph_desc, graph_meta = _graph(nir_path, ckpt)
            graph = net.graph
        except Exception as err:  # noqa: BLE001
            reason = f"no graph to run: {type(err).__name__}: {err}"
            for b in graph_backends:
                runs[b] = missing(b, reason) if isinstance(err, (ImportError, RuntimeError)) else failed(b, err)
    if graph is not None:
        from ucfdvs.export.simulate import single_output

        if graph.input_size != selected[0].features.shape[1]:
            err = UserError(f"features have D={selected[0].features.shape[1]}, the graph's input has {graph.input_size} channels")
            for b in graph_backends:
                runs[b] = failed(b, err)
        else:
            single_output(graph, Path(str(graph.source or "graph")))  # a clear error for a graph without a score output
            for b in graph_backends:
                if b == "streaming":
                    try:
                        import ucfdvs.export.nir_interpreter  # noqa: F401
                    except Exception as err:  # noqa: BLE001 - the colleague's package may be unfinished
                        runs[b] = missing(b, f"streaming MSF unavailable: ucfdvs.export.nir_interpreter does not import "
                                             f"({type(err).__name__}: {err})")
                        continue
                    runs[b] = guarded(b, lambda: run_streaming(nir_source, graph, selected))
                else:
                    vids = subset if b.startswith("lava") else selected
                    runs[b] = guarded(b, lambda b=b, vids=vids: run_graph(b, nir_source, net, vids, progress=progress,
                                                                      workers=workers, scheduler=scheduler))
                log.info("%s: %s %s", b, runs[b].status, runs[b].error)

    # figures
    order = [b for b in ALL_BACKENDS if b in runs]
    targets = graph_targets(graph) if graph is not None else {}
    input_name = graph.input_name if graph is not None else "input"
    by_stem = {v.stem: v for v in test_set.videos}
    scored: dict[str, list] = {}
    entries: dict[str, dict] = {}
    for name in order:
        run = runs[name]
        metrics = None
        if run.ok:
            try:
                vids = [by_stem[s] for s in run.stems]
                scored[name] = scored_videos(vids, run.scores, test_set.gt, data.gt_path)
                metrics = frame_metrics(scored[name])
            except Exception as err:  # noqa: BLE001
                run = runs[name] = failed(name, err)
        entries[name] = backend_figures(run, metrics, constants, targets, input_name, graph)
    snippets = sum(v.n_snippets for v in selected)
    checks: dict[str, Any] = {}
    if graph is not None:
        for name in order:
            run = runs[name]
            if run.ok and run.counts is not None and name != "reference":
                counted = {k: c.spikes for k, c in run.counts.layers.items() if c.spiking and k in graph.neurons}
                checks[f"{name}_spikes_equal_runtime_record"] = counted == run.spikes_per_population
                events = run.extra.get("synaptic_events_per_layer")
                if events is not None:
                    spiking_events = sum(v for k, v in events.items() if not graph.is_graded(k.split("->")[0]))
                    checks[f"{name}_synops_equal_runtime_events"] = spiking_events == run.counts.synops
    res = loihi2_resources(graph, constants) if graph is not None else None
    calibration = calibrate(constants_path)
    results = {
        "schema": SCHEMA,
        "command": describe_machine(device)["command"],
        "machine": describe_machine(device),
        "inputs": {"data": str(data.root), "checkpoint": str(checkpoint) if checkpoint else None,
                   "nir": str(nir_path) if nir_path else None, "graph": graph_desc,
                   "constants": constants.path, "device": str(device)},
        "videos": {
            "n_full": fig(len(selected), "videos", "measured"), "n_lava": fig(len(subset), "videos", "measured"),
            "snippets_full": fig(snippets, "snippets", "measured"),
            "video_hours_full": fig(snippets * SNIPPET_S / 3600.0, "h", "measured"),
            "snippet_duration": fig(SNIPPET_S, "s", "published", "16 frames at 30 fps (UCF-Crime-DVS snippet)"),
            "lava_stems": [v.stem for v in subset],
        },
        "constants": {k: {"value": c.value, "unit": c.unit, "origin": c.origin, "source": c.source}
                      for k, c in constants.table.items()},
        "backends": entries,
        "resources": resources_figures(res, constants),
        "comparison": comparison(entries, measurement, calibration),
        "calibration": calibration_figures(calibration),
        "checks": checks,
        "warnings": warnings_,
    }
    with atomic_dir(out, force=force) as tmp:
        write_json(tmp / "results.json", results)
        figures = write_plots(tmp, results, scored)
        write_markdown(tmp / "report.md", results, figures)
    return results
