"""MSF's temporal interaction module (TIM): a spiking recurrence over snippets.

    h[0] = z[0]
    h[t] = LIF_out(alpha * LIF_in(W h[t-1]) + (1 - alpha) * z[t])      t >= 1

with alpha 0.6, LIF_in threshold 0.3, LIF_out threshold 0.5, tau 1.6 and W a learned C x C channel
mix applied to each video on its own. (The released code applies W as a kernel-3 convolution
across the batch axis, mixing different videos of a batch; that is a bug we do not copy. At batch
size 1, as in its test loop, only the centre tap acts: a bias-free C x C mix, which `released=True` is.)

`released=True` (`msf-released`): W without bias and BrainCog's neuron conventions
(`StrictLIFNode`: fire when v > threshold, quadratic-gate surrogate, alpha 2). Otherwise W has a bias
and the neurons are SpikingJelly's (fire when v >= threshold, sigmoid surrogate, alpha 4).
"""

from __future__ import annotations

import torch
from torch import nn

from ucfdvs.train.model.neurons import StrictLIFNode, lif


class TemporalInteraction(nn.Module):
    """`[B, T, C]` spikes -> `[B, T, C]` spikes, stepped snippet by snippet."""

    def __init__(
        self, dim: int, alpha: float, in_threshold: float, out_threshold: float, released: bool = False
    ) -> None:
        super().__init__()
        self.alpha = alpha
        self.mix = nn.Linear(dim, dim, bias=not released)
        neuron = StrictLIFNode if released else (lambda threshold: lif(threshold, step_mode="s"))
        self.lif_in = neuron(in_threshold)
        self.lif_out = neuron(out_threshold)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.lif_in.reset()
        self.lif_out.reset()
        state = z[:, 0]
        outputs = [state]
        for t in range(1, z.shape[1]):
            interaction = self.lif_in(self.mix(state))
            state = self.lif_out(self.alpha * interaction + (1.0 - self.alpha) * z[:, t])
            outputs.append(state)
        return torch.stack(outputs, dim=1)
