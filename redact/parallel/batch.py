"""Redact a whole folder: every photo and video, an output tree that mirrors it, and a manifest to resume by.

The manifest (``redact-manifest.json`` in the output folder) is rewritten
atomically after every file. For each input (by path relative to the input
folder) it records the status, the settings, the input's and output's SHA-256,
the time taken and any error. Running the same batch again skips a file only
when its entry is ``done`` with the same input hash and settings and its output
is still there with the recorded hash; everything else is redone, failed files
included. An entry is marked ``running`` just before its file is handed to a
worker, so after a killed run the outputs it may have left are known to be
redact's own and are replaced (an output redact did not write is replaced only
with ``overwrite``).

A file that fails never leaves an output: redact_video and redact_photo write
through a temporary file, and after a worker crash the temporary file (and an
output that no finished entry vouches for) is removed here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, CancelledError, Executor, Future, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redact.errors import ConfigError, InputError, OutputError, RedactError, TruncatedInputError
from redact.media.outputs import file_sha256, partial_affixes
from redact.media.picture import is_photo
from redact.media.sink import CONTAINERS
from redact.parallel.executors import check_executor, create_executor
from redact.parallel.worker import DetectorFactory, job_detectors, job_settings
from redact.settings import Settings

MANIFEST_NAME = "redact-manifest.json"
MANIFEST_FORMAT = "redact-batch-manifest"
MANIFEST_VERSION = 1
#: video inputs we look for (any PyAV can decode; these are the usual camera and archive types)
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mts", ".m2ts", ".3gp", ".mpg", ".mpeg"}
)
#: settings that change how fast a file is done (or what is accepted), not what comes out; a change does not redo a file
COMPUTE_ONLY = ("threads", "max_megapixels", "allow_truncated")

#: on_event(kind, path relative to the input folder, detail). Kinds: "plan" (path "."; detail
#: files/ignored counts), "ignored", "skipped", "start", "done", "failed".
EventCallback = Callable[[str, Path, dict[str, Any]], None]
#: builds a file's detectors inside the worker from its settings; must be picklable (a module-level function)


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


# -- finding the files ----------------------------------------------------------------------


def media_kind(path: Path) -> str | None:
    if is_photo(path):
        return "photo"
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return "video"
    return None


def discover(input_dir: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Photos and videos under ``input_dir`` (relative paths, sorted), and what was left out and why.

    Hidden files and folders (names starting with ".", such as macOS ``._`` files) are
    left out; symlinked folders are not followed (they could loop or leave the folder).
    """
    found: list[Path] = []
    ignored: list[tuple[Path, str]] = []

    def walk_error(exc: OSError) -> None:
        raise InputError(f"{exc.filename}: cannot list folder ({exc.strerror or exc})")

    for folder, dirs, files in os.walk(input_dir, onerror=walk_error):
        here = Path(folder)
        keep = []
        for d in sorted(dirs):
            if d.startswith("."):
                continue
            if (here / d).is_symlink():
                ignored.append(((here / d).relative_to(input_dir), "symlinked folder not followed"))
                continue
            keep.append(d)
        dirs[:] = keep
        for name in sorted(files):
            if name.startswith("."):
                continue
            rel = (here / name).relative_to(input_dir)
            if media_kind(rel) is None:
                ignored.append((rel, "not a photo or video type"))
            else:
                found.append(rel)
    return sorted(found, key=lambda p: p.as_posix()), ignored


def output_names(files: list[Path], video_suffix: str) -> dict[Path, Path | str]:
    """Output path (relative) for each input; videos get ``video_suffix``, photos keep theirs.

    When two inputs would land on one output (``a.mov`` and ``a.mp4``), the one whose type
    changes keeps its old extension in the name (``a.mov.mp4``); a clash left after that is an
    error message in place of a path.
    """

    def first_choice(rel: Path) -> Path:
        return rel.with_suffix(video_suffix) if media_kind(rel) == "video" else rel

    def clashes(names: dict[Path, Path | str]) -> list[list[Path]]:
        by_target: dict[str, list[Path]] = {}
        for rel, out in names.items():
            if isinstance(out, Path):
                by_target.setdefault(out.as_posix().lower(), []).append(rel)
        return [group for group in by_target.values() if len(group) > 1]

    names: dict[Path, Path | str] = {rel: first_choice(rel) for rel in files}
    for group in clashes(names):
        for rel in group:
            if media_kind(rel) == "video" and rel.suffix.lower() != video_suffix.lower():
                names[rel] = rel.with_name(rel.name + video_suffix)
    for group in clashes(names):
        for rel in group:
            others = ", ".join(o.as_posix() for o in group if o != rel)
            names[rel] = f"its output {Path(names[rel]).as_posix()} would also be written for {others}; rename one"
    return names


