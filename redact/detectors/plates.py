"""Licence-plate detection: a text detector (PP-OCRv6 small, DB) run on the whole frame.

A plate is printed text, and a general text detector finds plates of every
country and format, by day and by night, where the plate-specific models on
PyPI are trained on one country and are AGPL. On the dashcam development set
this backend covers 97.7% of the labelled plates (see the plate-detection
issue for the figures); it also covers other text (shop signs, badges), which
for redaction is the safe side of the trade.

The text model and its engine are in :mod:`redact.detectors.text_engine`.

Known limit: plates under ~30 px wide in the frame (e.g. 768x432 footage from
above, ../shared/media/car-detection.mp4) are missed, and on such footage the
model marks whole car bodies as text (large boxes); a zoomed second pass over
tiles would be the next step.

A text detector alone takes every sign, placard and banner for a plate; each text
line it finds is therefore only a candidate, read and judged by
:mod:`redact.detectors.plate_reader` (covered unless it reads confidently as the words of
a sign). Dark frames get a second, contrast-normalised look; photos (``detect_still``) a
second look at twice the scale.

:mod:`redact.detectors.text` uses the same engine for the "text" target with looser
filters (every text line, unread).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from redact.boxes import iou as boxes_iou
from redact.detections import Detections
from redact.detectors.text_engine import DEFAULT_SIZE, TextDetEngine, as_bgr, check_options, load_session
from redact.errors import ConfigError

#: short side per quality preset: ``fast`` trades plates under ~40 px wide in 720p for ~half the cost
SIZES = {"fast": 544, "balanced": DEFAULT_SIZE, "thorough": DEFAULT_SIZE}
MAX_TEXT_HEIGHT = 0.33  # share of the frame height; taller "text" is a car body, not a plate
#: plate boxes are grown beyond the text by these shares of the text box height
PAD_X = 0.2
PAD_Y = 0.1
#: text boxes down to this score are read: as context (the words around a candidate), and as
#: faint candidates, kept only when they read as a plate (glare, dusk, a small plate at the side)
CONTEXT_THRESHOLD = 0.3
#: frames whose median brightness (0-255) is below this get a second, contrast-normalised look.
#: The median, not the mean: at dusk and at night, headlights, street lamps and a bright sky lift
#: the mean of a frame whose cars and plates are dark (three dusk frames of the dashcam set: mean
#: 101-104, median under 70, plates found only in the normalised copy)
DARK_LEVEL = 80.0
#: a photo's extra look is at this many times the detector's size (``detect_still``)
ZOOM = 2


class PlateDetector:
    """Text candidates from the detector, judged plate or not by reading them (``plate_reader``)."""

    kind = "plate"

    def __init__(self, threshold: float, threads: int, device: str, size: int, read: bool = True) -> None:
        from redact.detectors.plate_reader import PlateJudge, TextReader, find_rec_model

        self.threshold = threshold
        self.engine = TextDetEngine(threads=threads, device=device, size=size)
        self.notes = self.engine.notes
        self.judge = None
        if read:
            rec = load_session(find_rec_model(self.engine.model_path), threads, device, self.notes)
            self.judge = PlateJudge(TextReader(rec))

    def detect(self, image: np.ndarray) -> Detections:
        return self._detect(image, zoom=False)

    def detect_still(self, image: np.ndarray) -> Detections:
        """A photo: one frame, looked at once (a video sees a plate again as the car comes
        closer), so it also gets a look at ``ZOOM`` times the scale, where the frame is small
        enough for that to add detail: small and soft plates of a 1000 px photo."""
        return self._detect(image, zoom=True)

    def _detect(self, image: np.ndarray, zoom: bool) -> Detections:
        image = as_bgr(image)
        if image.shape[0] < 8 or image.shape[1] < 8:
            return Detections.empty()
        boxes, scores = self._text_boxes(image, zoom)
        # The text model also fires on whole car bodies seen from above (boxes of a third of
        # the frame or more); a plate's line of text is never that tall in real footage.
        fits = (boxes[:, 3] - boxes[:, 1]) <= MAX_TEXT_HEIGHT * image.shape[0]
        candidates = (scores >= self.threshold) & fits
        if self.judge is not None and fits.any():
            candidates = self.judge.keep(image, boxes, scores, candidates, faint=fits & ~candidates)
        return Detections.from_boxes(grow_to_rim(boxes[candidates], image.shape), scores[candidates], kind=self.kind)

    def _text_boxes(self, image: np.ndarray, zoom: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Every text box down to the context threshold; in a dark frame a second look at a
        contrast-normalised copy (plates beside tail lights and headlight glare); with ``zoom``
        a look at a larger scale where the frame is small."""
        low = min(self.threshold, CONTEXT_THRESHOLD) if self.judge is not None else self.threshold
        looks: list[tuple[np.ndarray, int | None]] = [(image, None)]
        if is_dark(image):
            looks.append((equalise(image), None))
        if zoom:
            h, w = image.shape[:2]
            zoomed = self.engine.size * ZOOM
            if self.engine._input_size(h, w, zoomed) != self.engine._input_size(h, w):
                looks.append((image, zoomed))
        boxes, scores = self.engine.boxes(image, box_threshold=low, max_aspect_tall=1.5)
        for view, size in looks[1:]:
            more, more_scores = self.engine.boxes(view, box_threshold=low, max_aspect_tall=1.5, size=size)
            for box, score in zip(more, more_scores):
                same = _same_box(box, boxes)
                if same is None:
                    boxes, scores = np.concatenate([boxes, box[None]]), np.append(scores, score)
                else:  # the same text seen better in another look
                    scores[same] = max(scores[same], score)
        return boxes, scores


