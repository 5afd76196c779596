"""``ucfdvs run``: any NIR graph on an input array, in the emulator or in Lava, one output folder.

DIR (built aside and renamed into place, so nothing is half-written):

* ``outputs.npz``: Output node -> ``[B, T', *shape]`` float64;
* ``spikes.npz`` (``--record spikes``, default): spiking node (dotted names for nested graphs) ->
  ``[B, T', *shape]`` uint8;
* ``v.npz`` (``--record v``): neuron node -> membrane ``[B, T', *shape]`` (float units, or Loihi
  integers in fixed point with ``scale/<node>`` = integers per float unit);
* ``report.json`` (:mod:`benchmarks.suite.graph_report`).

Step t of every file is step t of the input; ``T'`` = T, plus the flush steps (the largest offset of any neuron or Output) with
``--flush``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ucfdvs.atomic import atomic_dir, check_output_dir
from ucfdvs.errors import UserError


def parse_record(text: str) -> tuple[str, ...]:
    from ucfdvs.neuro_runtime.network import RECORDABLE

    items = tuple(t.strip() for t in text.split(",") if t.strip())
    for item in items:
        if item not in RECORDABLE:
            raise UserError(f"unknown --record {item!r} (known: {', '.join(RECORDABLE)})")
    return items


def load_calibration(path: str | None, net) -> np.ndarray | None:
    """``--calibrate C.npy``: an input array as ``--input`` takes it (sets the fixed-point input scale)."""
    from ucfdvs.neuro_runtime.network import load_inputs

    return None if path is None else load_inputs(path, net)


def run_graph_command(nir_path: str, input_path: str, out: Path, *, dt: float | None = None, reset: str | None = None,
                      source: str = "nir", backend: str = "emu", precision: str = "float",
                      record: tuple[str, ...] = ("spikes",), flush: bool = False, calibrate: str | None = None,
                      constants_path: str | None = None, weight_planes: int | str = 1, force: bool = False) -> dict:
    """Everything ``ucfdvs run`` does; returns the report dict."""
    from ucfdvs.benchmarks.environment import describe_machine
    from ucfdvs.benchmarks.suite.constants import load_constants
    from ucfdvs.benchmarks.suite.graph_report import json_default, network_report
    from ucfdvs.neuro_runtime.network import lava_precision, load_inputs, load_network

    precision = {"floating_pt": "float", "fixed_pt": "fixed"}.get(precision, precision)
    lava_precision(backend, precision)
    check_output_dir(out, force)
    constants = load_constants(constants_path)
    net = load_network(nir_path, dt=dt, reset=reset, source=source)
    x = load_inputs(input_path, net)
    if precision == "fixed":
        cal = load_calibration(calibrate, net)
        if cal is not None:
            net.quantize(calibration=cal, weight_planes=weight_planes)
        else:
            quantize_on_input(net, x, weight_planes)
            net.quant_origin = "--input (max |x|), node scales from bounds (pass --calibrate C.npy to calibrate)"
    elif calibrate is not None or weight_planes != 1:
        raise UserError("--calibrate and --weight-planes apply to --precision fixed only")
    run = net.run(x, backend=backend, precision=precision, record=record, flush=flush)
    float_run = net.run(x, backend="emu", precision="float", flush=flush) if precision == "fixed" else None
    report = network_report(net, run, constants, float_run)
    report["command"] = describe_machine()["command"]
    report["machine"] = describe_machine()
    report["input"] = {"file": str(input_path), "samples_steps": list(run.inputs.shape[:2]),
                       "shapes": {k: list(v) for k, v in net.input_shapes.items()}}
    with atomic_dir(out, force=force) as tmp:
        np.savez_compressed(tmp / "outputs.npz", **run.outputs)
        if "spikes" in record:
            np.savez_compressed(tmp / "spikes.npz", **run.spikes)
        if "v" in record:
            np.savez_compressed(tmp / "v.npz", **run.v, **{f"scale/{k}": np.float64(s) for k, s in run.v_scale.items()})
        (tmp / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=json_default) + "\n")
    return report


def quantize_on_input(net, x, weight_planes: int | str) -> None:
    """Fixed point for a run without calibration input: the input scale from ``max |x|`` (``S_in =
    1`` when ``x`` holds integers), node scales from bounds; ``"auto"`` chooses the weight planes
    on ``x`` itself (so the agreement reported for this run is the one they were chosen on)."""
    from ucfdvs.neuro_runtime.network import integer_valued

    xs = net.check_input(x)
    net.quantize(input_range=float(np.abs(xs).max()) or 1.0, weight_planes=weight_planes,
                 choice_input=x if weight_planes == "auto" else None,
                 integer_input=integer_valued(xs))


def parse_weight_planes(text: str) -> int | str:
    """``--weight-planes``: an integer from 1 to 4, ``exact`` or ``auto``."""
    from ucfdvs.neuro_runtime.quantize import MAX_WEIGHT_PLANES

    if text in ("auto", "exact"):
        return text
    if text.isdigit() and 1 <= int(text) <= MAX_WEIGHT_PLANES:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected 1 to {MAX_WEIGHT_PLANES}, exact or auto, got {text!r}")


def cmd_run(args: argparse.Namespace) -> None:
    report = run_graph_command(
        args.nir, args.input, Path(args.out), dt=args.dt, reset=args.reset, source=args.source, backend=args.backend,
        precision=args.precision, record=parse_record(args.record), flush=args.flush, calibrate=args.calibrate,
        constants_path=args.constants, weight_planes=args.weight_planes, force=args.force)
    r = report["run"]
    per = report["totals_per_sample"]
    print(f"{r['backend']} {r['precision']}: {r['samples']} sample(s) x {r['steps']} steps; "
          f"{per['spikes']['value']:.1f} spikes/sample, {per['synaptic_ops']['value']:.1f} synops/sample, "
          f"Loihi est. {report['energy']['loihi']['per_sample']['value']:.3g} J/sample")
    print(f"wrote {args.out}/outputs.npz, report.json" + (", spikes.npz" if "spikes" in parse_record(args.record) else "")
          + (", v.npz" if "v" in parse_record(args.record) else ""))


def add_graph_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags ``ucfdvs run`` and ``ucfdvs bench --nir`` share for reading a foreign graph."""
    from ucfdvs.neuro_runtime.sources import RESET_MODES, SOURCES

    parser.add_argument("--dt", type=float, help="time step in seconds when the file has no metadata['dt']")
    parser.add_argument("--reset", help=f"reset mechanism: {' or '.join(RESET_MODES)} (default: the source library's)")
    parser.add_argument("--source", default="nir", help=f"the exporter: {', '.join(SOURCES)} (default %(default)s)")
    parser.add_argument("--flush", action="store_true",
                        help="append zero steps (the largest offset of any neuron or Output) so no output is lost at the end")


