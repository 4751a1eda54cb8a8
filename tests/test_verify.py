"""`redact verify` finds leaks, not covers: a detection whose middle is the tool's own cover surface
is dismissed; a face left visible (small, or partly under a neighbour's cover) is still reported."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from media import pattern

from redact.cover import styles
from redact.demo import demo_face
from redact.detections import Detections
from redact.review.verify import (
    COVER_LOOKALIKE_SCORE,
    SURFACE_NOISE,
    cover_lookalike,
    cover_surface,
    middle_detail,
    pixel_noise,
    residual,
    verify,
)
from redact.settings import Settings

SIZES = (16, 24, 40, 72, 128)  # from the smallest face verify must report to a close-up
FACES = Settings(targets=("faces",))


class FixedDetector:
    """Reports the given boxes at one score on every image, as a detector firing on them would."""

    kind = "face"

    def __init__(self, boxes: list[list[float]], score: float) -> None:
        self.boxes, self.score = np.array(boxes, np.float32), score

    def detect(self, image: np.ndarray) -> Detections:
        return Detections.from_boxes(self.boxes, np.full(len(self.boxes), self.score, np.float32), kind="face")


def face(width: int) -> np.ndarray:
    """The demo portrait's face (hair to chin, the box the face model finds in it), ``width`` px wide."""
    crop = demo_face()[24:94, 86:140]
    return cv2.resize(crop, (width, round(width * 70 / 54)), interpolation=cv2.INTER_AREA)


def crowd_photo() -> tuple[np.ndarray, list[list[float]]]:
    """Real face pixels at five widths, 16 to 128 px, on a gradient background with a camera's
    grain, spaced so that a cover (margin included) of a face-sized box beside one reaches no other."""
    grain = np.random.default_rng(18).normal(0, 3, (300, 1100, 3))
    image = np.clip(pattern(1100, 300) + grain, 0, 255).astype(np.uint8)
    boxes, x = [], 20
    for width in SIZES:
        pixels = face(width)
        x += width  # room for a neighbour on the left
        y = 60
        image[y : y + pixels.shape[0], x : x + width] = pixels
        boxes.append([x, y, x + width, y + pixels.shape[0]])
        x += 2 * width
    return image, boxes


def covered(image: np.ndarray, boxes: list[list[float]], style: str = "blur") -> np.ndarray:
    return styles.cover(
        image.copy(), Detections.from_boxes(np.array(boxes, np.float32), kind="face"), Settings(style=style)
    )


def save(image: np.ndarray, path: Path) -> Path:
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def check(path: Path, boxes: list[list[float]], score: float):
    return verify(path, FACES, detectors={"faces": FixedDetector(boxes, score)})


@pytest.mark.parametrize("style", ["blur", "fill"])
def test_weak_detections_on_the_tools_own_covers_are_dismissed(tmp_path: Path, style: str) -> None:
    image, boxes = crowd_photo()
    report = check(save(covered(image, boxes, style), tmp_path / "covered.jpg"), boxes, 0.35)
    assert report.clean and report.covers_dismissed == len(boxes)


def test_mosaic_covers_stay_reported_where_their_cells_look_like_detail(tmp_path: Path) -> None:
    # pixelate's cell edges are steps a few pixels apart, which no check of pixel-level variation can
    # tell from an eye: a detection on a small mosaic stays reported (the safe side)
    image, boxes = crowd_photo()
    report = check(save(covered(image, boxes, "pixelate"), tmp_path / "mosaic.jpg"), boxes, 0.35)
    assert report.covers_dismissed + len(report.findings) == len(boxes) and not report.clean


@pytest.mark.parametrize("score", [0.3, COVER_LOOKALIKE_SCORE - 0.01, 0.9])
def test_faces_left_visible_are_reported_at_every_size(tmp_path: Path, score: float) -> None:
    image, boxes = crowd_photo()
    report = check(save(image, tmp_path / "visible.jpg"), boxes, score)
    assert len(report.findings) == len(boxes) and report.covers_dismissed == 0 and not report.clean


def test_one_face_left_visible_among_covered_ones_is_the_one_reported(tmp_path: Path) -> None:
    image, boxes = crowd_photo()
    for left in range(len(boxes)):
        output = covered(image, boxes[:left] + boxes[left + 1 :])
        report = check(save(output, tmp_path / f"left-{left}.jpg"), boxes, 0.35)
        assert [f.box for f in report.findings] == [[float(v) for v in boxes[left]]]


