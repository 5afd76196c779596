"""`ucfdvs simulate --workers N`: videos as Dask tasks give the same files as one process; failures named.

An MSF-sized graph on the tiny test split (8 videos). A local cluster takes 10 to 30 s to start on 2 shared
cores, so the two-worker runs are three: emulator float, emulator fixed, Lava float on 3 videos.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import nir
import numpy as np
import psutil
import pytest

import ucfdvs.export.simulate as simulate_module
from ucfdvs.export.simulate import VideoTask, run_in_tasks, run_videos, simulate, video_tasks
from ucfdvs.neuro_runtime.network import load_network
from ucfdvs.neuro_runtime.examples import msf_like_graph
from ucfdvs.train.layout import FeatureLayout, load_split


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nir") / "msf_like.nir"
    nir.write(path, msf_like_graph())
    return path


def outputs(out: Path) -> dict[str, object]:
    """metrics.json, and every array of scores.npz and spikes.npz, in file order."""
    result: dict[str, object] = {"metrics": json.loads((out / "metrics.json").read_text())}
    for name in ("scores", "spikes"):
        with np.load(out / f"{name}.npz") as data:
            result[name] = [(key, data[key]) for key in data.files]
    return result


def assert_same(a: dict, b: dict) -> None:
    assert a["metrics"] == b["metrics"]
    for name in ("scores", "spikes"):
        assert [key for key, _ in a[name]] == [key for key, _ in b[name]]
        assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a[name], b[name]))


def test_videos_are_dealt_longest_first_into_balanced_tasks(tiny_data: Path) -> None:
    videos = load_split(FeatureLayout(tiny_data), "test")
    groups = video_tasks(videos, 3)
    assert sorted(v.stem for g in groups for v in g) == sorted(v.stem for v in videos)
    assert [len(g) for g in groups] == [3, 3, 2]
    lengths = sorted((v.n_snippets for v in videos), reverse=True)
    assert [v.n_snippets for v in groups[0]] == lengths[0::3]
    assert len(video_tasks(videos, 20)) == len(videos) and len(video_tasks(videos, 1)) == 1


@pytest.mark.parametrize("backend, precision, videos", [("emu", "float", None), ("emu", "fixed", None),
                                                        ("lava", "float", 3)])
def test_two_workers_write_the_same_files_as_one_process(graph_file: Path, tiny_data: Path, tmp_path: Path,
                                                         backend: str, precision: str, videos: int | None) -> None:
    pytest.importorskip("distributed")
    if backend == "lava":
        pytest.importorskip("lava.magma.core.run_configs")
    layout = FeatureLayout(tiny_data)
    one = simulate(graph_file, layout, backend, precision, tmp_path / "one", videos=videos, progress=False)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    two = simulate(graph_file, layout, backend, precision, tmp_path / "two", videos=videos, progress=False, workers=2)
    assert one == two and one["n_videos"] == (videos or 8)
    assert sum(one["spikes_per_population"].values()) > 0
    assert_same(outputs(tmp_path / "one"), outputs(tmp_path / "two"))
    left = [p.cmdline() for p in psutil.Process().children(recursive=True) if p.pid not in before]
    # the local cluster and every Lava worker have ended; multiprocessing's resource tracker, started by
    # Dask in this process, stays with it and ends when it does
    assert not [c for c in left if "multiprocessing.resource_tracker" not in " ".join(c)], left


def test_a_graph_without_a_file_runs_as_tasks_too(tiny_data: Path) -> None:
    """`bench` converts a checkpoint to a NIR graph in memory: its tasks carry the graph (pickled to Dask
    workers) and give what one run of all videos gives, in fixed point with the caller's input range."""
    graph = msf_like_graph()
    net = load_network(graph)
    videos = load_split(FeatureLayout(tiny_data), "test")
    net.quantize(input_range=float(max(abs(v.features).max() for v in videos)))
    task = pickle.loads(pickle.dumps(VideoTask(graph, "emu", "fixed", net.quant_input_range, tuple(videos))))
    assert sorted(task.source.nodes) == sorted(graph.nodes)
    tasks = run_in_tasks(graph, net, videos, "emu", "fixed", workers=1, progress=False)
    whole = run_videos(net, videos, "emu", "fixed", progress=False)
    assert [r.stem for r in tasks] == [v.stem for v in videos]
    for a, b in zip(tasks, whole):
        assert np.array_equal(a.scores, b.scores) and all(np.array_equal(a.spikes[k], b.spikes[k]) for k in b.spikes)


def test_a_failing_video_is_named_and_the_others_finish(graph_file: Path, tiny_data: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A video whose run raises fails its task's group; the group is rerun one video at a time, so only
    that video is reported, every other one runs, and nothing is written."""
    layout = FeatureLayout(tiny_data)
    bad = load_split(layout, "test")[2].stem
    ran: list[str] = []
    real = simulate_module.run_videos

    def run_videos(net, videos, *args, **kwargs):
        if any(v.stem == bad for v in videos):
            raise RuntimeError(f"broken run of {len(videos)} videos")
        ran.extend(v.stem for v in videos)
        return real(net, videos, *args, **kwargs)

    monkeypatch.setattr(simulate_module, "run_videos", run_videos)
    out = tmp_path / "out"
    with pytest.raises(simulate_module.UserError) as caught:
        simulate(graph_file, layout, "emu", "float", out, progress=False)
    message = str(caught.value)
    assert "1 of 8 videos failed" in message and f"{bad}: RuntimeError: broken run of 1 videos" in message
    assert "\n" not in message and not out.exists()
    assert sorted(ran) == sorted(v.stem for v in load_split(layout, "test") if v.stem != bad)


def test_workers_below_one_is_refused(graph_file: Path, tiny_data: Path, run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("simulate", "--nir", graph_file, "--data", tiny_data, "--out", tmp_path / "o",
                           "--workers", "0")
    assert code == 2 and "--workers must be >= 1" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
