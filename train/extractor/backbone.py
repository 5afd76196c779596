"""The spiking feature extractor: a small strided spiking conv net over one snippet's event frames.

Input x: [B, T, 2, H, W] binary event frames (T = 8 frames of 133,332 us, 2 polarities, 36x64 by default). The T
frames end with the snippet the feature belongs to: with the defaults the snippet's own 4 frames (533,328 us)
follow the 4 frames of the snippet before it (temporal context). Each stage is Conv2d (3x3, no bias) ->
BatchNorm2d -> LIF (the toolkit's `lif()`: tau 1.6, decay_input, hard reset to 0), applied over all T steps
(SpikingJelly multi-step mode). Channels (default) 2 -> 8 -> 32 -> 64 -> D = 256, all with stride 2 (36x64 ->
18x32 -> 9x16 -> 5x8 -> 3x4). With `residual=True` a SEW block (spikes + spikes of a stride-1 conv stage, "ADD"
as in SEW-ResNet) sits before the output stage; that variant trains but cannot be exported to Lava netx.

The feature (`readout`) is, per output channel, the firing rate over time at the channel's most active position:
[B, D] float32 in [0, 1]. A global max over space keeps small local motion that an average would dilute.
A linear head (training only) maps it to the 14 classes (13 anomalies + Normal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ucfdvs.train.model.neurons import lif
from ucfdvs.train.ucf_classes import ANOMALY_CLASSES, FRAME_US, NORMAL_CLASS, SNIPPET_US

CLASSES: tuple[str, ...] = ANOMALY_CLASSES + (NORMAL_CLASS,)
"""The 14 pretraining classes; index 13 is Normal."""


@dataclass(frozen=True)
class BackboneConfig:
    """Shape of the extractor. Sizes in pixels; `frame_us` is one input frame's duration in us, a whole number of
    30 fps video frames that divides the 533,328 us snippet; the `frames` before a snippet's end are its input."""

    width: int = 64
    height: int = 36
    frames: int = 8
    frame_us: int = 133_332
    channels: tuple[int, ...] = (8, 32, 64)
    feature_dim: int = 256
    residual: bool = False
    v_threshold: float = 1.0

    def __post_init__(self) -> None:
        if self.frame_us <= 0 or self.frame_us % FRAME_US or SNIPPET_US % self.frame_us:
            raise ValueError(f"frame_us must be a multiple of {FRAME_US} us that divides {SNIPPET_US} us")
        if self.frames < self.snippet_frames or min(self.width, self.height) < 8 or not self.channels:
            raise ValueError("need frames >= one snippet's frames, width, height >= 8 and at least one channel stage")

    @property
    def snippet_frames(self) -> int:
        """Input frames per 533,328 us snippet (the remaining `frames` are context before it)."""
        return SNIPPET_US // self.frame_us

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


def readout(spikes: torch.Tensor) -> torch.Tensor:
    """Per channel, the firing rate over time at the most active position: spikes [T, B, D, H, W] -> [B, D]."""
    return spikes.mean(dim=0).amax(dim=(2, 3))


class SpikingBackbone(nn.Module):
    """Strided spiking conv stages, a D-channel output stage, `readout`; see the module docstring."""

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
        """Features [B, D] float32 in [0, 1] of input x [B, T, 2, H, W]: `readout` of the output stage's spikes."""
        return readout(self.spikes(x)[-1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [B, D], class logits [B, 14])."""
        feats = self.features(x)
        return feats, self.head(feats)