@pytest.mark.parametrize("share", [0.25, 0.4])
def test_a_face_partly_under_a_neighbours_cover_is_reported(tmp_path: Path, share: float) -> None:
    """A neighbour's cover over the left quarter (or 40%) of a visible face: the face is still a leak."""
    image, boxes = crowd_photo()
    neighbours = []
    for x1, y1, x2, y2 in boxes:  # a box of the face's size whose cover (margin included) reaches in
        size = x2 - x1
        grown = 0.15 * size + 4  # the default face margin (settings.face_margin, plus 4 px)
        right = x1 + share * size - grown
        neighbours.append([right - size, y1, right, y2])
    output = covered(image, neighbours)
    assert cover_surface(output, np.array(boxes[-1], np.float32)) > 0  # the cover does reach in
    report = check(save(output, tmp_path / "overlapped.jpg"), boxes, 0.35)
    assert len(report.findings) == len(boxes)


def test_a_confident_detection_on_a_smooth_region_with_eye_detail_is_reported(tmp_path: Path) -> None:
    """A smooth middle alone dismisses only a weak finding; a confident one also needs no eye-sized blob."""
    image, boxes = crowd_photo()
    output = covered(image, boxes, "fill")
    for x1, y1, x2, _ in boxes:  # two dark eyes, as on a smooth, evenly lit face
        size = int(x2 - x1)
        for ex in (0.38, 0.62):
            cv2.circle(output, (int(x1 + ex * size), int(y1 + 0.42 * size)), max(1, size // 14), (20, 20, 20), -1)
    path = save(output, tmp_path / "smooth-face.jpg")
    big = boxes[-2:]  # at 16-24 px, two dots on a fill are too small a share to matter; test the larger
    assert all(middle_detail(cv2.imread(str(path)), np.array(b)) >= 4 for b in big)
    assert len(check(path, big, COVER_LOOKALIKE_SCORE + 0.1).findings) == len(big)
    assert check(path, big, COVER_LOOKALIKE_SCORE - 0.1).clean


def test_boxes_too_small_to_judge_keep_the_finding() -> None:
    flat = np.full((50, 50, 3), 90, np.uint8)  # a cover-like surface everywhere
    assert cover_surface(flat, np.array([10, 10, 12, 12])) == 0.0
    assert middle_detail(flat, np.array([10, 10, 12, 12])) == float("inf")
    assert not cover_lookalike(flat, np.array([10, 10, 25, 30]), 0.35)  # under 16 px wide
    assert cover_lookalike(flat, np.array([10, 10, 26, 30]), 0.35)


def test_real_face_detector_on_a_covered_and_a_visible_photo(tmp_path: Path) -> None:
    """With the real model at verify's settings, end to end: covers are clean, a face left is found."""
    pytest.importorskip("onnxruntime")
    from redact.detectors import create_detector

    image, boxes = crowd_photo()
    checker = {"faces": create_detector("centerface", quality="thorough", threshold=0.6)}
    settings = Settings(targets=("faces",), face_threshold=0.6)
    visible = verify(save(image, tmp_path / "visible.jpg"), settings, detectors=checker)
    assert len(visible.findings) >= len(SIZES) - 1
    assert verify(save(covered(image, boxes), tmp_path / "covered.jpg"), settings, detectors=checker).clean
    one_left = verify(save(covered(image, boxes[:-2] + boxes[-1:]), tmp_path / "one.jpg"), settings, detectors=checker)
    assert len(one_left.findings) == 1 and _iou(one_left.findings[0].box, boxes[-2]) > 0.3


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_a_real_crowd_photo_redacted_by_the_tool_with_one_face_left_visible(tmp_path: Path, evaldata: Path) -> None:
    """faces_crowd_orig, through the real pipeline with default settings: one labelled face of
    20-40 px pasted back from the input is reported; on the output as written, no finding
    touches that face (it was covered)."""
    pytest.importorskip("onnxruntime")
    from redact.detectors import create_detector
    from redact.pipeline.photo import redact_photo

    root = evaldata / "faces_crowd_orig"
    entry = next(e for e in json.loads((root / "labels.json").read_text())["images"] if "Meeting_11_339" in e["file"])
    source = root / entry["file"]
    output = tmp_path / "out.jpg"
    redact_photo(source, output, Settings())
    x, y, w, h = (int(round(v)) for v in max((b for b in entry["boxes"] if 20 <= b[2] <= 40), key=lambda b: b[2]))
    face = [float(x), float(y), float(x + w), float(y + h)]
    leaky = cv2.imread(str(output))
    leaky[y : y + h, x : x + w] = cv2.imread(str(source))[y : y + h, x : x + w]
    checker = {"faces": create_detector("centerface", quality="thorough", threshold=0.6)}
    settings = Settings(targets=("faces",), face_threshold=0.6)
    assert not any(_iou(f.box, face) > 0.3 for f in verify(output, settings, detectors=checker).findings)
    found = verify(save(leaky, tmp_path / "leaky.jpg"), settings, detectors=checker).findings
    assert any(_iou(f.box, face) > 0.3 for f in found)


def low_bit_rate_frame(image: np.ndarray, crf: int) -> np.ndarray:
    """``image`` as one frame of an H.264 video at ``crf``, decoded again."""
    import av

    h, w = (v - v % 2 for v in image.shape[:2])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h, :w]), format="bgr24")
        for _ in range(3):  # a still scene: the last frame is predicted from the first, as most are
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)][-1]


