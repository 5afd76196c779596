"""Rockpool 3.1 networks, exported by Rockpool's own ``to_nir``, against Rockpool's own ``evolve``.

Small ``Sequential`` networks of ``LinearTorch`` and ``LIFTorch`` (dt 1 ms, Rockpool's default and
what ``--source rockpool`` assumes), random input spike trains (``--samples`` x ``--steps`` x 12,
30 % density, seed 0), each run in Rockpool and, from its NIR file with ``source="rockpool"``, in
the emulator and in Lava ``floating_pt``; per LIF layer the spike agreement at the hop offset
(layer k at step t + k, :mod:`ucfdvs.benchmarks.runtime_agreement`):

* ``ff_single_spike``: two Affine (biases) + LIFTorch layers with per-neuron ``tau_mem``,
  ``tau_syn`` and thresholds, ``max_spikes_per_dt=1`` (one spike per step, as the runtime);
* ``ff_multi_spike``: the same with Rockpool's default ``max_spikes_per_dt`` (``floor(v/theta)``
  spikes per step, subtracting ``n theta``; the runtime emits one);
* ``ff_lif_bias``: ``ff_single_spike`` with a ``LIFTorch`` bias, which Rockpool's exporter does not
  write (``v_leak`` is written as 0);
* ``recurrent``: the first ``LIFTorch`` with ``has_rec=True``; Rockpool's exporter writes no
  recurrent weights.

    python -m ucfdvs.benchmarks.rockpool_agreement [--samples 8] [--steps 100] [--lava-samples 4]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results

N_IN, N_HID, N_OUT = 12, 10, 4
LAYERS = ("1_LIFTorch", "3_LIFTorch")


def rockpool_net(kind: str, dt: float = 1e-3) -> Any:
    """One of the networks of the module docstring (seeded; weights x3 so that every layer fires);
    ``dt``: the LIFTorch modules' step (s)."""
    import torch
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch

    torch.manual_seed(1)
    spikes = {"dt": dt} if kind == "ff_multi_spike" else {"dt": dt, "max_spikes_per_dt": 1.0}
    net = Sequential(
        LinearTorch((N_IN, N_HID), has_bias=True),
        LIFTorch(N_HID, tau_mem=torch.linspace(0.005, 0.03, N_HID), tau_syn=torch.linspace(0.002, 0.01, N_HID),
                 threshold=torch.linspace(0.5, 1.5, N_HID), has_rec=kind == "recurrent", **spikes),
        LinearTorch((N_HID, N_OUT), has_bias=True),
        LIFTorch(N_OUT, tau_mem=0.01, tau_syn=0.004, threshold=0.8, **spikes))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(3.0)
        net[0].bias.fill_(0.2)
        net[2].bias.copy_(torch.tensor([0.3, -0.2, 0.1, 0.4]))
        if kind == "ff_lif_bias":
            net[1].bias.fill_(0.05)
    return net


def export(net: Any, path: Path) -> Path:
    """Rockpool's own NIR export of ``net`` written to ``path``."""
    import nir
    from rockpool.nn.modules.torch.nir import to_nir

    nir.write(str(path), to_nir(net))
    return path


def compare(kind: str, x: np.ndarray, backend: str = "emu", dt: float = 1e-3) -> dict[str, Any]:
    """Rockpool's evolve of network ``kind`` (module step ``dt``, which the file does not carry) on
    ``x [B, T, 12]`` against the runtime's run of its export (``backend`` ``"emu"`` or ``"lava"``,
    floating point); :func:`compare_with_runtime`'s dict."""
    import torch

    from ucfdvs.benchmarks.library_runs import run_rockpool
    from ucfdvs.benchmarks.runtime_agreement import compare_with_runtime

    torch.set_num_threads(1)
    net = rockpool_net(kind, dt)
    with torch.no_grad():
        lib = {k: v.numpy() for k, v in run_rockpool(net, torch.as_tensor(x, dtype=torch.float32)).items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = export(net, Path(tmp) / f"{kind}.nir")
        res = compare_with_runtime(path, "rockpool", x, np.zeros(len(x), dtype=np.int64), lib, LAYERS[-1],
                                   backend=backend)
    res["library_max_spikes_per_step"] = {k: float(v.max()) for k, v in lib.items()}
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lava-samples", type=int, default=4)
    ap.add_argument("--out", type=Path, default=results_dir() / "rockpool_agreement.json")
    args = ap.parse_args(argv)
    x = (np.random.default_rng(0).random((args.samples, args.steps, N_IN)) < 0.3).astype(np.float32)
    results: dict[str, Any] = {}
    for kind in ("ff_single_spike", "ff_multi_spike", "ff_lif_bias", "recurrent"):
        results[kind] = {"emu_float": compare(kind, x),
                         "lava_float": compare(kind, x[:args.lava_samples], backend="lava")}
        for name, r in results[kind].items():
            layers = ", ".join(f"{k} {v['spike_agreement']:.4f} (+{v['offset_steps']}; {v['library_spikes']} vs "
                               f"{v['runtime_spikes']})" for k, v in r.get("layers", {}).items())
            print(f"{kind:16s} {name:10s} {r['status']}: {layers}")
    save_results(args.out, {"machine": describe_machine(), "samples": args.samples, "steps": args.steps,
                            "lava_samples": args.lava_samples, **results})
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
