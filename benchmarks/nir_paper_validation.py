"""The NIR paper's own graphs (``../shared/nir_paper``) in every executor, against what others recorded or ran.

* **LIF** (Norse export, ``lif_input_spikes.npy``, dt 1e-4 s, ``source="nir"``: Norse before 1.1
  wrote tau in seconds): spikes against the Lava traces the paper recorded
  (``lif_lava_cpu_float.csv``, ``lif_lava_cpu_fixed.csv``) in the emulator and in Lava, float and
  fixed; float voltage against the float trace (max |difference|); fixed voltage against the fixed
  trace up to a scale (least-squares scale k, correlation, max |v / k - trace| in trace units),
  as the two quantisations differ.
* **Braille RNN** (snnTorch export, reset to zero as its README says, dt 1e-4 s): random input spike
  trains (``--samples`` x ``--steps`` x 12, 10 % density, seed 0) in the emulator and Lava, float and
  fixed, each against the emulator in float, and against snnTorch running the same file: snnTorch
  1.0's ``import_from_nir`` without its RNN-subgraph wrapping (which fails with nirtorch 2.6, see
  ``library_runs.snntorch_import_flat``).  Per layer: spike agreement at the hop offset (layer k at
  step t + k), for the file as exported; with the recurrent Affine's output before step 0 set to
  its bias in snnTorch's run (nirtorch feeds zeros there; snnTorch's ``RSynaptic`` and the runtime
  add ``b_rec`` from step 0); and for a copy with every bias set to 0 on both sides.
* **CNN** (Sinabs export, reset to zero): random event inputs ``[2, 34, 34]``, 5 % density, 100
  steps, 16 samples, in the emulator and Lava, float and fixed, against Norse's ``from_nir`` of the
  same file run one sample at a time (its Flatten folds a batch axis); per IF layer spike agreement
  after the hop offset, outputs and decisions (``--reset zero``: Norse's IAF resets to zero).

    python -m ucfdvs.benchmarks.nir_paper_validation [--paper ../shared/nir_paper] [--lava-samples 4]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.errors import UserError

PAPER = Path(__file__).resolve().parents[2] / "shared" / "nir_paper"
EXECUTORS = (("emu", "float"), ("emu", "fixed"), ("lava", "float"), ("lava", "fixed"))


def lif(paper: Path) -> dict[str, Any]:
    """The LIF experiment (see the module docstring)."""
    from ucfdvs.neuro_runtime import load_network

    net = load_network(paper / "lif_norse.nir", dt=1e-4)
    x = np.load(paper / "lif_input_spikes.npy")
    node = next(iter(net.graph.neurons))
    out: dict[str, Any] = {}
    for backend, precision in EXECUTORS:
        trace = np.loadtxt(paper / f"lif_lava_cpu_{precision}.csv", delimiter=",")
        run = net.run(x, backend=backend, precision=precision, record=("spikes", "v"))
        s, v = run.spikes[node][0, :, 0], run.v[node][0, :, 0]
        ref_v = trace[:, 1]
        entry = {"spike_steps": np.flatnonzero(s).tolist(), "trace_spike_steps": np.flatnonzero(trace[:, 2]).tolist(),
                 "spikes_identical": bool(np.array_equal(s, trace[:, 2].astype(np.uint8)))}
        if precision == "float":
            entry["max_abs_voltage_difference"] = float(np.abs(v - ref_v).max())
        else:
            k = float(v @ ref_v / (ref_v @ ref_v))
            entry.update(scale=k, correlation=float(np.corrcoef(v, ref_v)[0, 1]),
                         max_abs_residual_trace_units=float(np.abs(v / k - ref_v).max()),
                         trace_max=float(np.abs(ref_v).max()))
        out[f"{backend}_{precision}"] = entry
    return out


def snntorch_braille(graph_path: Path, x: np.ndarray, recurrent_rest: bool = False) -> dict[str, np.ndarray]:
    """snnTorch's own run of the Braille file on ``x`` ``[B, T, 12]``: its ``import_from_nir``
    without the RNN-subgraph wrapping (:func:`library_runs.snntorch_import_flat` says why), run by
    nirtorch; ``{"lif1_lif", "lif2": spikes [B, T, N] uint8}``.  ``recurrent_rest``: the recurrent
    Affine's output before step 0 is its bias (its response to no spikes: what snnTorch's
    ``RSynaptic`` adds at step 0, ``recurrent(0) = b_rec``, and the runtime's rest value) instead of
    nirtorch's zeros."""
    import nir
    import torch

    from ucfdvs.benchmarks.library_runs import run_graph_module, snntorch_import_flat, to_numpy_spikes

    graph = nir.read(str(graph_path))
    net = snntorch_import_flat(graph)
    state = None
    if recurrent_rest:
        b_rec = torch.as_tensor(np.asarray(graph.nodes["lif1.w_rec"].bias), dtype=torch.float32)
        state = {"lif1_w_rec_prev_output": b_rec.expand(x.shape[0], -1).clone()}
    torch.set_num_threads(1)
    with torch.no_grad():
        return to_numpy_spikes(run_graph_module(net, torch.as_tensor(x, dtype=torch.float32), state))


