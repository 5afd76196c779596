"""The any-graph path of ``make demo``: a small snnTorch network trained on scikit-learn's digits,
exported by snnTorch's own exporter, ready for ``ucfdvs bench --nir``.

Writes into OUT: ``graph.nir`` (``snntorch.export_to_nir``), ``inputs.npy`` (test spike trains
``[360, 20, 64]`` uint8), ``labels.npy`` (``[360]``), ``model.pt`` (the trained module, for
``--reference``).  The network is :mod:`benchmarks.digits_networks`' ``snntorch_ff`` (Linear 64-64
+ Leaky, Linear 64-10 + Leaky, snnTorch's default subtractive reset), trained with its recipe for
``--epochs`` epochs (about 10 s on one core).

    python -m ucfdvs.benchmarks.digits_demo --out demo/digits [--epochs 15]
    ucfdvs bench --nir demo/digits/graph.nir --input demo/digits/inputs.npy --labels demo/digits/labels.npy \\
        --reference demo/digits/model.pt --source snntorch --flush --out demo/bench-digits
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ucfdvs.atomic import atomic_dir
from ucfdvs.benchmarks.digits_data import digit_spikes
from ucfdvs.benchmarks.digits_networks import export, snntorch_nets, train
from ucfdvs.benchmarks.library_runs import run_snntorch
from ucfdvs.benchmarks.reference_models import save_reference
from ucfdvs.errors import UserError

NAME = "snntorch_ff"


def build_demo(out: Path, epochs: int = 15, force: bool = False) -> float:
    """Train, export and save (see the module docstring); returns the library's test accuracy."""
    torch.manual_seed(0)
    x_tr, y_tr, x_te, y_te = digit_spikes()
    net = snntorch_nets()[NAME][0]
    train(net, run_snntorch, x_tr, y_tr, epochs)
    net.eval()
    with torch.no_grad():
        counts = run_snntorch(net, torch.as_tensor(x_te, dtype=torch.float32))[0].sum(1).numpy()
    accuracy = float(np.mean(counts.argmax(1) == y_te))
    with atomic_dir(out, force=force) as tmp:
        error = export(NAME, net, False, tmp / "graph.nir")
        if error:
            raise UserError(f"snnTorch's exporter failed: {error}")
        np.save(tmp / "inputs.npy", x_te)
        np.save(tmp / "labels.npy", y_te)
        save_reference(tmp / "model.pt", NAME, net)
    return accuracy


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        accuracy = build_demo(args.out, args.epochs, args.force)
    except UserError as err:
        raise SystemExit(f"digits_demo: error: {err}") from None
    print(f"snnTorch {NAME}: test accuracy {accuracy:.4f} in snnTorch; wrote {args.out}/graph.nir, inputs.npy, "
          "labels.npy, model.pt")


if __name__ == "__main__":
    main()
