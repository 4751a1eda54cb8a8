"""YuNet, the second face model: packaged with its licence and checksum, decoded right on real faces."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from redact.boxes import iou
from redact.demo import demo_face
from redact.detectors import available_detectors, create_detector, yunet
from redact.errors import ConfigError, ModelError

FACE_BOX = np.array([86, 24, 140, 94], np.float32)  # the demo portrait's face, hair to chin


@pytest.fixture(scope="module")
def detector() -> yunet.YuNetDetector:
    return yunet.create(threads=1)


def test_packaged_model_and_licence() -> None:
    assert hashlib.sha256(yunet.load_model_bytes()).hexdigest() == yunet.MODEL_SHA256
    import importlib.resources

    licence = importlib.resources.files("redact.models").joinpath("YUNET-LICENSE.txt").read_text()
    assert "Apache License" in licence and "0047ac24afb1a50a0c6105001c89d1b5b805dbf1" in licence


def test_corrupt_or_missing_model_raises_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "yunet.onnx"
    bad.write_bytes(yunet.load_model_bytes()[:-1] + b"\0")
    with pytest.raises(ModelError):
        yunet.load_model_bytes(bad)
    with pytest.raises(ModelError):
        yunet.YuNetDetector(model_path=tmp_path / "missing.onnx")


@pytest.mark.parametrize("options", [{"threshold": 0.0}, {"threshold": 1.0}, {"work_side": 8}, {"threads": 0}])
def test_bad_options_raise_config_error(options: dict) -> None:
    with pytest.raises(ConfigError):
        yunet.create(**options)


def test_registered_by_name() -> None:
    assert "yunet" in available_detectors()
    assert create_detector("yunet", threads=1, quality="thorough").kind == "face"


@pytest.mark.parametrize("width", [12, 24, 48, 96])
def test_finds_the_demo_face_at_every_size_in_a_frame(detector: yunet.YuNetDetector, width: int) -> None:
    """Real face pixels from 12 to 96 px wide, placed off-centre in a larger frame of odd size
    (padding to 32 and the grid's row-major order both matter): one box, on the face."""
    size = round(width * 256 / 54)  # the demo portrait's face is 54 of its 256 px
    face = cv2.resize(demo_face(), (size, size), interpolation=cv2.INTER_AREA)
    frame = np.full((601, 967, 3), 128, np.uint8)
    x0, y0 = 967 - size - 13, 601 - size - 7
    frame[y0 : y0 + size, x0 : x0 + size] = face
    found = detector.detect(frame)
    expected = FACE_BOX * size / 256 + np.array([x0, y0, x0, y0], np.float32)
    assert len(found) == 1 and found.scores[0] >= 0.5
    assert iou(expected, found.boxes)[0] >= 0.5


def test_decode_matches_opencv_face_detector(detector: yunet.YuNetDetector) -> None:
    """The numpy decode against OpenCV's own FaceDetectorYN on the same file and picture."""
    if not hasattr(cv2, "FaceDetectorYN"):
        pytest.skip("this OpenCV has no FaceDetectorYN")
    import importlib.resources

    image = demo_face()
    with importlib.resources.as_file(importlib.resources.files("redact.models").joinpath("yunet_n_dynamic.onnx")) as p:
        reference = cv2.FaceDetectorYN.create(str(p), "", (image.shape[1], image.shape[0]), 0.5, 0.3)
        _, faces = reference.detect(image)
    x, y, w, h = faces[0, :4]
    boxes, scores = detector.raw(image, 1.0, 0.5)
    best = int(np.argmax(scores))
    assert scores[best] == pytest.approx(faces[0, -1], abs=1e-4)
    assert boxes[best] == pytest.approx([x, y, x + w, y + h], abs=0.5)


def test_blank_frames_give_nothing(detector: yunet.YuNetDetector) -> None:
    for value in (0, 200):
        assert len(detector.detect(np.full((240, 320, 3), value, np.uint8))) == 0


def test_finds_every_portrait_face(detector: yunet.YuNetDetector, evaldata: Path) -> None:
    folder = evaldata / "faces_portraits"
    for entry in json.loads((folder / "labels.json").read_text())["images"]:
        found = detector.detect(cv2.imread(str(folder / entry["file"])))
        for x, y, w, h in entry["boxes"]:
            assert len(found) and iou(np.array([x, y, x + w, y + h], np.float32), found.boxes).max() >= 0.3
