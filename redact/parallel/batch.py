"""Redact a whole folder: every photo and video, an output tree that mirrors it, and a manifest to resume by.

A run has four steps: plan each file's output, schedule the files on an executor
(a few at a time), settle each as it finishes (a crashed pool's files are retried
alone), and record every outcome in the manifest (see :mod:`redact.parallel.manifest`)
and the summary. Running the same batch again skips what is done and redoes the rest,
failed files included; an output redact did not write is replaced only with ``overwrite``.

A file that fails never leaves an output: redact_video and redact_photo write
through a temporary file, and after a worker crash the temporary file (and an
output that no finished entry vouches for) is removed here.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, CancelledError, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redact.errors import ConfigError, RedactError
from redact.media.mux import CONTAINERS
from redact.media.outputs import file_sha256, partial_affixes
from redact.parallel.executors import WorkerPool, failed_future
from redact.parallel.folder import check_folders, discover, media_kind, output_names
from redact.parallel.manifest import MANIFEST_NAME, FileFacts, Manifest
from redact.parallel.worker import DetectorFactory, Job, run_job
from redact.settings import Settings

#: on_event(kind, path relative to the input folder, detail). Kinds: "plan" (path "."; detail
#: files/ignored counts), "ignored", "skipped", "start", "done", "failed".
EventCallback = Callable[[str, Path, dict[str, Any]], None]


@dataclass
class FileResult:
    path: str  # relative to the input folder, "/"-separated
    output: str | None  # relative to the output folder
    status: str  # done, skipped or failed
    error: str | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class BatchSummary:
    input_dir: str
    output_dir: str
    manifest: str
    done: list[FileResult] = field(default_factory=list)
    skipped: list[FileResult] = field(default_factory=list)
    failed: list[FileResult] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files that are not photos or videos, and why
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def counts(self) -> dict[str, int]:
        return {
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "ignored": len(self.ignored),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_dir": self.input_dir,
            "output_dir": self.output_dir,
            "manifest": self.manifest,
            "counts": self.counts,
            "done": [r.to_dict() for r in self.done],
            "skipped": [r.to_dict() for r in self.skipped],
            "failed": [r.to_dict() for r in self.failed],
            "ignored": list(self.ignored),
            "seconds": round(self.seconds, 3),
        }


_PARTIAL_MIDDLE = re.compile(r"[A-Za-z0-9_]{8}")


def remove_partials(output_path: Path) -> None:
    """Delete temporary files that a crashed writer of ``output_path`` left (see outputs.atomic_output)."""
    prefix, end = partial_affixes(output_path)
    try:
        names = os.listdir(output_path.parent)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(end) and _PARTIAL_MIDDLE.fullmatch(name[len(prefix) : -len(end)]):
            with contextlib.suppress(OSError):
                os.unlink(output_path.parent / name)


def error_message(exc: BaseException) -> str:
    if isinstance(exc, RedactError):
        return str(exc)
    if isinstance(exc, BrokenExecutor):
        return "the worker process died (a crash, or out of memory) while this file was being redacted; run the batch again to retry it"
    if type(exc).__name__ == "KilledWorker":  # distributed's: the task killed every worker it ran on
        return f"every Dask worker that ran this file died (a crash, or out of memory): {exc}"
    if isinstance(exc, CancelledError):
        return "cancelled before it finished"
    return f"internal error: {type(exc).__name__}: {exc}"


@dataclass
class PlannedFile:
    """One input of the run, from its planned output to its outcome."""

    rel: Path  # relative to the input folder
    kind: str
    output_rel: Path
    input_path: Path
    output_path: Path
    existed_before: bool = False
    overwrite: bool = False
    input_sha256: str | None = None
    input_size: int | None = None
    suspect: bool = False  # was in a process pool that died; runs again alone
    submitted: float | None = None  # perf_counter when handed to the executor

    @property
    def key(self) -> str:
        return self.rel.as_posix()

    @property
    def output(self) -> str:
        return self.output_rel.as_posix()

    def facts(self) -> FileFacts:
        return FileFacts(self.kind, self.output, self.input_sha256, self.input_size)

    def elapsed(self) -> float:
        """Seconds since the file was handed to the executor."""
        return time.perf_counter() - self.submitted if self.submitted else 0.0

    def discard(self) -> None:
        """Remove what a failed attempt left: temporary files, and an output no "done" entry vouches for."""
        remove_partials(self.output_path)
        # (a worker that died just after renaming its output into place leaves a whole file)
        if (not self.existed_before or self.overwrite) and (
            self.output_path.is_file() or self.output_path.is_symlink()
        ):
            with contextlib.suppress(OSError):
                self.output_path.unlink()


class BatchRun:
    """One run's state: the files waiting, the files in flight on the executor, the manifest and the summary."""

    def __init__(
        self,
        settings: Settings,
        pool: WorkerPool,
        manifest: Manifest,
        summary: BatchSummary,
        *,
        overwrite: bool,
        detector_factory: DetectorFactory | None,
        on_event: EventCallback | None,
    ) -> None:
        self.settings, self.pool, self.manifest, self.summary = settings, pool, manifest, summary
        self.overwrite, self.detector_factory, self.on_event = overwrite, detector_factory, on_event
        self.waiting: deque[PlannedFile] = deque()
        self.in_flight: dict[Future, PlannedFile] = {}

    def emit(self, kind: str, rel: Path, detail: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(kind, rel, detail)

    # -- plan outputs ------------------------------------------------------------------------

    def plan(self, inp: Path, out: Path, video_suffix: str) -> None:
        """Find the inputs and name each one's output; a name clash fails both files now."""
        files, ignored = discover(inp)
        self.emit("plan", Path("."), {"files": len(files), "ignored": len(ignored)})
        for rel, reason in ignored:
            self.emit("ignored", rel, {"reason": reason})
        self.summary.ignored = [f"{rel.as_posix()}: {reason}" for rel, reason in ignored]
        for rel, target in output_names(files, video_suffix).items():
            if isinstance(target, str):
                self.summary.failed.append(FileResult(rel.as_posix(), None, "failed", target))
                self.emit("failed", rel, {"error": target})
            else:
                self.waiting.append(PlannedFile(rel, media_kind(rel) or "", target, inp / rel, out / target))
        for result in self.summary.failed:  # nothing of theirs is written
            self.manifest.mark_failed(result.path, result.error or "")

    def prepare(self, item: PlannedFile) -> bool:
        """Hash the input and decide; True when the file is to be redacted now (it is marked running)."""
        try:
            item.input_size = item.input_path.stat().st_size
            item.input_sha256 = file_sha256(item.input_path)
        except OSError as exc:
            self.record_failure(item, f"{item.input_path}: cannot read ({exc.strerror or exc})")
            return False
        if self.manifest.is_current(item.key, item.facts(), item.output_path):
            self.summary.skipped.append(FileResult(item.key, item.output, "skipped", seconds=0.0))
            self.emit("skipped", item.rel, {"output": item.output})
            return False
        ours = self.manifest.wrote(item.key, item.output)
        item.existed_before = item.output_path.exists() or item.output_path.is_symlink()
        item.overwrite = self.overwrite or (ours and item.output_path.is_file())
        try:
            item.output_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.record_failure(item, f"{item.output_path.parent}: cannot create folder ({exc.strerror or exc})")
            return False
        remove_partials(item.output_path)
        self.manifest.mark_running(item.key, item.facts())
        return True

    # -- schedule ----------------------------------------------------------------------------

    def run(self) -> None:
        """Hand the files out a window at a time and settle each as it finishes; on Ctrl-C settle those in flight."""
        try:
            while self.waiting or self.in_flight:
                self.schedule()
                if self.in_flight:
                    finished, _ = wait(list(self.in_flight), return_when=FIRST_COMPLETED)
                    self.settle(finished)
        except BaseException as exc:  # interrupted (Ctrl-C) or a failure of the batch itself
            self.stop(interrupted=isinstance(exc, KeyboardInterrupt))
            raise
        finally:
            self.pool.close()

    def can_submit(self) -> bool:
        # a file that was in a process pool when it died runs again alone, so only the file that
        # kills its worker fails, not the ones that happened to share the pool with it
        if not self.waiting or len(self.in_flight) >= self.pool.window:
            return False
        if any(item.suspect for item in self.in_flight.values()):
            return False
        return not (self.waiting[0].suspect and self.in_flight)

    def schedule(self) -> None:
        while self.can_submit():
            item = self.waiting.popleft()
            if self.prepare(item):
                self.submit(item)

    def submit(self, item: PlannedFile) -> None:
        self.pool.start()  # an executor of our own starts only when a file needs it
        job = Job(
            item.key,
            item.kind,
            str(item.input_path),
            str(item.output_path),
            self.settings,
            item.overwrite,
            self.detector_factory,
            self.pool.worker_threads,
        )
        self.emit("start", item.rel, {"output": item.output, "kind": item.kind, "retry": item.suspect})
        item.submitted = time.perf_counter()
        self.in_flight[self.pool.submit(run_job, job)] = item

    # -- settle ------------------------------------------------------------------------------

    def settle(self, finished: set[Future]) -> None:
        """Record the finished files; when our pool died, its files run again, each alone in a new pool."""
        if not self.pool.died(finished):
            for future in sorted(finished, key=lambda f: self.in_flight[f].key):
                self.finish(self.in_flight.pop(future), future)
            return
        # everything in the pool failed with it; one that dies alone is the cause, and fails
        self.pool.close()
        retry = []
        for future, item in sorted(self.in_flight.items(), key=lambda fi: fi[1].key):
            if isinstance(future.exception(), BrokenExecutor) and not item.suspect:
                item.discard()
                item.suspect = True
                retry.append(item)
            else:
                self.finish(item, future)
        self.in_flight.clear()
        self.waiting.extendleft(reversed(retry))

    def stop(self, interrupted: bool) -> None:
        """The run stops early: cancel what has not started, and settle every file in flight."""
        for future in self.in_flight:
            future.cancel()
        self.pool.abandon(interrupted)
        for future, item in list(self.in_flight.items()):
            with contextlib.suppress(BaseException):
                succeeded = future.done() and not future.cancelled() and future.exception() is None
                if not succeeded and (interrupted or not future.done() or future.cancelled()):
                    future = failed_future(CancelledError())
                self.finish(item, future)

    def finish(self, item: PlannedFile, future: Future) -> None:
        try:
            result = future.result()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            item.discard()
            self.record_failure(item, error_message(exc), item.elapsed())
            return
        remove_partials(item.output_path)  # from an earlier attempt on a worker that died (Dask retries)
        self.record_done(item, result)

    # -- record ------------------------------------------------------------------------------

    def record_done(self, item: PlannedFile, result: dict[str, Any]) -> None:
        report, seconds = result["report"], result["seconds"]
        warnings = list(report.get("warnings") or [])
        self.manifest.mark_done(item.key, item.facts(), result["output_sha256"], seconds, report)
        self.summary.done.append(FileResult(item.key, item.output, "done", None, round(seconds, 3), warnings))
        frames = report.get("frames")
        self.emit(
            "done", item.rel, {"output": item.output, "seconds": seconds, "frames": frames, "warnings": list(warnings)}
        )

    def record_failure(self, item: PlannedFile, message: str, seconds: float = 0.0) -> None:
        self.manifest.mark_failed(item.key, message, item.facts(), seconds)
        self.summary.failed.append(FileResult(item.key, None, "failed", message, round(seconds, 3)))
        self.emit("failed", item.rel, {"error": message})


def run_batch(
    input_dir: Path,
    output_dir: Path,
    settings: Settings,
    *,
    executor: str | Executor | None = None,
    jobs: int = 1,
    overwrite: bool = False,
    detector_factory: DetectorFactory | None = None,
    on_event: EventCallback | None = None,
    address: str | None = None,
    video_suffix: str = ".mp4",
) -> BatchSummary:
    """Redact every photo and video under ``input_dir`` into the same tree under ``output_dir``.

    ``executor``: a name from :data:`redact.parallel.executors.EXECUTORS` (created here and shut down at
    the end; ``address`` is the Dask scheduler for "dask"), an Executor you own, or None for
    "serial" when ``jobs`` is 1 and "process" otherwise. ``detector_factory(settings)`` builds
    each file's detectors in its worker (default: the settings' own detectors); it must be
    picklable for a process pool or Dask. One file failing never stops the others; see
    ``summary.failed``.
    """
    started = time.perf_counter()
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if video_suffix.lower() not in CONTAINERS:
        raise ConfigError(f"videos can be written as {', '.join(sorted(CONTAINERS))}, not {video_suffix}")
    pool = WorkerPool(executor, jobs=jobs, address=address)  # checks the executor before anything is written
    inp, out = check_folders(input_dir, output_dir)
    manifest = Manifest.load(out / MANIFEST_NAME, settings)
    manifest.data["input_dir"] = str(inp)
    summary = BatchSummary(str(input_dir), str(output_dir), str(manifest.path))
    run = BatchRun(
        settings, pool, manifest, summary, overwrite=overwrite, detector_factory=detector_factory, on_event=on_event
    )
    run.plan(inp, out, video_suffix)
    run.run()
    summary.seconds = time.perf_counter() - started
    return summary
