"""Reference networks nobody here wrote: digits SNNs trained in snnTorch and Norse, exported by their own exporters.

Data: :mod:`benchmarks.digits_data` (scikit-learn's 8 x 8 digits, 20 steps, Bernoulli rate code,
p = 0.5 x intensity / 16 per step; 1,437 train / 360 test samples).  Networks (surrogate
gradients, cross-entropy on the output layer's spike counts, Adam):

* snnTorch 1.0 (``Leaky``/``RLeaky``, beta 0.9 per neuron, threshold 1, ``init_hidden``), exported
  with ``snntorch.export_to_nir``: ``snntorch_ff`` (Linear 64-64 + Leaky, Linear 64-10 + Leaky,
  snnTorch's default subtractive reset), ``snntorch_ff_zero`` (the same, reset to zero),
  ``snntorch_cnn`` (Conv2d 1-8 3x3 + Leaky, AvgPool2d 2, Flatten, Linear 128-10 + Leaky),
  ``snntorch_rnn`` (Linear 64-48 + RLeaky 48 all-to-all, Linear 48-10 + Leaky);
* Norse 1.1 (``LIFBoxCell``: tau_mem_inv 200/s, dt 1 ms, threshold 0.5, reset to 0, per-neuron
  parameters), exported with ``norse.torch.to_nir`` (then ``graph.infer_types()``): ``norse_ff`` (Linear 64-64 + LIFBox, Linear 64-10 + LIFBox),
  ``norse_cnn`` (Conv2d 1-8 3x3 + LIFBox, Conv2d 8-10 8x8 + LIFBox: Norse's exporter writes no
  node for pooling or Flatten), ``norse_rnn`` (LIFRecurrentCell 64-48, Linear 48-10 + LIFBox);
* lava-dl 0.6.0 slayer (:mod:`benchmarks.slayer_chain`: CUBA Dense blocks, 8-bit weights, lava-dl's
  tutorial neuron, threshold 1.25, current decay 0.25, voltage decay 0.03), exported with the blocks'
  own ``export_hdf5`` to a netx HDF5 file ``graph.net`` (lava-dl has no NIR exporter): ``lavadl_ff``
  (Dense 64-64, Dense 64-10); its spikes are slayer's with its one-step block delays removed.

Each network's folder under ``OUT/digits/`` holds ``graph.nir`` (lava-dl: ``graph.net``; when the exporter produced one),
``model.pt`` (the trained module, :mod:`benchmarks.reference_models`, for ``ucfdvs bench --reference``),
``inputs.npy`` (test inputs ``[B, T, ...]`` uint8), ``labels.npy``, ``library_counts.npy`` (output
spike counts ``[B, 10]``), ``library_spikes.npz`` (layer name -> ``[B, T, ...]`` uint8, as the
library ran them) and ``meta.json``.  Then every graph is run in the runtime
(:func:`benchmarks.runtime_agreement.compare_with_runtime`: sources normalisation, ``load_graph``,
``Emulator``, optionally Lava) and compared with the library at the documented hop offset.

    python -m ucfdvs.benchmarks.digits_networks [--out DIR] [--epochs 12] [--compare-only]
        [--lava N]   # also run the first N test samples in Lava (floating_pt)
"""

from __future__ import annotations

import argparse
import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ucfdvs.atomic import atomic_path
from ucfdvs.benchmarks.digits_data import MAX_P, T_STEPS, digit_spikes
from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.benchmarks.library_runs import run_norse, run_snntorch, to_numpy_spikes
from ucfdvs.benchmarks.reference_models import save_reference
from ucfdvs.benchmarks.runtime_agreement import compare_with_runtime
from ucfdvs.benchmarks.slayer_chain import SlayerChain, run_slayer

BETA = 0.9
HIDDEN = 64
NORSE_TAU_INV = 200.0  # 1/s: dt/tau = 0.2 at Norse's default dt of 1 ms
NORSE_V_TH = 0.5


def snntorch_nets() -> dict[str, tuple[torch.nn.Module, bool, str]]:
    """name -> (net, image input?, output layer) for snnTorch."""
    import snntorch as snn

    def leaky(*shape: int, reset: str = "subtract") -> Any:
        return snn.Leaky(beta=torch.full(shape, BETA), threshold=torch.ones(shape), init_hidden=True,
                         reset_mechanism=reset)

    ff = lambda reset: torch.nn.Sequential(OrderedDict(  # noqa: E731
        fc1=torch.nn.Linear(64, HIDDEN), lif1=leaky(HIDDEN, reset=reset),
        fc2=torch.nn.Linear(HIDDEN, 10), lif2=leaky(10, reset=reset)))
    cnn = torch.nn.Sequential(OrderedDict(
        conv=torch.nn.Conv2d(1, 8, 3, padding=1), lif1=leaky(8, 8, 8), pool=torch.nn.AvgPool2d(2),
        flat=torch.nn.Flatten(), fc=torch.nn.Linear(128, 10), lif2=leaky(10)))
    rnn = torch.nn.Sequential(OrderedDict(
        fc1=torch.nn.Linear(64, 48),
        lif1=snn.RLeaky(beta=torch.full((48,), BETA), threshold=torch.ones(48), linear_features=48,
                        init_hidden=True),
        fc2=torch.nn.Linear(48, 10), lif2=leaky(10)))
    return {"snntorch_ff": (ff("subtract"), False, "lif2"), "snntorch_ff_zero": (ff("zero"), False, "lif2"),
            "snntorch_cnn": (cnn, True, "lif2"), "snntorch_rnn": (rnn, False, "lif2")}


