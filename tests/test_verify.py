"""`redact verify` finds leaks, not covers: a finding needs more than one face-like response (two
models, two views each), the run's detections file says where the cover must be, and a face left
visible (alone, beside covers, partly under one, or in a few frames of a video) is still reported."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ScriptedDetector
from media import pattern

from redact.cover import styles
from redact.demo import demo_face, make_demo_clip
from redact.detections import Detections
from redact.media.source import probe
from redact.pipeline.video import redact_video
from redact.review import opinions
from redact.review.cover_evidence import cover_surface, find_plan, pixel_noise, tracks_beside
from redact.review.detections_file import Recorder, load
from redact.review.verify import verify
from redact.settings import Settings

SIZES = (16, 24, 40, 72, 128)  # from the smallest face verify must report to a close-up
FACES = Settings(targets=("faces",))
FACE_BOX = (86, 24, 140, 94)  # the demo portrait's face, hair to chin, in its 256 px


def face(width: int) -> np.ndarray:
    """The demo portrait's face (hair to chin), ``width`` px wide."""
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


def iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def reported(report, box: list[float]) -> bool:
    return any(iou(f.box, box) > 0.3 for f in report.findings)


@pytest.fixture(scope="module")
def models():
    """Verify's own models, built once (CenterFace thorough and close-look, YuNet)."""
    pytest.importorskip("onnxruntime")
    from redact.review.verify import build_checkers

    return build_checkers(FACES)


# -- the rule -------------------------------------------------------------------------------------


class Views(opinions.Look):
    """A candidate whose four views are given (the rule alone, without pixels)."""

    def __init__(self, cw: float, cc: float, yw: float, yc: float) -> None:
        self.__dict__.update(centerface_wide=cw, centerface_close=cc, yunet_wide=yw, yunet_close=yc, full={})


BV, BW, CA, YA, COV = (
    opinions.BOTH_VIEWS,
    opinions.BOTH_WIDE,
    opinions.CENTERFACE_ALONE,
    opinions.YUNET_ALONE,
    opinions.COVERED,
)


@pytest.mark.parametrize(
    ("views", "covered", "expected"),
    [
        ((0.9, 0.9, 0.9, 0.9), 1.0, "both models, both views"),  # on a cover too: a face pasted back
        ((BV, BV, BV, BV), 1.0, "both models, both views"),
        ((0.9, 0.9, 0.9, BV - 0.01), 1.0, None),  # one view short, on a cover: set aside
        ((CA, CA, 0.0, 0.0), 0.0, "CenterFace, both views"),  # one model, away from covers
        ((0.9, 0.9, 0.0, 0.0), COV, None),  # ... but not on a cover
        ((0.9, CA - 0.01, 0.0, 0.0), 0.0, None),  # one model in one view: a texture, a rim
        ((0.0, 0.0, YA, YA), 0.0, "YuNet, both views"),
        ((0.0, 0.0, 0.9, YA - 0.01), 0.0, None),
        ((BW, 0.0, BW, 0.0), 0.0, "both models"),  # both models in the wide view
        ((BW, 0.0, BW, 0.0), COV, None),
        ((0.9, 0.0, BW - 0.01, 0.0), 0.0, None),
    ],
)
def test_the_rule_needs_more_than_one_face_like_response(views, covered: float, expected: str | None) -> None:
    assert opinions.verdict(Views(*views), covered) == expected


def test_the_rule_asks_for_the_cheap_views_first() -> None:
    """YuNet's views before CenterFace's: a candidate YuNet settles costs no CenterFace run."""

    class Counting(opinions.Look):
        def __init__(self) -> None:
            self.asked: list[str] = []
            self.full: dict[str, float] = {}

        def __getattribute__(self, name: str):
            if name.startswith(("yunet_", "centerface_")):
                object.__getattribute__(self, "asked").append(name)
                return 0.9 if name.startswith("yunet") else 0.0
            return object.__getattribute__(self, name)

    look = Counting()
    assert opinions.verdict(look, 0.0) == "YuNet, both views"
    assert look.asked[:1] == ["yunet_close"] and look.asked.count("centerface_wide") <= 1


