"""Make the README's review-page screenshots (docs/review-*.png) on a clip with two public-domain faces.

Needs Chromium and Playwright (as the browser test does). Real detection (CenterFace) runs on the
clip; the page is then driven as a person would: keep one face, draw a box over a name badge,
render and verify (the second face's track is cut short after frame 50, as a detector miss
would leave it, so that verify has something to mark).

    python tools/review_screenshots.py docs/
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from redact.demo import demo_face
from redact.review.detections_file import save
from redact.review.studio.server import create_app, local_socket
from redact.review.studio.session import ReviewSession
from redact.settings import Settings

W, H, FPS, FRAMES = 640, 360, 25, 75
BADGE = (470, 280, 590, 320)


def make_clip(path: Path) -> Path:
    face = cv2.resize(demo_face(), (140, 140), interpolation=cv2.INTER_AREA)
    other = cv2.flip(cv2.convertScaleAbs(face, alpha=0.85, beta=20), 1)
    yy, xx = np.mgrid[0:H, 0:W]
    background = np.stack([xx * 160 // W + 40, yy * 120 // H + 60, np.full_like(xx, 110)], -1).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "20", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(FRAMES):
            image = background.copy()
            x = 20 + int(200 * i / (FRAMES - 1))
            image[60:200, x : x + 140] = face
            image[90:230, 440:580] = other
            cv2.rectangle(image, BADGE[:2], BADGE[2:], (240, 240, 240), -1)
            cv2.putText(image, "J. DOE", (BADGE[0] + 10, BADGE[1] + 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (30, 30, 30), 2)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def small_png(source: Path, target: Path, box: tuple[int, int, int, int] | None = None, width: int = 900) -> None:
    image = Image.open(source).convert("RGB")
    if box:
        image = image.crop(box)
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.save(target, optimize=True)


def main(out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = make_clip(work / "interview.mp4")
        session = ReviewSession(src, work / "interview.mp4.detections.json", work / "interview.redacted.mp4")
        session.detect(Settings(targets=("faces",)))
        # for the verify screenshot, pretend the detector lost the second face after frame 50 (a
        # real miss looks the same): verify then finds it in those frames, marked red
        miss = {
            **session.data,
            "tracks": [
                dict(t, boxes=[b for b in t["boxes"] if b[0] <= 50])
                if t["id"] == session.data["tracks"][-1]["id"]
                else t
                for t in session.data["tracks"]
            ],
        }
        save(miss, session.tracks_path)
        session = ReviewSession(src, session.tracks_path, session.output)
        session.open()
        sock = local_socket()
        import uvicorn

        server = uvicorn.Server(
            uvicorn.Config(create_app(session, "t", sock.getsockname()[1]), log_level="warning", lifespan="off")
        )
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1300, "height": 760})
            page.goto(f"http://127.0.0.1:{sock.getsockname()[1]}/t/")
            page.wait_for_selector("body[data-ready='1']")
            page.locator("#tracks li").first.get_by_role("button", name="Keep visible").click()
            page.wait_for_selector("#tracks li.kept")
            page.locator("#scrub").fill("20")
            expect(page.locator("#frame")).to_have_attribute("data-frame", "20")
            page.screenshot(path=str(work / "tracks.png"))
            page.click("#draw")
            c = page.locator("#frame").bounding_box()
            sx, sy = c["width"] / W, c["height"] / H
            page.mouse.move(c["x"] + (BADGE[0] - 6) * sx, c["y"] + (BADGE[1] - 6) * sy)
            page.mouse.down()
            page.mouse.move(c["x"] + (BADGE[2] + 6) * sx, c["y"] + (BADGE[3] + 6) * sy, steps=5)
            page.mouse.up()
            page.wait_for_selector("#manual li")
            page.locator("#scrub").fill("60")
            expect(page.locator("#frame")).to_have_attribute("data-frame", "60")
            page.click("#region-end")
            expect(page.locator("#manual li")).to_contain_text("frames 20-60")
            page.locator("#scrub").fill("40")
            expect(page.locator("#frame")).to_have_attribute("data-frame", "40")
            page.screenshot(path=str(work / "manual.png"))
            page.click("#render")
            expect(page.locator("#verify-summary")).not_to_contain_text("not run", timeout=600_000)
            page.check("#redacted")
            page.locator("#findings li:not(.kept)").first.click()
            time.sleep(1.0)
            page.screenshot(path=str(work / "verify.png"))
            browser.close()
        server.should_exit = True
        session.shutdown()
        out.mkdir(parents=True, exist_ok=True)
        small_png(work / "tracks.png", out / "review-tracks-timeline.png")
        small_png(work / "manual.png", out / "review-manual-region.png", box=(0, 0, 1060, 600), width=800)
        small_png(work / "verify.png", out / "review-verify-markers.png")
        print("wrote", ", ".join(str(p) for p in sorted(out.glob("review-*.png"))))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
