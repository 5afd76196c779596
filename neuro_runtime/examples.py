"""Small NIR graphs built from ``nir`` dataclasses (tests, benchmark, documentation).

All use ``dt`` from ``metadata["dt"]`` and neurons with dt/tau = 1/1.6 unless stated.
"""

from __future__ import annotations

import numpy as np

from ucfdvs.timebase import SNIPPET_S

DT = SNIPPET_S
TAU = 1.6 * DT


def _lif(n: int, vth: float = 1.0, tau: float = TAU, v_reset: float = 0.0, v_leak: float = 0.0) -> "object":
    import nir

    return nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.full(n, v_leak),
                   v_threshold=np.full(n, vth), v_reset=np.full(n, v_reset))


def _aff(rng: np.random.Generator, n_out: int, n_in: int, scale: float, bias: float = 0.1) -> "object":
    import nir

    return nir.Affine(weight=rng.normal(0, scale, (n_out, n_in)), bias=rng.normal(0, bias, n_out))


def constant_current_lif_graph(current: float = 1.7, vth: float = 1.0) -> "object":
    """One LIF neuron driven by a constant current (an Affine with zero weight and bias `current`)."""
    import nir

    return nir.NIRGraph(
        nodes={"in": nir.Input(np.array([1])), "a": nir.Affine(np.zeros((1, 1)), np.array([current])),
               "lif": _lif(1, vth), "out": nir.Output(np.array([1]))},
        edges=[("in", "a"), ("a", "lif"), ("lif", "out")], metadata={"dt": DT})


def constant_current_lif_spikes(steps: int, current: float = 1.7, vth: float = 1.0) -> np.ndarray:
    """Closed form of `constant_current_lif_graph`: v_n = r I0 (1 - (1 - dt/tau)^n) crosses vth every n* steps."""
    decay = DT / TAU
    period = next(n for n in range(1, 1000) if current * (1 - (1 - decay) ** n) > vth)
    spikes = np.zeros(steps)
    spikes[period - 1 :: period] = 1
    return spikes


