"""Run a function in a worker process of its own, in a session of its own (for Lava).

Lava 0.10 sets the multiprocessing start method to ``fork`` when its processes are imported,
forks one OS process per Lava process plus a shared-memory manager, and prints banners.  None of
that may touch the caller, so every Lava run goes through :func:`call_in_worker`:

* The worker is a fresh interpreter (``python -m ucfdvs.neuro_runtime.lava_worker``; like the
  ``spawn`` start method, but without re-importing the caller's ``__main__`` script, which would
  run a script without a ``__main__`` guard twice), started with ``start_new_session=True``: it
  leads a process group of its own, so a terminal's Ctrl-C reaches only the caller, and
  everything Lava forks inside it stays in that group.  Its stdout is ``/dev/null`` (libraries'
  unconditional banners); its stderr is the caller's.
* The caller's start method, ``sys.stdout``/``sys.stderr``, signal handlers and other child
  processes are never touched; several workers may run side by side (no module-level state).
* The target ``"module:function"`` is called as ``function(emit, **kwargs)``; each ``emit(item)``
  reaches ``on_item(item)`` in the caller as it happens (e.g. one record per sequence); the
  return value is returned.  A :class:`~ucfdvs.errors.UserError` raised in the worker is raised
  again in the caller with the same message; any other exception as :class:`WorkerError`
  (with the worker's traceback); a worker that dies is reported as :class:`WorkerError` naming
  the exit status or signal.
* Stopping (an exception in ``on_item``, Ctrl-C in the caller, a worker error): the caller sends
  SIGINT to the worker alone, whose ``finally`` blocks stop Lava (which releases its shared
  memory) and end its children.  After ``stop_timeout_s`` seconds, and whenever the worker has
  ended, whatever is left of its process group gets SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection, Pipe
from typing import Any, Callable

from ucfdvs.errors import UserError

STOP_TIMEOUT_S = 30.0
POLL_S = 0.2  # how often the caller checks that the worker is alive (seconds)


class WorkerError(RuntimeError):
    """The worker process failed (an exception other than UserError there, or it died)."""


def call_in_worker(target: str, on_item: Callable[[Any], None] | None = None, *,
                   stop_timeout_s: float = STOP_TIMEOUT_S, **kwargs: Any) -> Any:
    """Run ``target`` (``"package.module:function"``) as ``function(emit, **kwargs)`` in a new worker.

    ``kwargs`` and the items / result travel pickled.  Returns the function's result.
    """
    ours, theirs = Pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ucfdvs.neuro_runtime.lava_worker", str(theirs.fileno())],
        pass_fds=(theirs.fileno(),), start_new_session=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL)
    theirs.close()
    finished = False
    try:
        ours.send((target, kwargs))
        while True:
            if not ours.poll(POLL_S):
                if proc.poll() is not None and not ours.poll(0):  # Lava's children hold the pipe open
                    raise WorkerError(f"the Lava worker (pid {proc.pid}) {_death(proc)} before finishing")
                continue
            try:
                kind, payload = ours.recv()
            except EOFError:
                raise WorkerError(f"the Lava worker (pid {proc.pid}) {_death(proc)} before finishing") from None
            if kind == "item":
                if on_item is not None:
                    on_item(payload)
                continue
            finished = True  # the worker has cleaned up and is exiting
            if kind == "done":
                return payload
            if kind == "user_error":
                raise UserError(payload)
            raise WorkerError(f"the Lava worker raised {payload}")
    finally:
        _end(proc, interrupt=not finished, timeout_s=stop_timeout_s)
        ours.close()


def _death(proc: subprocess.Popen) -> str:
    """How the worker ended: ``"exited with status N"`` or ``"was killed by SIGNAME"``."""
    code = proc.wait()
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def _end(proc: subprocess.Popen, interrupt: bool, timeout_s: float) -> None:
    """Let the worker finish (after SIGINT if ``interrupt``), then end whatever is left of its group."""
    try:
        if interrupt and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
    finally:
        _end_group(proc.pid)
        proc.wait()


def _end_group(pgid: int, grace_s: float = 5.0) -> None:
    """SIGTERM to the process group ``pgid``, SIGKILL after ``grace_s`` seconds if any is left.

    SIGTERM first: a worker that died leaves Lava's children and its resource tracker (which
    ignores SIGTERM); once the others are gone the tracker unlinks the shared memory they held.
    """
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:  # the group is empty: nothing left to end
        return
    deadline = time.monotonic() + grace_s
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies, which wait for init to
    reap them, do not count; read from /proc where there is one)."""
    if not os.path.isdir("/proc/self"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _stop_when_orphaned(parent: int) -> None:
    """The worker's watch: if the caller dies (e.g. SIGKILL), interrupt the worker so that it
    stops Lava and exits."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGINT)


def main() -> None:
    """The worker: receive ``(target, kwargs)``, run it, send items, then the result or the error."""
    conn = Connection(int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()
    try:
        target, kwargs = conn.recv()
        module, name = target.split(":")
        function = getattr(importlib.import_module(module), name)
        result = function(lambda item: conn.send(("item", item)), **kwargs)
        conn.send(("done", result))
    except KeyboardInterrupt:  # the caller asked to stop; the target's cleanup has run
        sys.exit(130)
    except UserError as err:
        conn.send(("user_error", str(err)))
    except Exception as err:  # noqa: BLE001 - reported to the caller with its traceback
        conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


if __name__ == "__main__":
    main()
