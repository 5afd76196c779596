"""Conformance: every executor of a NIR graph means what ``neuro_runtime.semantics`` says.

One list of small graphs (``CASES``) runs through every executor (``EXECUTORS``) with the same
assertions for all, as Lava's own tests run one test against every process model:

* float executors (Lava floating_pt, the nirtorch interpreter, the streaming PyTorch model)
  against the emulator's floating_pt, the contract's reference: identical spikes in every spiking
  population, outputs and LI values within ``FLOAT_TOL`` (what holds is ~1e-15);
* fixed-point executors (Lava fixed_pt) against the emulator's fixed_pt: bit-identical.

An executor that cannot express a graph must refuse it with a ``UserError`` and is listed in
``NOT_EXPRESSIBLE`` (so a new refusal fails the suite). A new primitive is one more entry in
``CASES``; a new executor one more entry in ``EXECUTORS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import nir
import numpy as np
import pytest
import torch

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime import Emulator, RuntimeGraph, load_graph, quantize
from ucfdvs.timebase import SNIPPET_S

DT = SNIPPET_S
FLOAT_TOL = 1e-12
BATCH, STEPS = 3, 20


# -- graphs --------------------------------------------------------------------------------------------
def _f32(a: np.ndarray) -> np.ndarray:
    """Values a float32 parameter holds exactly (the streaming model stores weights in float32)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def _aff(rng: np.random.Generator, n_out: int, n_in: int, scale: float, bias: float = 0.2) -> nir.Affine:
    return nir.Affine(weight=_f32(rng.normal(0, scale, (n_out, n_in))), bias=_f32(rng.normal(0, bias, n_out)))


def _lif(n: int, vth: float = 1.0, v_reset: float = 0.0, v_leak: float = 0.0, r: float = 1.0,
         tau: float = 1.6 * DT) -> nir.LIF:
    return nir.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.full(n, v_leak),
                   v_threshold=np.full(n, vth), v_reset=np.full(n, v_reset))


def _graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def lif_v_reset() -> nir.NIRGraph:
    """Issue 10's example: one LIF with v_reset = -0.5 (the emulator and the interpreter disagreed
    on the initial membrane: 30 against 33 spikes)."""
    return _graph({"in": nir.Input(np.array([1])), "a": nir.Affine(np.ones((1, 1)), np.array([0.5])),
                   "lif": _lif(1, vth=1.0, v_reset=-0.5), "out": nir.Output(np.array([1]))},
                  [("in", "a"), ("a", "lif"), ("lif", "out")])


def lif_per_neuron() -> nir.NIRGraph:
    """LIF with per-neuron tau, r != 1, v_leak != 0, v_threshold and v_reset != 0."""
    rng = np.random.default_rng(1)
    lif = nir.LIF(tau=np.array([1.2, 1.6, 2.5, 4.0, 1.1]) * DT, r=np.array([0.5, 1.0, 1.5, 2.0, 0.8]),
                  v_leak=np.array([-0.3, 0.0, 0.2, 0.4, 0.1]), v_threshold=np.array([0.5, 1.0, 1.5, 0.8, 1.2]),
                  v_reset=np.array([-0.5, 0.0, 0.2, -0.1, -0.5]))
    return _graph({"in": nir.Input(np.array([3])), "a": _aff(rng, 5, 3, 1.5), "lif": lif,
                   "ro": nir.Linear(weight=_f32(rng.normal(0, 1, (2, 5)))), "out": nir.Output(np.array([2]))},
                  [("in", "a"), ("a", "lif"), ("lif", "ro"), ("ro", "out")])


def param_shapes() -> nir.NIRGraph:
    """Neuron parameters of other shapes than [N]: [2, 2] (a LIF of 4, flattened in C order) and
    [2, 1] (an LI of 2)."""
    rng = np.random.default_rng(2)
    lif = nir.LIF(tau=np.array([[2.0, 1.5], [3.0, 1.2]]) * DT, r=np.full((2, 2), 1.3), v_leak=np.full((2, 2), 0.1),
                  v_threshold=np.array([[0.6, 0.9], [1.2, 0.7]]), v_reset=np.full((2, 2), -0.5))
    li = nir.LI(tau=np.full((2, 1), 3.0 * DT), r=np.full((2, 1), 0.7), v_leak=np.full((2, 1), -0.2))
    return nir.NIRGraph(
        nodes={"in": nir.Input(np.array([3])), "a": _aff(rng, 4, 3, 1.5), "lif": lif,
               "b": _aff(rng, 2, 4, 1.0), "li": li, "out": nir.Output(np.array([2]))},
        edges=[("in", "a"), ("a", "lif"), ("lif", "b"), ("b", "li"), ("li", "out")],
        metadata={"dt": DT}, type_check=False)


