"""Fine-tuning the streaming model with surrogate gradients on a tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ucfdvs.export.convert import convert
from ucfdvs.export.finetune import finetune, finetune_config
from ucfdvs.export.streaming_msf import StreamingMSF, StreamingNet, save_streaming
from export_helpers import active_msf
from ucfdvs.train.layout import FeatureLayout
from ucfdvs.train.model.msf import MSF, MSFConfig


@pytest.fixture(autouse=True)
def _one_thread():
    """Per-step streaming ops are far faster single-threaded (and the machine is shared)."""
    from ucfdvs.train.torch_threads import torch_threads

    with torch_threads(1):
        yield


class _RisingAUC:
    """A test set whose AUC rises at every evaluation, so that fine-tuning keeps its last state."""

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, model: StreamingMSF, device: torch.device) -> tuple[dict, None]:
        self.calls += 1
        return {"auc_all": 0.5 + 0.01 * self.calls, "far_all": 0.0}, None


def test_finetune_changes_weights_keeps_graph_and_round_trips(tiny_data: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = MSF(MSFConfig()).eval()
    model = convert(reference, 0)
    before = {k: v.detach().clone() for k, v in model.net.params.items()}
    config = finetune_config(iterations=3, eval_every=3, per_class=4)
    tuned, rows = finetune(model, FeatureLayout(tiny_data), config, test_set=_RisingAUC())
    assert [r["iteration"] for r in rows] == [0, 3] and rows[1]["loss"] > 0
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
    """Real evaluations: the result is the state with the best test AUC, iteration 0 included."""
    torch.manual_seed(0)
    model = convert(MSF(MSFConfig()).eval(), 0)
    tuned, rows = finetune(model, FeatureLayout(tiny_data), finetune_config(iterations=3, eval_every=3, per_class=4))
    same = all(torch.equal(tuned.net.params[k], v) for k, v in model.net.params.items())
    assert same == (rows[0]["auc_all"] >= rows[1]["auc_all"])


def test_surrogate_gradient_reaches_every_trainable_layer_in_an_active_model() -> None:
    model = convert(active_msf(), 2)
    model.train()
    scores = model(torch.rand(4, 12, 32) * 2)
    scores.mean().backward()
    with_grad = [k for k, p in model.net.params.items() if p.grad is not None and float(p.grad.abs().sum()) > 0]
    assert any(k.startswith("loc") for k in with_grad) and any(k.startswith("tim_mix") for k in with_grad)
    assert any(k.startswith("d1_") for k in with_grad) and any(k.startswith("g_proj") for k in with_grad)