def _without_biases(src: Path, dst: Path) -> Path:
    """A copy of a NIR file with every Affine bias set to 0."""
    import nir

    graph = nir.read(str(src))
    for node in graph.nodes.values():
        if isinstance(node, nir.Affine):
            node.bias = np.zeros_like(node.bias)
    nir.write(str(dst), graph)
    return dst


def against_snntorch(net: Any, path: Path, x: np.ndarray, recurrent_rest: bool = False) -> dict[str, Any]:
    """Per-layer agreement of the emulator (float) with snnTorch's run of the same file
    (:func:`snntorch_braille`) at the hop offset (layer k at step t + k)."""
    steps = x.shape[1]
    run = net.run(x, flush=True)
    spikes = snntorch_braille(path, x, recurrent_rest)
    layers = {}
    for layer, node in (("lif1_lif", "lif1.lif"), ("lif2", "lif2")):
        k = int(net.graph.arrival[node])
        got = run.spikes[node][:, k:k + steps]
        want = spikes[layer]
        differ = np.any(got != want, axis=(0, 2))
        layers[node] = {"offset_steps": k, "agreement": float(np.mean(got == want)),
                        "spikes_snntorch": int(want.sum()), "spikes_runtime": int(got.sum()),
                        "first_step_differing": int(np.argmax(differ)) if differ.any() else None}
    dec_lib = spikes["lif2"].sum(1).argmax(1)
    dec_rt = run.spikes["lif2"].sum(1).argmax(1)
    return {"layers": layers, "decisions_equal": float(np.mean(dec_lib == dec_rt))}


def braille(paper: Path, samples: int, steps: int, lava_samples: int) -> dict[str, Any]:
    """The Braille RNN (see the module docstring); against snnTorch as exported and with every bias
    set to 0 on both sides (which isolates the biases' early action in the runtime)."""
    import tempfile

    from ucfdvs.neuro_runtime import load_network

    path = paper / "braille_noDelay_bias_zero.nir"
    net = load_network(path, source="snntorch", reset="zero")
    rng = np.random.default_rng(0)
    x = (rng.random((samples, steps, 12)) < 0.1).astype(np.uint8)
    net.quantize(calibration=x)  # fixed point: node scales from the float run's membrane ranges
    runs = {f"{b}_{p}": net.run(x if b == "emu" else x[:lava_samples], backend=b, precision=p, flush=True)
            for b, p in EXECUTORS}
    ref = runs["emu_float"]
    out: dict[str, Any] = {"samples": samples, "steps": steps, "lava_samples": lava_samples, "executors": {}}
    for name, run in runs.items():
        n = run.batch
        out["executors"][name] = {
            node: {"spikes": int(s.sum()), "agreement_with_emu_float": float(np.mean(s == ref.spikes[node][:n])),
                   "agreement_with_emu_same_precision": float(np.mean(s == runs[f"emu_{name.split('_')[1]}"].spikes[node][:n]))}
            for node, s in run.spikes.items()}
    out["snntorch"] = against_snntorch(net, path, x)
    out["snntorch_recurrent_rest"] = against_snntorch(net, path, x, recurrent_rest=True)
    with tempfile.TemporaryDirectory() as tmp:
        plain = _without_biases(path, Path(tmp) / "braille_no_bias.nir")
        out["snntorch_without_biases"] = against_snntorch(
            load_network(plain, source="snntorch", reset="zero"), plain, x)
    return out


