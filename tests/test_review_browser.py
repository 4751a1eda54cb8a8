"""The review page in a real browser (Chromium from the system's packages, driven by Playwright).

Two faces: keep one visible, draw a manual box where there is no face, mute a stretch of the sound
(undone and redone), save, render; then the output's pixels and samples must show exactly those choices.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import EXACT, ScriptedDetector
from media import checker, decode_audio, decode_frames, pattern, write_clip

from redact.media.source import probe
from redact.pipeline.video import detect_video
from redact.review.detections_file import Recorder

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
try:
    from playwright import sync_api
except ImportError:
    sync_api = None
MISSING = (
    "playwright is not installed (pip install -e '.[test]')"
    if sync_api is None
    else ("chromium is not installed (apt-get install chromium)" if not Path(CHROMIUM).exists() else None)
)
if MISSING and os.environ.get("REDACT_REQUIRE_BROWSER") == "1":  # CI (.ci/run) installs both: no quiet skip there
    raise RuntimeError(MISSING)
if MISSING:
    pytest.skip(MISSING, allow_module_level=True)
import uvicorn  # noqa: E402

from redact.review.studio.server import create_app, local_socket  # noqa: E402
from redact.review.studio.session import ReviewSession  # noqa: E402

W, H, FRAMES = 480, 240, 24
A, B = [40, 40, 100, 100], [200, 40, 260, 100]  # two "faces"
C = [340, 140, 420, 200]  # an area with no face (a badge, say)
MANUAL_FIRST, MANUAL_LAST = 5, 12
SHIFT = 42  # pixels the manual box is moved left at its last frame
MUTE_FIRST, MUTE_LAST = 8, 15  # frames whose sound is muted


def clip(path: Path) -> Path:
    images = []
    for _i in range(FRAMES):
        image = pattern(W, H)
        for x1, y1, x2, y2 in (A, B, C):
            image[y1:y2, x1:x2] = checker(x2 - x1, y2 - y1)
        images.append(image)
    return write_clip(path, frames=FRAMES, size=(W, H), images=images, audio=True)


def hidden(image: np.ndarray, box: list[int], from_x: int | None = None) -> float:
    """Share of the box's white checker cells (right of from_x) that are now dark (EXACT covers with black)."""
    x1, y1, x2, y2 = box
    white = checker(x2 - x1, y2 - y1)[:, :, 0] > 128
    white[:2], white[-2:], white[:, :2], white[:, -2:] = False, False, False, False  # edges blur in the codec
    if from_x is not None:
        white[:, : max(0, from_x - x1)] = False
    return float((image[y1:y2, x1:x2].max(axis=2)[white] < 60).mean())


@pytest.fixture
def served(tmp_path: Path):
    src = clip(tmp_path / "two-faces.mp4")
    recorder = Recorder(probe(src), EXACT.to_dict())
    detect_video(src, EXACT, detectors={"faces": ScriptedDetector(lambda i, img: [A, B])}, on_frame=recorder)
    tracks = recorder.write(tmp_path / "two-faces.mp4.detections.json")
    session = ReviewSession(src, tracks, tmp_path / "out.mp4")
    session.open()
    sock = local_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(session, "tok3n", port), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield session, f"http://127.0.0.1:{port}/tok3n/"
    server.should_exit = True
    thread.join(10)
    session.shutdown()


def go_to(page, frame: int) -> None:
    page.locator("#scrub").fill(str(frame))
    sync_api.expect(page.locator("#frame")).to_have_attribute("data-frame", str(frame))
    sync_api.expect(page.locator("#frame")).to_have_attribute("data-exact", "1")


