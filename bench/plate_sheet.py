"""A contact sheet of labelled plates a run left uncovered, each with what the text model saw there.

Used by ``bench/precision.py --misses PNG``. Each tile shows the plate (red box) in its
surroundings, numbered, with its set, half, file and width; below it, the strongest text box the
detector finds over the plate (plain frame or contrast-normalised copy, down to score 0.2) and how
the reader reads it, or "no text found". The cause of each miss is then for a person to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CELL = (300, 190)
COLUMNS = 6
CAPTION = 46  # pixels of text under each tile


@dataclass
class Miss:
    root: Path
    file: str
    half: str
    box: np.ndarray  # x1 y1 x2 y2


def what_the_model_saw(detector, image: np.ndarray, box: np.ndarray) -> str:
    """The strongest text box over the plate and its reading, on the frame and its normalised copy."""
    from redact.detectors.plates import equalise

    best = None
    for tag, view in (("frame", image), ("normalised", equalise(image))):
        boxes, scores = detector.engine.boxes(view, box_threshold=0.2, max_aspect_tall=1.5)
        for b, s in zip(boxes, scores):
            iw = min(b[2], box[2]) - max(b[0], box[0])
            ih = min(b[3], box[3]) - max(b[1], box[1])
            if iw > 0 and ih > 0 and iw * ih >= 0.2 * (box[2] - box[0]) * (box[3] - box[1]):
                if best is None or s > best[0]:
                    best = (float(s), tag, b)
    if best is None:
        return "no text found"
    score, tag, b = best
    x1, y1, x2, y2 = (int(v) for v in b)
    reading = detector.judge.reader.read(image[y1:y2, x1:x2]) if detector.judge is not None else None
    read = f" read {reading.text!r} {reading.confidence:.2f}" if reading is not None else ""
    return f"text {score:.2f} ({tag}){read}"


def write_sheet(detector, misses: list[Miss], path: Path) -> None:
    cw, ch = CELL
    rows = max(1, (len(misses) + COLUMNS - 1) // COLUMNS)
    canvas = np.full((rows * (ch + CAPTION), COLUMNS * cw, 3), 255, np.uint8)
    for k, miss in enumerate(misses):
        image = cv2.imread(str(miss.root / miss.file))
        x1, y1, x2, y2 = miss.box
        half = max((x2 - x1) * 1.6, (y2 - y1) * 2.5, 40.0)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        X1, X2 = int(max(0, cx - half)), int(min(image.shape[1], cx + half))
        Y1, Y2 = int(max(0, cy - half * ch / cw)), int(min(image.shape[0], cy + half * ch / cw))
        crop = image[Y1:Y2, X1:X2].copy()
        cv2.rectangle(crop, (int(x1 - X1), int(y1 - Y1)), (int(x2 - X1), int(y2 - Y1)), (0, 0, 255), 1)
        scale = min(cw / crop.shape[1], ch / crop.shape[0])
        crop = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))))
        oy, ox = (k // COLUMNS) * (ch + CAPTION), (k % COLUMNS) * cw
        canvas[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
        lines = [
            f"{k + 1}. {miss.root.name} ({miss.half}) {Path(miss.file).stem[-16:]}",
            f"{x2 - x1:.0f} px wide",
            what_the_model_saw(detector, image, miss.box),
        ]
        for i, line in enumerate(lines):
            cv2.putText(
                canvas,
                line[:52],
                (ox + 3, oy + ch + 13 + 14 * i),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.37,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_small(canvas, path)


def save_small(canvas: np.ndarray, path: Path) -> None:
    """A 256-colour PNG: about a quarter of the full-colour file, captions still sharp."""
    from PIL import Image

    image = Image.fromarray(cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB))
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
