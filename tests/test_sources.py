"""Loading foreign NIR files: reading, nested graphs, time step rules, exporter conventions."""

from __future__ import annotations

import warnings
from pathlib import Path

import nir
import numpy as np
import pytest

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime import Emulator, load_graph
from ucfdvs.neuro_runtime.sources import CONVENTIONS, SOURCES, SourceWarning, flatten_graph, load_foreign

PAPER = Path(__file__).resolve().parents[2] / "shared" / "nir_paper"


def paper_file(name: str) -> Path:
    path = PAPER / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


def lif_chain(tau: float = 1e-3, metadata: dict | None = None) -> nir.NIRGraph:
    """Input(2) -> Affine -> LIF(2) -> Output."""
    n = 2
    return nir.NIRGraph(
        nodes={"input": nir.Input(np.array([n])), "fc": nir.Affine(np.eye(n), np.zeros(n)),
               "lif": nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)),
               "output": nir.Output(np.array([n]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], metadata=metadata or {})


def test_unknown_source_lists_the_valid_ones():
    with pytest.raises(UserError, match="unknown --source 'brian'.*snntorch, norse, sinabs, rockpool, "
                                        "spikingjelly, lava-dl, nir"):
        load_foreign(lif_chain(), source="brian", dt=1e-4)
    assert set(SOURCES) == {"snntorch", "norse", "sinabs", "rockpool", "spikingjelly", "lava-dl", "nir"}


def test_file_that_is_not_nir_is_named(tmp_path: Path):
    bad = tmp_path / "notes.nir"
    bad.write_text("not an HDF5 file")
    with pytest.raises(UserError, match=f"{bad}: not a NIR/HDF5 file"):
        load_foreign(bad, dt=1e-3)
    with pytest.raises(UserError, match="NIR file not found"):
        load_foreign(tmp_path / "missing.nir", dt=1e-3)


def test_type_check_failure_loads_without_type_checks_and_warns(tmp_path: Path):
    """A file whose declared types disagree (as Rockpool's LIF export) reads with type_check=False."""
    g = lif_chain()
    g.nodes["output"] = nir.Output(np.array([5]))  # declared 5, receives 2
    path = tmp_path / "mismatch.nir"
    nir.write(path, nir.NIRGraph(nodes=g.nodes, edges=g.edges, type_check=False))
    with pytest.raises(Exception):
        nir.read(str(path))
    with pytest.warns(SourceWarning, match="type check failed.*type_check=False"):
        graph, rec = load_foreign(path, dt=1e-4)
    assert set(graph.nodes) == {"input", "fc", "lif", "output"} and rec.dt == 1e-4


def test_time_step_rules(tmp_path: Path):
    path = tmp_path / "chain.nir"
    nir.write(path, lif_chain())
    with pytest.raises(UserError, match=f"{path}: .*no metadata\\['dt'\\] and no --dt"):
        load_foreign(path)
    graph, rec = load_foreign(path, dt=2e-4)
    assert (rec.dt, rec.dt_origin, graph.metadata["dt"]) == (2e-4, "argument", 2e-4)
    load_graph(graph)  # the runtime accepts what load_foreign returns
    with pytest.warns(SourceWarning, match="metadata dt 0.0005 s used"):
        graph, rec = load_foreign(lif_chain(metadata={"dt": 5e-4}), dt=1e-4)
    assert (rec.dt, rec.dt_origin) == (5e-4, "metadata") and "--dt 0.0001 ignored" in rec.notes[0]
    with pytest.raises(UserError, match=r"node 'lif' \(LIF\): dt/tau = 2 > 1"):
        load_foreign(path, dt=2e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceWarning)
        graph, rec = load_foreign(path, source="snntorch")  # snnTorch's exporter fixes dt = 1e-4 s
    assert (rec.dt, rec.dt_origin, rec.reset) == (1e-4, "exporter", "subtract")
    np.testing.assert_array_equal(graph.nodes["lif"].tau, 1e-3)
    with pytest.warns(SourceWarning, match="rescaled to dt 0.0002"):
        graph, _ = load_foreign(path, source="snntorch", dt=2e-4)
    np.testing.assert_allclose(graph.nodes["lif"].tau, 2e-3, rtol=1e-12)  # same decay per step


def rleaky_graph() -> nir.NIRGraph:
    """fc1 -> (snnTorch's own RLeaky subgraph) -> fc2 -> lif2, nested as nirtorch < 2 wrote it."""
    import snntorch as snn
    import torch
    from snntorch.export_nir import _extract_snntorch_module

    sub = _extract_snntorch_module(snn.RLeaky(beta=torch.full((3,), 0.9), threshold=torch.ones(3),
                                              linear_features=3))
    assert isinstance(sub, nir.NIRGraph)
    return nir.NIRGraph(
        nodes={"input": nir.Input(np.array([2])), "fc1": nir.Linear(np.ones((3, 2))), "rec": sub,
               "fc2": nir.Linear(np.ones((2, 3))),
               "lif2": nir.LIF(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2),
                               v_threshold=np.ones(2)),
               "output": nir.Output(np.array([2]))},
        edges=[("input", "fc1"), ("fc1", "rec"), ("rec", "fc2"), ("fc2", "lif2"), ("lif2", "output")],
        type_check=False)