def add_weight_planes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weight-planes", type=parse_weight_planes, default=1,
                        help="fixed point: 8-bit weight planes per synapse layer, 1 to 4 (plane k+1, a further "
                             "synapse process, carries the residual of planes 1..k: 2 planes ~15-bit weights); exact "
                             "(plane 1 + its residual in whole activation units, excitatory and inhibitory: 3 "
                             "processes, no floor); or auto: per layer the cheapest of 1, 2, exact, 3 reaching 99%% "
                             "spike agreement with float on --calibrate C.npy, else on --input itself (default %(default)s)")


def add_run_command(commands: argparse._SubParsersAction) -> None:
    """Register ``run``."""
    run = commands.add_parser("run", help="run any NIR graph on an input array (emulator or Lava): outputs, spikes, "
                                          "membranes and a report")
    run.add_argument("--nir", required=True, help="NIR graph file (any exporter), or a lava-dl netx HDF5 network")
    run.add_argument("--input", required=True,
                     help="X.npy [T, *input_shape] or [B, T, *input_shape]; or X.npz with one array per named Input")
    run.add_argument("--out", required=True, help="output folder: outputs.npz, spikes.npz, v.npz, report.json")
    add_graph_arguments(run)
    run.add_argument("--backend", default="emu", help="emu (NumPy emulator) or lava (Lava's Loihi 2 simulator)")
    run.add_argument("--precision", default="float", help="float (floating_pt) or fixed (bit-accurate fixed_pt)")
    run.add_argument("--record", default="spikes", help="comma-separated: spikes, v (default %(default)s)")
    run.add_argument("--calibrate", help="C.npy: input array whose float run sets the fixed-point scales "
                                         "(default: input scale from --input, node scales from bounds)")
    add_weight_planes(run)
    run.add_argument("--constants", help="energy/resource constants JSON (default benchmarks/energy_constants.json)")
    run.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    run.set_defaults(func=cmd_run)
