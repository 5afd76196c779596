"""`ucfdvs extract` as one task per video on Dask: workers, a killed worker, Ctrl-C, resume, failures, schedulers.

On `synth-events --small` data (14 tiny videos) and a tiny random backbone. A local cluster takes 10 to 30 s
to start on 2 shared cores, so the two-worker runs are few.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

from ucfdvs.events import Geometry, make_events, write_npz
from ucfdvs.train.extractor import BackboneConfig, SpikingBackbone, extract_features, save_extractor
from ucfdvs.train.extractor.extract import CRASH_ONCE_ENV, HASH_SUFFIX
from ucfdvs.train.layout import FeatureLayout, read_split
from ucfdvs.train.synthetic_events import SMALL_CONFIG, write_synthetic_events

TINY = BackboneConfig(width=16, height=12, channels=(4, 8), feature_dim=8)
N_VIDEOS = SMALL_CONFIG.n_train + SMALL_CONFIG.n_test


@pytest.fixture(scope="module")
def events_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ev") / "small"
    write_synthetic_events(root, SMALL_CONFIG, seed=5, progress=False)
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "tiny.pt"
    save_extractor(path, SpikingBackbone(TINY))
    return path


@pytest.fixture(scope="module")
def reference(events_root: Path, checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Feature file bytes of a single-process run, by file name."""
    out = tmp_path_factory.mktemp("ref") / "features"
    summary = extract_features(events_root, out, checkpoint, progress=False)
    assert summary["extracted"] == N_VIDEOS and summary["snippets"] > N_VIDEOS
    return feature_files(out)


def feature_files(out: Path) -> dict[str, bytes]:
    folder = FeatureLayout(out).feature_dir
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def assert_complete_and_equal(out: Path, reference: dict[str, bytes]) -> None:
    files = feature_files(out)
    assert sorted(files) == sorted(reference)  # every video exactly once, no temporary files
    assert all(files[name] == reference[name] for name in files)


def test_two_workers_survive_a_killed_worker_and_equal_one(events_root, checkpoint, reference, tmp_path,
                                                           monkeypatch) -> None:
    stem = read_split(FeatureLayout(events_root), "train")[3]
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ONCE_ENV, f"{stem}:{marker}")
    out = tmp_path / "features"
    summary = extract_features(events_root, out, checkpoint, progress=False, workers=2)
    assert marker.exists()  # the worker extracting `stem` died once; Dask reran the task on a fresh worker
    assert summary["extracted"] == N_VIDEOS and summary["failed"] == 0
    assert_complete_and_equal(out, reference)


def test_resume_skips_finished_videos_and_redoes_other_checkpoints(events_root, checkpoint, reference,
                                                                  tmp_path) -> None:
    out = tmp_path / "features"
    extract_features(events_root, out, checkpoint, progress=False)
    layout = FeatureLayout(out)
    stems = read_split(layout, "test")
    layout.feature_path(stems[0]).unlink()
    stale = layout.feature_path(stems[1])
    stale.with_name(stale.name + HASH_SUFFIX).write_text("0" * 64 + "\n")
    summary = extract_features(events_root, out, checkpoint, progress=False)
    assert (summary["extracted"], summary["skipped"]) == (2, N_VIDEOS - 2)
    assert_complete_and_equal(out, reference)
    torch.manual_seed(1)
    other = tmp_path / "other.pt"
    save_extractor(other, SpikingBackbone(TINY))
    assert extract_features(events_root, out, other, progress=False)["extracted"] == N_VIDEOS
    assert extract_features(events_root, out, other, progress=False, force=True)["extracted"] == N_VIDEOS


def test_one_worker_loads_the_checkpoint_once(events_root, checkpoint, tmp_path, monkeypatch) -> None:
    import ucfdvs.train.extractor.extract as extract_module

    loads = []
    real = extract_module.load_extractor
    monkeypatch.setattr(extract_module, "load_extractor", lambda path: loads.append(path) or real(path))
    monkeypatch.setattr(extract_module, "_MODELS", {})
    assert extract_features(events_root, tmp_path / "features", checkpoint, progress=False)["extracted"] == N_VIDEOS
    assert loads == [checkpoint.resolve()]


