"""Reference MSF checkpoint -> streaming MSF (no retraining).

Every piece and what it costs (``P = K + L + 4`` with ``K = max(2, L)``; latency ``P + 2``):

* BatchNorm (eval statistics) folded into the preceding convolution: exact.
* Each centred dilated convolution (kernel 3, dilation d) -> three synapse taps on delayed copies
  of the input (Delays ``P-1-d``, ``P-1``, ``P-1+d``): exact, the local LIFs run ``P`` steps behind.
* The distance graph ``sum_j a^|i-j| u[j]`` (``a = exp(-1/e)``, ``u = W g``) -> a causal leaky
  integrator ``C[i] = a C[i-1] + u[i]`` (NIR ``LI``, fed back as ``a C[i-1]`` through a Delay and a
  ``Scale``) plus look-ahead taps ``a^k u[i+k]``, ``k = 1..L``, on delayed spikes: exact up to the
  truncated tail ``sum_{k>L} a^k u[i+k]`` (bounded by ``a^(L+1)/(1-a) max|u|``).
* The similarity graph (a row softmax of thresholded cosine similarity over the whole video,
  data-dependent, non-causal) -> a causal exponential moving average of ``u``:
  ``m[i] = beta m[i-1] + (1-beta) u[i]`` (one ``LI`` population per graph layer). The softmax in
  the released code gives every snippet weight exp(0) or exp(s) with s in (0.7, 1], so it is close
  to a video-wide mean; the EMA is the causal, content-blind estimate of that mean.
* GC1's kernel-5 residual convolution -> taps at offsets -2..2 (exact, needs ``K >= 2``).
* TIM: ``tim_out -> Affine(W, b) -> tim_in -> Scale(alpha) -> tim_out``: the loop takes two steps,
  so the deployed recurrence is ``h[t] = LIF_out(alpha LIF_in(W h[t-2] + b) + (1-alpha) z[t])``
  (the reference uses ``h[t-1]`` and passes ``h[0] = z[0]`` unchanged; both differ here).
* Residual and read-out: ``score logit[i] = w . (h[i] + x[i]) + b`` at the Output, non-spiking;
  the sigmoid is applied after the graph.
* ``msf-released``: its shared, carried-state LIFs (one neuron called at the five local/global
  sites in turn, one at the four graph sites, each call starting from the membrane the previous
  one ended with) become one LIF population per site, each starting at v = 0: in a stream all
  sites run at once, so there is no "previous site" to inherit from. TIM's bias-free W becomes a
  ``Linear`` node; its strict threshold (``v > th``) becomes NIR's ``v >= th`` (they differ only
  when the membrane equals the threshold exactly). The head dropout is inactive in eval mode.
* Start-up: the neurons see their biases during the first ``P`` steps before snippet 0 arrives
  (the reference starts every LIF at v = 0 on snippet 0).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ucfdvs.export.streaming_msf import DT_SECONDS, NodeSpec, StreamingMSF, StreamingNet
from ucfdvs.errors import UserError
from ucfdvs.train.model.msf import MSF
from ucfdvs.train.model.neurons import TAU

DISTANCE_DECAY = math.exp(-1.0 / math.e)
DEFAULT_LOOKAHEAD = 4
DEFAULT_BETA = 0.95


def lif_params(size: int, threshold: float, tau_steps: float = TAU, dt: float = DT_SECONDS) -> dict[str, np.ndarray]:
    """NIR LIF parameters equal to SpikingJelly ``LIFNode(tau, decay_input=True, v_reset=0)``:
    ``tau = tau_steps * dt`` seconds, ``r = 1``, ``v_leak = 0``, ``v_reset = 0``."""
    return {"tau": np.full(size, tau_steps * dt), "r": np.ones(size), "v_leak": np.zeros(size),
            "v_threshold": np.full(size, float(threshold)), "v_reset": np.zeros(size)}


def li_params(size: int, decay: float, dt: float = DT_SECONDS) -> dict[str, np.ndarray]:
    """NIR LI parameters for ``v[t] = decay * v[t-1] + I[t]``: ``dt/tau = 1 - decay``, ``r = 1/(1 - decay)``."""
    return {"tau": np.full(size, dt / (1.0 - decay)), "r": np.full(size, 1.0 / (1.0 - decay)), "v_leak": np.zeros(size)}


class GraphBuilder:
    """Collects nodes, edges and weights; shares one Delay node per (source, steps)."""

    def __init__(self, dt: float = DT_SECONDS) -> None:
        self.dt = dt
        self.nodes: dict[str, NodeSpec] = {}
        self.edges: list[tuple[str, str]] = []
        self.tensors: dict[str, torch.Tensor] = {}

    def add(self, name: str, spec: NodeSpec, *sources: str) -> str:
        if name in self.nodes:
            raise ValueError(f"duplicate node {name}")
        self.nodes[name] = spec
        self.edges.extend((s, name) for s in sources)
        return name

    def input(self, name: str, size: int) -> str:
        return self.add(name, NodeSpec("input", size, size))

    def output(self, name: str, size: int, *sources: str) -> str:
        return self.add(name, NodeSpec("output", size, size), *sources)

    def delayed(self, src: str, steps: int) -> str:
        """``src`` delayed by ``steps`` (the source itself for 0)."""
        if steps < 0:
            raise ValueError(f"negative delay {steps} on {src}")
        if steps == 0:
            return src
        name = f"{src}_d{steps}"
        if name not in self.nodes:
            size = self.nodes[src].size_out
            self.add(name, NodeSpec("delay", size, size, delay=steps), src)
        return name

    def synapse(self, name: str, src: str, weight: torch.Tensor, bias: torch.Tensor | None = None) -> str:
        """An Affine (with bias) or Linear node ``[out, in]`` fed by ``src``."""
        weight = torch.as_tensor(weight, dtype=torch.float32)
        kind = "linear" if bias is None else "affine"
        self.tensors[f"{name}__weight"] = weight.detach().clone()
        if bias is not None:
            self.tensors[f"{name}__bias"] = torch.as_tensor(bias, dtype=torch.float32).detach().clone()
        return self.add(name, NodeSpec(kind, weight.shape[1], weight.shape[0]), src)

    def scale(self, name: str, src: str, value: float | torch.Tensor) -> str:
        size = self.nodes[src].size_out
        self.tensors[f"{name}__scale"] = torch.full((size,), 1.0) * torch.as_tensor(value, dtype=torch.float32)
        return self.add(name, NodeSpec("scale", size, size), src)

    def lif(self, name: str, size: int, threshold: float, *sources: str) -> str:
        return self.add(name, NodeSpec("lif", size, size, neuron=lif_params(size, threshold, dt=self.dt)), *sources)

    def li(self, name: str, size: int, decay: float, *sources: str) -> str:
        return self.add(name, NodeSpec("li", size, size, neuron=li_params(size, decay, dt=self.dt)), *sources)

    def connect(self, src: str, dst: str) -> None:
        self.edges.append((src, dst))

    def build(self, meta: dict | None = None) -> StreamingNet:
        return StreamingNet(self.nodes, self.edges, self.tensors, self.dt, meta)


# -- exact pieces ---------------------------------------------------------------------------------
def fold_batchnorm(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold eval-mode BatchNorm into the convolution before it: ``(W [C_out, C_in, k], b [C_out])``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale[:, None, None]
    bias = (conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)) - bn.running_mean
    return weight.detach(), (bias * scale + bn.bias).detach()


def add_conv_taps(b: GraphBuilder, name: str, src: str, weight: torch.Tensor, bias: torch.Tensor | None,
                  dilation: int, phase_in: int, phase_out: int) -> list[str]:
    """Synapse taps computing the centred conv ``sum_j W[:, :, j] u[i + (j - (k-1)/2) d] + b`` of ``src``
    (which emits snippet i at step ``i + phase_in``) so that it arrives at step ``i + phase_out``.
    Returns the tap node names (connect them to the receiving neuron)."""
    size = weight.shape[2]
    centre = (size - 1) // 2
    taps = []
    for j in range(size):
        offset = (j - centre) * dilation
        steps = phase_out - 1 - phase_in - offset
        if steps < 0:
            raise ValueError(f"{name}: phase_out {phase_out} too small for look-ahead {offset}")
        taps.append(b.synapse(f"{name}_tap{j}", b.delayed(src, steps), weight[:, :, j],
                              bias if (j == size - 1 and bias is not None) else None))
    return taps


def add_graph_layer(b: GraphBuilder, name: str, src: str, phase_in: int, lookahead: int, phase_out: int,
                    graph_weight: torch.Tensor, decay: float, mode: str,
                    fir: dict[int, torch.Tensor] | None = None, fir_bias: torch.Tensor | None = None) -> list[str]:
    """The inputs of one streaming graph-convolution layer; returns the synapse nodes to sum.

    ``u[i] = graph_weight @ s[i]`` (``graph_weight`` ``[out, in]``), with ``s`` emitted by ``src`` at
    step ``i + phase_in``; everything arrives at step ``i + phase_out``:

    * ``mode="distance"``: ``sum_{j <= i} a^(i-j) u[j] + sum_{k=1..L} a^k u[i+k]`` (``a = decay``);
    * ``mode="ema"``: ``m[i] = a m[i-1] + (1-a) u[i]`` (the similarity substitute);

    plus ``fir`` (extra taps ``{offset: W [out, in]}``, offset may be negative) with ``fir_bias``.
    The causal part is an ``LI`` (``v = a v + I``) on ``u`` fed back as ``a C[i-1]``.
    """
    taps: dict[int, torch.Tensor] = {k: v.clone() for k, v in (fir or {}).items()}
    gain = 1.0 if mode == "distance" else 1.0 - decay
    taps[0] = taps.get(0, torch.zeros_like(graph_weight)) + gain * graph_weight
    if mode == "distance":
        for k in range(1, lookahead + 1):
            taps[k] = taps.get(k, torch.zeros_like(graph_weight)) + decay**k * graph_weight
    bias_at = max(taps)
    nodes = []
    for offset in sorted(taps):
        steps = phase_out - 1 - phase_in - offset
        if steps < 0:
            raise ValueError(f"{name}: phase_out {phase_out} too small for offset {offset}")
        label = f"m{-offset}" if offset < 0 else f"p{offset}"
        nodes.append(b.synapse(f"{name}_tap_{label}", b.delayed(src, steps), taps[offset],
                               fir_bias if (offset == bias_at and fir_bias is not None) else None))
    # causal feedback: LI holds C[i] at step i + phase_in + 1; a C[i-1] must arrive at i + phase_out
    li_in = b.synapse(f"{name}_li_in", src, gain * graph_weight)
    li = b.li(f"{name}_li", graph_weight.shape[0], decay, li_in)
    nodes.append(b.scale(f"{name}_li_fb", b.delayed(li, phase_out - phase_in - 1), decay))
    return nodes


def layout(lookahead: int) -> dict[str, int]:
    """Phases (steps behind the input) of each stage for look-ahead ``L``, and the latency."""
    k = max(2, lookahead)
    g, gc1 = 1, 1 + k + 1
    gc2 = gc1 + lookahead + 1
    p = gc2 + 1
    return {"K": k, "global_in": g, "gc1": gc1, "gc2": gc2, "fused": p, "tim_out": p + 1, "latency": p + 2}


def convert(reference: MSF, lookahead: int = DEFAULT_LOOKAHEAD, beta: float = DEFAULT_BETA,
            dt: float = DT_SECONDS, source: dict[str, Any] | None = None) -> StreamingMSF:
    """Build the streaming MSF from a reference MSF (eval statistics; weights copied, not trained).

    ``lookahead`` L: distance-graph look-ahead (snippets) in each graph layer; ``beta``: decay of
    the similarity substitute's moving average. Latency = ``max(2, L) + L + 6`` steps.
    """
    if not isinstance(reference, MSF):
        raise UserError(f"cannot convert a {type(reference).__name__}: only the MSF architecture has a streaming form")
    if not (reference.config.use_local and reference.config.use_global and reference.config.use_tim):
        raise UserError("cannot convert an ablated MSF (a branch or TIM left out): only the full model has a streaming form")
    if lookahead < 0:
        raise UserError(f"look-ahead must be >= 0, got {lookahead}")
    if not 0.0 < beta < 1.0:
        raise UserError(f"beta must be in (0, 1), got {beta}")
    cfg = reference.config
    ph = layout(lookahead)
    p = ph["fused"]
    if p - 1 - max(cfg.dilations) < 1:
        raise UserError(f"dilation {max(cfg.dilations)} needs a larger look-ahead")
    with torch.no_grad():
        b = GraphBuilder(dt)
        x = b.input("x", cfg.feature_dim)
        fused = []
        for block in reference.local.blocks:
            d = block.dilation
            w, bias = fold_batchnorm(block.conv, block.bn)
            taps = add_conv_taps(b, f"loc{d}", x, w, bias, d, 0, p)
            fused.append(b.lif(f"loc{d}", cfg.dim, block.lif.v_threshold, *taps))
        glob = reference.global_
        proj = b.synapse("g_proj", x, glob.project.weight[:, :, 0])
        g = b.lif("g", cfg.dim, glob.lif_in.v_threshold, proj)
        gcn = glob.gcn
        layer_out = {}
        for kind, branch, decay, mode in (("s", gcn.similarity_branch, beta, "ema"),
                                          ("d", gcn.distance_branch, DISTANCE_DECAY, "distance")):
            conv = branch.gc1.residual
            fir = {j - 2: conv.weight[:, :, j] for j in range(conv.weight.shape[2])}
            look = lookahead if mode == "distance" else 0
            ins = add_graph_layer(b, f"{kind}1", g, ph["global_in"], look, ph["gc1"], branch.gc1.weight.T,
                                  decay, mode, fir, conv.bias)
            h1 = b.lif(f"{kind}1", cfg.gcn_hidden, branch.lif1.v_threshold, *ins)
            eye = {0: torch.eye(cfg.gcn_hidden)}
            ins = add_graph_layer(b, f"{kind}2", h1, ph["gc1"], look, ph["gc2"], branch.gc2.weight.T,
                                  decay, mode, eye, None)
            layer_out[kind] = b.lif(f"{kind}2", cfg.gcn_hidden, branch.lif2.v_threshold, *ins)
        h = cfg.gcn_hidden
        mix_s = b.synapse("mix_s", layer_out["s"], gcn.mix.weight[:, :h])
        mix_d = b.synapse("mix_d", layer_out["d"], gcn.mix.weight[:, h:], gcn.mix.bias)
        fused.append(b.lif("gout", cfg.dim, glob.lif_out.v_threshold, mix_s, mix_d))
        tim = reference.tim
        width = cfg.feature_dim
        z_nodes = []
        offset = 0
        for pop in fused:
            n = b.nodes[pop].size_out
            w = torch.zeros(width, n)
            w[offset: offset + n] = (1.0 - tim.alpha) * torch.eye(n)
            z_nodes.append(b.synapse(f"tim_z_{pop}", pop, w))
            offset += n
        tim_out = b.lif("tim_out", width, tim.lif_out.v_threshold, *z_nodes)
        tim_mix = b.synapse("tim_mix", tim_out, tim.mix.weight, tim.mix.bias)
        tim_in = b.lif("tim_in", width, tim.lif_in.v_threshold, tim_mix)
        fb = b.scale("tim_fb", tim_in, tim.alpha)
        b.connect(fb, tim_out)
        head = b.synapse("head", tim_out, reference.head.weight, reference.head.bias)
        head_res = b.synapse("head_res", b.delayed(x, ph["tim_out"]), reference.head.weight)
        b.output("score", 1, head, head_res)
        meta = {"arch": "streaming-msf", "lookahead": lookahead, "beta": beta, "latency": ph["latency"],
                "reference": asdict_safe(reference), **(source or {})}
        net = b.build(meta)
    model = StreamingMSF(net)
    return model


def asdict_safe(reference: MSF) -> dict:
    hp = reference.hyperparameters()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()}
