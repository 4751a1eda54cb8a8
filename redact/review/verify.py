"""`redact verify`: look again, as hard as we can, at a file about to be published.

Every frame is searched with the thorough preset; every face or plate still
found is reported with its frame, time, position and score, and so is any
identifying metadata or extra stream left in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from redact.detections import KINDS, Detections
from redact.detectors.base import Detector
from redact.detectors.schedule import build_detectors
from redact.media.mux import harmless_tag
from redact.media.picture import is_photo, load_photo, photo_metadata
from redact.media.source import VideoSource, probe
from redact.pipeline.photo import detect_photo
from redact.review.contact import Tile, contact_sheet
from redact.settings import Settings

MAX_SHEET_FRAMES = 16
#: A finding is one of the tool's own covers when the middle of its box (the middle half each way,
#: where a face's eyes, nose and mouth sit) is mostly cover-like surface, and it is weak (scored below
#: COVER_LOOKALIKE_SCORE) or holds no eye-sized blob there. The cover styles paint smooth blends,
#: mosaic cells or one colour: almost no pixel-level variation is left, where any real photo, a
#: blurred face included, keeps noise and grain. Rims where a cover meets hair or a collar are
#: mostly texture in the middle, so they are kept (the safe side).
COVER_LOOKALIKE_SCORE = 0.5
#: cover-like surface: a pixel whose mean absolute difference from a 1 px Gaussian blur, over its
#: 5 x 5 neighbourhood, is below this many grey levels. Inside the tool's own blur covers of
#: faces_crowd_orig (JPEG quality 92): median 0.25, 75th percentile 0.33; in real faces >= 16 px of
#: that set: median 2.4, 5th percentile 0.44.
SURFACE_NOISE = 0.5
#: ... and below this share of the picture's own median variation: a picture smoothed as a whole
#: (a video at a low bit rate, a denoised photo) has smoother real faces too. On faces_crowd_orig
#: re-encoded as H.264 at crf 28 this keeps 4 of the 8 real faces >= 16 px the fixed limit alone dismissed.
SURFACE_SHARE_OF_MEDIAN = 0.5
COVER_SHARE = 0.5  # "mostly": at least half of the middle
#: an eye, nostril or mouth corner: a black-hat/top-hat (5 px disc) response of at least this in the
#: middle of the box at 32 x 32 grey. The tool's covers there: 0-3.
EYE_DETAIL = 4.0
DETAIL_SIZE = 32
#: narrower boxes are not judged (always reported): an eye there is a pixel or two, too little to
#: tell from a cover; 16 px is also where the face model starts calling a face recognisable
JUDGED_WIDTH = 16


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
    covers_dismissed: int = 0  # detections on the tool's own covered regions (cover-like surface)

    @property
    def clean(self) -> bool:
        return not self.findings and not self.metadata

    def to_dict(self) -> dict:
        return {**self.__dict__, "findings": [f.__dict__ for f in self.findings], "clean": self.clean}


def video_metadata(path: Path) -> list[str]:
    found: list[str] = []
    with av.open(str(path)) as container:
        for key, value in container.metadata.items():
            if not harmless_tag(key, value):
                found.append(f"container tag {key}={value!r}")
        for stream in container.streams:
            if stream.type not in ("video", "audio"):
                found.append(f"extra {stream.type} stream #{stream.index}")
            for key, value in stream.metadata.items():
                if not harmless_tag(key, value):
                    found.append(f"stream #{stream.index} tag {key}={value!r}")
    return found


def _middle(box: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """The middle half of a box each way, in pixels clipped to the image; None when under 4 x 4 (too small to judge)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = 0.25 * (x2 - x1), 0.25 * (y2 - y1)
    xa, ya = max(0, int(x1 + dx)), max(0, int(y1 + dy))
    xb, yb = min(shape[1], int(np.ceil(x2 - dx))), min(shape[0], int(np.ceil(y2 - dy)))
    return (xa, ya, xb, yb) if xb - xa >= 4 and yb - ya >= 4 else None