def test_failing_video_is_listed_and_the_others_finish(events_root, checkpoint, reference, tmp_path,
                                                      run_cli) -> None:
    root = tmp_path / "root"
    shutil.copytree(events_root, root)
    stems = read_split(FeatureLayout(root), "train")
    arrays = {k: np.arange(100) for k in "txyp"}
    arrays["t"][60] = 0  # unsorted times in the middle of the data
    arrays["p"] %= 2
    arrays["x"] %= 40
    arrays["y"] %= 40
    np.savez(root / "events" / f"{stems[0]}.npz", **arrays)
    (root / "events" / f"{stems[1]}.npz").write_bytes(b"PK\x03\x04 cut")
    out = tmp_path / "features"
    code, _, err = run_cli("extract", "--events", root, "--out", out, "--checkpoint", checkpoint)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("ucfdvs extract: error: 2 of 14 videos failed")
    assert f"{stems[0]}.npz: event 60: t decreases (0 < 59)" in last and f"{stems[1]}.npz: not a readable npz" in last
    files = feature_files(out)
    assert len(files) == 2 * (N_VIDEOS - 2) and all(files[n] == reference[n] for n in files)


def test_interrupted_run_leaves_complete_files_and_a_rerun_finishes(events_root, checkpoint, reference,
                                                                   tmp_path) -> None:
    """Ctrl-C (SIGINT) in the middle of `extract --workers 2`: only complete per-video files, no worker left."""
    root = tmp_path / "root"
    shutil.copytree(events_root, root)
    first = read_split(FeatureLayout(root), "train")[0]
    rng = np.random.default_rng(0)
    n = 12_000_000  # a long first video (120 s, ~15 s to extract), so the run is still busy when interrupted
    geometry = Geometry(SMALL_CONFIG.width, SMALL_CONFIG.height)
    write_npz(root / "events" / f"{first}.npz", make_events(
        np.sort(rng.integers(0, 120_000_000, n)), rng.integers(0, geometry.width, n),
        rng.integers(0, geometry.height, n), rng.integers(0, 2, n)), geometry)
    out = tmp_path / "features"
    folder = FeatureLayout(out).feature_dir
    command = [sys.executable, "-m", "ucfdvs.cli", "extract", "--events", str(root), "--out", str(out),
               "--checkpoint", str(checkpoint), "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (folder.is_dir() and any(folder.glob("*.npy"))) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 2
    assert not (folder / f"{first}.npy").exists()  # the long video is still being extracted
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in err
    gone, alive = psutil.wait_procs(children, timeout=20)
    assert not alive
    partial = feature_files(out)
    assert 0 < len(partial) < 2 * N_VIDEOS
    assert all(name.endswith((".npy", HASH_SUFFIX)) and not name.startswith(".") for name in partial)
    for name in partial:
        if name.endswith(".npy") and not name.startswith(first):
            assert partial[name] == reference[name]
    summary = extract_features(root, out, checkpoint, progress=False)
    done = sum(name.endswith(HASH_SUFFIX) for name in partial)
    assert summary["skipped"] == done and summary["extracted"] == N_VIDEOS - done
    rest = {n: b for n, b in feature_files(out).items() if not n.startswith(first)}
    assert rest == {n: b for n, b in reference.items() if not n.startswith(first)}


def test_scheduler_that_does_not_answer_is_a_one_line_error(events_root, checkpoint, tmp_path, run_cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    code, _, err = run_cli("extract", "--events", events_root, "--out", tmp_path / "f", "--checkpoint", checkpoint,
                           "--scheduler", f"tcp://127.0.0.1:{port}")
    assert code == 2 and time.monotonic() - started < 30
    assert err.strip().splitlines()[-1] == (f"ucfdvs extract: error: no Dask scheduler answers at "
                                           f"'tcp://127.0.0.1:{port}' within 10 s (OSError)")
