"""`redact verify`: look again, as hard as we can, at a file about to be published.

Every frame is searched with the thorough preset; every face or plate still
found is reported with its frame, time, position and score, and so is any
identifying metadata or extra stream left in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import av

from redact.contact import Tile, contact_sheet
from redact.detections import KINDS, Detections
from redact.detect import build_detectors
from redact.detectors.base import Detector
from redact.media.source import VideoSource, probe
from redact.photo import detect_photo, is_photo, load_photo, photo_metadata
from redact.settings import Settings

#: container and stream tags that FFmpeg writes for structure and that identify no one
#: (compared in lower case: Matroska writes DURATION on every stream)
HARMLESS_TAGS = {"major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id", "language", "duration"}
#: the muxing-app name a bitexact Matroska/WebM file must carry; a versioned one is still reported
HARMLESS_VALUES = {("encoder", "Lavf")}
MAX_SHEET_FRAMES = 16


@dataclass
class Finding:
    kind: str
    score: float
    box: list[float]
    frame: int | None = None  # None for photos
    time: float | None = None


@dataclass
class VerifyReport:
    path: str
    frames_checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)
    sheet: str | None = None

    @property
    def clean(self) -> bool:
        return not self.findings and not self.metadata

    def to_dict(self) -> dict:
        return {**self.__dict__, "findings": [f.__dict__ for f in self.findings], "clean": self.clean}


def _harmless(key: str, value: str) -> bool:
    return key.lower() in HARMLESS_TAGS or (key.lower(), value) in HARMLESS_VALUES


def video_metadata(path: Path) -> list[str]:
    found: list[str] = []
    with av.open(str(path)) as container:
        for key, value in container.metadata.items():
            if not _harmless(key, value):
                found.append(f"container tag {key}={value!r}")
        for stream in container.streams:
            if stream.type not in ("video", "audio"):
                found.append(f"extra {stream.type} stream #{stream.index}")
            for key, value in stream.metadata.items():
                if not _harmless(key, value):
                    found.append(f"stream #{stream.index} tag {key}={value!r}")
    return found


def _findings(dets: Detections, frame: int | None, time: float | None) -> list[Finding]:
    return [
        Finding(KINDS[k], round(float(s), 3), [round(float(v), 1) for v in b], frame, time)
        for b, s, k in zip(dets.boxes, dets.scores, dets.kinds)
    ]


def verify(
    path: Path,
    settings: Settings | None = None,
    *,
    sheet_path: Path | None = None,
    detectors: Mapping[str, Detector] | None = None,
    every: int = 1,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> VerifyReport:
    path = Path(path)
    settings = (settings or Settings()).replace(quality="thorough")
    detectors = dict(detectors) if detectors is not None else build_detectors(settings)
    report = VerifyReport(str(path))
    tiles: list[Tile] = []
    if is_photo(path):
        image, _ = load_photo(path)
        dets = detect_photo(image, detectors)
        report.frames_checked = 1
        report.findings = _findings(dets, None, None)
        report.metadata = photo_metadata(path)
        if len(dets):
            tiles.append(Tile(image, dets, path.name))
    else:
        info = probe(path)
        report.metadata = video_metadata(path)
        with VideoSource(info, audio=False) as source:
            for item in source.items():
                if item.index % every:
                    continue
                dets = detect_photo(item.image, detectors)
                report.frames_checked += 1
                if len(dets):
                    seconds = item.seconds(info.time_base)
                    report.findings.extend(_findings(dets, item.index, round(seconds, 3)))
                    if len(tiles) < MAX_SHEET_FRAMES:
                        tiles.append(Tile(item.image.copy(), dets, f"frame {item.index}  {seconds:.2f}s"))
                if on_progress is not None:
                    on_progress(item.index + 1, info.frame_count)
    if tiles and sheet_path is not None:
        report.sheet = str(contact_sheet(tiles, sheet_path))
    return report