def cubalif() -> nir.NIRGraph:
    """CubaLIF with per-neuron tau_syn, tau_mem, r, v_leak, v_threshold, v_reset (-0.5) and w_in."""
    rng = np.random.default_rng(3)
    cuba = nir.CubaLIF(tau_syn=np.array([1.5, 2.0, 3.0, 1.0]) * DT, tau_mem=np.array([1.6, 2.5, 1.2, 3.0]) * DT,
                       r=np.array([1.0, 1.5, 0.7, 2.0]), v_leak=np.array([0.0, 0.2, -0.1, 0.3]),
                       v_threshold=np.array([0.7, 1.0, 0.5, 1.2]), v_reset=np.array([-0.5, 0.0, -0.2, 0.1]),
                       w_in=np.array([1.5, 1.0, 2.0, 0.8]))
    return _graph({"in": nir.Input(np.array([3])), "a": _aff(rng, 4, 3, 1.5, bias=0.3), "cuba": cuba,
                   "ro": _aff(rng, 2, 4, 1.0), "out": nir.Output(np.array([2]))},
                  [("in", "a"), ("a", "cuba"), ("cuba", "ro"), ("ro", "out")])


def li_chain() -> nir.NIRGraph:
    """LI (r != 1, v_leak != 0, per-neuron tau) driving a LIF with v_reset = -0.5 (graded -> spiking)."""
    rng = np.random.default_rng(4)
    li = nir.LI(tau=np.array([1.5, 2.0, 4.0]) * DT, r=np.array([1.5, 0.8, 1.2]), v_leak=np.array([0.2, -0.1, 0.0]))
    return _graph({"in": nir.Input(np.array([3])), "a": _aff(rng, 3, 3, 1.2), "li": li,
                   "b": _aff(rng, 3, 3, 2.0), "lif": _lif(3, vth=0.6, v_reset=-0.5), "out": nir.Output(np.array([3]))},
                  [("in", "a"), ("a", "li"), ("li", "b"), ("b", "lif"), ("lif", "out")])


def branching() -> nir.NIRGraph:
    """in -> LIF(6) -> {LIF(3), LI(3)}, both summed (through Linear) into LIF(2) -> out."""
    rng = np.random.default_rng(0)
    return _graph(
        {"in": nir.Input(np.array([4])), "a0": _aff(rng, 6, 4, 1.5), "lif0": _lif(6, v_reset=-0.2, v_leak=0.1),
         "a1": _aff(rng, 3, 6, 1.5, bias=0.45), "lif1": _lif(3, vth=0.5), "a2": _aff(rng, 3, 6, 1.2),
         "li": nir.LI(tau=np.full(3, 2 * DT), r=np.full(3, 1.2), v_leak=np.full(3, 0.05)),
         "l1": nir.Linear(_f32(rng.normal(0, 0.6, (2, 3)))), "l2": nir.Linear(_f32(rng.normal(0, 0.6, (2, 3)))),
         "lif2": _lif(2, vth=0.5, r=1.5), "out": nir.Output(np.array([2]))},
        [("in", "a0"), ("a0", "lif0"), ("lif0", "a1"), ("a1", "lif1"), ("lif0", "a2"), ("a2", "li"),
         ("lif1", "l1"), ("li", "l2"), ("l1", "lif2"), ("l2", "lif2"), ("lif2", "out")])


def recurrent() -> nir.NIRGraph:
    """in -> LIF(5) <-> Affine (a cycle through a synapse), v_reset = -0.5, v_leak != 0."""
    rng = np.random.default_rng(6)
    return _graph({"in": nir.Input(np.array([3])), "a_in": _aff(rng, 5, 3, 1.5),
                   "lif": _lif(5, v_reset=-0.5, v_leak=0.1), "a_rec": _aff(rng, 5, 5, 0.8, bias=0.05),
                   "a_out": _aff(rng, 2, 5, 1.0), "out": nir.Output(np.array([2]))},
                  [("in", "a_in"), ("a_in", "lif"), ("lif", "a_rec"), ("a_rec", "lif"), ("lif", "a_out"),
                   ("a_out", "out")])