def test_keep_one_face_draw_a_box_save_render(served, tmp_path: Path) -> None:
    session, url = served
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#tracks li").count() == 2
        page.screenshot(path=str(tmp_path / "1-opened.png"))

        kept_id = int(page.locator("#tracks li").first.get_attribute("data-track"))
        page.locator("#tracks li").first.get_by_role("button", name="Keep visible").click()
        page.wait_for_selector("#tracks li.kept")
        page.screenshot(path=str(tmp_path / "2-kept.png"))

        go_to(page, MANUAL_FIRST)
        page.keyboard.press("ArrowRight")  # the keyboard steps too
        sync_api.expect(page.locator("#frame")).to_have_attribute("data-frame", str(MANUAL_FIRST + 1))
        page.keyboard.press("ArrowLeft")
        sync_api.expect(page.locator("#frame")).to_have_attribute("data-frame", str(MANUAL_FIRST))
        page.click("#draw")
        canvas = page.locator("#frame").bounding_box()
        sx, sy = canvas["width"] / W, canvas["height"] / H
        page.mouse.move(canvas["x"] + C[0] * sx, canvas["y"] + C[1] * sy)
        page.mouse.down()
        page.mouse.move(canvas["x"] + (C[0] + C[2]) / 2 * sx, canvas["y"] + (C[1] + C[3]) / 2 * sy, steps=3)
        page.mouse.move(canvas["x"] + C[2] * sx, canvas["y"] + C[3] * sy, steps=3)
        page.mouse.up()
        page.wait_for_selector("#manual li")
        go_to(page, MANUAL_LAST)
        page.click("#region-end")
        sync_api.expect(page.locator("#manual li")).to_contain_text(f"frames {MANUAL_FIRST}-{MANUAL_LAST}")
        # move it at its last frame: a second key frame there, the box interpolated in between
        cx, cy = (C[0] + C[2]) / 2, (C[1] + C[3]) / 2
        page.mouse.move(canvas["x"] + cx * sx, canvas["y"] + cy * sy)
        page.mouse.down()
        page.mouse.move(canvas["x"] + (cx - SHIFT) * sx, canvas["y"] + cy * sy, steps=4)
        page.mouse.up()
        sync_api.expect(page.locator("#manual li")).to_contain_text("2 key frame(s)")
        page.screenshot(path=str(tmp_path / "3-manual.png"))

        go_to(page, MUTE_FIRST)
        page.click("#mute-from")
        go_to(page, MUTE_LAST)
        page.click("#mute-to")
        sync_api.expect(page.locator("#mute li")).to_contain_text(f"frames {MUTE_FIRST}-{MUTE_LAST}")
        page.keyboard.press("Control+z")
        sync_api.expect(page.locator("#mute li")).to_have_count(0)
        page.keyboard.press("Control+Shift+z")
        sync_api.expect(page.locator("#mute li")).to_have_count(1)
        page.screenshot(path=str(tmp_path / "3b-muted.png"))

        page.click("#save")
        sync_api.expect(page.locator("#save")).to_have_text("Save")
        page.click("#render")
        sync_api.expect(page.locator("#verify-summary")).not_to_contain_text("not run", timeout=120_000)
        page.check("#redacted")
        go_to(page, MANUAL_LAST)
        page.screenshot(path=str(tmp_path / "4-rendered.png"))
        browser.close()
    assert not errors, errors

    times = session.timeline.frame_seconds
    assert json.loads(session.tracks_path.read_text())["mute"] == [
        {"start": times[MUTE_FIRST], "end": times[MUTE_LAST + 1]}
    ]
    sound, rate, start = decode_audio(session.output)
    first, last = (round((times[i] - float(start)) * rate) for i in (MUTE_FIRST, MUTE_LAST + 1))
    assert not sound[:, first:last].any(), "the muted frames' sound is not silent"
    assert np.abs(sound[:, : first - 2048]).max() > 0.1 and np.abs(sound[:, last + 2048 :]).max() > 0.1

    kept = next(t for t in session.data["tracks"] if t["id"] == kept_id)
    kept_box, other_box = (A, B) if kept["boxes"][0][1:5] == A else (B, A)
    images, _, _ = decode_frames(session.output)
    assert len(images) == FRAMES
    for i, image in enumerate(images):
        assert hidden(image, kept_box) == 0.0, f"frame {i}: the kept face was covered"
        assert hidden(image, other_box) > 0.95, f"frame {i}: the other face was left visible"
        if MANUAL_FIRST <= i <= MANUAL_LAST:
            dx = round(SHIFT * (i - MANUAL_FIRST) / (MANUAL_LAST - MANUAL_FIRST))
            x1, y1, x2, y2 = C[0] - dx, C[1], C[2] - dx, C[3]
            assert dark(image, [x1 + 3, y1 + 3, x2 - 3, y2 - 3]) > 0.98, f"frame {i}: manual box not covered"
            if dx > 6:  # what the moved box left behind shows again
                assert hidden(image, C, from_x=x2 + 3) < 0.02, f"frame {i}: covered beyond the moved box"
        else:
            assert hidden(image, C) < 0.02, f"frame {i}: manual area covered outside its frames"


def dark(image: np.ndarray, box: list[int]) -> float:
    x1, y1, x2, y2 = box
    return float((image[y1:y2, x1:x2].max(axis=2) < 60).mean())
