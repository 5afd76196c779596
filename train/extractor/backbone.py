"""The spiking feature extractor: a small strided spiking conv net over one snippet's event frames.

Input x: [B, T, 2, H, W] binary event frames (T = 4 frames of 133,332 us, 2 polarities, 36x64 by default).
Each stage is Conv2d (3x3, no bias) -> BatchNorm2d -> LIF (the toolkit's `lif()`: tau 1.6, decay_input,
hard reset to 0), applied over all T steps (SpikingJelly multi-step mode). Channels (default)
2 -> 8 -> 32 -> 64 -> D = 256, all with stride 2 (36x64 -> 18x32 -> 9x16 -> 5x8 -> 3x4). With `residual=True`
a SEW block (spikes + spikes of a stride-1 conv stage, "ADD" as in SEW-ResNet) sits before the output stage;
that variant trains but cannot be exported to Lava netx.

The feature is the firing rate of the last stage averaged over time and space: [B, D] float32 in [0, 1].
A linear head (training only) maps it to the 14 classes (13 anomalies + Normal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from train.model.neurons import lif
from train.ucf_classes import ANOMALY_CLASSES, NORMAL_CLASS

CLASSES: tuple[str, ...] = ANOMALY_CLASSES + (NORMAL_CLASS,)
"""The 14 pretraining classes; index 13 is Normal."""


@dataclass(frozen=True)
class BackboneConfig:
    """Shape of the extractor. Sizes in pixels; `frame_us` is one input frame's duration in us."""

    width: int = 64
    height: int = 36
    frames: int = 4
    frame_us: int = 133_332
    channels: tuple[int, ...] = (8, 32, 64)
    feature_dim: int = 256
    residual: bool = False
    v_threshold: float = 1.0

    def __post_init__(self) -> None:
        if self.frames * self.frame_us <= 0 or min(self.width, self.height) < 8 or not self.channels:
            raise ValueError("need frames, frame_us > 0, width, height >= 8 and at least one channel stage")

    def as_dict(self) -> dict:
        """Plain-JSON form (tuples as lists)."""
        values = asdict(self)
        values["channels"] = list(self.channels)
        return values

    @staticmethod
    def from_dict(values: dict) -> BackboneConfig:
        values = dict(values)
        values["channels"] = tuple(values["channels"])
        return BackboneConfig(**values)


class ConvStage(nn.Module):
    """Conv2d (k x k, no bias) -> BatchNorm2d -> LIF over [T, B, C, H, W]; returns spikes [T, B, C', H', W']."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, v_threshold: float, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.lif = lif(v_threshold=v_threshold, step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = x.shape[:2]
        y = self.bn(self.conv(x.flatten(0, 1)))
        return self.lif(y.view(steps, batch, *y.shape[1:]))


class SpikingBackbone(nn.Module):
    """Strided spiking conv stages, a D-channel output stage, rate readout; see the module docstring."""

    def __init__(self, config: BackboneConfig = BackboneConfig()) -> None:
        super().__init__()
        self.config = config
        stages = []
        in_channels = 2
        for out_channels in config.channels:
            stages.append(ConvStage(in_channels, out_channels, 2, config.v_threshold))
            in_channels = out_channels
        self.stages = nn.ModuleList(stages)
        self.sew = ConvStage(in_channels, in_channels, 1, config.v_threshold) if config.residual else None
        self.out_stage = ConvStage(in_channels, config.feature_dim, 2, config.v_threshold)
        self.head = nn.Linear(config.feature_dim, len(CLASSES))

    def spikes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Spikes of every stage, each [T, B, C, H, W], for input x [B, T, 2, H, W]."""
        out = []
        h = x.transpose(0, 1).float()
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        if self.sew is not None:
            h = h + self.sew(h)
            out.append(h)
        out.append(self.out_stage(h))
        return out

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Firing rate of the output stage averaged over time and space: [B, D] float32."""
        return self.spikes(x)[-1].mean(dim=(0, 3, 4))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [B, D], class logits [B, 14])."""
        feats = self.features(x)
        return feats, self.head(feats)