def test_nested_graph_is_flattened_with_dotted_names(tmp_path: Path):
    path = tmp_path / "nested.nir"
    nir.write(path, rleaky_graph())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceWarning)
        graph, rec = load_foreign(path, source="snntorch")
    assert rec.flattened == ("rec",)
    assert set(graph.nodes) == {"input", "fc1", "rec.lif", "rec.w_rec", "fc2", "lif2", "output"}
    assert sorted(graph.edges) == sorted([
        ("input", "fc1"), ("fc1", "rec.lif"), ("rec.lif", "rec.w_rec"), ("rec.w_rec", "rec.lif"),
        ("rec.lif", "fc2"), ("fc2", "lif2"), ("lif2", "output")])
    rg = load_graph(graph)
    assert rg.arrival["rec.lif"] == 1 and rg.arrival["lif2"] == 2


def test_flatten_bypasses_pass_through_and_deeper_nesting():
    inner = nir.NIRGraph(nodes={"i": nir.Input(np.array([2])), "o": nir.Output(np.array([2]))},
                         edges=[("i", "o")], type_check=False)
    mid = nir.NIRGraph(nodes={"in": nir.Input(np.array([2])), "deep": inner,
                              "s": nir.Scale(np.ones(2)), "out": nir.Output(np.array([2]))},
                       edges=[("in", "deep"), ("deep", "s"), ("s", "out")], type_check=False)
    top = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "m": mid, "output": nir.Output(np.array([2]))},
                       edges=[("input", "m"), ("m", "output")], type_check=False)
    nodes, edges = flatten_graph(top)
    assert set(nodes) == {"input", "m.s", "output"}
    assert sorted(edges) == [("input", "m.s"), ("m.s", "output")]


def test_norse_conventions_rescale_tau_and_w_in():
    """Norse 1.1 writes tau = dt * tau_true; LIFCell adds its input to i with gain 1."""
    n = 2
    g = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([n])), "fc": nir.Affine(np.eye(n), np.zeros(n)),
               "lif": nir.CubaLIF(tau_syn=np.full(n, 1e-3 / 200), tau_mem=np.full(n, 1e-3 / 100),
                                  r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)),
               "output": nir.Output(np.array([n]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceWarning)
        out, rec = load_foreign(g, source="norse")
    lif = out.nodes["lif"]
    assert rec.dt == 1e-3 and rec.reset == "zero"
    np.testing.assert_allclose(1e-3 / lif.tau_syn, 0.2)
    np.testing.assert_allclose(1e-3 / lif.tau_mem, 0.1)
    np.testing.assert_allclose(lif.w_in, 5.0)  # dt/tau_syn * w_in = 1
    np.testing.assert_array_equal(g.nodes["lif"].w_in, 1.0)  # the input graph is not modified


def test_greater_equal_thresholds_become_strict():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceWarning)
        out, _ = load_foreign(lif_chain(), source="spikingjelly", dt=1e-4)
    th = out.nodes["lif"].v_threshold
    assert np.all(th < 1.0) and np.all(np.nextafter(th, np.inf) == 1.0)  # v >= 1  <=>  v > th


def test_every_convention_row_is_complete():
    for name, conv in CONVENTIONS.items():
        assert conv.source == name and conv.threshold in (">", ">=") and conv.reset in ("zero", "subtract")
        assert conv.version and conv.cites and conv.tau and conv.r


def test_paper_lif_norse_reproduces_lavas_recorded_spikes():
    """lif_norse.nir (older Norse: tau in seconds, source 'nir') at dt 1e-4: Lava spikes at 461, 511, 711, 761."""
    graph, rec = load_foreign(paper_file("lif_norse.nir"), source="nir", dt=1e-4)
    x = np.load(paper_file("lif_input_spikes.npy")).astype(np.float64)
    spikes = Emulator(load_graph(graph)).run(x).spikes["1"][:, 0]
    assert np.flatnonzero(spikes).tolist() == [461, 511, 711, 761]


def test_paper_cnn_sinabs_loads_with_sinabs_conventions():
    with pytest.warns(SourceWarning, match="MultiSpike"):
        graph, rec = load_foreign(paper_file("cnn_sinabs.nir"), source="sinabs")
    assert (rec.dt, rec.dt_origin, rec.reset) == (1.0, "exporter", "subtract")
    th = graph.nodes["1"].v_threshold
    assert th.shape == (16, 16, 16) and np.all(np.nextafter(th, np.inf) == 1.0)
    assert [type(graph.nodes[n]).__name__ for n in ("0", "4", "8")] == ["Conv2d", "SumPool2d", "Flatten"]


def test_paper_braille_loads_as_snntorch_with_reset_to_zero():
    with pytest.warns(SourceWarning, match="exporter step 0.0001"):
        graph, rec = load_foreign(paper_file("braille_noDelay_bias_zero.nir"), source="snntorch", reset="zero")
    assert (rec.dt, rec.reset, graph.metadata["reset"]) == (1e-4, "zero", "zero")
    assert {"lif1.lif", "lif1.w_rec", "lif2"} <= set(graph.nodes)
    rg = load_graph(graph)
    assert rg.arrival["lif1.lif"] == 1 and rg.arrival["lif2"] == 2