# -- hashes, the manifest and stray files ------------------------------------------------------


def settings_key(settings: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in settings.items() if k not in COMPUTE_ONLY}
    return json.dumps(kept, sort_keys=True, default=str)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_manifest(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "files": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: cannot read the batch manifest ({exc}); move it away to start afresh") from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("files"), dict):
        raise OutputError(f"{path}: is not a redact batch manifest; move it away or choose another output folder")
    if data.get("version") != MANIFEST_VERSION:
        raise OutputError(
            f"{path}: manifest version {data.get('version')} is not {MANIFEST_VERSION}; move it away to start afresh"
        )
    return data


def save_manifest(path: Path, data: dict[str, Any]) -> None:
    """Write the whole manifest beside itself, flush it to disk, then rename it into place."""
    data["updated"] = _now()
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(name)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write the batch manifest ({exc.strerror or exc})") from exc
        raise


_PARTIAL_MIDDLE = re.compile(r"[A-Za-z0-9_]{8}")


def remove_partials(output_path: Path) -> list[Path]:
    """Delete temporary files that a crashed writer of ``output_path`` left (see outputs.atomic_output)."""
    prefix, end = partial_affixes(output_path)
    removed = []
    try:
        names = os.listdir(output_path.parent)
    except OSError:
        return removed
    for name in names:
        if name.startswith(prefix) and name.endswith(end) and _PARTIAL_MIDDLE.fullmatch(name[len(prefix) : -len(end)]):
            with contextlib.suppress(OSError):
                os.unlink(output_path.parent / name)
                removed.append(output_path.parent / name)
    return removed


# -- the job a worker runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """Everything a worker needs for one file; plain data, so it pickles to any worker."""

    path: str  # relative, for messages
    kind: str  # video or photo
    input: str
    output: str
    settings: Settings
    overwrite: bool
    detector_factory: DetectorFactory | None = None
    threads: int | None = None  # detector threads for this file; None: settings' or the worker's choice


def run_job(job: Job) -> dict[str, Any]:
    """Redact one file in this process; returns its report, output hash and time. Raises on failure."""
    from redact.pipeline.photo import redact_photo
    from redact.pipeline.video import redact_video

    started = time.perf_counter()
    settings = job_settings(job.settings, job.threads)
    detectors = job_detectors(settings, job.detector_factory)
    redact = redact_video if job.kind == "video" else redact_photo
    report = redact(Path(job.input), Path(job.output), settings, overwrite=job.overwrite, detectors=detectors)
    truncated = getattr(report, "truncated", None)
    if truncated and not settings.allow_truncated:  # in a batch, a cut-short file fails (and leaves no output)
        raise TruncatedInputError(f"{truncated} (allow_truncated = true in a config file accepts it)")
    if truncated:
        report.warnings.append(truncated)
    output_sha256 = file_sha256(Path(job.output))
    return {"report": report.to_dict(), "output_sha256": output_sha256, "seconds": time.perf_counter() - started}


# -- the batch ---------------------------------------------------------------------------------


def check_folders(input_dir: Path, output_dir: Path) -> tuple[Path, Path]:
    if not input_dir.exists():
        raise InputError(f"{input_dir}: no such folder")
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: is not a folder")
    inp = input_dir.resolve()
    out = output_dir.resolve()
    if out == inp:
        raise OutputError(f"{output_dir}: is the input folder; choose a separate output folder")
    if out.is_relative_to(inp):
        raise OutputError(
            f"{output_dir}: is inside the input folder {input_dir} (its outputs would become inputs); choose a folder outside it"
        )
    if inp.is_relative_to(out):
        raise OutputError(f"{output_dir}: contains the input folder {input_dir}; choose a folder outside it")
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{output_dir}: cannot create the output folder ({exc.strerror or exc})") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{output_dir}: output folder is not writable")
    return inp, out


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
class _Planned:
    rel: Path
    key: str  # rel as posix
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


