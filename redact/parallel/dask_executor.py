"""The ``dask`` executor: a running Dask cluster (``--cluster`` or ``DASK_SCHEDULER_ADDRESS``), or a
local one of ``jobs`` single-threaded worker processes started and stopped with the executor."""

from __future__ import annotations

import os
from collections.abc import Callable

from redact.errors import ConfigError
from redact.parallel.executors import DASK_HINT, ManagedExecutor
from redact.parallel.worker import threads_per_job


def dask_executor(jobs: int, address: str | None) -> ManagedExecutor:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(f"the dask executor needs the optional extra: {DASK_HINT}") from exc
    address = address or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    closers: list[Callable[[], object]] = []
    if address:
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        closers.append(client.close)
        workers = sum(client.nthreads().values())
        if workers == 0:
            client.close()
            raise ConfigError(f"the Dask cluster at {address} has no workers")
        threads = None  # machines unknown: each worker picks its share (see worker_threads_here)
    else:
        try:
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None)
        except Exception as exc:
            raise ConfigError(f"cannot start a local Dask cluster: {exc}") from exc
        closers.append(cluster.close)
        try:
            client = Client(cluster)
        except Exception as exc:
            cluster.close()
            raise ConfigError(f"cannot connect to the local Dask cluster: {exc}") from exc
        closers.append(client.close)
        workers = jobs
        threads = threads_per_job(jobs)
    # pure=False: a file run again (after a failure) is a new task, never a cached result
    return ManagedExecutor(
        "dask", client.get_executor(pure=False), workers=workers, worker_threads=threads, closers=closers
    )
