"""Review round trip: detect -> edit the detections file -> render exactly that."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import EXACT, ScriptedDetector
from media import checker, decode_frames, pattern, write_clip

from redact.errors import DetectionsFileError
from redact.media.source import probe
from redact.pipeline.video import detect_video, redact_video
from redact.review.detections_file import Recorder, load

W, H = 320, 160
A, B = [20, 20, 60, 60], [120, 20, 160, 60]  # two "faces"
C_START, C_END = [200, 100, 240, 140], [260, 100, 300, 140]  # a badge the detector can't know


def clip(tmp_path: Path, frames: int = 25) -> Path:
    images = []
    for i in range(frames):
        image = pattern(W, H)
        for x1, y1, x2, y2 in (A, B):
            image[y1:y2, x1:x2] = checker(40, 40)
        x = 200 + round(60 * i / (frames - 1))
        image[100:140, x : x + 40] = checker(40, 40)
        images.append(image)
    return write_clip(tmp_path / "in.mp4", frames=frames, size=(W, H), images=images)


def hidden(image: np.ndarray, box: list[int]) -> float:
    x1, y1, x2, y2 = box
    white = checker(x2 - x1, y2 - y1)[:, :, 0] > 128
    return float((image[y1:y2, x1:x2].max(axis=2)[white] < 60).mean())


def detections_file(tmp_path: Path, src: Path) -> tuple[Path, dict]:
    detector = ScriptedDetector(lambda i, img: [A, B])
    recorder = Recorder(probe(src), EXACT.to_dict())
    detect_video(src, EXACT, detectors={"faces": detector}, on_frame=recorder)
    path = recorder.write(tmp_path / "in.detections.json")
    return path, json.loads(path.read_text())


def test_round_trip_drop_one_track_add_one_region(tmp_path: Path) -> None:
    src = clip(tmp_path)
    path, data = detections_file(tmp_path, src)
    assert data["schema"] == "redact-detections" and data["version"] == 1
    assert data["video"]["frame_count"] == 25 and len(data["frames"]["pts"]) == 25
    assert len(data["tracks"]) == 2
    track_a = next(t for t in data["tracks"] if t["boxes"][0][1:5] == A)
    # the reviewer's edits: A consented, and a badge moves from C_START to C_END over frames 0..24
    data["keep_visible"] = [track_a["id"]]
    data["manual"] = [{"keyframes": [{"frame": 0, "box": C_START}, {"frame": 24, "box": C_END}]}]
    path.write_text(json.dumps(data))

    plan, _ = load(path, probe(src))
    dst = tmp_path / "out.mp4"
    redact_video(src, dst, EXACT, plan=plan)
    frames, _, _ = decode_frames(dst)
    assert len(frames) == 25
    for i, image in enumerate(frames):
        x = 200 + round(60 * i / 24)
        assert hidden(image, A) < 0.05, f"A stays visible in frame {i}"
        assert hidden(image, B) > 0.97, f"B covered in frame {i}"
        assert hidden(image, [x, 100, x + 40, 140]) > 0.9, f"the badge covered in frame {i}"


@pytest.mark.parametrize("shape", ["rect", "ellipse"])
def test_cover_all_range_and_keep_visible_option(tmp_path: Path, shape: str) -> None:
    """Whole frames are whole whatever the shape of face regions (an ellipse left the corners)."""
    src = clip(tmp_path)
    path, data = detections_file(tmp_path, src)
    data["cover_all"] = [{"start": 0.4, "end": 0.6}]  # frames 10..15 at 25 fps
    path.write_text(json.dumps(data))
    ids = {t["id"] for t in data["tracks"]}
    plan, _ = load(path, probe(src), keep_visible=ids)
    dst = tmp_path / "out.mp4"
    redact_video(src, dst, EXACT.replace(shape=shape), plan=plan)
    frames, _, _ = decode_frames(dst)
    for i, image in enumerate(frames):
        whole = float((image.max(axis=2) < 40).mean())
        if 10 <= i <= 15:
            assert whole > 0.99, (i, whole)
        else:
            assert whole < 0.5 and hidden(image, B) < 0.05, i


def edit(path: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data)
    bad = path.with_name("edited.json")
    bad.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return bad


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(schema="other"), "not a redact detections file"),
        (lambda d: d["tracks"][0]["boxes"][0].__setitem__(1, "x"), "box"),
        (lambda d: d["tracks"][0]["boxes"][0].__setitem__(0, 999), "outside"),
        (lambda d: d["tracks"][0].update(kind="cat"), "kind"),
        (lambda d: d["video"].update(sha256="0" * 64), "another video"),
        (lambda d: d["video"].update(width=640), "made for a 640x160"),
        (lambda d: d.update(manual=[{"keyframes": []}]), "keyframe"),
        (lambda d: d.update(cover_all=[{"start": 5}]), "cover_all"),
        # these two were "internal error", exit 70 (issue 14, defect 4)
        (lambda d: d["tracks"][0]["boxes"][0].__setitem__(5, "high"), "score"),
        (lambda d: d["video"].update(time_base="1/0"), "time_base"),
    ],
)
def test_malformed_or_mismatched_file_refused(tmp_path: Path, change, message: str) -> None:
    src = clip(tmp_path, frames=6)
    path, _ = detections_file(tmp_path, src)
    with pytest.raises(DetectionsFileError, match=message):
        load(edit(path, change), probe(src))


def test_not_json_and_unknown_keep_visible_refused(tmp_path: Path) -> None:
    src = clip(tmp_path, frames=6)
    path, _ = detections_file(tmp_path, src)
    broken = tmp_path / "broken.json"
    broken.write_text(path.read_text()[:50])
    with pytest.raises(DetectionsFileError, match="not valid JSON"):
        load(broken, probe(src))
    with pytest.raises(DetectionsFileError, match="not in the file"):
        load(path, probe(src), keep_visible={999})


def test_file_for_another_cut_of_the_video_refused_while_rendering(tmp_path: Path) -> None:
    src = clip(tmp_path, frames=6)
    path, _ = detections_file(tmp_path, src)
    shorter = write_clip(tmp_path / "short.mp4", frames=4, size=(W, H))
    with pytest.raises(DetectionsFileError):
        plan, _ = load(path, probe(shorter), check_hash=False)
        redact_video(shorter, tmp_path / "o.mp4", EXACT, plan=plan)
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("name", ["missing/sheet.png", "sheet.xyz"])
def test_a_contact_sheet_that_cannot_be_written_is_an_output_error(tmp_path: Path, name: str) -> None:
    """It was a bare OSError (or OpenCV's error): "internal error", exit 70 (issue 14, defect 4)."""
    from redact.detections import Detections
    from redact.errors import OutputError
    from redact.review.contact import Tile, contact_sheet

    tile = Tile(pattern(64, 48), Detections.empty(), "frame 0")
    with pytest.raises(OutputError, match="contact sheet"):
        contact_sheet([tile], tmp_path / name)
    assert contact_sheet([tile], tmp_path / "ok.png").exists()