def delayed() -> nir.NIRGraph:
    """Uniform Delay nodes: LIF(4) -> Delay(2) -> Affine -> LIF(2), plus in -> Delay(1) -> Affine -> LIF(2)."""
    rng = np.random.default_rng(1)
    return _graph({"in": nir.Input(np.array([3])), "a0": _aff(rng, 4, 3, 2.5, bias=0.4), "lif0": _lif(4),
                   "d0": nir.Delay(np.full(4, 2 * DT)), "a1": _aff(rng, 2, 4, 1.5, bias=0.35),
                   "d_in": nir.Delay(np.full(3, DT)), "a_skip": _aff(rng, 2, 3, 1.0, bias=0.0),
                   "lif1": _lif(2, vth=0.4, v_reset=-0.5), "out": nir.Output(np.array([2]))},
                  [("in", "a0"), ("a0", "lif0"), ("lif0", "d0"), ("d0", "a1"), ("a1", "lif1"), ("in", "d_in"),
                   ("d_in", "a_skip"), ("a_skip", "lif1"), ("lif1", "out")])


def delayed_per_channel() -> nir.NIRGraph:
    """A Delay of 1, 2, 3 and 0 steps per channel between two LIF populations."""
    rng = np.random.default_rng(8)
    return _graph({"in": nir.Input(np.array([3])), "a0": _aff(rng, 4, 3, 2.5, bias=0.4), "lif0": _lif(4),
                   "d0": nir.Delay(np.array([1, 2, 3, 0]) * DT), "a1": _aff(rng, 2, 4, 2.5, bias=0.3),
                   "lif1": _lif(2, vth=0.6), "out": nir.Output(np.array([2]))},
                  [("in", "a0"), ("a0", "lif0"), ("lif0", "d0"), ("d0", "a1"), ("a1", "lif1"), ("lif1", "out")])


def rest_values() -> nir.NIRGraph:
    """Biases before step 0 (the contract's rest rule): Affine -> Affine and Affine -> Delay chains."""
    rng = np.random.default_rng(9)
    return _graph({"in": nir.Input(np.array([3])), "a0": _aff(rng, 4, 3, 1.5, bias=0.5),
                   "a1": _aff(rng, 4, 4, 1.0, bias=0.3), "d": nir.Delay(np.full(4, 2 * DT)),
                   "lif": _lif(4, vth=0.8, v_reset=-0.5), "ro": _aff(rng, 2, 4, 1.0), "out": nir.Output(np.array([2]))},
                  [("in", "a0"), ("a0", "a1"), ("a1", "d"), ("d", "lif"), ("a0", "lif"), ("lif", "ro"), ("ro", "out")])


def _if(shape: tuple, vth: float = 1.0, v_reset: float = 0.0, r: float = 1.0) -> nir.IF:
    return nir.IF(r=np.full(shape, r), v_threshold=np.full(shape, vth), v_reset=np.full(shape, v_reset))


def conv2d_pool() -> nir.NIRGraph:
    """Conv2d (stride (2, 1), padding (1, 2), dilation (1, 2), groups 2, bias) -> IF with [C, H, W]
    parameters -> SumPool2d -> Conv2d ('same', groups 1) -> LIF [C, H, W] -> AvgPool2d (padding) ->
    Flatten -> Affine -> LIF."""
    rng = np.random.default_rng(11)
    c1 = nir.Conv2d(input_shape=(6, 6), weight=_f32(rng.normal(0.3, 0.6, (4, 1, 3, 3))), stride=(2, 1),
                    padding=(1, 2), dilation=(1, 2), groups=2, bias=_f32(rng.normal(0, 0.2, 4)))
    if1 = _if((4, 3, 6), vth=0.8, v_reset=-0.3, r=1.0 / DT)
    if1.v_threshold = _f32(rng.uniform(0.5, 1.2, (4, 3, 6)))
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    c2 = nir.Conv2d(input_shape=(1, 3), weight=_f32(rng.normal(0.2, 0.7, (3, 4, 3, 3))), stride=1, padding="same",
                    dilation=1, groups=1, bias=_f32(rng.normal(0, 0.2, 3)))
    lif = nir.LIF(tau=np.full((3, 1, 3), 1.6 * DT), r=np.full((3, 1, 3), 1.2), v_leak=np.full((3, 1, 3), 0.05),
                  v_threshold=_f32(rng.uniform(0.4, 0.9, (3, 1, 3))), v_reset=np.zeros((3, 1, 3)))
    avg = nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]), padding=np.array([1, 0]))
    return nir.NIRGraph(
        nodes={"in": nir.Input(np.array([2, 6, 6])), "c1": c1, "if1": if1, "pool": pool, "c2": c2, "lif": lif,
               "avg": avg, "flat": nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=0),
               "fc": _aff(rng, 3, 12, 2.0), "lif2": _lif(3, vth=0.5), "out": nir.Output(np.array([3]))},
        edges=[("in", "c1"), ("c1", "if1"), ("if1", "pool"), ("pool", "c2"), ("c2", "lif"), ("lif", "avg"),
               ("avg", "flat"), ("flat", "fc"), ("fc", "lif2"), ("lif2", "out")],
        metadata={"dt": DT}, type_check=False)


