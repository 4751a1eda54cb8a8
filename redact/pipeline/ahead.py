"""Detection a few frames ahead of the tracker, in worker threads.

The schedule makes some frames heavy (a full face pass, a plate pass) and most light (a
coarse pass, or nothing). Run one after another in the tracking thread, a heavy frame holds
up everything behind it while a core waits; run ahead in workers, it overlaps the light
frames that follow. The tracker still takes every frame's detections in frame order, and
detectors that are not ``thread_safe`` (test scripts that count calls) run in order, at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

import numpy as np

from redact.detections import Detections
from redact.detectors.schedule import DetectionStage

#: frames detected ahead of the one being tracked: enough for a full pass to overlap the coarse
#: passes after it; each is one decoded frame held in memory
AHEAD_FRAMES = 4

#: a frame's detections (None: no detector was due) and the seconds its detectors took
Result = tuple[Detections | None, float]


def detect_workers() -> int:
    """Worker threads: two on any machine with two cores (each detector call uses ONNX Runtime's
    own threads as well); one core gets none, detection then runs in the tracking thread."""
    return min(2, os.cpu_count() or 1)


class DetectAhead:
    """Hands out each frame's detections as a call that waits for them (re-raising a worker's error)."""

    def __init__(self, stage: DetectionStage, workers: int | None = None) -> None:
        workers = detect_workers() if workers is None else workers
        self.stage = stage
        self.pool = ThreadPoolExecutor(workers, "redact-detect") if workers > 1 and stage.thread_safe else None
        self.frames_ahead = AHEAD_FRAMES if self.pool is not None else 0

    def submit(self, index: int, image: np.ndarray, force: bool) -> Callable[[], Result]:
        passes = self.stage.due(index, force)  # in frame order, here: the schedule's counts stay exact
        if not passes:
            return lambda: (None, 0.0)
        if self.pool is None:
            result = self._timed(passes, image)
            return lambda: result
        return self.pool.submit(self._timed, passes, image).result

    def _timed(self, passes: list[tuple[str, bool]], image: np.ndarray) -> Result:
        started = time.perf_counter()
        found = self.stage.execute(passes, image)
        return found, time.perf_counter() - started

    def close(self) -> None:
        """Drop frames not started; wait for those running (a detector call cannot be interrupted)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> DetectAhead:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
