"""`ucfdvs simulate`: an MSF-sized NIR graph on tiny test data, emulator against real Lava."""

import json
import sys

import nir
import numpy as np
import pytest

from ucfdvs.errors import UserError
from ucfdvs.neuro_runtime.examples import msf_like_graph
from ucfdvs.neuro_runtime.lava_build import LAVA_MISSING, import_lava


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("nir") / "msf_like.nir"
    nir.write(path, msf_like_graph())
    return path


def simulate_args(graph_file, data, out, backend, precision, videos=3):
    return ("simulate", "--nir", graph_file, "--data", data, "--backend", backend, "--precision", precision,
            "--videos", str(videos), "--out", out)


@pytest.mark.parametrize("precision", ["float", "fixed"])
def test_emulator_and_lava_agree_on_test_videos(graph_file, tiny_data, run_cli, tmp_path, precision):
    pytest.importorskip("lava.magma.core.run_configs")
    emu, lava = tmp_path / "emu", tmp_path / "lava"
    assert run_cli(*simulate_args(graph_file, tiny_data, emu, "emu", precision))[0] == 0
    assert run_cli(*simulate_args(graph_file, tiny_data, lava, "lava", precision))[0] == 0
    emu_scores, lava_scores = np.load(emu / "scores.npz"), np.load(lava / "scores.npz")
    assert len(emu_scores.files) == 3 and set(emu_scores.files) == set(lava_scores.files)
    for stem in emu_scores.files:
        if precision == "fixed":
            assert np.array_equal(emu_scores[stem], lava_scores[stem])
        else:
            np.testing.assert_allclose(emu_scores[stem], lava_scores[stem], atol=1e-12, rtol=0)
    emu_spikes, lava_spikes = np.load(emu / "spikes.npz"), np.load(lava / "spikes.npz")
    assert set(emu_spikes.files) == set(lava_spikes.files)
    assert all(np.array_equal(emu_spikes[k], lava_spikes[k]) for k in emu_spikes.files)
    metrics = json.loads((emu / "metrics.json").read_text())
    assert {"auc_all", "auc_abnormal", "far_all", "far_normal", "latency_steps"} <= set(metrics)
    assert metrics["spikes_per_population"] == json.loads((lava / "metrics.json").read_text())["spikes_per_population"]
    assert sum(metrics["spikes_per_population"].values()) > 0


def test_scores_are_the_output_shifted_by_the_latency(graph_file, tiny_data, run_cli, tmp_path):
    from ucfdvs.neuro_runtime import Emulator, load_graph
    from ucfdvs.train.layout import FeatureLayout, load_split

    out = tmp_path / "emu"
    assert run_cli(*simulate_args(graph_file, tiny_data, out, "emu", "float", videos=1))[0] == 0
    graph = load_graph(graph_file)
    stem = np.load(out / "scores.npz").files[0]
    video = next(v for v in load_split(FeatureLayout(tiny_data), "test") if v.stem == stem)
    latency = graph.latency["out"]
    x = np.vstack([video.features, np.zeros((latency, video.features.shape[1]))])
    raw = Emulator(graph).run(x).outputs["out"][latency:, 0]
    np.testing.assert_allclose(np.load(out / "scores.npz")[stem], 1 / (1 + np.exp(-raw)), rtol=1e-6)


def test_feature_size_mismatch_is_refused(tiny_data, run_cli, tmp_path):
    small = tmp_path / "small.nir"
    nir.write(small, msf_like_graph(n_in=128))
    code, _, err = run_cli(*simulate_args(small, tiny_data, tmp_path / "o", "emu", "float"))
    assert code == 2 and "D=256" in err and "128" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_not_a_nir_file_is_refused(tiny_data, run_cli, tmp_path):
    bogus = tmp_path / "bogus.nir"
    bogus.write_text("not hdf5")
    code, _, err = run_cli(*simulate_args(bogus, tiny_data, tmp_path / "o", "emu", "float"))
    assert code == 2 and "bogus.nir" in err and len(err.strip().splitlines()) == 1


def test_lava_backend_without_lava_is_a_user_error(monkeypatch):
    """A training-only install (no [lava] extra) gets one line naming what to install, not a traceback."""
    for name in [n for n in sys.modules if n == "lava" or n.startswith("lava.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "lava", None)  # makes `import lava...` raise ModuleNotFoundError
    with pytest.raises(UserError) as err:
        import_lava()
    assert str(err.value) == LAVA_MISSING