def norse_nets() -> dict[str, tuple[torch.nn.Module, bool, str]]:
    """name -> (net, image input?, output layer) for Norse."""
    import norse.torch as nt

    def lif(*shape: int) -> Any:
        # per-neuron parameters: the exporter copies their shape and nir.write refuses scalars
        return nt.LIFBoxCell(nt.LIFBoxParameters(
            tau_mem_inv=torch.full(shape, NORSE_TAU_INV), v_leak=torch.zeros(shape),
            v_th=torch.full(shape, NORSE_V_TH), v_reset=torch.zeros(shape)))

    ff = nt.SequentialState(torch.nn.Linear(64, HIDDEN), lif(HIDDEN), torch.nn.Linear(HIDDEN, 10), lif(10))
    cnn = nt.SequentialState(torch.nn.Conv2d(1, 8, 3, padding=1), lif(8, 8, 8), torch.nn.Conv2d(8, 10, 8),
                             lif(10, 1, 1))
    rnn = nt.SequentialState(
        nt.LIFRecurrentCell(64, 48, p=nt.LIFParameters(tau_mem_inv=torch.tensor(NORSE_TAU_INV),
                                                      v_th=torch.tensor(NORSE_V_TH))),
        torch.nn.Linear(48, 10), lif(10))
    return {"norse_ff": (ff, False, "3"), "norse_cnn": (cnn, True, "3"), "norse_rnn": (rnn, False, "2")}


def lavadl_nets() -> dict[str, tuple[torch.nn.Module, bool, str]]:
    """name -> (net, image input?, output layer) for lava-dl (slayer)."""
    return {"lavadl_ff": (SlayerChain([64, HIDDEN, 10]), False, "cuba_1")}


RUNNERS = {"snntorch": run_snntorch, "norse": run_norse, "lavadl": run_slayer}
SOURCES = {"snntorch": "snntorch", "norse": "norse", "lavadl": "lava-dl"}
GRAPH_FILES = {"lavadl": "graph.net"}
"""Per library prefix of a network name: its runner, its ``--source`` and its export file (default graph.nir)."""


def train(net: torch.nn.Module, runner: Callable, x: np.ndarray, y: np.ndarray, epochs: int,
          seed: int = 0) -> float:
    """Adam (lr 5e-3, batch 64), cross-entropy on output spike counts; returns seconds taken."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            out, _ = runner(net, xt[idx])
            loss = torch.nn.functional.cross_entropy(out.flatten(2).sum(1), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def export(name: str, net: torch.nn.Module, image: bool, path: Path) -> str | None:
    """Write the library's own NIR export; returns None, or why the exporter failed."""
    import nir

    sample = torch.zeros((1, 1, 8, 8) if image else (1, 64))
    try:
        if name.startswith("lavadl"):
            net.export_hdf5(path)
            return None
        if name.startswith("snntorch"):
            from snntorch.export_nir import export_to_nir

            graph = export_to_nir(net, sample, ignore_dims=[0])
        else:
            import norse.torch as nt

            graph = nt.to_nir(net, sample[0])  # Norse's exporter takes a sample without batch axis
            empty = [n for n, v in graph.nodes.items() if v is None]
            if empty:
                return f"norse.torch.to_nir wrote no node for module(s) {empty} (unsupported by its exporter)"
            graph.infer_types()  # as snnTorch's exporter does; fills Conv2d input_shape for nir.write
        with atomic_path(path) as tmp:
            nir.write(tmp, graph)
    except Exception as exc:  # noqa: BLE001 - the exporter's failure is the finding
        return f"{type(exc).__name__}: {exc}"
    return None


def library_reset(net: torch.nn.Module) -> str:
    """``"subtract"`` or ``"zero"``: the reset the network's neurons use (snnTorch's
    ``reset_mechanism``; Norse's cells reset to ``v_reset``)."""
    modes = {getattr(m, "reset_mechanism", "zero") for m in net.modules() if hasattr(m, "reset_mechanism")}
    return "subtract" if "subtract" in modes else "zero"