def run_batch(
    input_dir: Path,
    output_dir: Path,
    settings: Settings,
    *,
    jobs: int = 1,
    executor: str | Executor | None = None,
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
    owned = not isinstance(executor, Executor)
    name = executor if isinstance(executor, str) else ("serial" if jobs == 1 else "process")
    if owned:
        check_executor(name, jobs)  # before anything is written
    inp, out = check_folders(input_dir, output_dir)
    manifest_path = out / MANIFEST_NAME
    manifest = load_manifest(manifest_path)
    manifest["input_dir"] = str(inp)
    entries: dict[str, dict[str, Any]] = manifest["files"]
    settings_dict = json.loads(json.dumps(settings.to_dict(), default=str))
    key_now = settings_key(settings_dict)
    summary = BatchSummary(str(input_dir), str(output_dir), str(manifest_path))

    def emit(kind: str, rel: Path, detail: dict[str, Any]) -> None:
        if on_event is not None:
            on_event(kind, rel, detail)

    files, ignored = discover(inp)
    emit("plan", Path("."), {"files": len(files), "ignored": len(ignored)})
    for rel, reason in ignored:
        emit("ignored", rel, {"reason": reason})
    summary.ignored = [f"{rel.as_posix()}: {reason}" for rel, reason in ignored]

    def record_failure(item: _Planned, message: str, seconds: float = 0.0) -> None:
        entries[item.key] = {
            "status": "failed",
            "kind": item.kind,
            "output": item.output_rel.as_posix(),
            "settings": settings_dict,
            "input_sha256": item.input_sha256,
            "input_size": item.input_size,
            "output_sha256": None,
            "seconds": round(seconds, 3),
            "error": message,
            "finished": _now(),
        }
        save_manifest(manifest_path, manifest)
        summary.failed.append(FileResult(item.key, None, "failed", message, round(seconds, 3)))
        emit("failed", item.rel, {"error": message})

    queue: deque[_Planned] = deque()
    for rel, target in output_names(files, video_suffix).items():
        key = rel.as_posix()
        if isinstance(target, str):
            summary.failed.append(FileResult(key, None, "failed", target))
            emit("failed", rel, {"error": target})
            continue
        queue.append(_Planned(rel, key, media_kind(rel) or "", target, inp / rel, out / target))
    if summary.failed:  # name clashes: record them (nothing of theirs is written)
        for result in summary.failed:
            entries[result.path] = {
                "status": "failed",
                "error": result.error,
                "settings": settings_dict,
                "finished": _now(),
            }
        save_manifest(manifest_path, manifest)

    def is_current(item: _Planned, entry: Mapping[str, Any] | None) -> bool:
        if not entry or entry.get("status") != "done" or entry.get("output") != item.output_rel.as_posix():
            return False
        if settings_key(entry.get("settings") or {}) != key_now or entry.get("input_sha256") != item.input_sha256:
            return False
        if not item.output_path.is_file():
            return False
        try:
            return file_sha256(item.output_path) == entry.get("output_sha256")
        except OSError:
            return False

    def prepare(item: _Planned) -> bool:
        """Hash the input and decide; True when the file is to be redacted now."""
        try:
            item.input_size = item.input_path.stat().st_size
            item.input_sha256 = file_sha256(item.input_path)
        except OSError as exc:
            record_failure(item, f"{item.input_path}: cannot read ({exc.strerror or exc})")
            return False
        entry = entries.get(item.key)
        if is_current(item, entry):
            summary.skipped.append(FileResult(item.key, item.output_rel.as_posix(), "skipped", seconds=0.0))
            emit("skipped", item.rel, {"output": item.output_rel.as_posix()})
            return False
        ours = bool(entry) and entry.get("output") == item.output_rel.as_posix()
        item.existed_before = item.output_path.exists() or item.output_path.is_symlink()
        item.overwrite = overwrite or (ours and item.output_path.is_file())
        try:
            item.output_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            record_failure(item, f"{item.output_path.parent}: cannot create folder ({exc.strerror or exc})")
            return False
        remove_partials(item.output_path)
        entries[item.key] = {
            "status": "running",
            "kind": item.kind,
            "output": item.output_rel.as_posix(),
            "settings": settings_dict,
            "input_sha256": item.input_sha256,
            "input_size": item.input_size,
            "started": _now(),
        }
        save_manifest(manifest_path, manifest)
        return True

    def discard(item: _Planned) -> None:
        """Remove what a failed attempt left: temporary files, and an output no "done" entry vouches for."""
        remove_partials(item.output_path)
        # (a worker that died just after renaming its output into place leaves a whole file)
        if (not item.existed_before or item.overwrite) and (
            item.output_path.is_file() or item.output_path.is_symlink()
        ):
            with contextlib.suppress(OSError):
                item.output_path.unlink()

    def finish(item: _Planned, future: Future) -> None:
        try:
            result = future.result()
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            discard(item)
            record_failure(item, error_message(exc), time.perf_counter() - item.submitted if item.submitted else 0.0)
            return
        remove_partials(item.output_path)  # from an earlier attempt on a worker that died (Dask retries)
        report = result["report"]
        entries[item.key] = {
            "status": "done",
            "kind": item.kind,
            "output": item.output_rel.as_posix(),
            "settings": settings_dict,
            "input_sha256": item.input_sha256,
            "input_size": item.input_size,
            "output_sha256": result["output_sha256"],
            "seconds": round(result["seconds"], 3),
            "frames": report.get("frames"),
            "warnings": list(report.get("warnings") or []),
            "error": None,
            "finished": _now(),
        }
        save_manifest(manifest_path, manifest)
        summary.done.append(
            FileResult(
                item.key,
                item.output_rel.as_posix(),
                "done",
                None,
                round(result["seconds"], 3),
                list(report.get("warnings") or []),
            )
        )
        emit(
            "done",
            item.rel,
            {
                "output": item.output_rel.as_posix(),
                "seconds": result["seconds"],
                "frames": report.get("frames"),
                "warnings": report.get("warnings") or [],
            },
        )

    def new_executor() -> Executor:
        return create_executor(name, jobs=jobs, address=address)

    # An executor of our own is started only when a file needs it (a run with nothing to redo starts none).
    pool: Executor | None = None if owned else executor  # type: ignore[assignment]
    window = 1
    worker_threads: int | None = None

    def sized(ex: Executor) -> None:
        nonlocal window, worker_threads
        workers = getattr(ex, "workers", None) or getattr(ex, "_max_workers", None) or jobs
        # files handed out at once: enough to keep every worker busy while this process hashes the next
        window = 1 if getattr(ex, "serial", False) else 2 * workers
        worker_threads = getattr(ex, "worker_threads", None)

    if pool is not None:
        sized(pool)
    elif name == "serial":
        window = 1
    else:
        window = 2 * jobs
    inflight: dict[Future, _Planned] = {}

    def can_submit() -> bool:
        # a file that was in a process pool when it died runs again alone, so only the file that
        # kills its worker fails, not the ones that happened to share the pool with it
        if not queue or len(inflight) >= window or any(i.suspect for i in inflight.values()):
            return False
        return not (queue[0].suspect and inflight)

    try:
        while queue or inflight:
            while can_submit():
                item = queue.popleft()
                if not prepare(item):
                    continue
                if pool is None:
                    pool = new_executor()
                    sized(pool)
                job = Job(
                    item.key,
                    item.kind,
                    str(item.input_path),
                    str(item.output_path),
                    settings,
                    item.overwrite,
                    detector_factory,
                    worker_threads,
                )
                emit(
                    "start", item.rel, {"output": item.output_rel.as_posix(), "kind": item.kind, "retry": item.suspect}
                )
                item.submitted = time.perf_counter()
                try:
                    future = pool.submit(run_job, job)
                except BrokenExecutor as exc:
                    failed: Future = Future()
                    failed.set_exception(exc)
                    future = failed
                inflight[future] = item
            if not inflight:
                continue
            finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            if owned and pool is not None and any(isinstance(f.exception(), BrokenExecutor) for f in finished):
                # the pool died: everything in it failed with it. Try each of those again alone in
                # a new pool; one that dies alone is the cause, and fails.
                pool.shutdown(wait=True)
                pool = None
                retry = []
                for future, item in sorted(inflight.items(), key=lambda fi: fi[1].key):
                    if isinstance(future.exception(), BrokenExecutor) and not item.suspect:
                        discard(item)
                        item.suspect = True
                        retry.append(item)
                    else:
                        finish(item, future)
                inflight.clear()
                queue.extendleft(reversed(retry))
                continue
            for future in sorted(finished, key=lambda f: inflight[f].key):
                finish(inflight.pop(future), future)
    except BaseException:
        # interrupted (Ctrl-C) or a failure of the batch itself: stop, settle every file in flight
        for future in inflight:
            future.cancel()
        interrupted = isinstance(sys.exc_info()[1], KeyboardInterrupt)
        if owned and pool is not None:
            with contextlib.suppress(Exception):
                # interrupted: the workers are ended now, and the files they had are cancelled, not "died"
                pool.stop() if interrupted and hasattr(pool, "stop") else pool.shutdown(wait=True, cancel_futures=True)
            pool = None
        for future, item in list(inflight.items()):
            with contextlib.suppress(BaseException):
                if future.done() and not future.cancelled() and future.exception() is None:
                    finish(item, future)
                else:
                    if interrupted or not future.done() or future.cancelled():
                        cancelled: Future = Future()
                        cancelled.set_exception(CancelledError())
                        future = cancelled
                    finish(item, future)
        raise
    finally:
        if owned and pool is not None:
            pool.shutdown(wait=True)
    summary.seconds = time.perf_counter() - started
    return summary
