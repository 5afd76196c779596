"""Lava runs in a worker process of its own: the caller's process is untouched, and a run that
ends (normally, by an error, by Ctrl-C, by the worker dying) leaves no process and no shared memory."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nir
import numpy as np
import pytest

pytest.importorskip("lava.magma.core.run_configs")

from ucfdvs.errors import UserError  # noqa: E402
from ucfdvs.neuro_runtime import load_graph, quantize, run_lava  # noqa: E402
from ucfdvs.neuro_runtime import examples as ex  # noqa: E402
from ucfdvs.neuro_runtime.lava_build import build_lava  # noqa: E402
from ucfdvs.neuro_runtime.lava_worker import WorkerError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHM = Path("/dev/shm")
pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="needs /dev/shm")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...); None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _live_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _descendants(root: int) -> set[tuple[int, str]]:
    """Live (not zombie) descendants of ``root`` as (pid, start time) pairs."""
    parent = {}
    for pid in _live_pids():
        st = _stat(pid)
        if st is not None and st[0] != "Z":
            parent[pid] = (int(st[1]), st[19])
    out, frontier = set(), {root}
    while frontier:
        frontier = {p for p, (pp, _) in parent.items() if pp in frontier}
        out |= {(p, parent[p][1]) for p in frontier}
    return out


def _alive(procs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    left = set()
    for pid, start in procs:
        st = _stat(pid)
        if st is not None and st[0] != "Z" and st[19] == start:
            left.add((pid, start))
    return left


def _shm_in_use() -> set[str]:
    """/dev/shm entries some live process maps or holds open (other users of this machine's Lava)."""
    held = set()
    for pid in _live_pids():
        try:
            with open(f"/proc/{pid}/maps") as f:
                held |= {line.split("/dev/shm/", 1)[1].split("/")[0].strip() for line in f if "/dev/shm/" in line}
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("/dev/shm/"):
                    held.add(target[len("/dev/shm/"):].split("/")[0])
        except OSError:
            continue
    return held


def _leaked_shm(before: set[str], caller: int) -> set[str]:
    """New /dev/shm entries of Python's shared memory (Lava's channels) that no live process uses
    (a concurrent run's are in use), and I/O folders of runs by the process ``caller``."""
    new = {e for e in os.listdir(SHM) if e.startswith("psm_")} - before
    mine = {e for e in os.listdir(SHM) if e.startswith(f"neuro_runtime_{caller}_")}
    return (new - _shm_in_use() if new else new) | mine


class _Done:
    def __init__(self, pid: int, returncode: int, stdout: str, stderr: str) -> None:
        self.pid, self.returncode, self.stdout, self.stderr = pid, returncode, stdout, stderr


def _run(cmd: list[str], cwd: Path) -> _Done:
    """Run ``cmd`` to its end; its pid, exit status and output."""
    with subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        out, err = p.communicate(timeout=300)
    return _Done(p.pid, p.returncode, out, err)


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "run.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_caller_process_is_untouched(tmp_path: Path) -> None:
    """After a Lava run: the same start method (unset), sys.stdout/err, SIGINT handler; a child the
    caller started before is alive; no shared memory left and no leak warning at exit."""
    script = _script(tmp_path, """
        import multiprocessing as mp, signal, sys, time
        import numpy as np
        import ucfdvs.neuro_runtime
        from ucfdvs.neuro_runtime import load_graph, run_lava
        from ucfdvs.neuro_runtime.examples import recurrent_graph

        if __name__ == "__main__":
            before, out, err = mp.get_start_method(allow_none=True), sys.stdout, sys.stderr
            handler = signal.getsignal(signal.SIGINT)
            # a "spawn" child would fix the start method itself (CPython records it for the child)
            other = mp.get_context("fork").Process(target=time.sleep, args=(60,))
            other.start()
            recs = run_lava(load_graph(recurrent_graph()), np.random.rand(2, 10, 3), "floating_pt", progress=False)
            print(before, mp.get_start_method(allow_none=True), sys.stdout is out and sys.stderr is err,
                  signal.getsignal(signal.SIGINT) is handler, other.is_alive(), len(recs), flush=True)
            other.terminate()
            other.join()
    """)
    before = set(os.listdir(SHM))
    done = _run([sys.executable, str(script)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None", "True", "True", "True", "2"]
    assert "leaked" not in done.stderr, done.stderr
    assert _leaked_shm(before, done.pid) == set()


def test_user_error_in_the_worker_arrives_as_user_error(capfd: pytest.CaptureFixture) -> None:
    g = ex.delayed_graph()
    g.nodes["d1"].delay = np.full(4, 70 * ex.DT)
    rg = load_graph(nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=g.metadata))
    q = quantize(rg)
    with pytest.raises(UserError) as in_worker:
        run_lava(rg, np.zeros((1, 4, 3)), "fixed_pt", quant=q, progress=False)
    with pytest.raises(UserError) as here:
        build_lava(rg, "fixed_pt", quant=q, buf_len=4)
    assert str(in_worker.value) == str(here.value)
    assert "6-bit" in str(in_worker.value) and "\n" not in str(in_worker.value)
    assert "Traceback" not in capfd.readouterr().err  # the worker exits quietly


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_no_lava_process_survives_an_exception(exc: type) -> None:
    """An exception in ``on_sequence`` (in the caller) ends the worker and Lava's processes."""
    rg = load_graph(ex.recurrent_graph())
    shm_before = set(os.listdir(SHM))
    earlier = _descendants(os.getpid())  # e.g. multiprocessing's resource tracker, started by an earlier test
    seen: list[set] = []

    def boom(i: int, rec) -> None:
        seen.append(_descendants(os.getpid()) - earlier)
        raise exc("stop here")

    with pytest.raises(exc, match="stop here"):
        run_lava(rg, np.zeros((3, 5, 3)), "floating_pt", progress=True, on_sequence=boom)
    assert seen and len(seen[0]) > 2  # the worker and Lava's processes were running
    time.sleep(0.2)
    assert _alive(seen[0]) == set()
    assert not mp.active_children()
    assert _leaked_shm(shm_before, os.getpid()) == set()


def test_worker_death_is_an_error_naming_the_cause() -> None:
    """SIGKILL to the worker mid-run: WorkerError saying so (not a hang), nothing of it left behind."""
    rg = load_graph(ex.recurrent_graph())
    shm_before = set(os.listdir(SHM))
    earlier = _descendants(os.getpid())
    run: list[set] = []

    def kill_worker(i: int, rec) -> None:
        if not run:
            run.append(_descendants(os.getpid()) - earlier)
            (worker,) = [pid for pid, _ in run[0] if int(_stat(pid)[1]) == os.getpid()]
            os.kill(worker, signal.SIGKILL)

    with pytest.raises(WorkerError, match="killed by SIGKILL"):
        run_lava(rg, np.random.rand(50, 200, 3), "floating_pt", progress=False, on_sequence=kill_worker)
    assert len(run[0]) > 2
    time.sleep(0.2)
    assert _alive(run[0]) == set()
    assert _leaked_shm(shm_before, os.getpid()) == set()


def test_ctrl_c_on_the_process_group_leaves_no_process(tmp_path: Path) -> None:
    """SIGINT to the caller's process group (what a terminal's Ctrl-C does) while Lava runs: the
    caller gets KeyboardInterrupt; no process of the run and no shared memory is left."""
    script = _script(tmp_path, """
        import numpy as np
        from ucfdvs.neuro_runtime import load_graph, run_lava
        from ucfdvs.neuro_runtime.examples import recurrent_graph
        rg = load_graph(recurrent_graph())
        try:
            run_lava(rg, np.random.rand(200, 300, 3), 'floating_pt', progress=False,
                     on_sequence=lambda i, r: print('running', flush=True))
        except KeyboardInterrupt:
            print('interrupted', flush=True)
    """)
    shm_before = set(os.listdir(SHM))
    p = subprocess.Popen([sys.executable, str(script)], start_new_session=True, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "running"
        run = _descendants(p.pid)
        assert len(run) > 2  # the worker and Lava's processes
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert "interrupted" in out
        assert "leaked" not in err and "Traceback" not in err, err
        time.sleep(0.2)
        assert _alive(run) == set()
        assert _leaked_shm(shm_before, p.pid) == set()
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)


def test_simulate_with_lava_prints_no_leak_warning(tiny_data: Path, tmp_path: Path) -> None:
    graph = tmp_path / "msf_like.nir"
    nir.write(graph, ex.msf_like_graph())
    shm_before = set(os.listdir(SHM))
    done = _run([sys.executable, "-m", "ucfdvs.cli", "simulate", "--nir", str(graph), "--data", str(tiny_data),
                 "--backend", "lava", "--precision", "fixed", "--videos", "2", "--out", str(tmp_path / "sim")],
                tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sim" / "scores.npz").is_file()
    assert "leaked" not in done.stderr and "resource_tracker" not in done.stderr, done.stderr
    assert _leaked_shm(shm_before, done.pid) == set()


def test_ctrl_c_during_simulate_leaves_no_process(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the process group) while `ucfdvs simulate --backend lava` runs: exit 130,
    'interrupted', no process of the run and no shared memory left."""
    from ucfdvs.train.synthetic_features import SyntheticFeatureConfig, write_synthetic_features

    data = tmp_path / "long"
    write_synthetic_features(data, SyntheticFeatureConfig(n_train=2, n_test=4, median_snippets=600, min_snippets=500,
                                                          max_snippets=700), seed=1)
    graph = tmp_path / "msf_like.nir"
    nir.write(graph, ex.msf_like_graph())
    shm_before = set(os.listdir(SHM))
    p = subprocess.Popen([sys.executable, "-m", "ucfdvs.cli", "simulate", "--nir", str(graph), "--data", str(data),
                          "--backend", "lava", "--precision", "float", "--out", str(tmp_path / "sim")],
                         start_new_session=True, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 120
        run: set = set()
        while len(run) <= 3 and p.poll() is None and time.monotonic() < deadline:  # until Lava's processes run
            time.sleep(0.02)
            run = _descendants(p.pid)
        assert len(run) > 3, "Lava never started"
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 130 and "interrupted" in err, err
        assert "leaked" not in err and "Traceback" not in err, err
        time.sleep(0.2)
        assert _alive(run | _descendants(p.pid)) == set()
        assert _leaked_shm(shm_before, p.pid) == set()
        assert not (tmp_path / "sim" / "scores.npz").exists()
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
