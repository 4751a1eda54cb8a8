"""From detector boxes to the regions that get covered: grown to the whole head or plate, clipped exactly."""

from __future__ import annotations

import cv2
import numpy as np

from redact.boxes import clip_spans
from redact.detections import KIND_CODES, Detections
from redact.settings import Settings

# Faces: CenterFace boxes run from brow to chin; hair sits above, so grow upwards more.
_UP_BIAS = {KIND_CODES["face"]: 1.4}
#: Faces also grow by this many pixels per side: a detector's box is off by a few pixels
#: whatever the face's size, so small faces need a larger share than the margin alone, while a
#: large face's margin stays a share of it (a crowd's regions stay the size of its faces).
FACE_MARGIN_PX = 4.0


def margins(settings: Settings) -> dict[int, float]:
    """Margin per kind code: faces grow to the whole head, plates and text to their border."""
    return {
        KIND_CODES["face"]: settings.face_margin,
        KIND_CODES["plate"]: settings.plate_margin,
        KIND_CODES["text"]: settings.plate_margin,
        KIND_CODES["manual"]: 0.0,
    }


def _per_kind(table: dict[int, float], kinds: np.ndarray, default: float) -> np.ndarray:
    lookup = np.full(len(KIND_CODES), default, dtype=np.float32)
    for code, value in table.items():
        lookup[code] = value
    return lookup[kinds]


def grow(detections: Detections, margins: dict[int, float]) -> np.ndarray:
    """Boxes grown by ``margin`` x size on each side (per kind code; faces also by
    ``FACE_MARGIN_PX``), unclipped, float x1 y1 x2 y2. A box the tracker guessed comes already
    sized by its uncertainty (redact.tracking.params.TrackerParams), so it grows like any other."""
    boxes = detections.boxes.astype(np.float32, copy=True)
    if not len(boxes):
        return boxes
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    m = _per_kind(margins, detections.kinds, 0.0)
    faces = (detections.kinds == KIND_CODES["face"]) & (m > 0)
    m = np.where(faces, m + FACE_MARGIN_PX / np.maximum((w + h) / 2, 1.0), m)
    up = _per_kind(_UP_BIAS, detections.kinds, 1.0)
    boxes[:, 0] -= m * w
    boxes[:, 2] += m * w
    boxes[:, 1] -= m * h * up
    boxes[:, 3] += m * h
    return boxes


#: fixed-point bits for OpenCV's drawing: ellipses are placed to 1/16 px
_SHIFT = 4


def label_map(boxes: np.ndarray, shape: str, height: int, width: int, rect: np.ndarray | None = None) -> np.ndarray:
    """One int32 map of the frame: the index of the region that covers each pixel, -1 where none does.

    A region is the ellipse inscribed in its (grown, unclipped) box, or the box itself for
    ``rect``; a pixel is inside when its centre is, with half a pixel of slack so edges are not
    left out. ``rect`` marks regions that are boxes whatever the shape (a person's own boxes and
    whole frames). Larger regions are drawn first, so where neighbours overlap the smaller,
    tighter region (usually a face seen directly) shows on top."""
    labels = np.full((height, width), -1, dtype=np.int32)
    spans, valid = clip_spans(boxes, width, height)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.flatnonzero(valid)[np.argsort(-areas[valid], kind="stable")]
    boxy = np.ones(len(boxes), bool) if shape == "rect" else np.zeros(len(boxes), bool) if rect is None else rect
    for k, (x1, y1, x2, y2) in zip(order[boxy[order]].tolist(), spans[order[boxy[order]]].tolist()):
        labels[y1:y2, x1:x2] = k
    order = order[~boxy[order]]
    one = 1 << _SHIFT
    b = boxes[order].astype(np.float64)
    # OpenCV puts pixel i's centre at i; ours is at i + 0.5. Drawing happens in each span's own
    # view, so the ellipse is clipped exactly as the box is.
    cx = np.round(((b[:, 0] + b[:, 2]) / 2 - 0.5 - spans[order, 0]) * one).astype(np.int64)
    cy = np.round(((b[:, 1] + b[:, 3]) / 2 - 0.5 - spans[order, 1]) * one).astype(np.int64)
    ax = np.round((np.maximum((b[:, 2] - b[:, 0]) / 2, 0.5) + 0.5) * one).astype(np.int64)
    ay = np.round((np.maximum((b[:, 3] - b[:, 1]) / 2, 0.5) + 0.5) * one).astype(np.int64)
    rows = zip(order.tolist(), spans[order].tolist(), cx.tolist(), cy.tolist(), ax.tolist(), ay.tolist())
    for k, (x1, y1, x2, y2), x, y, a, c in rows:
        cv2.ellipse(labels[y1:y2, x1:x2], (x, y), (a, c), 0, 0, 360, k, -1, cv2.LINE_8, _SHIFT)
    return labels


def covered_mask(boxes: np.ndarray, shape: str, height: int, width: int, rect: np.ndarray | None = None) -> np.ndarray:
    """Exactly the pixels that covering these (grown) boxes paints."""
    return label_map(boxes, shape, height, width, rect) >= 0


def boxed(detections: Detections) -> np.ndarray:
    """Regions covered as whole boxes whatever the shape: a person drew them (manual regions,
    whole frames), and a corner left out of an ellipse would show what they meant to hide."""
    return detections.kinds == KIND_CODES["manual"]
