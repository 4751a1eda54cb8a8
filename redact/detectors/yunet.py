"""Face detection with YuNet-n (ONNX Runtime): a small detector trained apart from CenterFace.

YuNet (Wu, Peng, Yu, 2023; Apache-2.0, ``redact/models/YUNET-LICENSE.txt``) has about a quarter
of CenterFace's multiply-adds. It was trained on other code, with other anchors and losses, so
its mistakes fall elsewhere: ``redact verify`` uses it as a second opinion, and it is a face
detector in its own right (``create_detector("yunet")``).

The network sees BGR 0-255 as it is (no normalisation), padded to multiples of 32. It answers
at strides 8, 16 and 32, one anchor per grid cell in row-major order: a class and an
objectness score (the face score is their geometric mean), a box as centre offsets in cells
and log sizes, and five landmarks (unused here).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from redact.detections import Detections
from redact.detectors.centerface import MERGE_IOU, merge_boxes
from redact.detectors.onnx import checked_model_bytes, default_threads, open_session
from redact.errors import ConfigError

# SHA-256 of redact/models/yunet_n_dynamic.onnx (libfacedetection.train @ 0047ac24, unchanged)
MODEL_SHA256 = "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12"
MODEL_RESOURCE = ("redact.models", "yunet_n_dynamic.onnx")
STRIDES = (8, 16, 32)
ALIGN = 32
#: below this the network's answers are noise on any image; a caller wanting every weak response
#: (verify's confirmation) asks for threshold down to here
MIN_THRESHOLD = 0.01
DEFAULT_THRESHOLD = 0.5


def load_model_bytes(path: str | os.PathLike[str] | None = None, sha256: str = MODEL_SHA256) -> bytes:
    """Read the model (packaged copy by default) and verify its checksum."""
    return checked_model_bytes(MODEL_RESOURCE, sha256, "second face model (YuNet)", path)


class YuNetDetector:
    kind = "face"

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        work_side: int | None = None,
        threads: int | None = None,
        device: str | None = "cpu",
        providers: Sequence[str] | None = None,
        model_path: str | os.PathLike[str] | None = None,
        quality: str | None = None,  # accepted for the registry's common options; YuNet has one pass
    ) -> None:
        if not isinstance(threshold, (int, float)) or not MIN_THRESHOLD <= threshold < 1.0:
            raise ConfigError(f"YuNet threshold must be from {MIN_THRESHOLD} to under 1, got {threshold!r}")
        if work_side is not None and work_side < ALIGN:
            raise ConfigError(f"YuNet work_side must be at least {ALIGN} px, got {work_side}")
        threads = default_threads() if threads is None else int(threads)
        if threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        self.threshold = float(threshold)
        self.work_side = work_side
        self.notes: list[str] = []
        self.session = open_session(
            load_model_bytes(model_path),
            threads,
            device or "cpu",
            "the second face model (YuNet)",
            list(providers) if providers else None,
            self.notes,
        )
        self.input_name = self.session.get_inputs()[0].name

    def detect(self, image: np.ndarray, scale: float | None = None) -> Detections:
        """Faces in a BGR frame; ``scale`` resizes it first (default: down to ``work_side``, else as it is)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("YuNetDetector.detect expects an H x W x 3 uint8 BGR image")
        h, w = image.shape[:2]
        if scale is None:
            scale = 1.0 if self.work_side is None else min(1.0, self.work_side / max(h, w))
        boxes, scores = self.raw(image, scale, self.threshold)
        boxes, scores = merge_boxes(boxes, scores, MERGE_IOU)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, w)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, h)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return Detections.from_boxes(boxes[keep], scores[keep], kind=self.kind)

    def raw(self, image: np.ndarray, scale: float, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Every anchor scoring at least ``threshold`` (no merging), boxes in ``image`` pixels."""
        h, w = image.shape[:2]
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        img = (
            image
            if (nw, nh) == (w, h)
            else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        )
        ph, pw = math.ceil(nh / ALIGN) * ALIGN, math.ceil(nw / ALIGN) * ALIGN
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :nh, :nw] = img.transpose(2, 0, 1)
        outputs = dict(
            zip((o.name for o in self.session.get_outputs()), self.session.run(None, {self.input_name: blob}))
        )
        boxes, scores = [], []
        for s in STRIDES:
            cols = pw // s
            score = np.sqrt(np.clip(outputs[f"cls_{s}"][0, :, 0], 0, 1) * np.clip(outputs[f"obj_{s}"][0, :, 0], 0, 1))
            cells = np.flatnonzero(score >= threshold)
            if not len(cells):
                continue
            b = outputs[f"bbox_{s}"][0, cells]
            cx = (cells % cols + b[:, 0]) * s
            cy = (cells // cols + b[:, 1]) * s
            bw, bh = np.exp(b[:, 2]) * s, np.exp(b[:, 3]) * s
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) / scale)
            scores.append(score[cells])
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return np.concatenate(boxes).astype(np.float32), np.concatenate(scores).astype(np.float32)


def create(**options: Any) -> YuNetDetector:
    """Factory for the detector registry.

    Options: ``threshold`` (face score, default 0.5), ``work_side`` (long side the frame is
    shrunk to first; default: as it is), ``threads``, ``device`` / ``providers`` and
    ``model_path`` as for CenterFace.
    """
    return YuNetDetector(**options)
