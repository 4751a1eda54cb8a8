"""What runs inside a worker (a process-pool or Dask worker, or this process): its threads, its detectors, a batch job."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redact.detectors.base import Detector
from redact.errors import TruncatedInputError
from redact.media.outputs import file_sha256
from redact.settings import Settings

#: builds the detectors for a job; tests pass scripted ones, workers default to the settings' own
DetectorFactory = Callable[[Settings], Mapping[str, Detector]]

_DETECTOR_CACHE: list[tuple[str, dict[str, Detector]]] = []  # the last detectors built here, by settings


def cpu_count() -> int:
    """The cores this process may run on (its affinity, where the system says)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int) -> int:
    """Detector (ONNX Runtime) threads for each of ``jobs`` files running at once on this machine."""
    return max(1, cpu_count() // max(1, jobs))


def init_process_worker(threads: int) -> None:
    """Keep a pool worker's libraries to its share of the cores."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    try:
        import cv2

        cv2.setNumThreads(threads)
    except Exception:  # pragma: no cover - cv2 is a dependency; never fail a worker over a hint
        pass


def worker_threads_here() -> int | None:
    """Inside a Dask worker: this machine's cores shared among the worker's task threads; else None."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    nthreads = getattr(getattr(worker, "state", None), "nthreads", None) or getattr(worker, "nthreads", 1)
    return threads_per_job(int(nthreads or 1))


def job_settings(settings: Settings, threads: int | None) -> Settings:
    """The settings with this worker's detector threads, unless the user chose a number."""
    if settings.threads is None:
        threads = threads or worker_threads_here()
        if threads:
            return settings.replace(threads=threads)
    return settings


def job_detectors(settings: Settings, factory: DetectorFactory | None) -> dict[str, Detector]:
    """The factory's detectors, or the settings' own, built once per worker and reused for its next jobs."""
    if factory is not None:
        return dict(factory(settings))
    from redact.detectors.schedule import build_detectors

    key = json.dumps(settings.to_dict(), sort_keys=True, default=str)
    if _DETECTOR_CACHE and _DETECTOR_CACHE[0][0] == key:
        return _DETECTOR_CACHE[0][1]
    _DETECTOR_CACHE.clear()
    detectors = build_detectors(settings)
    _DETECTOR_CACHE.append((key, detectors))
    return detectors


@dataclass(frozen=True)
class Job:
    """Everything a worker needs for one file of a batch; plain data, so it pickles to any worker."""

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
