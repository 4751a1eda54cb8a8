"""CenterFace face detector: packaged model, checksum, presets, and detection on real faces."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from media import face_image

from redact.detections import KIND_CODES
from redact.detectors import centerface, create_detector
from redact.errors import ConfigError, ModelError


@pytest.fixture(scope="module")
def detector() -> centerface.CenterFaceDetector:
    return centerface.create(threads=1)


@pytest.fixture(scope="module")
def evaldata() -> Path:
    env = os.environ.get("REDACT_EVALDATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "evaldata"
    if not root.is_dir():
        pytest.skip(f"evaluation data not found at {root} (set REDACT_EVALDATA)")
    return root


def test_packaged_model_loads_and_matches_checksum() -> None:
    data = centerface.load_model_bytes()
    assert hashlib.sha256(data).hexdigest() == centerface.MODEL_SHA256


def test_corrupt_or_missing_model_raises_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "centerface.onnx"
    bad.write_bytes(centerface.load_model_bytes()[:-1] + b"\0")
    with pytest.raises(ModelError):
        centerface.load_model_bytes(bad)
    with pytest.raises(ModelError):
        centerface.CenterFaceDetector(model_path=tmp_path / "missing.onnx")


def test_registry_creates_face_detector(detector: centerface.CenterFaceDetector) -> None:
    made = create_detector("centerface", quality="fast", threads=1)
    assert made.kind == "face" == detector.kind
    assert detector.quality == centerface.DEFAULT_QUALITY


@pytest.mark.parametrize("quality", sorted(centerface.PRESETS))
def test_presets_accepted_and_blank_image_gives_nothing(quality: str) -> None:
    det = centerface.create(quality=quality, threads=1)
    for shape in ((240, 320, 3), (101, 77, 3)):  # odd sizes exercise the padding to 32
        assert len(det.detect(np.zeros(shape, np.uint8))) == 0
        assert len(det.detect(np.full(shape, 200, np.uint8))) == 0


@pytest.mark.parametrize(
    "options",
    [
        {"quality": "best"},
        {"threshold": 0.0},
        {"threshold": 1.5},
        {"threads": 0},
        {"device": "no-such-device"},
        {"providers": ["NoSuchExecutionProvider"]},
    ],
)
def test_bad_options_raise_config_error(options: dict) -> None:
    with pytest.raises(ConfigError):
        centerface.create(**options)


def test_merge_keeps_union_of_duplicates() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 12, 11], [50, 50, 60, 60]], np.float32)
    merged, scores = centerface.merge_boxes(boxes, np.array([0.9, 0.5, 0.3], np.float32), 0.5)
    assert merged.tolist() == [[0, 0, 12, 11], [50, 50, 60, 60]]
    assert scores.tolist() == pytest.approx([0.9, 0.3])


def _portraits(evaldata: Path) -> tuple[Path, list[dict]]:
    labels = evaldata / "faces_portraits" / "labels.json"
    if not labels.is_file():
        pytest.skip("faces_portraits not present")
    return labels.parent, json.loads(labels.read_text())["images"]


def _covered(boxes: np.ndarray, face: list[float], shape: tuple[int, ...]) -> float:
    mask = np.zeros(shape[:2], bool)
    for x1, y1, x2, y2 in boxes.astype(int):
        mask[y1:y2, x1:x2] = True
    x, y, w, h = (int(round(v)) for v in face)
    return float(mask[y : y + h, x : x + w].mean())


def test_finds_every_portrait_face(detector: centerface.CenterFaceDetector, evaldata: Path) -> None:
    folder, images = _portraits(evaldata)
    for entry in images:
        image = cv2.imread(str(folder / entry["file"]))
        dets = detector.detect(image)
        assert (dets.kinds == KIND_CODES["face"]).all()
        for face in entry["boxes"]:
            assert _covered(dets.boxes, face, image.shape) >= 0.5, (entry["file"], face)


def test_boxes_clipped_inside_frame(detector: centerface.CenterFaceDetector, evaldata: Path) -> None:
    folder, images = _portraits(evaldata)
    image = cv2.imread(str(folder / images[0]["file"]))
    h, w = image.shape[:2]
    # Shift the picture so faces touch the frame edges: boxes must still lie inside the frame.
    for shifted in (image[h // 3 :, w // 3 :], image[: h // 2, : w // 2]):
        dets = detector.detect(np.ascontiguousarray(shifted))
        b = dets.boxes
        assert len(b)
        assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
        assert (b[:, 2] <= shifted.shape[1]).all() and (b[:, 3] <= shifted.shape[0]).all()


def test_out_of_frame_boxes_are_clipped(monkeypatch: pytest.MonkeyPatch) -> None:
    det = centerface.create(quality="fast", threads=1)
    raw = np.array([[-5, -3, 20, 30], [90, 50, 130, 90], [200, 200, 220, 220]], np.float32)
    monkeypatch.setattr(det, "_run", lambda rgb, scale: (raw, np.full(3, 0.9, np.float32), np.zeros((1, 1))))
    dets = det.detect(np.zeros((80, 100, 3), np.uint8))
    assert dets.boxes.tolist() == [[0, 0, 20, 30], [90, 50, 100, 80]]  # the box wholly outside is dropped


@pytest.mark.parametrize("shape", [(2160, 3840), (3024, 4032)])  # 4K video, a 12 MP phone photo
def test_small_faces_in_large_frames_are_found(shape: tuple[int, int]) -> None:
    # A fixed 1280 px working size shrank 4K frames 3x: 0 of these 28 px faces were found
    # (and 5 of 15 at 40 px). The default now keeps two thirds of the long side.
    size = 28
    frame = np.full((*shape, 3), 110, np.uint8)
    spots = [(300 + 700 * i, 400 + 600 * j) for i in range(5) for j in range(3)]
    for x, y in spots:
        frame[y : y + size, x : x + size] = face_image(size)
    boxes = centerface.create(threads=2).detect(frame).boxes
    missed = [
        (x, y)
        for x, y in spots
        if not any(b[0] <= x + size / 2 <= b[2] and b[1] <= y + size / 2 <= b[3] for b in boxes)
    ]
    assert not missed
