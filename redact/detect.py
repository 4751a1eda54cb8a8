"""The detection stage: which detectors run, on which frames, with which options."""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np

from redact.detections import Detections
from redact.detectors.base import Detector, create_detector
from redact.settings import Settings

#: target name -> detector backend name in the registry, and the kind of box it yields
TARGET_BACKENDS = {"faces": "centerface", "plates": "plates", "text": "text"}
TARGET_KINDS = {"faces": "face", "plates": "plate", "text": "text"}

#: how often each target's detector runs, per quality preset (1 = every frame).
#: Frames in between are covered by the tracker (prediction, interpolation, backfill).
SCHEDULE: dict[str, dict[str, int]] = {
    "fast": {"faces": 3, "plates": 6, "text": 6},
    "balanced": {"faces": 2, "plates": 4, "text": 4},
    "thorough": {"faces": 1, "plates": 1, "text": 2},
}


def default_threads() -> int:
    # decoding and encoding run beside detection; leave them a core on small machines
    cores = os.cpu_count() or 2
    return max(1, cores - 1) if cores <= 4 else cores - 2


def build_detectors(settings: Settings) -> dict[str, Detector]:
    threads = settings.threads or default_threads()
    detectors: dict[str, Detector] = {}
    for target in settings.targets:
        options: dict[str, object] = {"threads": threads, "device": settings.device}
        if target == "faces":
            options["quality"] = settings.quality
            if settings.face_threshold is not None:
                options["threshold"] = settings.face_threshold
        elif target == "plates" and settings.plate_threshold is not None:
            options["threshold"] = settings.plate_threshold
        detectors[target] = create_detector(TARGET_BACKENDS[target], **options)
    return detectors


def intervals(settings: Settings, targets: list[str]) -> dict[str, int]:
    preset = SCHEDULE[settings.quality]
    overrides = {"faces": settings.face_every, "plates": settings.plate_every}
    return {t: overrides.get(t) or preset.get(t, 1) for t in targets}


class DetectionStage:
    def __init__(self, detectors: Mapping[str, Detector], every: Mapping[str, int]) -> None:
        self.detectors = dict(detectors)
        self.every = {t: every.get(t, 1) for t in self.detectors}
        self.calls = {t: 0 for t in self.detectors}

    def run(self, index: int, image: np.ndarray, force: bool = False) -> Detections | None:
        """Detections for this frame, or None when no detector was due (force: a first frame or a cut)."""
        due = [t for t, k in self.every.items() if force or index % k == 0]
        if not due:
            return None
        parts = []
        for target in due:
            parts.append(self.detectors[target].detect(image))
            self.calls[target] += 1
        return Detections.merge(parts)
