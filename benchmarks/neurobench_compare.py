"""NeuroBench's own metric implementations against ours, on the same small snnTorch networks.

For each case a feed-forward snnTorch network (Linear without bias + Leaky with
``reset_mechanism="zero"``, 30 % of the weights pruned to zero) is measured by the ``neurobench``
package (``Benchmark`` with ``Footprint``, ``ConnectionSparsity``, ``ActivationSparsity``,
``SynapticOperations``, ``MembraneUpdates``), exported with ``snntorch.export_nir.export_to_nir``
(``dt`` added to the metadata), run in ``neuro_runtime``'s emulator on the same inputs and
measured by :mod:`benchmarks.suite.neurobench_metrics`.  Cases: random spike trains (binary input:
NeuroBench counts the first layer as ACs) and the scikit-learn digits presented as constant
graded pixel intensities (NeuroBench counts the first layer as effective MACs).

    python -m ucfdvs.benchmarks.neurobench_compare [--samples 64] [--steps 20] [--out FILE]

Prints the table and writes JSON (default ``benchmarks/results/neurobench_compare.json``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ucfdvs.benchmarks.environment import describe_machine, library_notices_silenced, results_dir, save_results

METRICS = ("Footprint", "ConnectionSparsity", "ActivationSparsity", "Effective_MACs", "Effective_ACs", "Dense",
           "MembraneUpdates")
EXPLAINED = {
    "Footprint": "NeuroBench also counts snnTorch's per-layer scalar buffers (graded_spikes_factor, "
                 "reset_mechanism_val, an empty mem), 3 x 4 bytes per Leaky layer, absent from the NIR graph",
    "MembraneUpdates": "NeuroBench counts a membrane only when it changed (count_nonzero(pre - post)); ours counts every "
                       "neuron every step, as Loihi updates every compartment: ours >= NeuroBench, equal when every "
                       "membrane moves every step",
    "ConnectionSparsity": "NeuroBench rounds to 4 decimals",
}


@dataclass
class Case:
    """One comparison: ``net`` (snnTorch, one step per call), ``inputs`` ``[B, T, C]``, ``binary`` input."""

    name: str
    net: nn.Module
    inputs: torch.Tensor
    binary: bool


def leaky_net(sizes: list[int], betas: list[float], gain: float, seed: int, prune: float = 0.3) -> nn.Module:
    """``Linear(bias=False) -> Leaky`` layers of ``sizes``; per-neuron beta and threshold (export needs
    vectors), ``reset_mechanism="zero"`` (the runtime resets to v_reset), weights x ``gain``, ``prune`` zeroed."""
    import snntorch as snn

    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(n_in, n_out, bias=False)
        with torch.no_grad():
            lin.weight.copy_((torch.rand(n_out, n_in, generator=gen) * 2 - 1) * gain / np.sqrt(n_in))
            lin.weight[torch.rand(n_out, n_in, generator=gen) < prune] = 0.0
        last = i == len(sizes) - 2
        layers += [lin, snn.Leaky(beta=torch.full((n_out,), betas[i]), threshold=torch.ones(n_out), init_hidden=True,
                                  output=last, reset_mechanism="zero")]
    return nn.Sequential(*layers).eval()


def spike_case(samples: int, steps: int, seed: int = 0) -> Case:
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(samples, steps, 40, generator=gen) < 0.2).float()
    return Case("random spikes (40 -> 32 -> 10)", leaky_net([40, 32, 10], [0.9, 0.8], 4.0, seed), x, True)


def digits_case(samples: int, steps: int, seed: int = 0) -> Case:
    from sklearn.datasets import load_digits

    images = load_digits().data[:samples] / 16.0
    x = torch.tensor(images, dtype=torch.float32)[:, None, :].repeat(1, steps, 1)
    return Case("sklearn digits, graded pixels (64 -> 48 -> 10)", leaky_net([64, 48, 10], [0.9, 0.85], 3.0, seed + 1), x,
                False)


def neurobench_run(case: Case) -> dict[str, float]:
    """The ``neurobench`` package's own metrics of ``case`` (its ``Benchmark`` loop, one batch)."""
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations
    from neurobench.models import SNNTorchModel

    data = torch.utils.data.TensorDataset(case.inputs, torch.zeros(len(case.inputs)))
    loader = torch.utils.data.DataLoader(data, batch_size=len(case.inputs))
    bench = Benchmark(SNNTorchModel(case.net), loader, [], [],
                      [[Footprint, ConnectionSparsity], [ActivationSparsity, SynapticOperations, MembraneUpdates]])
    with library_notices_silenced():  # its deprecation notices and progress text
        res = bench.run(quiet=True)
    bench.workload_metric_manager.cleanup_hooks(bench.model)
    out = {k: float(v) for k, v in res.items() if k != "SynapticOperations"}
    out.update({k: float(v) for k, v in res["SynapticOperations"].items()})
    return out


