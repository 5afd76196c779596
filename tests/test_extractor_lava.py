"""The extractor exported to lava-dl netx and run in the Loihi 2 simulator agrees with PyTorch (tiny backbone)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ucfdvs.errors import UserError
from ucfdvs.train.extractor import BackboneConfig, SpikingBackbone

pytest.importorskip("lava.lib.dl.netx", reason="lava-dl cannot be imported")

from ucfdvs.export.extractor_netx import compare_lava_torch, export_netx  # noqa: E402


def _tiny(residual: bool = False) -> SpikingBackbone:
    torch.manual_seed(0)
    model = SpikingBackbone(BackboneConfig(width=16, height=12, channels=(4, 8), feature_dim=8, residual=residual))
    with torch.no_grad():
        for stage in list(model.stages) + [model.out_stage]:
            stage.conv.weight.mul_(2.0)
            stage.bn.running_mean.uniform_(-0.1, 0.1)
            stage.bn.running_var.uniform_(0.5, 1.5)
            stage.bn.weight.uniform_(1.0, 2.0)
            stage.bn.bias.uniform_(0.5, 1.0)
    return model.eval()


def test_netx_run_agrees_with_pytorch(tmp_path):
    snippets = (np.random.default_rng(0).random((3, 4, 2, 12, 16)) < 0.3).astype(np.uint8)
    result = compare_lava_torch(_tiny(), snippets, tmp_path)
    assert result.layers == ["stages.0", "stages.1", "out_stage"]
    assert all(n > 0 for n in result.torch_spikes)
    assert min(result.agreement) > 0.95, result.as_dict()
    assert result.feature_mae < 0.05, result.as_dict()


def test_residual_backbone_is_refused(tmp_path):
    with pytest.raises(UserError, match="residual"):
        export_netx(_tiny(residual=True), tmp_path / "x.h5")