def conv1d_threshold() -> nir.NIRGraph:
    """Conv1d (stride 2, padding 1, dilation 2, groups 2) -> Threshold [C, N] -> Scale -> Linear ->
    I (integrator, graded, read directly) and CubaLI (graded, through a Linear), summed into the
    Output."""
    rng = np.random.default_rng(12)
    conv = nir.Conv1d(input_shape=10, weight=_f32(rng.normal(0.3, 0.8, (4, 1, 3))), stride=2, padding=1,
                      dilation=2, groups=2, bias=_f32(rng.normal(0, 0.2, 4)))
    th = nir.Threshold(threshold=_f32(rng.uniform(0.2, 0.6, (4, 4))))
    cubali = nir.CubaLI(tau_syn=np.array([1.5, 2.5, 1.2]) * DT, tau_mem=np.array([2.0, 3.0, 1.4]) * DT,
                        r=np.array([1.2, 0.8, 1.0]), v_leak=np.array([0.1, -0.1, 0.0]), w_in=np.array([1.5, 0.7, 1.0]))
    return nir.NIRGraph(
        nodes={"in": nir.Input(np.array([2, 10])), "conv": conv, "th": th,
               "sc": nir.Scale(_f32(rng.uniform(0.5, 1.5, 16))), "lin": nir.Linear(_f32(rng.normal(0, 0.5, (3, 16)))),
               "integ": nir.I(r=np.array([0.5, 1.0, 2.0]) / DT), "out": nir.Output(np.array([3])),
               "lin2": nir.Linear(_f32(rng.normal(0, 0.5, (3, 16)))), "cubali": cubali,
               "ro": nir.Linear(_f32(rng.normal(0, 1.0, (3, 3))))},
        edges=[("in", "conv"), ("conv", "th"), ("th", "sc"), ("sc", "lin"), ("lin", "integ"), ("integ", "out"),
               ("th", "lin2"), ("lin2", "cubali"), ("cubali", "ro"), ("ro", "out")],
        metadata={"dt": DT}, type_check=False)


def subtract_reset() -> nir.NIRGraph:
    """Reset by subtraction (``metadata["reset"] = "subtract"``) in LIF, CubaLIF and IF, with strong
    input so that membranes overshoot the threshold."""
    rng = np.random.default_rng(13)
    cuba = nir.CubaLIF(tau_syn=np.full(3, 2.0 * DT), tau_mem=np.full(3, 1.5 * DT), r=np.ones(3), v_leak=np.zeros(3),
                       v_threshold=np.array([0.3, 0.5, 0.4]), v_reset=np.zeros(3), w_in=np.full(3, 2.0))
    return nir.NIRGraph(
        nodes={"in": nir.Input(np.array([3])), "a": _aff(rng, 4, 3, 3.0, bias=0.5), "lif": _lif(4, vth=0.4),
               "b": _aff(rng, 3, 4, 2.0), "cuba": cuba, "c": _aff(rng, 2, 3, 1.5),
               "if": _if((2,), vth=0.7, r=1.0 / DT), "out": nir.Output(np.array([2]))},
        edges=[("in", "a"), ("a", "lif"), ("lif", "b"), ("b", "cuba"), ("cuba", "c"), ("c", "if"), ("if", "out")],
        metadata={"dt": DT, "reset": "subtract"})


def multi_io() -> nir.NIRGraph:
    """Two Inputs ([3] and [2, 2]) and two Outputs, one of them read straight from a LIF."""
    rng = np.random.default_rng(14)
    return nir.NIRGraph(
        nodes={"x1": nir.Input(np.array([3])), "x2": nir.Input(np.array([2, 2])),
               "f2": nir.Flatten(input_type={"input": np.array([2, 2])}, start_dim=0),
               "a1": _aff(rng, 4, 3, 1.5), "a2": _aff(rng, 4, 4, 1.5, bias=0.0), "lif": _lif(4, vth=0.6),
               "ro": _aff(rng, 2, 4, 1.0), "o1": nir.Output(np.array([2])), "o2": nir.Output(np.array([4]))},
        edges=[("x1", "a1"), ("x2", "f2"), ("f2", "a2"), ("a1", "lif"), ("a2", "lif"), ("lif", "ro"),
               ("ro", "o1"), ("lif", "o2")],
        metadata={"dt": DT}, type_check=False)