# -- photos, real pixels, real models ------------------------------------------------------------


@pytest.mark.parametrize("style", ["blur", "fill", "pixelate"])
def test_covered_faces_are_clean(tmp_path: Path, models, style: str) -> None:
    image, boxes = crowd_photo()
    report = verify(save(covered(image, boxes, style), tmp_path / "covered.jpg"), FACES, detectors=models)
    assert report.clean, report.to_dict()


def test_faces_left_visible_are_reported_at_every_size(tmp_path: Path, models) -> None:
    image, boxes = crowd_photo()
    report = verify(save(image, tmp_path / "visible.jpg"), FACES, detectors=models)
    assert all(reported(report, b) for b in boxes[1:]), report.to_dict()  # 24 px and up
    assert len(report.findings) <= len(boxes)


def test_one_face_left_visible_among_covered_ones_is_the_one_reported(tmp_path: Path, models) -> None:
    image, boxes = crowd_photo()
    for left in range(1, len(boxes)):
        output = covered(image, boxes[:left] + boxes[left + 1 :])
        report = verify(save(output, tmp_path / f"left-{left}.jpg"), FACES, detectors=models)
        assert [reported(report, b) for b in boxes] == [i == left for i in range(len(boxes))], left


@pytest.mark.parametrize("share", [0.25, 0.4])
def test_a_face_partly_under_a_neighbours_cover_is_reported(tmp_path: Path, models, share: float) -> None:
    """A neighbour's cover over the left quarter (or 40%) of a visible face: still a leak."""
    image, boxes = crowd_photo()
    neighbours = []
    for x1, y1, x2, y2 in boxes:  # a box of the face's size whose cover (margin included) reaches in
        size = x2 - x1
        right = x1 + share * size - (0.15 * size + 4)  # the default face margin
        neighbours.append([right - size, y1, right, y2])
    output = covered(image, neighbours)
    assert cover_surface(output, np.array(boxes[-1], np.float32)) >= 0  # measured, not assumed
    report = verify(save(output, tmp_path / "overlapped.jpg"), FACES, detectors=models)
    assert all(reported(report, b) for b in boxes[1:]), report.to_dict()


def test_a_real_crowd_photo_redacted_by_the_tool_with_one_face_left_visible(
    tmp_path: Path, evaldata: Path, models
) -> None:
    """faces_crowd_orig, through the real pipeline with default settings: clean as written; one
    labelled face of 20-40 px pasted back from the input is the one reported."""
    from redact.pipeline.photo import redact_photo

    root = evaldata / "faces_crowd_orig"
    entry = next(e for e in json.loads((root / "labels.json").read_text())["images"] if "Meeting_11_339" in e["file"])
    source = root / entry["file"]
    output = tmp_path / "out.jpg"
    redact_photo(source, output, Settings())
    x, y, w, h = (int(round(v)) for v in max((b for b in entry["boxes"] if 20 <= b[2] <= 40), key=lambda b: b[2]))
    box = [float(x), float(y), float(x + w), float(y + h)]
    assert verify(output, FACES, detectors=models).clean
    leaky = cv2.imread(str(output))
    leaky[y : y + h, x : x + w] = cv2.imread(str(source))[y : y + h, x : x + w]
    found = verify(save(leaky, tmp_path / "leaky.jpg"), FACES, detectors=models).findings
    assert [reported_box for reported_box in found if iou(reported_box.box, box) > 0.3]
    assert all(iou(f.box, box) > 0.3 for f in found)


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
def test_real_faces_in_a_low_bit_rate_frame_stay_reported(tmp_path: Path, evaldata: Path, models, photo: str) -> None:
    """A low bit rate smooths real faces (at crf 28 some middles look like a cover) and weakens both
    models: of the labelled faces >= 16 px that CenterFace alone finds at the old verify's operating
    point (0.3 from 16 px), verify still reports at least 80% (on these two photos: 8 of 8, 18 of 21)."""
    from redact.boxes import iou as boxes_iou

    root = evaldata / "faces_crowd_orig"
    entry = next(e for e in json.loads((root / "labels.json").read_text())["images"] if photo in e["file"])
    frame = low_bit_rate_frame(cv2.imread(str(root / entry["file"])), 28)
    cv2.imwrite(str(tmp_path / "frame.png"), frame)
    report = verify(tmp_path / "frame.png", FACES, detectors=models)
    found = models["faces"].detect(frame)
    faces = [[x, y, x + w, y + h] for x, y, w, h in entry["boxes"] if w >= 16]
    by_centerface = [
        f
        for f in faces
        if len(found) and found.scores[boxes_iou(np.array(f, np.float32), found.boxes) >= 0.3].max(initial=0) >= 0.3
    ]
    assert len(by_centerface) >= 8
    assert sum(reported(report, f) for f in by_centerface) >= 0.8 * len(by_centerface)