def branching_graph(seed: int = 0) -> "object":
    """in(4) -> A -> LIF(6) -> {A -> LIF(3), A -> CubaLIF(3)} -> two Linear summed into LI(2) -> out;
    the LI's graded output also drives A -> LIF(2) -> out_li."""
    import nir

    rng = np.random.default_rng(seed)
    nodes = {
        "in": nir.Input(np.array([4])),
        "a0": _aff(rng, 6, 4, 1.5),
        "lif0": _lif(6, vth=1.0, v_reset=-0.2, v_leak=0.1),
        "a1": _aff(rng, 3, 6, 1.2),
        "lif1": _lif(3, vth=0.8),
        "a2": _aff(rng, 3, 6, 1.2),
        "cuba": nir.CubaLIF(tau_syn=np.full(3, 2 * DT), tau_mem=np.full(3, TAU), r=np.ones(3),
                            v_leak=np.zeros(3), v_threshold=np.full(3, 0.7), v_reset=np.zeros(3),
                            w_in=np.full(3, 1.5)),
        "l1": nir.Linear(weight=rng.normal(0, 1.0, (2, 3))),
        "l2": nir.Linear(weight=rng.normal(0, 1.0, (2, 3))),
        "li": nir.LI(tau=np.full(2, 2 * DT), r=np.ones(2), v_leak=np.zeros(2)),
        "out": nir.Output(np.array([2])),
        "l3": nir.Affine(weight=np.array([[3.0, -1.0], [1.0, 2.5]]), bias=np.array([0.2, 0.1])),
        "lif_li": _lif(2, vth=0.5),
        "out_li": nir.Output(np.array([2])),
    }
    edges = [("in", "a0"), ("a0", "lif0"), ("lif0", "a1"), ("a1", "lif1"), ("lif0", "a2"), ("a2", "cuba"),
             ("lif1", "l1"), ("cuba", "l2"), ("l1", "li"), ("l2", "li"), ("li", "out"),
             ("li", "l3"), ("l3", "lif_li"), ("lif_li", "out_li")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def recurrent_graph(seed: int = 1) -> "object":
    """in(3) -> A -> LIF(5) <-> A_rec (cycle); LIF -> A -> Scale -> out (graded read-out, 2 hops);
    in -> out_raw (the input, recorded directly)."""
    import nir

    rng = np.random.default_rng(seed)
    nodes = {
        "in": nir.Input(np.array([3])),
        "a_in": _aff(rng, 5, 3, 1.5),
        "lif": _lif(5),
        "a_rec": _aff(rng, 5, 5, 0.8, bias=0.05),
        "a_out": _aff(rng, 2, 5, 1.0),
        "scale": nir.Scale(scale=np.array([0.5, -2.0])),
        "out": nir.Output(np.array([2])),
        "out_raw": nir.Output(np.array([3])),
    }
    edges = [("in", "a_in"), ("a_in", "lif"), ("lif", "a_rec"), ("a_rec", "lif"), ("lif", "a_out"),
             ("a_out", "scale"), ("scale", "out"), ("in", "out_raw")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def delayed_graph(seed: int = 2) -> "object":
    """in(3) -> A -> LIF(4) -> Delay(1,2,3,0 steps) -> A -> LIF(2) -> out (spikes, direct);
    LIF(4) -> Delay(2 steps) -> out2 (delayed spikes, direct)."""
    import nir

    rng = np.random.default_rng(seed)
    nodes = {
        "in": nir.Input(np.array([3])),
        "a0": _aff(rng, 4, 3, 2.5, bias=0.4),
        "lif0": _lif(4),
        "d0": nir.Delay(delay=np.array([1, 2, 3, 0]) * DT),
        "a1": _aff(rng, 2, 4, 2.5, bias=0.3),
        "lif1": _lif(2, vth=0.6),
        "out": nir.Output(np.array([2])),
        "d1": nir.Delay(delay=np.full(4, 2 * DT)),
        "out2": nir.Output(np.array([4])),
    }
    edges = [("in", "a0"), ("a0", "lif0"), ("lif0", "d0"), ("d0", "a1"), ("a1", "lif1"), ("lif1", "out"),
             ("lif0", "d1"), ("d1", "out2")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def li_gated_graph(seed: int = 5) -> "object":
    """in(3) -> A -> LIF(6) -> strong A -> LIF(4) <- weak A <- LI(4) <- A <- in; LIF(4) -> A -> out.

    The strong spiking layer lowers LIF(4)'s fixed-point scale (exponent alignment), which pushes
    the weak graded LI layer's exponent below -8: the quantiser coarsens the LI's messages
    (``msg_shift`` > 6)."""
    import nir

    rng = np.random.default_rng(seed)
    nodes = {
        "in": nir.Input(np.array([3])),
        "a0": _aff(rng, 6, 3, 2.0, bias=0.3),
        "lif0": _lif(6),
        "a_strong": _aff(rng, 4, 6, 40.0, bias=0.0),
        "a_li": _aff(rng, 4, 3, 1.0),
        "li": nir.LI(tau=np.full(4, 4 * DT), r=np.ones(4), v_leak=np.zeros(4)),
        "a_weak": nir.Linear(weight=np.diag(rng.uniform(0.5, 1.0, 4))),
        "lif1": _lif(4, vth=8.0),
        "a_out": _aff(rng, 2, 4, 1.0),
        "out": nir.Output(np.array([2])),
    }
    edges = [("in", "a0"), ("a0", "lif0"), ("lif0", "a_strong"), ("a_strong", "lif1"), ("in", "a_li"),
             ("a_li", "li"), ("li", "a_weak"), ("a_weak", "lif1"), ("lif1", "a_out"), ("a_out", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def misaligned_graph(seed: int = 3, skip_delay_steps: int | None = None) -> "object":
    """in -> A -> LIF1(4) -> A -> LIF2(3) plus a skip in -> A -> LIF2 (1 hop instead of 2).

    ``skip_delay_steps``: put an explicit Delay of that many steps on the skip path.
    """
    import nir

    rng = np.random.default_rng(seed)
    nodes = {
        "in": nir.Input(np.array([3])),
        "a1": _aff(rng, 4, 3, 1.5),
        "lif1": _lif(4),
        "a2": _aff(rng, 3, 4, 2.0, bias=0.3),
        "lif2": _lif(3, vth=0.7),
        "skip": _aff(rng, 3, 3, 1.5),
        "out": nir.Output(np.array([3])),
    }
    edges = [("in", "a1"), ("a1", "lif1"), ("lif1", "a2"), ("a2", "lif2"), ("lif2", "out")]
    if skip_delay_steps:
        nodes["dskip"] = nir.Delay(delay=np.full(3, skip_delay_steps * DT))
        edges += [("in", "dskip"), ("dskip", "skip"), ("skip", "lif2")]
    else:
        edges += [("in", "skip"), ("skip", "lif2")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def msf_like_graph(seed: int = 4, n_in: int = 256) -> "object":
    """Roughly the future MSF's size: 256 graded inputs; branches of 3 x 64 LIF merged into 64 LIF;
    a recurrent 256-neuron loop through two populations of 128; a 256 -> 1 read-out into an LI."""
    import nir

    rng = np.random.default_rng(seed)
    nodes: dict = {"in": nir.Input(np.array([n_in]))}
    edges: list = []
    for b in range(3):
        nodes[f"br{b}_a"] = _aff(rng, 64, n_in, 2.5 / np.sqrt(n_in))
        nodes[f"br{b}"] = _lif(64)
        nodes[f"br{b}_m"] = _aff(rng, 64, 64, 2.0 / np.sqrt(64), bias=0.05)
        edges += [("in", f"br{b}_a"), (f"br{b}_a", f"br{b}"), (f"br{b}", f"br{b}_m"), (f"br{b}_m", "merge")]
    nodes["merge"] = _lif(64)
    nodes["m_a"] = _aff(rng, 128, 64, 3.0 / np.sqrt(64))
    nodes["loop_a"] = _lif(128)
    nodes["a_b"] = _aff(rng, 128, 128, 3.0 / np.sqrt(128))
    nodes["loop_b"] = _lif(128)
    nodes["b_a"] = _aff(rng, 128, 128, 1.0 / np.sqrt(128), bias=0.0)
    nodes["ro_a"] = nir.Linear(weight=rng.normal(0, 0.2, (1, 128)))
    nodes["ro_b"] = nir.Linear(weight=rng.normal(0, 0.2, (1, 128)))
    nodes["li"] = nir.LI(tau=np.full(1, 2 * DT), r=np.ones(1), v_leak=np.zeros(1))
    nodes["out"] = nir.Output(np.array([1]))
    edges += [("merge", "m_a"), ("m_a", "loop_a"), ("loop_a", "a_b"), ("a_b", "loop_b"), ("loop_b", "b_a"),
              ("b_a", "loop_a"), ("loop_a", "ro_a"), ("loop_b", "ro_b"), ("ro_a", "li"), ("ro_b", "li"),
              ("li", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})