def nested() -> nir.NIRGraph:
    """snnTorch's recurrent form: a nested NIRGraph (input, lif, w_rec, output) between two Affines,
    flattened by ``sources.load_foreign`` into dotted names."""
    from ucfdvs.neuro_runtime.sources import load_foreign

    rng = np.random.default_rng(15)
    sub = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "lif": _lif(4, vth=0.5, v_leak=0.05),
                              "w_rec": _aff(rng, 4, 4, 0.6, bias=0.05), "output": nir.Output(np.array([4]))},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    g = nir.NIRGraph(nodes={"in": nir.Input(np.array([3])), "fc1": _aff(rng, 4, 3, 1.5), "rec": sub,
                            "fc2": _aff(rng, 2, 4, 1.0), "out": nir.Output(np.array([2]))},
                     edges=[("in", "fc1"), ("fc1", "rec"), ("rec", "fc2"), ("fc2", "out")],
                     metadata={"dt": DT}, type_check=False)
    return load_foreign(g, source="nir", reset="zero")[0]


def bias_gating() -> nir.NIRGraph:
    """Strong biases three hops deep (Affine -> LIF -> Affine -> LIF -> Affine -> LIF): each layer
    must stay at rest until its first input can arrive."""
    rng = np.random.default_rng(16)
    return _graph({"in": nir.Input(np.array([3])), "a0": _aff(rng, 4, 3, 1.0, bias=0.8), "l0": _lif(4, vth=0.5),
                   "a1": _aff(rng, 4, 4, 1.0, bias=0.8), "l1": _lif(4, vth=0.5),
                   "a2": _aff(rng, 2, 4, 1.0, bias=0.8), "l2": _lif(2, vth=0.5), "out": nir.Output(np.array([2]))},
                  [("in", "a0"), ("a0", "l0"), ("l0", "a1"), ("a1", "l1"), ("l1", "a2"), ("a2", "l2"), ("l2", "out")])


CASES: dict[str, Callable[[], nir.NIRGraph]] = {f.__name__: f for f in (
    lif_v_reset, lif_per_neuron, param_shapes, cubalif, li_chain, branching, recurrent, delayed,
    delayed_per_channel, rest_values, conv2d_pool, conv1d_threshold, subtract_reset, multi_io, nested, bias_gating,
)}


# -- executors -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    """``outputs`` / ``activity`` (spikes or LI values): ``{node: [B, T, N]}`` float64."""

    outputs: dict[str, np.ndarray]
    activity: dict[str, np.ndarray]


def _record(rec) -> Result:
    return Result(rec.outputs, rec.activity)


def _records(recs: list) -> Result:
    return Result({k: np.stack([r.outputs[k] for r in recs]) for k in recs[0].outputs},
                  {k: np.stack([r.activity[k] for r in recs]) for k in recs[0].activity})


def _quant(graph: RuntimeGraph):
    return quantize(graph, input_range=1.0)


def _lava(precision: str) -> Callable[[nir.NIRGraph, RuntimeGraph, np.ndarray], Result]:
    def run(_g: nir.NIRGraph, graph: RuntimeGraph, x: np.ndarray) -> Result:
        pytest.importorskip("lava.magma.core.run_configs")
        from ucfdvs.neuro_runtime import run_lava

        quant = _quant(graph) if precision == "fixed_pt" else None
        return _records(run_lava(graph, x, precision, quant=quant, progress=False))
    return run


def _interpreter(g: nir.NIRGraph, graph: RuntimeGraph, x: np.ndarray) -> Result:
    from ucfdvs.export.nir_interpreter import NIRInterpreter

    out, rec = NIRInterpreter(g).run(torch.from_numpy(x))
    return Result({k: v.numpy() for k, v in out.items()}, {k: v.numpy() for k, v in rec.items()})


def test_interpreter_takes_inputs_as_the_runtime_does() -> None:
    """Several Inputs: ``{Input name: [B, T, *shape]}`` (and ``[T, *shape]``) runs as the packed
    ``[B, T, C]`` array; outputs come back per Output name; a wrong width is a UserError."""
    from ucfdvs.export.nir_interpreter import NIRInterpreter

    g, rg, x = _case("multi_io")
    interp = NIRInterpreter(g)
    named = {n: x[:, :, off:off + size].reshape(BATCH, STEPS, *rg.shapes[n]) for n, (off, size) in rg.inputs.items()}
    assert named["x2"].shape == (BATCH, STEPS, 2, 2)
    packed, rec = interp.run(x)
    by_name, rec2 = interp.run(named)
    assert set(packed) == {"o1", "o2"} and packed["o2"].shape == (BATCH, STEPS, 4)
    for k in packed:
        assert torch.equal(packed[k], by_name[k])
    assert all(torch.equal(rec[k], rec2[k]) for k in rec)
    one, _ = interp.run({n: a[0] for n, a in named.items()})
    assert torch.equal(one["o1"][0], packed["o1"][0])
    with pytest.raises(UserError, match=r"input must be \[B, T, 7\]"):
        interp.run(x[:, :, :5])


