"""Training end to end on tiny data: outputs, best checkpoint, exact resume, evaluation outputs."""

import csv
import json

import numpy as np
import torch

from ucfdvs.train.checkpoint import load_checkpoint


def train_args(data, out, iterations, *extra):
    return ("train", "--data", data, "--out", out, "--iterations", iterations, "--eval-every", "2", "--device", "cpu", *extra)


def test_train_resume_and_eval(tiny_data, run_cli, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_cli(*train_args(tiny_data, straight, 6))[0] == 0
    assert {p.name for p in straight.iterdir()} == {"config.json", "metrics.csv", "last.pt", "best.pt"}
    with open(straight / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["iteration"]) for r in rows] == [2, 4, 6]
    best = max(rows, key=lambda r: float(r["auc_all"]))
    assert load_checkpoint(straight / "best.pt").iteration == int(best["iteration"])

    assert run_cli(*train_args(tiny_data, resumed, 4))[0] == 0
    assert run_cli(*train_args(tiny_data, resumed, 6, "--resume", resumed / "last.pt"))[0] == 0
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(resumed / "last.pt")
    assert a.iteration == b.iteration == 6
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key

    out = tmp_path / "eval"
    code, stdout, _ = run_cli("eval", "--data", tiny_data, "--checkpoint", straight / "best.pt", "--out", out, "--plots", "3")
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"auc_all", "auc_abnormal", "far_all", "far_normal"} <= set(metrics)
    assert 0 <= metrics["auc_all"] <= 1 and 0 <= metrics["far_all"] <= 1
    scores = np.load(out / "scores.npz")
    assert len(scores.files) == 8 and all(scores[k].ndim == 1 for k in scores.files)
    assert (out / "roc.png").stat().st_size > 1000 and len(list((out / "videos").glob("*.png"))) == 3
    assert json.loads(stdout)["auc_all"] == metrics["auc_all"]

    code, _, _ = run_cli("summary", "--eval", f"MSF={out}", "--out", tmp_path / "report.md")
    report = (tmp_path / "report.md").read_text()
    assert code == 0 and f"{metrics['auc_all']:.4f}" in report and "roc.png" in report


def test_linear_baseline_learns(tiny_data, run_cli, tmp_path):
    out = tmp_path / "linear"
    assert run_cli(*train_args(tiny_data, out, 2, "--model", "linear"))[0] == 0
    assert load_checkpoint(out / "last.pt").arch == "linear"