def is_dark(image: np.ndarray) -> bool:
    """The frame's median brightness (every 4th pixel of every 4th row) is below ``DARK_LEVEL``."""
    sample = image[::4, ::4]
    grey = sample.mean(axis=2) if sample.ndim == 3 else sample
    return float(np.median(grey)) < DARK_LEVEL


def _same_box(box: np.ndarray, boxes: np.ndarray, iou: float = 0.5) -> int | None:
    """The index of the box in ``boxes`` that overlaps ``box`` most, if by at least ``iou``."""
    if not len(boxes):
        return None
    ratio = boxes_iou(box, boxes)
    best = int(ratio.argmax())
    return best if ratio[best] >= iou else None


def equalise(image: np.ndarray) -> np.ndarray:
    """Local contrast normalisation (CLAHE on lightness): lifts plates out of dark frames."""
    import cv2

    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def grow_to_rim(boxes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The detector hugs the characters; a plate's border and country strip lie beyond them.
    Grow by a share of the text height (0.2 each side horizontally, 0.1 vertically): on the
    dashcam set this takes whole-plate cover (>= 90% of the plate) from 56% to 95%."""
    boxes = boxes.copy()
    h, w = shape[:2]
    th = boxes[:, 3] - boxes[:, 1]
    boxes[:, 0] = np.maximum(0.0, boxes[:, 0] - PAD_X * th)
    boxes[:, 2] = np.minimum(float(w), np.ceil(boxes[:, 2] + PAD_X * th))
    boxes[:, 1] = np.maximum(0.0, boxes[:, 1] - PAD_Y * th)
    boxes[:, 3] = np.minimum(float(h), np.ceil(boxes[:, 3] + PAD_Y * th))
    return boxes


def create(
    threshold: float = 0.65,  # 0.6: 96.9% of dashcam plates at 0.52 false/frame; 0.65: 96.2% at 0.43
    threads: int | None = None,
    device: str = "cpu",
    size: int | None = None,
    quality: str | None = None,
    read: bool = True,
    **unknown: Any,
) -> PlateDetector:
    """Options: ``threshold`` (mean text probability of a region, default 0.65; lower finds
    more, e.g. 0.5), ``threads`` (ONNX Runtime intra-op threads, 0/None = all cores),
    ``device`` ("cpu", "cuda", "auto"), ``size`` (short side the frame is scaled to, default 736)
    or ``quality`` (a preset name choosing the size, see ``SIZES``), ``read`` (default True:
    read each candidate and keep only plates; False keeps every text line, as before)."""
    if unknown:
        raise ConfigError(f"unknown plate detector option(s): {', '.join(sorted(unknown))}")
    if quality is not None and quality not in SIZES:
        raise ConfigError(f"unknown plate quality {quality!r}; choose one of {', '.join(SIZES)}")
    if size is None:
        size = SIZES[quality] if quality is not None else DEFAULT_SIZE
    if not isinstance(read, bool):
        raise ConfigError(f"plate option read must be true or false, not {read!r}")
    threshold, threads, device, size = check_options(threshold, threads, device, size)
    return PlateDetector(threshold, threads, device, size, read)