def norse_cnn_run(path: Path, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Norse's ``from_nir`` of the file, one sample at a time (its Flatten has ``start_dim=0``, which
    would fold a batch axis); returns the output ``[B, T, 10]`` and each spiking node's spikes
    ``[B, T, *shape]`` (forward hooks on its cells)."""
    import nir
    import norse.torch as nt
    import torch
    from norse.torch.module.snn import SNNCell

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = nt.from_nir(nir.read(str(path)))
    rec: dict[str, list] = {n: [] for n, m in model.named_modules() if isinstance(m, SNNCell)}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: rec[n].append(o[0].numpy()))
             for n, m in model.named_modules() if n in rec]
    outs = []
    try:
        with torch.no_grad():
            for b in range(x.shape[0]):
                state, seq = None, []
                for t in range(x.shape[1]):
                    y, state = model(torch.as_tensor(x[b, t], dtype=torch.float32), state)
                    seq.append(y.numpy())
                outs.append(np.stack(seq))
    finally:
        for h in hooks:
            h.remove()
    B, T = x.shape[:2]
    return np.stack(outs), {n: np.stack(v).reshape(B, T, *v[0].shape) for n, v in rec.items()}


def cnn(paper: Path, samples: int = 16, steps: int = 100, lava_samples: int = 2,
        executors: tuple[tuple[str, str], ...] = EXECUTORS) -> dict[str, Any]:
    """The Sinabs CNN against Norse's ``from_nir`` (see the module docstring)."""
    from ucfdvs.neuro_runtime import load_network

    path = paper / "cnn_sinabs.nir"
    try:
        net = load_network(path, source="sinabs", reset="zero")
    except UserError as exc:
        return {"status": "refused", "reason": str(exc)}
    rng = np.random.default_rng(0)
    x = (rng.random((samples, steps, 2, 34, 34)) < 0.05).astype(np.uint8)
    net.quantize(calibration=x)  # fixed point: node scales from the float run's membrane ranges
    runs = {f"{b}_{p}": net.run(x if b == "emu" else x[:lava_samples], backend=b, precision=p, flush=True)
            for b, p in executors}
    norse_out, norse_spikes = norse_cnn_run(path, x)
    o = next(iter(net.graph.outputs))
    k = int(net.graph.latency[o])
    res: dict[str, Any] = {"status": "ran", "latency_steps": k, "executors": {}}
    dec_norse = norse_out.reshape(samples, steps, -1).sum(1).argmax(1)
    for name, run in runs.items():
        n = run.batch
        got = run.outputs[o][:, k:k + steps].reshape(n, steps, -1)
        layers = {}
        for node, s in norse_spikes.items():
            if node in run.spikes:
                a = int(net.graph.arrival[node])
                layers[node] = {"offset_steps": a, "agreement": float(np.mean(
                    run.spikes[node][:, a:a + steps].reshape(n, steps, -1) == s[:n].reshape(n, steps, -1)))}
        res["executors"][name] = {
            "output_agreement": float(np.mean(np.isclose(got, norse_out[:n].reshape(n, steps, -1)))),
            "decisions_equal": float(np.mean(got.sum(1).argmax(1) == dec_norse[:n])), "layers": layers}
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--paper", type=Path, default=PAPER)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lava-samples", type=int, default=4)
    ap.add_argument("--out", type=Path, default=results_dir() / "nir_paper_validation.json")
    args = ap.parse_args(argv)
    if not (args.paper / "README.md").is_file():
        raise SystemExit(f"nir_paper_validation: error: {args.paper}: the NIR paper files are not there")
    results = {"lif": lif(args.paper), "braille": braille(args.paper, args.samples, args.steps, args.lava_samples),
               "cnn": cnn(args.paper, lava_samples=min(args.lava_samples, 2))}
    import json

    print(json.dumps(results, indent=1)[:6000])
    save_results(args.out, {"machine": describe_machine(), **results})


if __name__ == "__main__":
    main()