def _streaming(g: nir.NIRGraph, graph: RuntimeGraph, x: np.ndarray) -> Result:
    """The streaming model built from the graph, written back by ``ucfdvs export``'s writer and
    rebuilt (so the writer's metadata and parameters are checked too)."""
    from ucfdvs.export.to_nir import from_nir_graph, to_nir_graph

    written = to_nir_graph(from_nir_graph(g))
    assert "LIF v[-1] = v_reset" in written.metadata["conventions"]
    net = from_nir_graph(written).double()
    with torch.no_grad():
        out, rec = net.run(torch.from_numpy(x), record=True, surrogate=False)
    return Result({net.output_name: out.numpy()}, {k: v.numpy() for k, v in rec.items()})


@dataclass(frozen=True)
class Executor:
    name: str
    precision: str  # the emulator precision it must reproduce: "floating_pt" (to FLOAT_TOL) or "fixed_pt" (bits)
    run: Callable[[nir.NIRGraph, RuntimeGraph, np.ndarray], Result]


EXECUTORS = [
    Executor("emulator_float", "floating_pt", lambda g, rg, x: _record(Emulator(rg, "floating_pt").run(x))),
    Executor("emulator_fixed", "fixed_pt", lambda g, rg, x: _record(Emulator(rg, "fixed_pt", _quant(rg)).run(x))),
    Executor("lava_float", "floating_pt", _lava("floating_pt")),
    Executor("lava_fixed", "fixed_pt", _lava("fixed_pt")),
    Executor("interpreter", "floating_pt", _interpreter),
    Executor("streaming", "floating_pt", _streaming),
]

NOT_EXPRESSIBLE = {
    ("streaming", "multi_io"): "one Input and one Output",
    ("streaming", "conv2d_pool"): "no Conv, pooling, Flatten, IF",
    ("streaming", "conv1d_threshold"): "no Conv, Threshold, I, CubaLI",
    ("streaming", "subtract_reset"): "reset to v_reset only",
    ("streaming", "nested"): "no dotted node names (torch parameters)",
    ("streaming", "delayed_per_channel"): "one delay per Delay node",
    ("streaming", "rest_values"): "no synapse -> synapse/Delay chains",
}


@lru_cache(maxsize=None)
def _case(name: str) -> tuple[nir.NIRGraph, RuntimeGraph, np.ndarray]:
    g = CASES[name]()
    rg = load_graph(g)
    x = np.random.default_rng(len(name)).uniform(-0.2, 1.0, (BATCH, STEPS, rg.input_size))
    return g, rg, x


@lru_cache(maxsize=None)
def _reference(name: str, precision: str) -> Result:
    g, rg, x = _case(name)
    return EXECUTORS[0 if precision == "floating_pt" else 1].run(g, rg, x)


MAX_FLOAT_DIFF: dict[tuple[str, str], float] = {}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_is_not_silent(case: str) -> None:
    """Every spiking population of every graph fires, in both precisions (else the comparison
    below would compare zeros)."""
    _, rg, _ = _case(case)
    for precision in ("floating_pt", "fixed_pt"):
        ref = _reference(case, precision)
        for name, spec in rg.neurons.items():
            if spec.spiking:
                assert ref.activity[name].sum() >= 3, (precision, name)


@pytest.mark.parametrize("executor", EXECUTORS[2:], ids=lambda e: e.name)
@pytest.mark.parametrize("case", sorted(CASES))
def test_executor_conforms(case: str, executor: Executor) -> None:
    g, rg, x = _case(case)
    if (executor.name, case) in NOT_EXPRESSIBLE:
        with pytest.raises(UserError):
            executor.run(g, rg, x)
        return
    ref = _reference(case, executor.precision)
    got = executor.run(g, rg, x)
    assert set(got.outputs) == set(ref.outputs) and set(got.activity) == set(ref.activity)
    worst = 0.0
    for name, value in ref.activity.items():
        if rg.neurons[name].spiking:
            np.testing.assert_array_equal(got.activity[name], value, err_msg=f"spikes of {name}")
        elif executor.precision == "fixed_pt":
            np.testing.assert_array_equal(got.activity[name], value, err_msg=f"LI {name}")
        else:
            worst = max(worst, float(np.abs(got.activity[name] - value).max()))
    for name, value in ref.outputs.items():
        assert got.outputs[name].shape == value.shape, name
        if executor.precision == "fixed_pt":
            np.testing.assert_array_equal(got.outputs[name], value, err_msg=f"output {name}")
        else:
            worst = max(worst, float(np.abs(got.outputs[name] - value).max()))
    MAX_FLOAT_DIFF[(executor.name, case)] = worst
    assert worst <= FLOAT_TOL


