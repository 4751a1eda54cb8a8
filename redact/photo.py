"""Photos: orientation applied, the same detectors and styles as video, and nothing kept from the input's metadata.

EXIF (GPS, make, model, serial numbers, the embedded thumbnail that can show
the unredacted picture), XMP and IPTC are all dropped; only an ICC colour
profile is kept, since it says how to show colours and nothing about anyone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from redact import styles
from redact.detections import KINDS, Detections
from redact.detect import build_detectors
from redact.detectors.base import Detector
from redact.errors import InputError, OutputError
from redact.outputs import atomic_output, check_output
from redact.settings import Settings

PHOTO_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".heic": "HEIF", ".heif": "HEIF"}


def is_photo(path: Path) -> bool:
    return path.suffix.lower() in PHOTO_FORMATS


def _enable_heif() -> bool:
    try:
        from pillow_heif import register_heif_opener  # optional: pip install 'redact[heic]'
    except ImportError:
        return False
    register_heif_opener()
    return True


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


def load_photo(path: Path) -> tuple[np.ndarray, Image.Image]:
    """The upright picture as BGR, and the opened image (for its format and colour profile)."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() in (".heic", ".heif") and not _enable_heif():
        raise InputError(f"{path}: HEIC photos need the optional extra: pip install 'redact[heic]'")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InputError(f"{path}: not a photo, or corrupt") from exc
    upright = ImageOps.exif_transpose(image)
    rgb = np.asarray(upright.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1]), image


def detect_photo(bgr: np.ndarray, detectors: Mapping[str, Detector]) -> Detections:
    return Detections.merge(d.detect(bgr) for d in detectors.values())


def save_photo(bgr: np.ndarray, path: Path, fmt: str, icc_profile: bytes | None) -> None:
    """Write pixels only: no EXIF, XMP, IPTC, comments or thumbnails."""
    image = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    options: dict[str, Any] = {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if fmt == "JPEG":
        options.update(quality=92, subsampling=0)
    elif fmt == "WEBP":
        options.update(quality=92)
    elif fmt == "HEIF":
        options.update(quality=92)
    image.save(path, format=fmt, **options)


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
    check_output(input_path, output_path, overwrite)
    out_format = PHOTO_FORMATS.get(output_path.suffix.lower())
    if out_format is None:
        raise OutputError(f"{output_path}: photos are written as {', '.join(sorted(PHOTO_FORMATS))}")
    bgr, original = load_photo(input_path)
    detectors = dict(detectors) if detectors is not None else build_detectors(settings)
    found = detect_photo(bgr, detectors)
    styles.cover(bgr, found, settings)
    if out_format == "HEIF":
        _enable_heif()
    with atomic_output(output_path) as tmp:
        save_photo(bgr, tmp, out_format, original.info.get("icc_profile"))
    report = PhotoReport(str(input_path), str(output_path), settings.to_dict())
    for code, n in zip(*np.unique(found.kinds, return_counts=True)):
        report.detections[KINDS[code]] = int(n)
    report.seconds = time.perf_counter() - started
    return report


def photo_metadata(path: Path) -> list[str]:
    """Identifying metadata left in a photo, one description per finding (empty when clean)."""
    findings: list[str] = []
    if path.suffix.lower() in (".heic", ".heif"):
        _enable_heif()
    with Image.open(path) as image:
        exif = image.getexif()
        if len(exif):
            tags = sorted({Image.ExifTags.TAGS.get(k, str(k)) for k in exif})
            findings.append("EXIF: " + ", ".join(tags[:12]) + (" ..." if len(tags) > 12 else ""))
        if exif.get_ifd(Image.ExifTags.IFD.GPSInfo):
            findings.append("EXIF GPS position")
        for key in ("xmp", "XML:com.adobe.xmp", "photoshop", "iptc", "comment", "exif"):
            if image.info.get(key):
                findings.append(f"{key} block")
        for key, value in image.info.items():
            if isinstance(key, str) and key.lower() in ("author", "description", "software", "creation time", "location", "comment") and value:
                findings.append(f"text chunk {key}")
    return sorted(set(findings))