#: pixels of context around the middle for pixel_noise: its 1 px Gaussian reaches 4 px (OpenCV's
#: kernel for sigma 1 on float images is 9 wide) and its 5 x 5 neighbourhood 2 more, so with less
#: the middle's outer pixels were measured against the crop's mirrored border (4 px before)
CONTEXT = 6


def pixel_noise(grey: np.ndarray) -> np.ndarray:
    """Per pixel: the mean absolute difference from a 1 px Gaussian blur over its 5 x 5 neighbourhood."""
    grey = grey.astype(np.float32)
    return cv2.blur(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.0)), (5, 5))


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def surface_limit(image: np.ndarray) -> float:
    """Below this much pixel noise a pixel is cover-like surface in this picture."""
    return min(SURFACE_NOISE, SURFACE_SHARE_OF_MEDIAN * float(np.median(pixel_noise(_grey(image)))))


def cover_surface(image: np.ndarray, box: np.ndarray, limit: float = SURFACE_NOISE) -> float:
    """The share of the middle of a box that is cover-like surface (pixel noise under ``limit``)."""
    middle = _middle(box, image.shape)
    if middle is None:
        return 0.0  # too small to judge: keep the finding
    xa, ya, xb, yb = middle
    m = CONTEXT  # context for the blur and the neighbourhood
    x0, y0 = max(0, xa - m), max(0, ya - m)
    noise = pixel_noise(_grey(np.ascontiguousarray(image[y0 : yb + m, x0 : xb + m])))
    return float((noise[ya - y0 : yb - y0, xa - x0 : xb - x0] < limit).mean())


def middle_detail(image: np.ndarray, box: np.ndarray) -> float:
    """The strongest eye-sized blob (dark or bright, a few pixels wide at 32 x 32) in the middle of a box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    h, w = image.shape[:2]
    xa, ya, xb, yb = max(0, int(x1)), max(0, int(y1)), min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
    if xb - xa < 3 or yb - ya < 3:
        return float("inf")  # too small to judge: keep the finding
    grey = _grey(np.ascontiguousarray(image[ya:yb, xa:xb]))
    grey = cv2.resize(grey, (DETAIL_SIZE, DETAIL_SIZE), interpolation=cv2.INTER_AREA)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    blobs = np.maximum(cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, disc), cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, disc))
    q = DETAIL_SIZE // 4
    return float(blobs[q:-q, q:-q].max())


def cover_lookalike(image: np.ndarray, box: np.ndarray, score: float, limit: float = SURFACE_NOISE) -> bool:
    """Whether a finding is one of the tool's own covered regions rather than a face or plate left
    visible; ``limit``: the picture's surface_limit."""
    if float(box[2] - box[0]) < JUDGED_WIDTH or cover_surface(image, box, limit) < COVER_SHARE:
        return False
    return score < COVER_LOOKALIKE_SCORE or middle_detail(image, box) < EYE_DETAIL


def residual(image: np.ndarray, dets: Detections) -> tuple[Detections, int]:
    """The findings that may be a face or plate left visible, and how many were dismissed as
    the tool's own covered regions (see cover_lookalike)."""
    if not len(dets):
        return dets, 0
    limit = surface_limit(image)
    keep = np.array([not cover_lookalike(image, b, float(s), limit) for b, s in zip(dets.boxes, dets.scores)])
    return dets[keep], int((~keep).sum())


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
        dets, report.covers_dismissed = residual(image, detect_photo(image, detectors))
        report.frames_checked = 1
        report.findings = _findings(dets, None, None)
        report.metadata = photo_metadata(path)
        if len(dets):
            tiles.append(Tile(image, dets, path.name))
    else:
        info = probe(path)
        report.metadata = video_metadata(path)
        with VideoSource(info, audio=False) as source:
            for item in source.video_frames():
                if item.index % every:
                    continue
                dets, dismissed = residual(item.image, detect_photo(item.image, detectors))
                report.covers_dismissed += dismissed
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