@pytest.mark.parametrize("case,planes", [("branching", 2), ("conv2d_pool", 2), ("branching", 3),
                                         ("conv2d_pool", "exact")])
def test_weight_planes_bit_exact_and_closer_to_float(case: str, planes: int) -> None:
    """``quantize(weight_planes=N)``: planes 2..N (further synapse processes per layer) carry the
    residual of the planes before; Lava fixed_pt stays bit-identical to the emulator and spikes
    move closer to float."""
    pytest.importorskip("lava.magma.core.run_configs")
    from ucfdvs.neuro_runtime import run_lava
    from ucfdvs.neuro_runtime.fixed_agreement import fixed_agreement

    _, rg, x = _case(case)
    q2 = quantize(rg, input_range=1.0, weight_planes=planes)
    # a plane is left out where the planes before already hold the weights exactly (or the
    # residual rounds to 0 at Loihi 2's lowest exponent, -8)
    assert max(len(qp.planes) for qp in q2.projections) == (3 if planes == "exact" else planes)
    if planes == "exact":  # plane 1, then the residual in whole activation units: no shift, no floor
        assert all(pl.weight_exp == 0 and pl.sign_mode != "MIXED" for qp in q2.projections
                   if qp.weight_exp >= 0 for pl in qp.planes[1:])
    assert all(pl.weight_exp >= -8 for qp in q2.projections for pl in qp.planes[1:])
    ref = Emulator(rg, "fixed_pt", q2).run(x)
    got = _records(run_lava(rg, x, "fixed_pt", quant=q2, progress=False))
    for name, value in ref.activity.items():
        np.testing.assert_array_equal(got.activity[name], value, err_msg=name)
    for name, value in ref.outputs.items():
        np.testing.assert_array_equal(got.outputs[name], value, err_msg=name)
    one = fixed_agreement(rg, x, quant=_quant(rg)).worst_spike_agreement
    two = fixed_agreement(rg, x, quant=q2).worst_spike_agreement
    assert two > one and two >= 0.99, (one, two)


def test_auto_weight_planes_reach_the_goal_with_fewest_planes() -> None:
    """``choose_weight_planes``: one plane where one reaches the goal (goal 0: no second trial);
    otherwise more planes only into layers below it, every trial logged, and the chosen
    parameters' agreement is the one a fresh ``fixed_agreement`` measures."""
    from ucfdvs.neuro_runtime.fixed_agreement import choose_weight_planes, fixed_agreement

    _, rg, x = _case("conv2d_pool")
    lazy = choose_weight_planes(rg, x, goal=0.0, input_range=1.0)
    assert set(lazy.planes.values()) == {1} and len(lazy.tried) == 1
    one = fixed_agreement(rg, x, quant=_quant(rg))
    assert one.worst_spike_agreement < 0.99  # the case needs more than one plane
    choice = choose_weight_planes(rg, x, input_range=1.0)
    assert max(choice.planes.values()) >= 2 and len(choice.tried) >= 2
    assert choice.report.worst_spike_agreement >= 0.99, choice.tried
    again = fixed_agreement(rg, x, quant=choice.quant)
    assert again.to_dict() == choice.report.to_dict()
    assert {qp.name: len(qp.planes) for qp in choice.quant.projections if qp.name in choice.planes} == choice.planes


def test_integer_input_is_sent_as_it_is() -> None:
    """``integer_input=True``: ``S_in = 1`` (events arrive as the integers 0/1), the input layer's
    exponents rise by the ten bits the 12-bit graded scale took, and every residual plane stays
    within Loihi 2's exponents (>= -8)."""
    _, rg, _ = _case("conv2d_pool")
    x = (np.random.default_rng(1).random((BATCH, STEPS, rg.input_size)) < 0.3).astype(float)
    graded = quantize(rg, input_range=1.0, weight_planes=2)
    exact = quantize(rg, input_range=1.0, weight_planes=2, integer_input=True)
    assert graded.input_scale == 1024 and exact.input_scale == 1
    np.testing.assert_array_equal(exact.quantize_input(x), x)
    first = {qp.name: qp.weight_exp for qp in graded.projections if qp.src == rg.input_name}
    assert {qp.name: qp.weight_exp for qp in exact.projections if qp.src == rg.input_name} == {
        k: e + 10 for k, e in first.items()}
    assert all(-8 <= pl.weight_exp <= 7 for qp in exact.projections for pl in qp.planes)


