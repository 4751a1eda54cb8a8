"""The PP-OCR text detector (DB, PP-OCRv6 small) shared by the plate and text targets.

The model file is ``PP-OCRv6_det_small.onnx`` shipped inside the ``rapidocr`` wheel (Apache-2.0;
weights by the PaddleOCR authors, Apache-2.0). It is located through the installed distribution's
files without importing ``rapidocr`` and without any download: ``pip install "rapidocr>=3.10,<4"``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

from redact.detectors.onnx import DEVICES, open_session
from redact.errors import ConfigError, ModelError

MODEL_DIST = "rapidocr"
MODEL_FILE = "PP-OCRv6_det_small.onnx"
MODEL_REQUIREMENT = "rapidocr>=3.10,<4"

#: default short side the frame is scaled to (a 1280x720 frame runs at 1312x736)
DEFAULT_SIZE = 736
#: the long side is capped so that panoramas and 8K stills stay bounded in time and memory
MAX_LONG_SIDE = 2560
REFERENCE_SHORT_SIDE = 1080  # larger frames are scaled to no less than this size's share
#: pixel probability that counts as text (DB binarisation threshold)
PIXEL_THRESHOLD = 0.3
#: how far a text region is grown (DB "unclip"); 2.0 covers the plate rim, not only the characters
UNCLIP = 2.0


def find_model() -> Path:
    """The path of the text-detection ONNX file inside the installed ``rapidocr`` wheel."""
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution(MODEL_DIST)
        candidates.append(Path(str(dist.locate_file(f"rapidocr/models/{MODEL_FILE}"))))
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        spec = importlib.util.find_spec("rapidocr")  # finds the folder; does not import the package
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.append(Path(loc) / "models" / MODEL_FILE)
    for path in candidates:
        if path.is_file() and path.stat().st_size > 1_000_000:
            return path
    raise ModelError(
        f"text/plate detection model {MODEL_FILE} not found; it ships in the {MODEL_DIST!r} package: "
        f'pip install "{MODEL_REQUIREMENT}"'
    )


def check_options(threshold: Any, threads: Any, device: Any, size: Any) -> tuple[float, int, str, int]:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
        raise ConfigError(f"plate threshold must be a number between 0 and 1 (exclusive), not {threshold!r}")
    if threads is None:
        threads = 0
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ConfigError(f"threads must be a whole number >= 0 (0 = let ONNX Runtime choose), not {threads!r}")
    if not isinstance(device, str) or device.lower() not in ("auto", *DEVICES):
        raise ConfigError(f"device must be auto or one of {', '.join(DEVICES)}, not {device!r}")
    if isinstance(size, bool) or not isinstance(size, int) or not 128 <= size <= 4096:
        raise ConfigError(f"size (short side in pixels) must be a whole number from 128 to 4096, not {size!r}")
    return float(threshold), threads, device.lower(), size


def load_session(path: Path, threads: int, device: str, notes: list[str] | None = None) -> Any:
    return open_session(str(path), threads, device, str(path), notes=notes)


class TextDetEngine:
    """PP-OCR DB text detector: one frame in, axis-aligned boxes and scores out."""

    def __init__(self, *, threads: int = 0, device: str = "cpu", size: int = DEFAULT_SIZE) -> None:
        self.model_path = find_model()
        self.size = size
        self.notes: list[str] = []  # how the device choice turned out, for the run's report
        self.session = load_session(self.model_path, threads, device, self.notes)
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{self.model_path} is not a DB text detector (unexpected inputs)")
        self.input_name = inputs[0].name

    def _input_size(self, h: int, w: int, size: int | None = None) -> tuple[int, int]:
        # frames above 1080p keep at least the share of their size that 1080p gets, so a plate
        # of a given pixel size is found in 4K as in 1080p (a fixed size shrank 4K 3x)
        size = size or self.size
        r = max(size / min(h, w), min(1.0, size / REFERENCE_SHORT_SIDE))
        r = min(r, MAX_LONG_SIDE / max(h, w))
        nh = max(32, int(round(h * r / 32)) * 32)
        nw = max(32, int(round(w * r / 32)) * 32)
        return nh, nw

    def probability_map(self, image: np.ndarray, size: int | None = None) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        nh, nw = self._input_size(h, w, size)
        x = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x *= 2.0 / 255.0  # (x / 255 - 0.5) / 0.5, as PP-OCR's det preprocessing
        x -= 1.0
        out = self.session.run(None, {self.input_name: x.transpose(2, 0, 1)[None]})[0]
        return np.asarray(out, dtype=np.float32).reshape(out.shape[-2], out.shape[-1])

    def boxes(
        self,
        image: np.ndarray,
        *,
        box_threshold: float,
        max_aspect_tall: float | None,
        unclip: float = UNCLIP,
        pixel_threshold: float = PIXEL_THRESHOLD,
        size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Text boxes and their mean probability; ``size``: another short side than the engine's."""
        import cv2

        h, w = image.shape[:2]
        prob = self.probability_map(image, size)
        ph, pw = prob.shape
        bitmap = cv2.dilate((prob > pixel_threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        sx, sy = w / pw, h / ph
        boxes: list[list[float]] = []
        scores: list[float] = []
        for contour in contours:
            x0, y0, bw, bh = cv2.boundingRect(contour)
            if min(bw, bh) < 3:
                continue
            mask = np.zeros((bh, bw), np.uint8)
            cv2.fillPoly(mask, [contour - np.array([x0, y0])], 1)
            score = float(cv2.mean(prob[y0 : y0 + bh, x0 : x0 + bw], mask)[0])
            if score < box_threshold:
                continue
            if max_aspect_tall is not None and bh * sy > max_aspect_tall * bw * sx:
                continue  # a tall, thin region: vertical text or a railing, never a plate's line of text
            (rw, rh) = cv2.minAreaRect(contour)[1]
            grow = rw * rh * unclip / max(2.0 * (rw + rh), 1e-6)  # DB unclip distance, in map pixels
            boxes.append(
                [
                    max(0.0, (x0 - grow) * sx),
                    max(0.0, (y0 - grow) * sy),
                    min(float(w), math.ceil((x0 + bw + grow) * sx)),
                    min(float(h), math.ceil((y0 + bh + grow) * sy)),
                ]
            )
            scores.append(score)
        return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32)


def as_bgr(image: Any) -> np.ndarray:
    """Validate a frame and return it as contiguous H x W x 3 uint8 BGR."""
    import cv2

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("detect() takes a uint8 numpy image (H x W x 3 BGR)")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"detect() takes an H x W x 3 BGR image, not shape {image.shape}")
    return np.ascontiguousarray(image)
