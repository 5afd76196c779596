"""ONNX export of the reference MSF: onnxruntime matches PyTorch within 1e-5."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ucfdvs.export.onnx_export import export_onnx, run_onnx
from export_helpers import active_msf, features
from ucfdvs.errors import UserError
from ucfdvs.train.model.linear_mil import LinearMIL


@pytest.fixture(autouse=True)
def _one_thread():
    """Per-step streaming ops are far faster single-threaded (and the machine is shared)."""
    from ucfdvs.train.torch_threads import torch_threads

    with torch_threads(1):
        yield


def test_onnx_matches_pytorch_with_padding_and_dynamic_batch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    model = active_msf()
    path = tmp_path / "msf.onnx"
    export_onnx(model, path, steps=10)
    x = features(3, 10)
    lengths = torch.tensor([10, 7, 3])
    x[1, 7:] = 0
    x[2, 3:] = 0
    with torch.no_grad():
        expected = model(x, lengths).numpy()
    got = run_onnx(path, x.numpy(), lengths.numpy())
    assert got.shape == (3, 10)
    assert np.abs(got - expected).max() < 1e-5
    assert expected.std() > 1e-3  # not a constant output


def test_onnx_refuses_other_models(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="LinearMIL"):
        export_onnx(LinearMIL(), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_onnx_export_without_onnx_is_a_user_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # an install without the [interop] extra
    with pytest.raises(UserError, match=r"--onnx needs the onnx package"):
        export_onnx(active_msf(), tmp_path / "msf.onnx", steps=4)
    assert not (tmp_path / "msf.onnx").exists()