def test_the_middle_is_judged_as_on_the_whole_picture() -> None:
    """cover_surface crops the box's surroundings for speed: the share must be the one the whole
    picture's noise map gives (a crop narrower than the filters' reach mirrored its border in)."""
    from redact.review.cover_evidence import SURFACE_NOISE

    rng = np.random.default_rng(7)
    image = np.clip(120 + rng.normal(0, 0.6, (120, 160)), 0, 255).astype(np.uint8)
    noise = pixel_noise(image)
    for _ in range(40):
        x, y, size = int(rng.integers(10, 100)), int(rng.integers(10, 60)), int(rng.integers(16, 48))
        box = np.array([x, y, x + size, y + size], np.float32)
        xa, ya, xb, yb = x + size // 4, y + size // 4, x + size - size // 4, y + size - size // 4
        expected = float((noise[ya:yb, xa:xb] < SURFACE_NOISE).mean())
        assert cover_surface(image, box) == pytest.approx(expected)


# -- video: the detections file as evidence, and a leak of a few frames -----------------------------


def demo_face_box(index: int, frames: int, width: int = 640, height: int = 360) -> list[float]:
    """Where make_demo_clip puts the portrait's face in frame ``index``."""
    side = height // 2
    x = int((width - side) * index / max(frames - 1, 1))
    y = (height - side) // 2
    s = side / 256
    return [x + FACE_BOX[0] * s, y + FACE_BOX[1] * s, x + FACE_BOX[2] * s, y + FACE_BOX[3] * s]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    """The demo clip redacted with default covers, the face's box given exactly on every frame,
    and its detections file beside the output, as `redact clip.mp4 --save-tracks` leaves them."""
    folder = tmp_path_factory.mktemp("demo")
    frames = 30
    clip = make_demo_clip(folder / "clip.mp4", seconds=frames / 25)
    settings = Settings(targets=("faces",))
    recorder = Recorder(probe(clip), settings.to_dict())
    detector = ScriptedDetector(lambda i, img: [demo_face_box(i, frames)])
    output = folder / "clip.redacted.mp4"
    redact_video(clip, output, settings.replace(face_every=1), detectors={"faces": detector}, on_frame=recorder)
    tracks = recorder.write(folder / "clip.mp4.detections.json")
    return clip, output, tracks, frames


def test_the_detections_file_beside_the_output_is_found_and_checked(demo_run) -> None:
    clip, output, tracks, _ = demo_run
    assert tracks_beside(output) == [tracks]
    plan, notes = find_plan(output, probe(output), None)
    assert plan is not None and plan.path == tracks and not notes
    elsewhere = output.with_name("other.redacted.mp4")
    assert tracks_beside(elsewhere) == []


