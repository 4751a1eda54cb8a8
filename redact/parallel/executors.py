"""Where batch jobs run, looked up by name behind one interface (a :class:`concurrent.futures.Executor`).

* ``serial``: in this process, one file at a time.
* ``process``: a local pool of ``jobs`` processes (spawn start method, so no
  thread or ONNX Runtime state is ever forked).
* ``dask``: a Dask cluster. ``address`` (``--cluster``) or the
  ``DASK_SCHEDULER_ADDRESS`` variable names a running scheduler; without either, a
  local cluster of ``jobs`` single-threaded worker processes is started and stopped
  with the executor. Needs the optional extra: ``pip install 'redact[dask]'``.
  Workers of a remote cluster must have redact installed and see the input and
  output folders at the same paths as this machine (a shared filesystem).

:class:`WorkerPool` is how a run uses one: the caller's executor, or one named here and
started on first use (and started afresh after its processes died).

Jobs carry settings, never detector objects: each worker builds its own detectors,
so no ONNX session is ever pickled.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from typing import Any

from redact.errors import ConfigError
from redact.parallel.worker import init_process_worker, threads_per_job

#: name -> "module:factory"; a factory takes (jobs, address) and returns a ManagedExecutor.
#: Adding an executor: one module with such a factory, and one line here.
EXECUTORS: dict[str, str] = {
    "serial": "redact.parallel.executors:serial_executor",
    "process": "redact.parallel.executors:process_executor",
    "dask": "redact.parallel.dask_executor:dask_executor",
}
DASK_HINT = "pip install 'redact[dask]'"


class SerialExecutor(Executor):
    """Runs each call at once in this process; errors go into the future, Ctrl-C goes to the caller."""

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True


class ManagedExecutor(Executor):
    """An executor plus what it needs torn down (a Dask client and cluster), and how parallel it is.

    ``workers``: files that run at once; ``worker_threads``: detector threads to give
    each file (None: let the worker decide, as on a remote cluster of unknown machines).
    """

    def __init__(
        self,
        name: str,
        inner: Executor,
        *,
        workers: int,
        worker_threads: int | None,
        closers: list[Callable[[], object]] | None = None,
    ) -> None:
        self.name = name
        self.inner = inner
        self.workers = max(1, workers)
        self.worker_threads = worker_threads
        self._closers = closers or []

    @property
    def serial(self) -> bool:
        return isinstance(self.inner, SerialExecutor)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self.inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        try:
            if isinstance(self.inner, (ProcessPoolExecutor, SerialExecutor)):
                self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)
            else:  # dask's ClientExecutor takes no cancel_futures
                self.inner.shutdown(wait=wait and not cancel_futures)
        finally:
            closers, self._closers = self._closers, []
            for close in reversed(closers):
                try:
                    close()
                except Exception:  # tearing down a cluster must not hide the run's own error
                    pass

    def stop(self) -> None:
        """Interrupted: end the local worker processes now (a running job is not waited for), then shut down."""
        processes = list((getattr(self.inner, "_processes", None) or {}).values())
        for process in processes:
            with contextlib.suppress(Exception):
                process.terminate()
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(5)
                if process.is_alive():
                    process.kill()
        self.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        return (
            f"<{self.name} executor, {self.workers} worker(s), {self.worker_threads or 'auto'} detector thread(s) each>"
        )


def check_executor(name: str, jobs: int = 1) -> None:
    """Raise ConfigError now for a name, job count or missing extra that create_executor would refuse later."""
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise ConfigError(f"jobs must be 1 or more, got {jobs}")
    if name == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"the dask executor needs the optional extra: {DASK_HINT}") from exc


def create_executor(name: str = "serial", *, jobs: int = 1, address: str | None = None) -> ManagedExecutor:
    """The executor called ``name``, for ``jobs`` files at once; shut it down when done (or use ``with``)."""
    check_executor(name, jobs)
    module_name, _, attr = EXECUTORS[name].partition(":")
    factory: Callable[[int, str | None], ManagedExecutor] = getattr(importlib.import_module(module_name), attr)
    return factory(jobs, address)


def serial_executor(jobs: int, address: str | None) -> ManagedExecutor:
    return ManagedExecutor("serial", SerialExecutor(), workers=1, worker_threads=None)


def process_executor(jobs: int, address: str | None) -> ManagedExecutor:
    threads = threads_per_job(jobs)
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_process_worker,
        initargs=(threads,),
    )
    return ManagedExecutor("process", pool, workers=jobs, worker_threads=threads)


def failed_future(exc: BaseException) -> Future:
    """A future that holds ``exc``: the outcome of a job that never ran."""
    future: Future = Future()
    future.set_exception(exc)
    return future


class WorkerPool:
    """The executor a run hands its jobs to: the caller's, or one named here and started when first needed.

    One started here is shut down by :meth:`close` (after its processes died, too: the next job
    starts a new one); the caller's is never shut down here. ``window``: jobs to hand out at once,
    enough to keep every worker busy while the caller prepares the next.
    """

    def __init__(self, executor: str | Executor | None, *, jobs: int, address: str | None = None) -> None:
        self.given = executor if isinstance(executor, Executor) else None
        self.name = executor if isinstance(executor, str) else ("serial" if jobs == 1 else "process")
        self.jobs, self.address = jobs, address
        self.started: ManagedExecutor | None = None
        self.worker_threads: int | None = None
        if self.given is not None:
            self._size(self.given)
        else:
            check_executor(self.name, jobs)  # now, before the caller writes anything
            self.window = 1 if self.name == "serial" else 2 * jobs

    def _size(self, executor: Executor) -> None:
        workers = getattr(executor, "workers", None) or getattr(executor, "_max_workers", None) or self.jobs
        self.window = 1 if getattr(executor, "serial", False) else 2 * workers
        self.worker_threads = getattr(executor, "worker_threads", None)

    def start(self) -> Executor:
        """The executor, started now when it is ours and not running."""
        if self.given is not None:
            return self.given
        if self.started is None:
            self.started = create_executor(self.name, jobs=self.jobs, address=self.address)
            self._size(self.started)
        return self.started

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        """``fn(*args)`` on the executor; a broken executor's refusal comes back in the future."""
        executor = self.start()
        try:
            return executor.submit(fn, *args)
        except BrokenExecutor as exc:
            return failed_future(exc)

    def died(self, futures: Iterable[Future]) -> bool:
        """True when our own executor's processes died under one of these (finished) futures."""
        return self.started is not None and any(isinstance(f.exception(), BrokenExecutor) for f in futures)

    def close(self) -> None:
        """Shut our executor down once its jobs are over; the next job would start a new one."""
        started, self.started = self.started, None
        if started is not None:
            started.shutdown(wait=True)

    def abandon(self, interrupted: bool) -> None:
        """The run stops early: drop our executor's waiting jobs and, when interrupted, end its workers now."""
        started, self.started = self.started, None
        if started is None:
            return
        with contextlib.suppress(Exception):
            if interrupted:  # the files they had are then cancelled, not "died"
                started.stop()
            else:
                started.shutdown(wait=True, cancel_futures=True)

    @contextlib.contextmanager
    def running(self) -> Iterator[Executor]:
        """The executor for one block of work; ours is shut down after it, its workers ended at once
        on Ctrl-C or SIGTERM (before the caller's files go)."""
        try:
            yield self.start()
        except KeyboardInterrupt:
            self.abandon(interrupted=True)
            raise
        except BaseException:
            self.abandon(interrupted=False)
            raise
        self.close()