def build(out: Path, epochs: int) -> None:
    """Train, export and save every network (see the module docstring)."""
    torch.manual_seed(0)
    data = {img: digit_spikes(image=img) for img in (False, True)}
    nets = {**snntorch_nets(), **norse_nets(), **lavadl_nets()}
    for name, (net, image, out_layer) in nets.items():
        library = name.split("_")[0]
        runner = RUNNERS[library]
        x_tr, y_tr, x_te, y_te = data[image]
        seconds = train(net, runner, x_tr, y_tr, epochs)
        net.eval()
        with torch.no_grad():
            _, spikes = runner(net, torch.as_tensor(x_te, dtype=torch.float32))
        spikes = to_numpy_spikes(spikes)
        counts = spikes[out_layer].reshape(len(x_te), T_STEPS, -1).sum(1)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        graph_file = GRAPH_FILES.get(library, "graph.nir")
        export_error = export(name, net, image, folder / graph_file)
        save_reference(folder / "model.pt", name, net)
        np.save(folder / "inputs.npy", x_te)
        np.save(folder / "labels.npy", y_te)
        np.save(folder / "library_counts.npy", counts)
        np.savez_compressed(folder / "library_spikes.npz", **spikes)
        meta = {
            "library": library, "source": SOURCES[library], "graph": graph_file, "output_layer": out_layer,
            "reset": library_reset(net),
            "library_accuracy": float(np.mean(counts.argmax(1) == y_te)),
            "train_seconds": round(seconds, 1), "epochs": epochs, "steps": T_STEPS, "max_p": MAX_P,
            "export_error": export_error, "layers": {k: list(v.shape[2:]) for k, v in spikes.items()},
        }
        with atomic_path(folder / "meta.json") as tmp:
            tmp.write_text(json.dumps(meta, indent=2) + "\n")
        print(f"{name}: library accuracy {meta['library_accuracy']:.4f}, trained in {seconds:.0f} s"
              + (f", export failed: {export_error}" if export_error else ""), flush=True)


def compare(out: Path, lava: int) -> dict[str, Any]:
    """Run every saved graph in the runtime and compare with its library (see the module docstring)."""
    results: dict[str, Any] = {}
    for folder in sorted(p for p in out.iterdir() if (p / "meta.json").is_file()):
        meta = json.loads((folder / "meta.json").read_text())
        entry: dict[str, Any] = {"library_accuracy": meta["library_accuracy"],
                                 "train_seconds": meta["train_seconds"]}
        if meta["export_error"]:
            entry["emu"] = {"status": "not exported", "reason": meta["export_error"]}
            results[folder.name] = entry
            continue
        x, y = np.load(folder / "inputs.npy"), np.load(folder / "labels.npy")
        spikes = dict(np.load(folder / "library_spikes.npz"))
        args = (folder / meta.get("graph", "graph.nir"), meta["source"])
        reset = meta.get("reset")  # the library's reset (snntorch_ff_zero: zero, unlike snnTorch's default)
        entry["emu"] = compare_with_runtime(*args, x, y, spikes, meta["output_layer"], reset=reset)
        if lava and entry["emu"]["status"] == "ran":
            entry["lava"] = compare_with_runtime(*args, x[:lava], y[:lava], {k: v[:lava] for k, v in spikes.items()},
                                                 meta["output_layer"], backend="lava", reset=reset)
        results[folder.name] = entry
    return results


def table(results: dict[str, Any]) -> str:
    """The README table: accuracy in the library, emulator and Lava, agreement at the hop offset."""
    rows = ["| network | library acc. | emulator acc. | decisions equal | output counts equal | "
            "spike agreement per layer (offset) | Lava float (first N): decisions equal, spike agreement |",
            "|---|---|---|---|---|---|---|"]
    for name, e in results.items():
        em = e["emu"]
        if em["status"] != "ran":
            rows.append(f"| {name} | {e['library_accuracy']:.4f} | {em['status']}: {em['reason'][:160]} | | | | |")
            continue
        per = ", ".join(f"{k} {v['spike_agreement']:.4f} (+{v['offset_steps']})" for k, v in em["layers"].items())
        lava = e.get("lava")
        lv = "" if lava is None else (
            f"N={lava['samples']}: {lava['decision_agreement']:.3f}, "
            + ", ".join(f"{k} {v['spike_agreement']:.4f}" for k, v in lava["layers"].items())
            if lava["status"] == "ran" else f"{lava['status']}: {lava['reason'][:80]}")
        rows.append(f"| {name} | {e['library_accuracy']:.4f} | {em['runtime_accuracy']:.4f} | "
                    f"{em['decision_agreement']:.4f} | {em['output_counts_identical']:.4f} | {per} | {lv} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=results_dir() / "digits")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--compare-only", action="store_true", help="reuse the saved networks in --out")
    ap.add_argument("--lava", type=int, default=0, help="also run the first N test samples in Lava")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.compare_only:
        build(args.out, args.epochs)
    results = compare(args.out, args.lava)
    print(table(results))
    save_results(args.out / "digits_networks.json", {"machine": describe_machine(), "networks": results})


if __name__ == "__main__":
    main()
