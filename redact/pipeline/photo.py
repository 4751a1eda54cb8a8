"""A photo: read upright (media.picture), the same detectors and styles as video, written with pixels only."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from redact.cover import styles
from redact.cover.regions import boxed, covered_mask, grow, margins
from redact.detections import KINDS, Detections
from redact.detectors.base import Detector
from redact.detectors.schedule import build_detectors, device_notes
from redact.errors import OutputError
from redact.media.outputs import check_output, write_file
from redact.media.picture import PHOTO_FORMATS, Picture, enable_heif, encode_picture, load_photo
from redact.pipeline.animated import frame_count, redact_animation
from redact.settings import Settings


@dataclass
class PhotoReport:
    input: str
    output: str | None
    settings: dict[str, Any]
    detections: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    frames: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def detect_photo(bgr: np.ndarray, detectors: Mapping[str, Detector]) -> Detections:
    """Every detector on one photo; a detector with a closer look for stills (``detect_still``:
    plates) uses it, as a photo is seen once where a video sees a plate again and again."""
    return Detections.merge(getattr(d, "detect_still", d.detect)(bgr) for d in detectors.values())


def cover_mask(shape: tuple[int, ...], found: Detections, settings: Settings) -> np.ndarray:
    """Which pixels the styles paint over (the same regions as styles.cover)."""
    return covered_mask(grow(found, margins(settings)), settings.shape, shape[0], shape[1], boxed(found))


def cover_picture(picture: Picture, view: np.ndarray, found: Detections, settings: Settings) -> None:
    """Cover the regions at the picture's own depth; clear what full transparency hid. ``view`` (the
    detectors' 8-bit picture) is covered in place: a large photo is not copied again."""
    covered = styles.cover(view, found, settings)
    if picture.colour.ndim == 3 and not picture.deep:
        picture.colour = covered
    elif len(found):
        new = cv2.cvtColor(covered, cv2.COLOR_BGR2GRAY) if picture.colour.ndim == 2 else covered
        if picture.deep:
            new = new.astype(np.uint16) * 257
        mask = cover_mask(view.shape, found, settings)
        picture.colour[mask] = new[mask]
    if picture.alpha is not None:
        picture.colour[picture.alpha == 0] = 0


def redact_photo(
    input_path: Path,
    output_path: Path,
    settings: Settings,
    *,
    overwrite: bool = False,
    detectors: Mapping[str, Detector] | None = None,
) -> PhotoReport:
    started = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    out_format = photo_output_format(input_path, output_path, overwrite)
    if input_path.exists() and frame_count(input_path) > 1:
        used = _or_built(detectors, settings)
        data, frames = redact_animation(input_path, out_format, settings, used)
        found, warnings = Detections.merge(frames), []
    else:
        view, picture = load_photo(input_path, settings.max_megapixels)  # a bad photo fails before models load
        used = _or_built(detectors, settings)
        found, frames = detect_photo(view, used), []
        cover_picture(picture, view, found, settings)
        data, warnings = encode_picture(picture, out_format), picture.warnings
    # encoded in memory, then written, synced and renamed: a full disk leaves nothing behind
    write_file(output_path, data, overwrite)
    report = PhotoReport(
        str(input_path), str(output_path), settings.to_dict(), warnings=[*warnings, *device_notes(used)]
    )
    report.frames = max(1, len(frames))
    for code, n in zip(*np.unique(found.kinds, return_counts=True)):
        report.detections[KINDS[code]] = int(n)
    report.seconds = time.perf_counter() - started
    return report


def _or_built(detectors: Mapping[str, Detector] | None, settings: Settings) -> Mapping[str, Detector]:
    return detectors if detectors is not None else build_detectors(settings)


def photo_output_format(input_path: Path, output_path: Path, overwrite: bool) -> str:
    """The output's image format; a refused output is refused before any work."""
    check_output(input_path, output_path, overwrite)
    out_format = PHOTO_FORMATS.get(output_path.suffix.lower())
    if out_format is None:
        raise OutputError(f"{output_path}: photos are written as {', '.join(sorted(PHOTO_FORMATS))}")
    if out_format == "HEIF" and not enable_heif():  # as for HEIC input
        raise OutputError(f"{output_path}: writing HEIC needs the optional extra: pip install 'redact[heic]'")
    return out_format