def test_the_cover_is_where_the_file_says_and_holds_the_covers_pixels(demo_run) -> None:
    """Inside a region the run painted the pixels are the cover's; the face pasted back there is not."""
    from redact.media.source import VideoSource
    from redact.review.cover_evidence import surface_limit

    clip, output, _, frames = demo_run
    plan, _ = find_plan(output, probe(output), None)
    assert plan is not None
    with VideoSource(probe(output), audio=False) as source:
        frame = next(f for f in source.video_frames() if f.index == 12)
    with VideoSource(probe(clip), audio=False) as source:
        original = next(f for f in source.video_frames() if f.index == 12)
    box = np.array(demo_face_box(12, frames), np.float32)
    regions = plan.labels(12, 640, 360)
    painted, held = plan.covered_share(frame.image, regions, box, surface_limit(frame.image))
    assert painted == 1.0 and held > 0.9
    x1, y1, x2, y2 = box.astype(int)
    leaky = frame.image.copy()
    leaky[y1:y2, x1:x2] = original.image[y1:y2, x1:x2]
    painted, held = plan.covered_share(leaky, regions, box, surface_limit(leaky))
    assert painted == 1.0 and held < 0.1


def test_a_face_left_uncovered_in_5_frames_is_reported_with_those_frames(demo_run, tmp_path: Path, models) -> None:
    """The detections file edited so that one face is not covered in frames 10-14, rendered as `redact
    render` does: verify reports exactly those frames, with the file as evidence and without it."""
    clip, output, tracks, _ = demo_run
    assert verify(output, FACES, detectors=models).clean  # the full redaction: nothing left
    data = json.loads(tracks.read_text())
    gone = set(range(10, 15))
    for track in data["tracks"]:
        track["boxes"] = [b for b in track["boxes"] if b[0] not in gone]
    leaky = tmp_path / "clip.redacted.mp4"
    edited = tmp_path / "clip.mp4.detections.json"
    edited.write_text(json.dumps(data))
    plan, _ = load(edited, probe(clip))
    redact_video(clip, leaky, Settings(targets=("faces",)), plan=plan)
    with_file = verify(leaky, FACES, detectors=models)
    assert with_file.tracks == str(edited)
    without = verify(leaky, FACES, detectors=models, use_tracks=False)
    for report in (with_file, without):
        assert sorted({f.frame for f in report.findings}) == sorted(gone), report.to_dict()
    fast = verify(leaky, FACES, detectors=models, fast=True)
    assert fast.stopped_early and {f.frame for f in fast.findings} == {10}


class Counting:
    """A face model that counts the second looks it is asked for (pictures smaller than the frame)."""

    def __init__(self, inner, frame_width: int) -> None:
        self.inner, self.kind, self.frame_width, self.looks = inner, "face", frame_width, 0

    def detect(self, image: np.ndarray) -> Detections:
        self.looks += image.shape[1] < self.frame_width
        return self.inner.detect(image)


def test_a_candidate_set_aside_is_not_looked_at_again_in_the_next_frames(
    demo_run, models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Covers stay on a face from frame to frame: what was set aside at one place is set aside again
    without second looks (the 5-frame leak above is still found: the full pass's score rises)."""
    from redact.review import verify as verify_module

    _, output, _, frames = demo_run
    counts = []
    for reuse in (verify_module.REUSE_FRAMES, 0):
        monkeypatch.setattr(verify_module, "REUSE_FRAMES", reuse)
        looks = [Counting(models["faces_look"], 640), Counting(models["faces_second"], 640)]
        report = verify(output, FACES, detectors={**models, "faces_look": looks[0], "faces_second": looks[1]})
        assert report.clean
        counts.append((sum(m.looks for m in looks), report.covers_dismissed + report.weak_dismissed))
    (with_reuse, set_aside), (without, set_aside_without) = counts
    assert set_aside == set_aside_without >= frames // 2  # the same candidates, set aside either way
    assert with_reuse <= 0.7 * without  # the demo face moves 15 px a frame: half of its covers are reused
