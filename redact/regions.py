"""From detector boxes to the regions that get covered: grown to the whole head or plate, clipped exactly."""

from __future__ import annotations

import numpy as np

from redact.detections import KIND_CODES, Detections
from redact.settings import Settings

# Faces: CenterFace boxes run from brow to chin; hair sits above, so grow upwards more.
_UP_BIAS = {KIND_CODES["face"]: 1.4}


def margins(settings: Settings) -> dict[int, float]:
    """Margin per kind code: faces grow to the whole head, plates and text to their border."""
    return {
        KIND_CODES["face"]: settings.face_margin,
        KIND_CODES["plate"]: settings.plate_margin,
        KIND_CODES["text"]: settings.plate_margin,
        KIND_CODES["manual"]: 0.0,
    }


def grow(detections: Detections, margins: dict[int, float]) -> np.ndarray:
    """Boxes grown by ``margin`` x size on each side (per kind code), unclipped, float x1 y1 x2 y2."""
    boxes = detections.boxes.astype(np.float32, copy=True)
    if not len(boxes):
        return boxes
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    m = np.array([margins.get(int(k), 0.0) for k in detections.kinds], dtype=np.float32)
    up = np.array([_UP_BIAS.get(int(k), 1.0) for k in detections.kinds], dtype=np.float32)
    boxes[:, 0] -= m * w
    boxes[:, 2] += m * w
    boxes[:, 1] -= m * h * up
    boxes[:, 3] += m * h
    return boxes


def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer pixel span covering the box, clipped to the frame; end is exclusive, so the last row/column is reachable."""
    x1 = max(0, int(np.floor(box[0])))
    y1 = max(0, int(np.floor(box[1])))
    x2 = min(width, int(np.ceil(box[2])))
    y2 = min(height, int(np.ceil(box[3])))
    if x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2, y2


def region_mask(box: np.ndarray, span: tuple[int, int, int, int], shape: str) -> np.ndarray:
    """Boolean mask over ``span`` of the pixels inside the region (an ellipse inscribed in the unclipped box)."""
    x1, y1, x2, y2 = span
    if shape == "rect":
        return np.ones((y2 - y1, x2 - x1), dtype=bool)
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    rx, ry = max((box[2] - box[0]) / 2.0, 0.5), max((box[3] - box[1]) / 2.0, 0.5)
    # pixel centres; a pixel is covered if its centre is inside, plus half a pixel of slack so edges are not left out
    ys = (np.arange(y1, y2, dtype=np.float32) + 0.5 - cy) / (ry + 0.5)
    xs = (np.arange(x1, x2, dtype=np.float32) + 0.5 - cx) / (rx + 0.5)
    return (xs[None, :] ** 2 + ys[:, None] ** 2) <= 1.0
