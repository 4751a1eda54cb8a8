"""The detection stage: which detectors run, on which frames, with which options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from redact.detections import KIND_CODES, Detections, Look
from redact.detectors.base import Detector, Sighted, create_detector
from redact.detectors.onnx import default_threads
from redact.settings import Settings

#: target name -> detector backend name in the registry, and the kind of box it yields
TARGET_BACKENDS = {"faces": "centerface", "plates": "plates", "text": "text"}
TARGET_KINDS = {"faces": "face", "plates": "plate", "text": "text"}

#: how often each target's full detector runs, per quality preset (1 = every frame).
#: Frames in between are covered by the tracker (prediction, interpolation, backfill).
SCHEDULE: dict[str, dict[str, int]] = {
    "fast": {"faces": 8, "plates": 24, "text": 24},
    "balanced": {"faces": 6, "plates": 16, "text": 16},
    "thorough": {"faces": 1, "plates": 1, "text": 2},
}
#: between full passes, detectors that have a cheap coarse pass (faces: the overview pass,
#: which finds close and medium faces) run it this often. Large faces move fastest across the
#: frame and get the frequent look; small, distant ones move a few pixels and get the full
#: pass every ``SCHEDULE`` frames. 0 = no coarse passes.
COARSE_EVERY: dict[str, int] = {"fast": 4, "balanced": 2, "thorough": 0}


def device_notes(detectors: Mapping[str, Detector]) -> list[str]:
    """What became of ``--device auto`` in each detector (e.g. an accelerator that did not start)."""
    return list(dict.fromkeys(note for d in detectors.values() for note in getattr(d, "notes", [])))


def build_detectors(settings: Settings) -> dict[str, Detector]:
    threads = settings.threads or default_threads()
    detectors: dict[str, Detector] = {}
    for target in settings.targets:
        options: dict[str, object] = {"threads": threads, "device": settings.device}
        if target in ("faces", "plates"):
            options["quality"] = settings.quality
        threshold = {"faces": settings.face_threshold, "plates": settings.plate_threshold}.get(target)
        if threshold is not None:
            options["threshold"] = threshold
        detectors[target] = create_detector(TARGET_BACKENDS[target], **options)
    return detectors


def intervals(settings: Settings, targets: list[str]) -> dict[str, int]:
    preset = SCHEDULE[settings.quality]
    overrides = {"faces": settings.face_every, "plates": settings.plate_every}
    return {t: overrides.get(t) or preset.get(t, 1) for t in targets}


def coarse_intervals(settings: Settings, targets: list[str]) -> dict[str, int]:
    return {t: COARSE_EVERY[settings.quality] for t in targets if t == "faces"}


def detection_stage(settings: Settings, detectors: Mapping[str, Detector]) -> DetectionStage:
    """The stage with the settings' schedule (preset, or --face-every/--plate-every)."""
    targets = list(detectors)
    return DetectionStage(detectors, intervals(settings, targets), coarse_intervals(settings, targets))


@dataclass
class Scan:
    """What the detection stage did on one frame: what it found (None: no detector was due) and
    where it looked (:class:`~redact.detections.Look`, for detectors that say what they see)."""

    found: Detections | None
    looks: list[Look] = field(default_factory=list)


class DetectionStage:
    """Runs each detector on its schedule: the full pass every ``every[target]`` frames (other
    targets than the first half an interval later, so heavy frames do not pile up), and the
    coarse pass (``detect_coarse``) every ``coarse[target]`` frames in between."""

    def __init__(
        self, detectors: Mapping[str, Detector], every: Mapping[str, int], coarse: Mapping[str, int] | None = None
    ) -> None:
        self.detectors = dict(detectors)
        self.every = {t: every.get(t, 1) for t in self.detectors}
        self.phase = {t: (0 if n == 0 else self.every[t] // 2) for n, t in enumerate(self.detectors)}
        self.coarse = {
            t: k
            for t, k in (coarse or {}).items()
            if t in self.detectors and 0 < k < self.every[t] and hasattr(self.detectors[t], "detect_coarse")
        }
        self.calls = dict.fromkeys(self.detectors, 0)
        self.coarse_calls = dict.fromkeys(self.coarse, 0)

    def run(self, index: int, image: np.ndarray, force: bool = False) -> Scan:
        """Detect on this frame if a detector is due (force: a first frame or a cut)."""
        parts, looks = [], []
        height, width = image.shape[:2]
        for target, detector in self.detectors.items():
            coarse = False
            if force or index % self.every[target] == self.phase[target]:
                parts.append(detector.detect(image))
                self.calls[target] += 1
            elif target in self.coarse and index % self.coarse[target] == 0:
                parts.append(detector.detect_coarse(image))  # type: ignore[attr-defined]
                self.coarse_calls[target] += 1
                coarse = True
            else:
                continue
            sight = detector.sight(height, width, coarse) if isinstance(detector, Sighted) else None
            if sight is not None:
                looks.append(Look(KIND_CODES[detector.kind], sight, (0.0, 0.0, float(width), float(height))))
        return Scan(Detections.merge(parts) if parts else None, looks)