def snntorch_spikes(case: Case) -> dict[str, np.ndarray]:
    """Spikes ``[B, T, N]`` of every Leaky layer, keyed by its index in the Sequential (its NIR node name)."""
    import snntorch as snn

    snn.utils.reset(case.net)
    out: dict[str, list] = {}
    with torch.no_grad():
        for t in range(case.inputs.shape[1]):
            h = case.inputs[:, t]
            for i, layer in enumerate(case.net):
                h = layer(h)
                if isinstance(h, tuple):
                    h = h[0]
                if isinstance(layer, snn.SpikingNeuron):
                    out.setdefault(str(i), []).append(h.numpy())
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def runtime_run(case: Case, dt: float = 1e-4):
    """Export ``case.net`` to NIR, run it in the emulator (input padded by the graph's depth);
    returns (RuntimeGraph, RunRecord, padded input ``[B, T + L, C]``)."""
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    from ucfdvs.neuro_runtime import Emulator, load_graph

    snn.utils.reset(case.net)
    nir_graph = export_to_nir(case.net, case.inputs[0, 0])
    nir_graph.metadata["dt"] = dt
    graph = load_graph(nir_graph)
    depth = max(a for a in graph.arrival.values() if a is not None)
    x = case.inputs.numpy().astype(np.float64)
    padded = np.concatenate([x, np.zeros((x.shape[0], depth, x.shape[2]))], axis=1)
    return graph, Emulator(graph, "floating_pt").run(padded), padded


def compare(case: Case) -> dict:
    """NeuroBench's and our metrics of ``case`` and whether the runtime's spikes equal snnTorch's."""
    from ucfdvs.benchmarks.suite.neurobench_metrics import record_metrics

    theirs = neurobench_run(case)
    graph, record, padded = runtime_run(case)
    steps = case.inputs.shape[1]
    ours, _ = record_metrics(graph, record, padded, steps, case.binary)
    reference = snntorch_spikes(case)
    spikes_equal = all(np.array_equal(record.spikes[n][:, graph.arrival[n]: graph.arrival[n] + steps], s)
                       for n, s in reference.items())
    rows = {}
    for key in METRICS:
        a, b = theirs[key], ours[key]
        equal = round(b, 4) == a if key == "ConnectionSparsity" else abs(a - b) <= 1e-9 * max(1.0, abs(a))
        rows[key] = {"neurobench": a, "ours": b, "equal": bool(equal),
                     "difference_explained": None if equal else EXPLAINED.get(key, "UNEXPLAINED")}
    return {"case": case.name, "samples": int(case.inputs.shape[0]), "steps": int(steps), "binary_input": case.binary,
            "spikes_equal_snntorch": bool(spikes_equal),
            "spikes": {n: int(s.sum()) for n, s in reference.items()}, "metrics": rows}


def table(result: dict) -> str:
    lines = [f"{result['case']}: {result['samples']} samples x {result['steps']} steps, runtime spikes equal "
             f"snnTorch's: {result['spikes_equal_snntorch']}",
             f"| metric | neurobench 2.3 | ours | equal |", "|---|---|---|---|"]
    for key, r in result["metrics"].items():
        lines.append(f"| {key} | {r['neurobench']:.6g} | {r['ours']:.6g} | {'yes' if r['equal'] else 'no (see note)'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=results_dir() / "neurobench_compare.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = [compare(spike_case(args.samples, args.steps)), compare(digits_case(args.samples, args.steps))]
    for r in results:
        print(table(r) + "\n")
    notes = {k: v for k, v in EXPLAINED.items()}
    print("\n".join(f"- {k}: {v}" for k, v in notes.items()))
    out = {"machine": describe_machine(), "cases": results, "notes": notes}
    save_results(args.out, out)
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
