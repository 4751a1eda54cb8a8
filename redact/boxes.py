"""Box arithmetic on N x 4 float arrays of x1, y1, x2, y2 in pixels (x2, y2 exclusive).

Every stage measures boxes the same way: sizes as the mean of width and height, overlap as IoU,
pixel spans that reach the frame's last row and column.
"""

from __future__ import annotations

import numpy as np


def widths(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, 2] - boxes[:, 0]


def heights(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, 3] - boxes[:, 1]


def sizes(boxes: np.ndarray) -> np.ndarray:
    """Mean of width and height: the scale distances, growth and margins are measured in."""
    return (widths(boxes) + heights(boxes)) / 2


def areas(boxes: np.ndarray) -> np.ndarray:
    return widths(boxes) * heights(boxes)


def centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def grown(boxes: np.ndarray, share: np.ndarray | float) -> np.ndarray:
    """Boxes grown by ``share`` of their width and height on every side."""
    w, h = widths(boxes), heights(boxes)
    share = np.broadcast_to(np.asarray(share, dtype=np.float32), w.shape)
    return (boxes + np.stack([-w, -h, w, h], axis=1) * share[:, None]).astype(np.float32)


def intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area shared by row i of ``a`` and row i of ``b`` (``a`` may be one box, broadcast)."""
    a = a.reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    return iw * ih


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of row i of ``a`` with row i of ``b`` (``a`` may be one box, compared with every row of ``b``)."""
    inter = intersections(a, b)
    return inter / np.maximum(areas(a.reshape(-1, 4)) + areas(b) - inter, 1e-6)


def clip_spans(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer pixel spans (N x 4, end exclusive) covering the boxes, clipped to the frame, and
    which of them are not empty."""
    spans = np.empty((len(boxes), 4), dtype=np.int64)
    spans[:, :2] = np.maximum(np.floor(boxes[:, :2]), 0)
    spans[:, 2] = np.minimum(np.ceil(boxes[:, 2]), width)
    spans[:, 3] = np.minimum(np.ceil(boxes[:, 3]), height)
    return spans, (spans[:, 2] > spans[:, 0]) & (spans[:, 3] > spans[:, 1])


def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """One box's pixel span, clipped to the frame (None when nothing of it is inside)."""
    spans, valid = clip_spans(np.asarray(box, dtype=np.float32).reshape(1, 4), width, height)
    if not valid[0]:
        return None
    x1, y1, x2, y2 = (int(v) for v in spans[0])
    return x1, y1, x2, y2
