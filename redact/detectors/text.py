"""Text detection as its own target (signs, name badges, screens, documents); off by default.

Same engine and model as :mod:`redact.detectors.plates` (PP-OCRv6 small det from
the ``rapidocr`` wheel, Apache-2.0), but it keeps every text region, vertical text
included, and reports kind "text".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from redact.detections import Detections
from redact.detectors.text_engine import DEFAULT_SIZE, TextDetEngine, as_bgr, check_options
from redact.errors import ConfigError


class TextDetector:
    kind = "text"

    def __init__(self, threshold: float, threads: int, device: str, size: int) -> None:
        self.threshold = threshold
        self.engine = TextDetEngine(threads=threads, device=device, size=size)
        self.notes = self.engine.notes

    def detect(self, image: np.ndarray) -> Detections:
        image = as_bgr(image)
        if image.shape[0] < 8 or image.shape[1] < 8:
            return Detections.empty()
        boxes, scores = self.engine.boxes(image, box_threshold=self.threshold, max_aspect_tall=None)
        return Detections.from_boxes(boxes, scores, kind=self.kind)


def create(
    threshold: float = 0.5,
    threads: int | None = None,
    device: str = "cpu",
    size: int = DEFAULT_SIZE,
    **unknown: Any,
) -> TextDetector:
    """Options as for the plate detector; the default threshold is 0.5 (PP-OCR's own)."""
    if unknown:
        raise ConfigError(f"unknown text detector option(s): {', '.join(sorted(unknown))}")
    threshold, threads, device, size = check_options(threshold, threads, device, size)
    return TextDetector(threshold, threads, device, size)
