"""Where the tool painted, and whether the pixels there are its paint.

Two sources. Without the run's detections file, a region is judged by its pixels alone: the cover
styles paint smooth blends, mosaic cells or one colour, with almost no pixel-level variation left,
where every real photo, a blurred face included, keeps noise and grain (``cover_surface``). With
the detections file (``CoverPlan``), verify knows the exact region each frame's cover painted (the
same label map the styles paint through) and checks that the pixels inside it are still cover-like:
a face pasted back, or a frame the cover did not reach, fails that check and counts as uncovered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from redact.boxes import clip_spans
from redact.cover.regions import boxed, grow, label_map, margins
from redact.cover.styles import PIXELATE_GRID
from redact.errors import DetectionsFileError
from redact.media.source import VideoInfo
from redact.review import detections_file
from redact.settings import Settings

#: cover-like surface: a pixel whose mean absolute difference from a 1 px Gaussian blur, over its
#: 5 x 5 neighbourhood, is below this many grey levels. Inside the tool's own blur covers of
#: faces_crowd_orig (JPEG quality 92): median 0.25, 75th percentile 0.33; in real faces >= 16 px of
#: that set: median 2.4, 5th percentile 0.44.
SURFACE_NOISE = 0.5
#: ... and below this share of the picture's own median variation: a picture smoothed as a whole
#: (a video at a low bit rate, a denoised photo) has smoother real faces too. On faces_crowd_orig
#: re-encoded as H.264 at crf 28 this keeps 4 of the 8 real faces >= 16 px the fixed limit alone dismissed.
SURFACE_SHARE_OF_MEDIAN = 0.5
#: pixels of context around the middle for pixel_noise: its 1 px Gaussian reaches 4 px (OpenCV's
#: kernel for sigma 1 on float images is 9 wide) and its 5 x 5 neighbourhood 2 more
CONTEXT = 6
#: a mosaic cell's pixels lie within this many grey levels of the cell's median (codec noise)
CELL_TOLERANCE = 8
#: a solid fill's pixels lie within this many levels of its colour
FILL_TOLERANCE = 24


def middle(box: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """The middle half of a box each way (where a face's eyes, nose and mouth sit), in pixels clipped
    to the image; None when under 4 x 4 (too small to judge)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = 0.25 * (x2 - x1), 0.25 * (y2 - y1)
    xa, ya = max(0, int(x1 + dx)), max(0, int(y1 + dy))
    xb, yb = min(shape[1], int(np.ceil(x2 - dx))), min(shape[0], int(np.ceil(y2 - dy)))
    return (xa, ya, xb, yb) if xb - xa >= 4 and yb - ya >= 4 else None


def pixel_noise(grey: np.ndarray) -> np.ndarray:
    """Per pixel: the mean absolute difference from a 1 px Gaussian blur over its 5 x 5 neighbourhood."""
    grey = grey.astype(np.float32)
    return cv2.blur(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.0)), (5, 5))


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def surface_limit(image: np.ndarray) -> float:
    """Below this much pixel noise a pixel is cover-like surface in this picture (the median is taken
    over every 4th pixel each way: the same figure to a few hundredths, at a sixteenth of the cost)."""
    return min(SURFACE_NOISE, SURFACE_SHARE_OF_MEDIAN * float(np.median(pixel_noise(grey(image))[::4, ::4])))


