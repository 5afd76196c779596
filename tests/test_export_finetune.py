"""Fine-tuning the streaming model with surrogate gradients on a tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ucfdvs.export.convert import convert
from ucfdvs.export.finetune import finetune, finetune_config
from ucfdvs.export.streaming_msf import StreamingMSF, StreamingNet, save_streaming
from export_helpers import active_msf
from ucfdvs.train.layout import FeatureLayout, read_split
from ucfdvs.train.model.msf import MSF, MSFConfig
from ucfdvs.train.trainer import training_and_validation


@pytest.fixture(autouse=True)
def _one_thread():
    """Per-step streaming ops are far faster single-threaded (and the machine is shared)."""
    from ucfdvs.train.torch_threads import torch_threads

    with torch_threads(1):
        yield


class _AUCs:
    """An evaluation set whose frame AUC at each evaluation is the next of `aucs` (no model run)."""

    def __init__(self, *aucs: float) -> None:
        self.aucs = list(aucs)
        self.calls = 0

    def evaluate(self, model: StreamingMSF, device: torch.device) -> tuple[dict, None]:
        self.calls += 1
        return {"auc_all": self.aucs[self.calls - 1], "far_all": 0.0}, None


def test_finetune_changes_weights_keeps_graph_and_round_trips(tiny_data: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = MSF(MSFConfig()).eval()
    model = convert(reference, 0)
    before = {k: v.detach().clone() for k, v in model.net.params.items()}
    config = finetune_config(iterations=3, eval_every=3, per_class=4)
    tuned, rows = finetune(model, FeatureLayout(tiny_data), config, test_set=_AUCs(0.5, 0.4), val_set=_AUCs(0.5, 0.6))
    assert [r["iteration"] for r in rows] == [0, 3] and rows[1]["loss"] > 0
    assert [r["val_auc_all"] for r in rows] == [0.5, 0.6] and [r["test_auc_all"] for r in rows] == [0.5, 0.4]
    assert all(torch.equal(model.net.params[k], v) for k, v in before.items())  # the input model is kept
    moved = {k for k, v in before.items() if not torch.equal(tuned.net.params[k], v)}
    assert {"head__weight", "head__bias"} <= moved, sorted(moved)
    assert tuned.net.edges == model.net.edges and tuned.latency == model.latency == 8
    path = tmp_path / "stream.pt"
    save_streaming(path, tuned)
    payload = torch.load(path, weights_only=True)
    again = StreamingMSF(StreamingNet.from_payload(payload))
    x = torch.rand(2, 12, 256)
    with torch.no_grad():
        assert torch.equal(again(x), tuned(x))


def test_finetune_keeps_the_converted_model_when_nothing_beats_it(tiny_data: Path) -> None:
    """Real evaluations: the result is the state with the best validation AUC, iteration 0 included."""
    torch.manual_seed(0)
    model = convert(MSF(MSFConfig()).eval(), 0)
    tuned, rows = finetune(model, FeatureLayout(tiny_data), finetune_config(iterations=3, eval_every=3, per_class=4))
    same = all(torch.equal(tuned.net.params[k], v) for k, v in model.net.params.items())
    assert same == (rows[0]["val_auc_all"] >= rows[1]["val_auc_all"])
    assert all(0.0 <= r[f"{split}_auc_all"] <= 1.0 for r in rows for split in ("val", "test"))


@pytest.mark.parametrize("select_on, kept_last", [("val", False), ("test", True)])
def test_finetune_selects_on_the_split_named_by_select_on(tiny_data: Path, select_on: str, kept_last: bool) -> None:
    """Validation AUC falls while test AUC rises: `val` keeps the converted model, `test` the fine-tuned one."""
    torch.manual_seed(0)
    model = convert(MSF(MSFConfig()).eval(), 0)
    config = finetune_config(iterations=2, eval_every=2, per_class=4, select_on=select_on)
    tuned, _ = finetune(model, FeatureLayout(tiny_data), config, test_set=_AUCs(0.5, 0.9), val_set=_AUCs(0.6, 0.4))
    same = all(torch.equal(tuned.net.params[k], v) for k, v in model.net.params.items())
    assert same != kept_last


def test_finetune_trains_without_its_validation_videos(tiny_data: Path) -> None:
    """The sampler sees the training split less the validation videos drawn as `ucfdvs train` draws them."""
    layout = FeatureLayout(tiny_data)
    config = finetune_config()
    train_videos, val_set = training_and_validation(layout, config)
    train_stems = {v.stem for v in train_videos}
    val_stems = {v.stem for v in val_set.videos}
    assert val_stems and not train_stems & val_stems
    assert train_stems | val_stems == set(read_split(layout, "train"))


def test_surrogate_gradient_reaches_every_trainable_layer_in_an_active_model() -> None:
    model = convert(active_msf(), 2)
    model.train()
    scores = model(torch.rand(4, 12, 32) * 2)
    scores.mean().backward()
    with_grad = [k for k, p in model.net.params.items() if p.grad is not None and float(p.grad.abs().sum()) > 0]
    assert any(k.startswith("loc") for k in with_grad) and any(k.startswith("tim_mix") for k in with_grad)
    assert any(k.startswith("d1_") for k in with_grad) and any(k.startswith("g_proj") for k in with_grad)
