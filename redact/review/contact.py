"""Contact sheets: a grid of frames with their boxes drawn, to check a whole clip at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from redact.detections import KINDS, Detections
from redact.errors import OutputError

COLOURS = {"face": (0, 0, 255), "plate": (255, 128, 0), "text": (0, 200, 255), "manual": (255, 0, 255)}


@dataclass
class Tile:
    image: np.ndarray  # BGR
    detections: Detections
    label: str


def draw_boxes(image: np.ndarray, detections: Detections, scale: float = 1.0) -> np.ndarray:
    """Boxes with 'kind #track score'; boxes the tracker filled in are drawn thinner."""
    out = image.copy()
    for box, kind, tid, score, filled in zip(
        detections.boxes, detections.kinds, detections.track_ids, detections.scores, detections.filled
    ):
        name = KINDS[kind]
        colour = COLOURS.get(name, (0, 255, 0))
        x1, y1, x2, y2 = (box * scale).round().astype(int)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 1 if filled else 2)
        text = f"{name}{f' #{tid}' if tid >= 0 else ''} {score:.2f}{' (track)' if filled else ''}"
        cv2.putText(out, text, (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
    return out


def contact_sheet(tiles: list[Tile], path: Path, columns: int = 4, tile_width: int = 360) -> Path:
    if not tiles:
        raise ValueError("a contact sheet needs at least one frame")
    columns = min(columns, len(tiles))
    cells = []
    for tile in tiles:
        h, w = tile.image.shape[:2]
        scale = tile_width / w
        small = cv2.resize(tile.image, (tile_width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        small = draw_boxes(small, tile.detections, scale)
        caption = np.full((18, tile_width, 3), 32, np.uint8)
        cv2.putText(caption, tile.label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        cells.append(np.vstack([caption, small]))
    cell_h = max(c.shape[0] for c in cells)
    cells = [np.vstack([c, np.zeros((cell_h - c.shape[0], tile_width, 3), np.uint8)]) for c in cells]
    while len(cells) % columns:
        cells.append(np.zeros_like(cells[0]))
    rows = [np.hstack(cells[i : i + columns]) for i in range(0, len(cells), columns)]
    try:
        written = cv2.imwrite(str(path), np.vstack(rows))
    except cv2.error:  # an extension OpenCV cannot write
        written = False
    if not written:
        raise OutputError(
            f"{path}: the contact sheet cannot be written there (folder missing or not writable, or not .png/.jpg)"
        )
    return path


def sample_indices(count: int, wanted: int) -> list[int]:
    """Evenly spread frame indices, first and last included."""
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})