def middle_noise(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """pixel_noise over the middle of a box (measured with the context its filters reach), and the middle."""
    span = middle(box, image.shape)
    if span is None:
        return None
    xa, ya, xb, yb = span
    x0, y0 = max(0, xa - CONTEXT), max(0, ya - CONTEXT)
    noise = pixel_noise(grey(np.ascontiguousarray(image[y0 : yb + CONTEXT, x0 : xb + CONTEXT])))
    return noise[ya - y0 : yb - y0, xa - x0 : xb - x0], span


def cover_surface(image: np.ndarray, box: np.ndarray, limit: float = SURFACE_NOISE) -> float:
    """The share of the middle of a box that is cover-like surface (pixel noise under ``limit``)."""
    measured = middle_noise(image, box)
    return 0.0 if measured is None else float((measured[0] < limit).mean())


@dataclass
class CoverPlan:
    """What the run's detections file says was painted in each frame of this output."""

    path: Path
    plan: detections_file.Plan
    settings: Settings

    def labels(self, index: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """The frame's label map (region index per pixel, -1 uncovered) and the regions' pixel spans."""
        dets = self.plan.detections(index, width, height)
        boxes = grow(dets, margins(self.settings))
        spans, _ = clip_spans(boxes, width, height)
        return label_map(boxes, self.settings.shape, height, width, boxed(dets)), spans

    def covered_share(
        self, image: np.ndarray, regions: tuple[np.ndarray, np.ndarray], box: np.ndarray, limit: float
    ) -> tuple[float, float]:
        """Of the middle of ``box``: the share the run painted (``regions``: this frame's ``labels``),
        and the share that is painted and still holds the cover's pixels (see ``cover_pixels``)."""
        measured = middle_noise(image, box)
        if measured is None:
            return 0.0, 0.0
        noise, (xa, ya, xb, yb) = measured
        labels, spans = regions
        region = labels[ya:yb, xa:xb]
        painted = region >= 0
        if not painted.any():
            return 0.0, 0.0
        held = painted & cover_pixels(image[ya:yb, xa:xb], noise, region, spans, (xa, ya), self.settings.style, limit)
        return float(painted.mean()), float(held.mean())


def cover_pixels(
    crop: np.ndarray,
    noise: np.ndarray,
    region: np.ndarray,
    spans: np.ndarray,
    origin: tuple[int, int],
    style: str,
    limit: float,
) -> np.ndarray:
    """Which pixels of ``crop`` look like the cover ``style`` paints: one colour (fill), one colour per
    mosaic cell of their region (pixelate), or a smooth surface (blur)."""
    if style == "fill":
        return np.abs(crop.astype(np.int16)).max(axis=2) <= FILL_TOLERANCE
    if style != "pixelate":
        return noise < max(limit, SURFACE_NOISE)
    ys, xs = np.nonzero(region >= 0)
    out = np.zeros(region.shape, bool)
    k = region[ys, xs]
    s = spans[k]
    gx, gy = xs + origin[0], ys + origin[1]
    cu = np.minimum(((gx - s[:, 0]) * PIXELATE_GRID) // np.maximum(s[:, 2] - s[:, 0], 1), PIXELATE_GRID - 1)
    cv = np.minimum(((gy - s[:, 1]) * PIXELATE_GRID) // np.maximum(s[:, 3] - s[:, 1], 1), PIXELATE_GRID - 1)
    cell = (k * PIXELATE_GRID + cv) * PIXELATE_GRID + cu
    values = grey(crop)[ys, xs].astype(np.int16)
    for c in np.unique(cell):
        here = cell == c
        out[ys[here], xs[here]] = np.abs(values[here] - np.median(values[here])) <= CELL_TOLERANCE
    return out


def tracks_beside(output: Path) -> list[Path]:
    """Detections files a run may have left beside ``output``: OUTPUT.detections.json, and for an
    output named NAME.redacted.EXT the input's NAME.*.detections.json (as `redact detect`, `review`
    and `--save-tracks` name them)."""
    found = [output.with_name(output.name + ".detections.json")]
    stem, dot, _ = output.name.rpartition(".redacted.")
    if dot:
        found += sorted(output.parent.glob(f"{glob_escape(stem)}.*detections.json"))
    return [p for p in dict.fromkeys(found) if p.is_file()]


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def load_plan(path: Path, info: VideoInfo) -> CoverPlan:
    """The detections file of the run that wrote this output: same frame size, count and timestamps
    (the output keeps every frame's timestamp); its input's checksum is not the output's, so not compared."""
    plan, data = detections_file.load(path, info, check_hash=False)
    if info.frame_count is not None and plan.frame_count != info.frame_count:
        raise DetectionsFileError(
            f"detections file: {path} lists {plan.frame_count} frames, this video has {info.frame_count}"
        )
    known = {k: v for k, v in (data.get("settings") or {}).items() if k in Settings.__dataclass_fields__}
    try:
        settings = Settings(**known)
    except Exception as exc:  # settings the file holds that this version refuses
        raise DetectionsFileError(f"detections file: {path}: its settings cannot be used ({exc})") from exc
    return CoverPlan(path, plan, settings)


def find_plan(output: Path, info: VideoInfo, named: Path | None) -> tuple[CoverPlan | None, list[str]]:
    """The plan from ``named`` (an error if it does not fit), else the first file beside the output
    that fits; notes say which files were passed over and why."""
    if named is not None:
        return load_plan(named, info), []
    notes: list[str] = []
    for path in tracks_beside(output):
        try:
            return load_plan(path, info), notes
        except DetectionsFileError as exc:
            notes.append(f"{path.name} not used: {exc}")
    return None, notes