@pytest.mark.parametrize("activity", ["sparse", "dense"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_sparse_products_match_dense(case: str, activity: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every weight matrix stored sparse (CSR), met by sparse messages (sparse x sparse) or by dense
    ones (CSR x dense): the same run as the dense (BLAS) default, float to FLOAT_TOL with identical
    spikes, fixed point bit-identical."""
    from ucfdvs.neuro_runtime import emulator

    g, rg, x = _case(case)
    dense = {p: _reference(case, p) for p in ("floating_pt", "fixed_pt")}
    monkeypatch.setattr(emulator, "SPARSE_MIN_ENTRIES", 0)
    monkeypatch.setattr(emulator, "SPARSE_MAX_DENSITY", 1.0)
    monkeypatch.setattr(emulator, "SPARSE_MAX_ACTIVITY", 1.0 if activity == "sparse" else -1.0)
    for precision, ref in dense.items():
        emu = Emulator(rg, precision, _quant(rg) if precision == "fixed_pt" else None)
        assert all(mt is None or mt.sparse for terms in emu.into.values() for _, _, mt, _ in terms)
        got = emu.run(x)
        for kind in ("activity", "outputs"):
            for name, value in getattr(ref, kind).items():
                spiking = name in rg.neurons and rg.neurons[name].spiking
                if precision == "fixed_pt" or spiking:
                    np.testing.assert_array_equal(getattr(got, kind)[name], value, err_msg=f"{precision} {name}")
                else:
                    assert np.abs(getattr(got, kind)[name] - value).max() <= FLOAT_TOL, (precision, name)


def test_fixed_products_in_float32_only_where_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dense integer W meets messages in float32 BLAS while ``row sum |W| x max |x|`` stays below
    2**24, else in float64: exact either way, also for odd sums just past float32's integers (where
    float32 would round)."""
    from ucfdvs.neuro_runtime import emulator

    monkeypatch.setattr(emulator, "SPARSE_MIN_ENTRIES", 1 << 40)
    w = np.random.default_rng(0).integers(-4097, 4098, (3, 64))
    w[0], w[1] = 4097, -4095
    mt = emulator.SynapseMatrix(w, message_bound=1 << 31)
    assert mt.w32 is not None and mt.row_sum == 64 * 4097
    limit = (1 << 24) // (64 * 4097)  # 63: largest |x| kept in float32
    for peak in (1, limit, limit + 2, 1 << 20):
        x = np.random.default_rng(peak).integers(-peak, peak + 1, (5, 64))
        x[0], x[0, 0] = peak, peak - 1  # row 0's sum is odd and, past the limit, above 2**24
        exact = np.array([[sum(int(a) * int(b) for a, b in zip(row, col)) for col in w] for row in x], dtype=np.int64)
        np.testing.assert_array_equal(mt(x), exact)
    assert np.float32(exact[0, 0]) != exact[0, 0]  # float32 alone would have rounded the last case
    spikes = emulator.SynapseMatrix(w, message_bound=1)
    np.testing.assert_array_equal(spikes(np.ones((2, 64), dtype=np.int64)), np.tile(w.sum(axis=1), (2, 1)))


@pytest.mark.parametrize("sparse", [False, True])
def test_fixed_products_beyond_float64_are_exact(sparse: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Integer products whose partial sums may pass 2**53 run in int64: still exact (float64
    would round them)."""
    from ucfdvs.neuro_runtime import emulator

    monkeypatch.setattr(emulator, "SPARSE_MIN_ENTRIES", 0 if sparse else 1 << 40)
    rng = np.random.default_rng(0)
    w = rng.integers(-(1 << 24), 1 << 24, (5, 64)) * (rng.random((5, 64)) < 0.1)
    x = rng.integers(-(1 << 31), 1 << 31, (4, 64))
    mt = emulator.SynapseMatrix(w, message_bound=1 << 31)
    assert not mt.exact_float and mt.sparse == sparse
    exact = np.array([[sum(int(a) * int(b) for a, b in zip(row, col)) for col in w] for row in x], dtype=np.int64)
    assert not np.array_equal(np.rint(x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64), exact)
    np.testing.assert_array_equal(mt(x), exact)
