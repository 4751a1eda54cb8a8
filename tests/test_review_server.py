"""The review page's server: exact frames, edits with undo, save, render + verify, and its security checks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from conftest import EXACT, ScriptedDetector
from media import checker, decode_frames, pattern, write_clip
from starlette.testclient import TestClient

from redact.errors import DetectionsFileError
from redact.media.source import VideoSource, probe
from redact.pipeline.video import detect_video
from redact.review.detections_file import Recorder, load
from redact.review.studio.frames import FrameReader
from redact.review.studio.server import create_app
from redact.review.studio.session import ReviewSession

W, H = 320, 160
A, B = [20, 20, 60, 60], [120, 20, 160, 60]
PORT, TOKEN = 8765, "s3cret-token"
ORIGIN = f"http://127.0.0.1:{PORT}"


def clip(path: Path, frames: int = 30, seed: int = 0) -> Path:
    images = []
    for i in range(frames):
        image = pattern(W, H, seed)
        for x1, y1, x2, y2 in (A, B):
            image[y1:y2, x1:x2] = checker(40, 40)
        cv2.putText(image, str(i), (200, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)  # frames differ
        images.append(image)
    return write_clip(path, frames=frames, size=(W, H), images=images)


def detections(src: Path) -> Path:
    recorder = Recorder(probe(src), EXACT.to_dict())
    detect_video(src, EXACT, detectors={"faces": ScriptedDetector(lambda i, img: [A, B])}, on_frame=recorder)
    return recorder.write(src.with_name(src.name + ".detections.json"))


@pytest.fixture
def review(tmp_path: Path):
    src = clip(tmp_path / "in.mp4")
    tracks = detections(src)
    session = ReviewSession(src, tracks, tmp_path / "out.mp4")
    session.open()
    client = TestClient(create_app(session, TOKEN, PORT), base_url=ORIGIN)
    yield session, client
    session.shutdown()


def post(client: TestClient, path: str, body: dict | None = None):
    return client.post(f"/{TOKEN}/api/{path}", json=body or {}, headers={"Origin": ORIGIN})


def gop_clip(path: Path, rotation: int, frames: int = 60) -> Path:
    """Key frames every 12 frames and B-frames (reordered timestamps): seeking has real work to do."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"g": "12", "bf": "2", "preset": "fast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            image = pattern(96, 64)
            cv2.putText(image, str(i), (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("name,rotation", [("rot.mp4", 90), ("plain.mkv", 0)])
def test_frame_reader_matches_render_order_at_random_positions(tmp_path: Path, name: str, rotation: int) -> None:
    src = gop_clip(tmp_path / name, rotation)
    info = probe(src)
    with VideoSource(info, audio=False) as source:
        frames = [(f.pts, f.image) for f in source.items()]
    assert sum(f.key for f in _keys(info)) >= 5
    reader = FrameReader(info, [p for p, _ in frames], cache_frames=2)
    order = list(range(60)) + random.Random(1).sample(range(60), 60) + [59, 0, 30, 31, 29, 5]
    for n in order:
        assert np.array_equal(reader.get(n), frames[n][1]), f"frame {n}"
    assert reader.get(0).shape == ((96, 64, 3) if rotation else (64, 96, 3))  # upright, as render sees it
    reader.close()


def _keys(info):
    with VideoSource(info, audio=False) as source:
        return list(source.items())


def test_state_tracks_and_exact_frame_jpeg(review) -> None:
    session, client = review
    state = client.get(f"/{TOKEN}/api/state").json()
    assert state["ready"] and state["video"]["frame_count"] == 30
    summary = client.get(f"/{TOKEN}/api/summary").json()
    assert [t["kind"] for t in summary["tracks"]] == ["face", "face"]
    assert summary["uncovered"] == []
    reply = client.get(f"/{TOKEN}/api/frame/17.jpg")
    assert reply.headers["content-type"] == "image/jpeg"
    shown = cv2.imdecode(np.frombuffer(reply.content, np.uint8), cv2.IMREAD_COLOR)
    truth = decode_frames(session.video)[0][17]
    assert np.abs(shown.astype(int) - truth).mean() < 3  # JPEG of the very frame
    assert (
        np.abs(shown.astype(int) - decode_frames(session.video)[0][16]).mean()
        > np.abs(shown.astype(int) - truth).mean()
    )
    redacted = cv2.imdecode(np.frombuffer(client.get(f"/{TOKEN}/api/frame/17.jpg?look=redacted").content, np.uint8), 1)
    assert redacted[25:55, 25:55].max() < 40  # EXACT fills black, as render would
    assert client.get(f"/{TOKEN}/api/thumb/{summary['tracks'][0]['id']}.jpg").content[:2] == b"\xff\xd8"


def test_proxy_frames_for_scrubbing_are_the_same_frames(review) -> None:
    session, client = review
    session.proxy_thread.join(30)
    assert session.proxy.done == 30 and client.get(f"/{TOKEN}/api/state").json()["proxy_frames"] == 30
    truth = decode_frames(session.video)[0]
    for n in (0, 17, 29, 3):
        shown = cv2.imdecode(np.frombuffer(client.get(f"/{TOKEN}/api/frame/{n}.jpg?fast=1").content, np.uint8), 1)
        errors = [np.abs(shown.astype(int) - truth[m]).mean() for m in range(30)]
        assert int(np.argmin(errors)) == n and errors[n] < 4


def test_edit_undo_redo_save_round_trip(review) -> None:
    session, client = review
    tid = client.get(f"/{TOKEN}/api/summary").json()["tracks"][0]["id"]
    assert post(client, "edit", {"op": "keep_visible", "track": tid, "value": True}).status_code == 200
    region = {
        "keyframes": [{"frame": 5, "box": [200, 100, 240, 140]}, {"time": 0.36, "box": [220, 100, 260, 140]}],
        "start": {"frame": 5},
        "end": {"frame": 9},
    }  # 0.36 s is frame 9 at 25 fps
    summary = post(client, "edit", {"op": "add_manual", "region": region}).json()
    assert summary["manual_spans"] == [[5, 9]] and summary["dirty"]
    summary = post(client, "edit", {"op": "add_cover_all", "start": 20, "end": 22}).json()
    assert summary["cover_all"] == [[20, 22]]
    regions = client.get(f"/{TOKEN}/api/regions/7").json()
    assert regions["manual"] == [{"index": 0, "box": [210.0, 100.0, 250.0, 140.0]}]  # interpolated
    assert [b["keep_visible"] for b in regions["boxes"]] == [True, False]
    assert post(client, "undo").json()["cover_all"] == []
    assert post(client, "redo").json()["cover_all"] == [[20, 22]]
    bad = post(client, "edit", {"op": "set_manual", "index": 0, "region": {**region, "end": {"frame": 2}}})
    assert bad.status_code == 400 and "ends before it starts" in bad.json()["error"]
    assert post(client, "save").status_code == 200
    plan, data = load(session.tracks_path, session.info)  # what `redact render` will read
    assert data["keep_visible"] == [tid] and data["manual"][0]["end"] == {"frame": 9}
    assert data["schema"] == "redact-detections" and data["version"] == 1
    assert [len(plan.detections(i, W, H)) for i in (4, 5, 9, 10)] == [1, 2, 2, 1]
    assert plan.cover_all == [(20, 22)]
    for i in range(30):  # the page's redacted look covers exactly what render will
        mine, theirs = session.detections(i), plan.detections(i, W, H)
        for field in ("boxes", "scores", "kinds", "track_ids", "filled"):
            assert np.array_equal(getattr(mine, field), getattr(theirs, field)), (i, field)
    reopened = ReviewSession(session.video, session.tracks_path, session.output)
    reopened.open()
    assert reopened.summary()["manual_spans"] == [[5, 9]]


def test_render_then_verify_from_the_page(review, monkeypatch: pytest.MonkeyPatch) -> None:
    session, client = review
    post(client, "edit", {"op": "add_cover_all", "start": 3, "end": 4})
    kept = session.data["tracks"][0]["id"]  # at A
    post(client, "edit", {"op": "keep_visible", "track": kept, "value": True})
    from redact.review import verify as verify_module

    checked: list[Path | None] = []

    def scripted_verify(path: Path, settings, tracks=None, **_):
        """verify's answer is scripted: the page's job is to say which findings lie on a kept track"""
        checked.append(tracks)
        report = verify_module.VerifyReport(str(path))
        for frame, box in ((7, [0.0, 0.0, 10.0, 10.0]), (9, [22.0, 22.0, 58.0, 58.0])):
            report.findings.append(verify_module.Finding("face", 0.9, box, frame, frame / 25))
        return report

    monkeypatch.setattr(verify_module, "verify", scripted_verify)
    assert post(client, "render").status_code == 200
    session.thread.join()
    job = client.get(f"/{TOKEN}/api/state").json()["job"]
    assert job["stage"] == "done", job
    findings = job["result"]["verify"]["findings"]
    assert [(f["frame"], f["kept"]) for f in findings] == [(7, False), (9, True)]  # the face left visible on purpose
    assert checked == [session.tracks_path]  # the run's detections file is verify's evidence
    images, _, _ = decode_frames(session.output)
    assert images[3].max() < 40 and images[5].max() > 200  # whole frame covered only in its range
    assert images[10][25:55, 125:155].max() < 40 and images[10][25:55, 25:55].max() > 200
    assert json.loads(session.tracks_path.read_text())["cover_all"]  # render saved first


def test_refused_token_host_origin_and_paths(review) -> None:
    session, client = review
    assert client.get("/wrong/api/state").status_code == 403
    assert client.get("/api/state").status_code == 403
    assert client.get(f"/{TOKEN}/api/state", headers={"Host": "evil.example:8765"}).status_code == 403
    assert client.get(f"/{TOKEN}/api/state", headers={"Host": "127.0.0.1:9999"}).status_code == 403
    assert client.get(f"/{TOKEN}/api/state", headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post(f"/{TOKEN}/api/save", json={}).status_code == 403  # no Origin: not from the page
    refused = post(client, "save", {"path": "/tmp/elsewhere.json"})
    assert refused.status_code == 400 and "cannot choose paths" in refused.json()["error"]
    assert not Path("/tmp/elsewhere.json").exists()
    for sneaky in ("static/../server.py", "static/..%2fserver.py", "static/%2e%2e/session.py", "static//etc/passwd"):
        reply = client.get(f"/{TOKEN}/{sneaky}")
        assert reply.status_code == 404 and b"ReviewSession" not in reply.content
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect(f"/{TOKEN}/api/state"):
            pass
    page = client.get(f"/{TOKEN}/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_detections_file_for_another_video_refused_as_render_refuses(tmp_path: Path) -> None:
    src = clip(tmp_path / "in.mp4")
    other = clip(tmp_path / "other.mp4", seed=3)
    tracks = detections(other)
    with pytest.raises(DetectionsFileError) as by_render:
        load(tracks, probe(src))
    session = ReviewSession(src, tracks, tmp_path / "out.mp4")
    with pytest.raises(DetectionsFileError) as by_review:
        session.open()
    assert str(by_review.value) == str(by_render.value)
    assert "made for another video" in str(by_review.value)


def test_detection_without_tracks_writes_the_file_as_detect_does(tmp_path: Path) -> None:
    src = clip(tmp_path / "in.mp4", frames=12)
    tracks = src.with_name(src.name + ".detections.json")
    session = ReviewSession(src, tracks, tmp_path / "out.mp4")
    session.start(lambda: session.detect(EXACT, detectors={"faces": ScriptedDetector(lambda i, img: [A])}), "detect")
    session.thread.join()
    assert session.job.stage == "done" and session.ready
    data = json.loads(tracks.read_text())
    assert len(data["tracks"]) == 1 and data["video"]["frame_count"] == 12
    # the scrubbing proxy was made while detection decoded: complete at once, no second pass
    assert session.proxy is not None and session.proxy.done == 12 and session.proxy_thread is None
    truth = decode_frames(src)[0]
    shown = cv2.imdecode(np.frombuffer(session.proxy.get(7) or b"", np.uint8), 1)
    errors = [
        np.abs(shown.astype(int) - cv2.resize(truth[m], shown.shape[1::-1]).astype(int)).mean() for m in range(12)
    ]
    assert int(np.argmin(errors)) == 7
    session.shutdown()


def test_stopping_mid_render_leaves_no_output(review) -> None:
    session, client = review
    session.stop.set()  # as Ctrl-C or a closed page does: the next progress report stops the render
    session.start(session.render_and_verify, "render")
    session.thread.join()
    assert session.job.stage == "cancelled"
    assert not session.output.exists()
    assert not [p for p in session.output.parent.iterdir() if "partial" in p.name]


def test_cli_refuses_another_videos_file_like_render(tmp_path: Path) -> None:
    from test_cli import one_error_line, redact

    src = clip(tmp_path / "in.mp4", frames=10)
    tracks = detections(clip(tmp_path / "other.mp4", frames=10, seed=3))
    by_render = redact("render", str(src), "--tracks", str(tracks), "-o", str(tmp_path / "a.mp4"))
    by_review = redact("review", str(src), "--tracks", str(tracks), "--no-browser")
    assert by_review.returncode == by_render.returncode == 5
    assert one_error_line(by_review) == one_error_line(by_render)


def test_cli_serves_on_localhost_and_stops_when_the_page_closes(tmp_path: Path) -> None:
    import os
    import re
    import subprocess
    import sys
    import urllib.request

    src = clip(tmp_path / "in.mp4", frames=10)
    detections(src)  # the default file beside the video is reopened, not detected again
    process = subprocess.Popen(
        [sys.executable, "-m", "redact", "review", str(src), "--no-browser"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    try:
        url = None
        for line in process.stderr:
            found = re.search(r"http://127\.0\.0\.1:\d+/[\w-]+/", line)
            if found:
                url = found.group(0)
                break
        assert url, "no address printed"
        state = json.loads(urllib.request.urlopen(url + "api/state", timeout=10).read())
        assert state["ready"] and state["video"]["frame_count"] == 10
        origin = url.split("/", 3)
        request = urllib.request.Request(
            url + "api/bye",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json", "Origin": "/".join(origin[:3])},
        )
        urllib.request.urlopen(request, timeout=10)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