@pytest.mark.parametrize("photo", ["Festival_21_585", "peoplevoting_56_122"])
def test_real_faces_in_a_low_bit_rate_video_frame_stay_reported(evaldata: Path, photo: str) -> None:
    """A low bit rate smooths real faces too (here, at crf 28, one face in each photo falls under
    the fixed half grey level): cover-like is judged against the picture's own variation."""
    root = evaldata / "faces_crowd_orig"
    entry = next(e for e in json.loads((root / "labels.json").read_text())["images"] if photo in e["file"])
    frame = low_bit_rate_frame(cv2.imread(str(root / entry["file"])), 28)
    faces = np.array([[x, y, x + w, y + h] for x, y, w, h in entry["boxes"] if w >= 16], np.float32)
    found = Detections.from_boxes(faces, np.full(len(faces), 0.35, np.float32), kind="face")
    kept, dismissed = residual(frame, found)
    assert dismissed == 0 and len(kept) == len(faces)


def test_the_middle_is_judged_as_on_the_whole_picture() -> None:
    """cover_surface crops the box's surroundings for speed: the share must be the one the whole
    picture's noise map gives (a crop narrower than the filters' reach mirrored its border in)."""
    rng = np.random.default_rng(7)
    # noise of about the surface limit everywhere, so that a small error flips pixels
    image = np.clip(120 + rng.normal(0, 0.6, (120, 160)), 0, 255).astype(np.uint8)
    noise = pixel_noise(image)
    for _ in range(40):
        x, y, size = int(rng.integers(10, 100)), int(rng.integers(10, 60)), int(rng.integers(16, 48))
        box = np.array([x, y, x + size, y + size], np.float32)
        xa, ya, xb, yb = x + size // 4, y + size // 4, x + size - size // 4, y + size - size // 4
        expected = float((noise[ya:yb, xa:xb] < SURFACE_NOISE).mean())
        assert cover_surface(image, box) == pytest.approx(expected)


def test_real_crowd_faces_partly_under_a_neighbours_cover_stay_reported(evaldata: Path) -> None:
    """Every labelled face >= 16 px of a real crowd photo, one at a time with a neighbour's cover
    (margin included) reaching 40% into it from the left, saved as the tool saves: still reported."""
    root = evaldata / "faces_crowd_orig"
    entry = next(e for e in json.loads((root / "labels.json").read_text())["images"] if "Funeral_6_77" in e["file"])
    image = cv2.imread(str(root / entry["file"]))
    faces = [[x, y, x + w, y + h] for x, y, w, h in entry["boxes"] if w >= 16]
    assert len(faces) >= 15
    for x1, y1, x2, y2 in faces:
        size = x2 - x1
        right = x1 + 0.4 * size - (0.15 * size + 4)  # the default face margin reaches 40% in
        output = covered(image, [[right - size, y1, right, y2]])
        _, data = cv2.imencode(".jpg", output, [cv2.IMWRITE_JPEG_QUALITY, 92])
        found = Detections.from_boxes(np.array([[x1, y1, x2, y2]], np.float32), np.array([0.33], np.float32))
        kept, dismissed = residual(cv2.imdecode(data, cv2.IMREAD_COLOR), found)
        assert dismissed == 0 and len(kept) == 1
