"""Crowds: tracks follow a moving camera, hundreds of regions are covered in one pass, regions fit faces."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import EXACT
from media import checker, decode_frames, write_clip

from redact.cover import styles
from redact.cover.regions import FACE_MARGIN_PX, grow, label_map, margins
from redact.detections import Detections
from redact.pipeline.video import redact_video
from redact.settings import Settings
from redact.tracking.motion import CameraMotion


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Blurred noise: corners everywhere, like a crowd or a street, for the motion estimate."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC), (5, 5), 0)


def similarity(scale: float, dx: float, dy: float, centre: tuple[float, float]) -> np.ndarray:
    cx, cy = centre
    return np.array([[scale, 0, cx - scale * cx + dx], [0, scale, cy - scale * cy + dy], [0, 0, 1]])


def test_camera_motion_recovers_a_pan_and_a_zoom() -> None:
    scene = texture(640, 360)
    truth = similarity(1.02, 7.5, -3.25, (320, 180))
    moved = cv2.warpAffine(scene, truth[:2], (640, 360), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    motion = CameraMotion()
    assert np.allclose(motion.update(scene), np.eye(3))
    found = motion.update(moved)
    points = np.array([[100, 80, 1], [540, 300, 1], [320, 180, 1]], dtype=float)
    assert np.abs(points @ found.T - points @ truth.T)[:, :2].max() < 0.5, found


def test_camera_motion_is_still_when_only_something_in_front_moves() -> None:
    """A textured thing crossing in front of a still camera is not a camera move."""
    scene = texture(640, 360)
    patch = texture(240, 200, seed=1)
    first, second = scene.copy(), scene.copy()
    first[80:280, 100:340] = patch
    second[80:280, 112:352] = patch
    motion = CameraMotion()
    motion.update(first)
    assert np.allclose(motion.update(second), np.eye(3))


def panning_crowd(tmp_path: Path, frames: int = 31, speed: int = 9) -> tuple[Path, list[list[list[int]]]]:
    """A camera panning across a grid of 16 px 'faces' on a textured wall: every 6 frames the grid
    moves 54 px, more than the 40 px between neighbours, so only the camera's motion tells which
    face is which."""
    width, height, side, spacing = 480, 270, 16, 40
    wall = texture(width + speed * frames + 80, height, seed=2)
    faces = [(x, y) for y in range(30, height - side - 20, spacing) for x in range(20, wall.shape[1] - side, spacing)]
    for x, y in faces:
        wall[y : y + side, x : x + side] = checker(side, side, cell=4)
    images, truth = [], []
    for i in range(frames):
        shift = speed * i
        images.append(np.ascontiguousarray(wall[:, shift : shift + width]))
        truth.append([[x - shift, y, x - shift + side, y + side] for x, y in faces if 0 <= x - shift <= width - side])
    return write_clip(tmp_path / "pan.mp4", frames=frames, size=(width, height), images=images), truth


def test_a_panning_crowd_stays_covered_between_detections_with_one_track_per_face(tmp_path: Path) -> None:
    src, truth = panning_crowd(tmp_path)

    class EverySixth:  # the scripted detector sees the frame index through its call count
        kind = "face"
        calls = 0

        def detect(self, image: np.ndarray) -> Detections:
            boxes = truth[6 * self.calls]
            self.calls += 1
            return Detections.from_boxes(np.array(boxes, np.float32))

    out = tmp_path / "out.mp4"
    report = redact_video(
        src, out, EXACT.replace(face_every=6, hold=1.0, backfill=0.5), detectors={"faces": EverySixth()}
    )
    frames, _, _ = decode_frames(out)
    white = checker(16, 16, cell=4)[:, :, 0] > 128
    worst = min(
        float((f[y1:y2, x1:x2].max(axis=2)[white] < 60).mean())
        for f, boxes in zip(frames, truth)
        for x1, y1, x2, y2 in boxes
    )
    assert worst > 0.95
    seen = {tuple(b) for i in range(0, len(truth), 6) for b in truth[i]}
    faces = len({(x1 + 9 * i, y1) for i in range(0, len(truth), 6) for x1, y1, *_ in truth[i]})
    assert len(seen) > faces  # the same faces, found again at other places
    assert report.tracks["face"] == faces


def test_hundreds_of_regions_are_covered_in_one_pass_exactly_as_each_alone() -> None:
    image = texture(960, 540, seed=3)
    rng = np.random.default_rng(4)
    boxes = np.array(
        [
            [x, y, x + rng.integers(8, 30), y + rng.integers(8, 30)]
            for y in range(0, 500, 36)
            for x in range(0, 920, 36)
        ],
        dtype=np.float32,
    )
    assert len(boxes) >= 300
    for style in ("pixelate", "fill"):
        together = styles.apply(image.copy(), boxes, style, "ellipse")
        covered = label_map(boxes, "ellipse", 540, 960) >= 0
        assert np.array_equal(together[~covered], image[~covered])  # nothing outside the regions changes
        for box in boxes[::37]:
            alone = styles.apply(image.copy(), box[None], style, "ellipse")
            x1, y1, x2, y2 = (int(v) for v in (box[0], box[1], np.ceil(box[2]), np.ceil(box[3])))
            assert np.array_equal(together[y1:y2, x1:x2], alone[y1:y2, x1:x2]), (style, box)


def test_blur_of_a_large_frame_is_made_of_each_regions_samples_only() -> None:
    """The blur of a large frame is computed on a smaller grid: still a function of the samples alone."""
    a, b = texture(1280, 720, seed=5), texture(1280, 720, seed=6)
    boxes = np.array([[100, 100, 220, 260], [600, 300, 640, 350], [1000, 500, 1280, 720]], np.float32)
    spans = np.array([[int(v) for v in (x1, y1, np.ceil(x2), np.ceil(y2))] for x1, y1, x2, y2 in boxes])
    gx, gy = styles.grid_points(spans, styles.BLUR_GRID)
    for k in range(len(boxes)):  # b shares only the sample points with a
        b[gy[k][:, None], gx[k][None, :]] = a[gy[k][:, None], gx[k][None, :]]
    covered = label_map(boxes, "ellipse", 720, 1280) >= 0
    pa, pb = styles.apply(a.copy(), boxes, "blur", "ellipse"), styles.apply(b.copy(), boxes, "blur", "ellipse")
    assert np.array_equal(pa[covered], pb[covered])
    assert (a[covered] != pa[covered]).any(axis=1).mean() > 0.9


def test_a_region_smaller_than_the_blur_grid_is_covered_with_its_own_samples() -> None:
    """A large frame's blur is computed on a coarse grid; a region a few pixels wide between its
    points must still get its own colour, not the black of the empty grid around it."""
    image = np.full((1080, 1920, 3), 200, np.uint8)
    boxes = np.array(
        [[100 + 40 * i + i / 7, 300 + i / 5, 105 + 41 * i + i / 3, 306 + i / 2] for i in range(12)], np.float32
    )
    out = styles.apply(image.copy(), boxes, "blur", "ellipse")
    covered = label_map(boxes, "ellipse", 1080, 1920) >= 0
    assert covered.sum() > 200
    assert np.abs(out[covered].astype(int) - 200).max() <= 1


@pytest.mark.parametrize("style", ["blur", "pixelate", "fill"])
def test_regions_at_and_beyond_the_frame_edge(style: str) -> None:
    """Tracks drift out of the frame: a region wholly outside covers nothing, one across the edge
    covers up to the last row and column."""
    image = texture(1280, 720, seed=7)
    boxes = np.array([[-300, 100, -2, 200], [1281, 10, 1400, 50], [1200, 650, 1300, 760]], np.float32)
    for shape in ("ellipse", "rect"):
        out = styles.apply(image.copy(), boxes, style, shape)
        assert np.array_equal(out[:, :1200], image[:, :1200]) and np.array_equal(out[:650], image[:650])
    assert (out[650:, 1200:] != image[650:, 1200:]).any(axis=2).mean() > 0.9


@pytest.mark.parametrize("size", [16, 40, 200])
def test_face_regions_grow_with_the_face_not_beyond(size: int) -> None:
    box = Detections.from_boxes([[100, 100, 100 + size, 100 + size]])
    x1, y1, x2, y2 = grow(box, margins(Settings()))[0]
    side = Settings().face_margin * size + FACE_MARGIN_PX
    assert np.allclose([100 - x1, x2 - 100 - size, y2 - 100 - size], side, atol=1e-3)
    assert 100 - y1 > side  # more room above, for hair
    assert (x2 - x1) <= 1.3 * size + 2 * FACE_MARGIN_PX + 1e-3


def test_guessed_boxes_are_covered_as_the_tracker_sized_them_and_old_files_keep_their_margin() -> None:
    """The tracker sizes a guess by its doubt; a detections file from before it did (no
    'filled_margin') still gets the margin those versions added to every filled face box."""
    from redact.media.timeline import Timeline
    from redact.review.detections_file import LEGACY_FILLED_MARGIN, Plan

    found = Detections.from_boxes([[100, 100, 140, 140]])
    guessed = found.with_track_ids(np.array([1]), np.array([True]))
    assert np.allclose(grow(found, margins(Settings())), grow(guessed, margins(Settings())))
    entry = ([100.0, 100.0, 140.0, 140.0], 0.9, 0, 1, True)
    timeline = Timeline([0], Fraction(1, 25))
    new = Plan(timeline, {0: [entry]}, filled_margin=0.0).detections(0, 640, 360)
    old = Plan(timeline, {0: [entry]}, filled_margin=LEGACY_FILLED_MARGIN).detections(0, 640, 360)
    assert np.allclose(new.boxes[0], [100, 100, 140, 140])
    assert np.allclose(old.boxes[0], [90, 90, 150, 150])


def test_where_neighbours_regions_overlap_the_blur_meets_in_a_gradient_not_a_seam() -> None:
    """A dark face's region under a neighbour's region that reaches into a bright area: the two blends
    meet over several pixels (the tool's own seams were what `verify` took for faces), and nothing
    outside the regions changes."""
    image = np.zeros((720, 1280, 3), np.uint8)
    image[:, :640] = 40
    image[:, 640:] = 220
    boxes = np.array([[300, 200, 620, 500], [560, 260, 900, 440]], np.float32)
    out = styles.apply(image.copy(), boxes, "blur", "ellipse")
    row = out[350, 500:640, 0].astype(int)  # across the smaller region's left edge, inside the larger
    assert row[0] == 40 and row[-1] > 100, row
    assert np.abs(np.diff(row)).max() <= 8, row  # a hard seam steps 17 levels a pixel here
    covered = label_map(boxes, "ellipse", 720, 1280) >= 0
    assert np.array_equal(out[~covered], image[~covered])
