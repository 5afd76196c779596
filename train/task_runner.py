"""Run one task per video on Dask distributed: in-process, on a local cluster, or on an existing cluster.

`run_tasks(fn, jobs, workers, scheduler)` calls `fn(job)` for every job and yields (job, result, error) as the
tasks finish, in any order:
- `workers == 1` and no `scheduler`: in this process, one job after another, no cluster;
- `workers > 1`: a `distributed.LocalCluster` of `workers` worker processes (one thread each, no dashboard,
  environment `WORKER_ENVIRON`);
- `scheduler` ("tcp://host:8786"): the workers of an existing cluster (`dask scheduler` / `dask worker`);
  a scheduler that does not answer within `CONNECT_TIMEOUT_S` is a one-line `UserError`.
A task that raises `UserError` (or any other exception) gives its one-line message as `error` while the other
tasks go on. A worker process that dies is replaced and its task rerun by Dask (up to Dask's
`distributed.scheduler.allowed-failures`, 3 by default). The client and the local cluster are closed in
`finally`, also on Ctrl-C, so no worker process outlives the run.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from typing import Any, Callable, Iterator, Sequence

from ucfdvs.errors import UserError

CONNECT_TIMEOUT_S = 10
"""Seconds to wait for an existing Dask scheduler to answer."""
WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
"""Environment of local worker processes: Dask's `distributed.nanny.pre-spawn-environ` without
MALLOC_TRIM_THRESHOLD_=65536, which fixes glibc's allocation thresholds and made a video's task about 3 times
slower (its chunk-sized numpy temporaries are then mapped and faulted in afresh for every chunk)."""


def add_task_arguments(parser: argparse.ArgumentParser, workers_help: str, scheduler_help: str) -> None:
    """Add the `--workers N` / `--scheduler ADDRESS` pair of every command that runs tasks on Dask;
    the help texts say what a task is for that command."""
    parser.add_argument("--workers", type=int, default=1,
                        help=f"local Dask worker processes, {workers_help} (default 1: in this process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help=f"run on an existing Dask cluster instead (e.g. tcp://host:8786; {scheduler_help})")


def check_workers(workers: int) -> None:
    """Refuse a worker count below 1 (one-line `UserError`)."""
    if workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")


def guarded(fn: Callable[[Any], Any], job: Any) -> tuple[Any, str | None]:
    """(fn(job), None), or (None, one-line message) if it raised."""
    try:
        return fn(job), None
    except UserError as err:
        return None, str(err)
    except Exception as err:  # noqa: BLE001 - reported per task; the other tasks go on
        return None, f"{type(err).__name__}: {err}".splitlines()[0]


@contextlib.contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A `distributed.Client` on `scheduler`, or on a new local cluster of `workers` processes; closed on exit."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as err:
            raise UserError(f"no Dask scheduler answers at {scheduler!r} within {CONNECT_TIMEOUT_S} s "
                            f"({type(err).__name__})") from None
        try:
            yield client
        finally:
            client.close()
        return
    with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def run_tasks(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int = 1,
              scheduler: str | None = None) -> Iterator[tuple[Any, Any, str | None]]:
    """Yield (job, fn(job) or None, error message or None) for every job as its task finishes."""
    check_workers(workers)
    if workers == 1 and scheduler is None:
        for job in jobs:
            yield (job, *guarded(fn, job))
        return
    if not jobs:
        return
    from distributed import as_completed

    with dask_client(workers, scheduler) as client:
        futures = client.map(guarded, [fn] * len(jobs), jobs, pure=False)
        job_of = {future.key: job for future, job in zip(futures, jobs)}
        for future in as_completed(futures):
            job = job_of[future.key]
            if future.status == "finished":
                yield (job, *future.result())
            else:
                error = future.exception()
                yield job, None, f"{type(error).__name__}: {error}".splitlines()[0]
            future.release()
