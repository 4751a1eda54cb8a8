"""Folder batches: the same pixels as single-file runs in a process pool and on Dask, the manifest, resuming, failures."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EXACT, ScriptedDetector
from media import checker, decode_frames, pattern, write_clip
from PIL import Image

from redact.errors import ConfigError, OutputError
from redact.parallel.batch import run_batch
from redact.parallel.executors import create_executor
from redact.parallel.manifest import MANIFEST_NAME
from redact.pipeline.photo import redact_photo
from redact.pipeline.video import redact_video

BOX = [40, 30, 88, 78]  # x1 y1 x2 y2


# Detector factories run inside the workers (they must be importable module-level functions):
# each file gets fresh detectors built from its settings, as the real default does.
def scripted_factory(settings):
    return {"faces": ScriptedDetector(lambda i, img: [BOX])}


def crash_on_black(i, img):
    if img.mean() < 5:
        os._exit(17)  # a worker dying mid-file (segfault, out-of-memory kill)
    return [BOX]


def crashing_factory(settings):
    return {"faces": ScriptedDetector(crash_on_black)}


def with_checker(width: int = 160, height: int = 120) -> np.ndarray:
    image = pattern(width, height)
    x1, y1, x2, y2 = BOX
    image[y1:y2, x1:x2] = checker(x2 - x1, y2 - y1)
    return image


def write_photo(path: Path) -> Path:
    Image.fromarray(with_checker()[:, :, ::-1].copy()).save(path)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: input (relative) -> output (relative)
TREE = {
    "a.mp4": "a.mp4",
    "sub/b.mov": "sub/b.mp4",
    "sub/deep/c.jpg": "sub/deep/c.jpg",
    "d.png": "d.png",
}


def make_tree(root: Path) -> Path:
    (root / "sub" / "deep").mkdir(parents=True)
    write_clip(root / "a.mp4", frames=8, images=[with_checker()])
    write_clip(root / "sub" / "b.mov", frames=6, images=[with_checker()], audio=True, fmt="mov")
    write_photo(root / "sub" / "deep" / "c.jpg")
    write_photo(root / "d.png")
    (root / "notes.txt").write_text("not media")
    (root / ".hidden.mp4").write_bytes(b"hidden files are left out")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, Path]:
    """An input folder, and the single-file outputs of each of its files (the reference)."""
    base = tmp_path_factory.mktemp("batch")
    src = make_tree(base / "in")
    ref = base / "ref"
    for rel, out_rel in TREE.items():
        dst = ref / out_rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        redact = redact_video if rel.endswith((".mp4", ".mov")) else redact_photo
        redact(src / rel, dst, EXACT, detectors=scripted_factory(EXACT))
    return src, ref


def manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST_NAME).read_text())


def stray_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.rglob(".*"))


def check_same_as_single_runs(src: Path, ref: Path, out: Path, summary) -> None:
    assert summary.counts == {"done": 4, "skipped": 0, "failed": 0, "ignored": 1}
    assert summary.ignored == ["notes.txt: not a photo or video type"]
    assert sorted(r.path for r in summary.done) == sorted(TREE)
    files = manifest(out)["files"]
    assert sorted(files) == sorted(TREE)
    settings = json.loads(json.dumps(EXACT.to_dict()))
    for rel, out_rel in TREE.items():
        got, want = out / out_rel, ref / out_rel
        if rel.endswith((".mp4", ".mov")):
            a, _, _ = decode_frames(got)
            b, _, _ = decode_frames(want)
            assert len(a) == len(b) > 0
            # x264 is deterministic for the same settings and thread count (the same machine):
            # pixels match exactly, not just within a tolerance.
            assert all(np.array_equal(x, y) for x, y in zip(a, b)), rel
            x1, y1, x2, y2 = BOX
            assert a[0][y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].max() < 40  # covered (fill style)
        else:
            assert sha(got) == sha(want), rel
        entry = files[rel]
        assert entry["status"] == "done" and entry["error"] is None
        assert entry["output"] == out_rel
        assert entry["input_sha256"] == sha(src / rel)
        assert entry["output_sha256"] == sha(got)
        assert entry["settings"] == settings
        assert entry["seconds"] > 0
    assert stray_files(out) == []
    assert not (out / "notes.txt").exists()


def test_process_pool_matches_single_runs(tree, tmp_path: Path) -> None:
    src, ref = tree
    out = tmp_path / "out"
    summary = run_batch(src, out, EXACT, jobs=2, executor="process", detector_factory=scripted_factory)
    check_same_as_single_runs(src, ref, out, summary)


def test_local_dask_cluster_matches_single_runs(tree, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    src, ref = tree
    out = tmp_path / "out"
    summary = run_batch(src, out, EXACT, jobs=2, executor="dask", detector_factory=scripted_factory)
    check_same_as_single_runs(src, ref, out, summary)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict]] = []

    def __call__(self, kind: str, path: Path, detail: dict) -> None:
        self.seen.append((kind, path.as_posix(), detail))

    def paths(self, kind: str) -> set[str]:
        return {p for k, p, _ in self.seen if k == kind}


def test_resumed_run_redoes_only_what_is_not_finished(tree, tmp_path: Path) -> None:
    src = tmp_path / "in"
    shutil.copytree(tree[0], src)
    write_clip(src / "e.mp4", frames=5, images=[with_checker()])
    out = tmp_path / "out"
    first = run_batch(src, out, EXACT, detector_factory=scripted_factory)
    assert first.counts["done"] == 5
    before = {p: (out / p).stat().st_mtime_ns for p in ("a.mp4", "sub/b.mp4", "e.mp4", "d.png", "sub/deep/c.jpg")}

    # what a killed run and a changed folder look like:
    (out / "a.mp4").unlink()  # an output lost
    data = manifest(out)
    data["files"]["sub/b.mov"]["status"] = "running"  # killed while b was being redacted (its output is there)
    data["files"]["d.png"].update(status="failed", error="boom", output_sha256=None)
    (out / "d.png").unlink()  # a failed file has no output
    (out / MANIFEST_NAME).write_text(json.dumps(data))
    write_photo(src / "sub" / "deep" / "c.jpg")  # the same picture saved again: same pixels ...
    with Image.open(src / "sub" / "deep" / "c.jpg") as im:  # ... but new bytes
        im.save(src / "sub" / "deep" / "c.jpg", quality=70)

    events = Events()
    second = run_batch(src, out, EXACT, detector_factory=scripted_factory, on_event=events)
    redone = {"a.mp4", "sub/b.mov", "d.png", "sub/deep/c.jpg"}
    assert events.paths("start") == events.paths("done") == redone
    assert events.paths("skipped") == {"e.mp4"}
    assert events.paths("ignored") == {"notes.txt"}
    assert second.counts == {"done": 4, "skipped": 1, "failed": 0, "ignored": 1}
    assert (out / "e.mp4").stat().st_mtime_ns == before["e.mp4"]
    assert (out / "sub/b.mp4").stat().st_mtime_ns != before["sub/b.mp4"]
    files = manifest(out)["files"]
    assert {f["status"] for f in files.values()} == {"done"}
    assert files["sub/deep/c.jpg"]["input_sha256"] == sha(src / "sub" / "deep" / "c.jpg")

    # a third run has nothing to do; changed settings redo everything
    third = Events()
    run_batch(src, out, EXACT, detector_factory=scripted_factory, on_event=third)
    assert third.paths("skipped") == redone | {"e.mp4"} and not third.paths("start")
    fourth = run_batch(src, out, EXACT.replace(style="pixelate"), detector_factory=scripted_factory)
    assert fourth.counts["done"] == 5
    # an output edited after the run no longer matches its recorded hash: redone
    (out / "d.png").write_bytes(b"edited")
    fifth = Events()
    run_batch(src, out, EXACT.replace(style="pixelate"), detector_factory=scripted_factory, on_event=fifth)
    assert fifth.paths("start") == {"d.png"}


def test_corrupt_files_fail_alone_and_are_retried(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    write_clip(src / "good.mp4", frames=5, images=[with_checker()])
    (src / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    (src / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (src / "empty.mov").write_bytes(b"")
    out = tmp_path / "out"
    events = Events()
    summary = run_batch(src, out, EXACT, detector_factory=scripted_factory, on_event=events)
    assert summary.counts == {"done": 1, "skipped": 0, "failed": 3, "ignored": 0}
    assert not summary.ok
    assert {r.path for r in summary.failed} == events.paths("failed") == {"bad.mp4", "bad.jpg", "empty.mov"}
    assert all(r.error for r in summary.failed)
    assert sorted(p.name for p in out.iterdir()) == ["good.mp4", MANIFEST_NAME]
    files = manifest(out)["files"]
    assert files["good.mp4"]["status"] == "done"
    for name in ("bad.mp4", "bad.jpg", "empty.mov"):
        assert files[name]["status"] == "failed" and files[name]["output_sha256"] is None
        assert name in files[name]["error"]

    again = Events()
    summary = run_batch(src, out, EXACT, detector_factory=scripted_factory, on_event=again)
    assert again.paths("skipped") == {"good.mp4"}
    assert again.paths("start") == {"bad.mp4", "bad.jpg", "empty.mov"}
    assert len(summary.failed) == 3


def test_worker_crash_leaves_no_output(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    write_clip(src / "black.mp4", frames=6, images=[np.zeros((120, 160, 3), np.uint8)])
    for name in ("x.mp4", "y.mp4", "z.mp4"):
        write_clip(src / name, frames=5, images=[with_checker()])
    out = tmp_path / "out"
    summary = run_batch(src, out, EXACT, jobs=2, executor="process", detector_factory=crashing_factory)
    failed = {r.path: r.error for r in summary.failed}
    assert "black.mp4" in failed and "worker process died" in failed["black.mp4"]
    # a dead pool takes the files beside it down too: they run again alone in a new pool, and only
    # the file that kills its worker fails
    assert list(failed) == ["black.mp4"]
    assert sorted(r.path for r in summary.done) == ["x.mp4", "y.mp4", "z.mp4"]
    assert not (out / "black.mp4").exists()
    assert manifest(out)["files"]["black.mp4"]["status"] == "failed"
    for r in summary.done:
        assert len(decode_frames(out / r.path)[0]) == 5
    assert stray_files(out) == []


def test_video_names_that_would_clash(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    write_clip(src / "clip.mp4", frames=3)
    write_clip(src / "clip.mov", frames=4, fmt="mov")
    out = tmp_path / "out"
    summary = run_batch(src, out, EXACT, detector_factory=scripted_factory)
    assert summary.counts["done"] == 2
    assert len(decode_frames(out / "clip.mp4")[0]) == 3
    assert len(decode_frames(out / "clip.mov.mp4")[0]) == 4


def test_refuses_output_folder_in_or_around_input(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    write_photo(src / "p.png")
    for bad in (src, src / "redacted", tmp_path):
        with pytest.raises(OutputError):
            run_batch(src, bad, EXACT, detector_factory=scripted_factory)
    assert sorted(p.name for p in src.iterdir()) == ["p.png"]
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(OutputError, match="manifest"):
        run_batch(src, out, EXACT, detector_factory=scripted_factory)


def test_executor_names_and_missing_dask(monkeypatch) -> None:
    with pytest.raises(ConfigError, match="unknown executor"):
        create_executor("threads")
    with create_executor("serial") as ex:
        assert ex.submit(sum, [1, 2]).result() == 3
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'redact\[dask\]'"):
        create_executor("dask", jobs=2)


def write_gop_clip(path: Path, frames: int, gop: int, fps: int = 25, size: tuple[int, int] = (160, 120)) -> Path:
    """A clip with a keyframe every ``gop`` frames and an audio track (odd sizes in 4:4:4)."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p" if size[0] % 2 == 0 and size[1] % 2 == 0 else "yuv444p"
        video.options = {"crf": "12", "preset": "ultrafast", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        video.codec_context.time_base = Fraction(1, fps)
        audio = container.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        for i in range(frames):
            image = with_checker(*size)
            image[:8, (i * 4) % 150 : (i * 4) % 150 + 8] = 255  # a moving mark: every frame differs
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        tone = np.zeros((2, 1024), np.float32)
        for start in range(0, int(frames / fps * 48000), 1024):
            aframe = av.AudioFrame.from_ndarray(tone, format="fltp", layout="stereo")
            aframe.sample_rate, aframe.pts = 48000, start
            container.mux(audio.encode(aframe))
        container.mux(audio.encode(None))
    return path


def test_segments_of_one_video_join_to_the_single_pass(tmp_path: Path) -> None:
    import av

    from redact.parallel.segments import keyframe_index, plan_segments, redact_video_segments

    src = write_gop_clip(tmp_path / "long.mp4", frames=90, gop=15)
    index = keyframe_index(src)
    assert index.frames == 90 and len(index.keyframes) == 6
    segments = plan_segments(index, segment_seconds=1.0, overlap=0.5)
    assert [s.frames for s in segments] == [30, 30, 30]  # cuts on keyframes, 1.2 s apart
    assert segments[1].read_from < segments[1].start and segments[1].read_to > segments[1].end

    one = tmp_path / "one.mp4"
    redact_video(src, one, EXACT, detectors=scripted_factory(EXACT))
    parts = tmp_path / "parts.mp4"
    report = redact_video_segments(
        src,
        parts,
        EXACT,
        jobs=2,
        executor="process",
        detector_factory=scripted_factory,
        segment_seconds=1.0,
        overlap=0.5,
    )
    assert report.frames == 90 and report.settings["segments"] == 3
    a, pts_a, tb_a = decode_frames(one)
    b, pts_b, tb_b = decode_frames(parts)
    assert len(b) == 90 and [p * tb_b for p in pts_b] == [p * tb_a for p in pts_a]
    # each segment is its own encode (new IDR, other rate control): the same picture within
    # x264's quality, not bit for bit
    assert max(np.abs(x.astype(int) - y).mean() for x, y in zip(a, b)) < 1.5
    x1, y1, x2, y2 = BOX
    assert max(img[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].max() for img in b) < 40  # covered in every frame
    with av.open(str(parts)) as c, av.open(str(one)) as d:
        assert len(c.streams.audio) == 1
        count = lambda container: sum(1 for p in container.demux(container.streams.audio[0]) if p.size)
        assert count(c) == count(d)  # the audio, once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "one.mp4", "parts.mp4"]


def test_segmented_run_keeps_the_encoders_warnings(tmp_path: Path) -> None:
    """An odd-sized video split into segments: the 4:4:4 note reached the report of a single pass
    only (issue 14, defect 3)."""
    from redact.parallel.segments import redact_video_segments

    src = write_gop_clip(tmp_path / "odd.mp4", frames=60, gop=15, size=(161, 121))
    report = redact_video_segments(
        src,
        tmp_path / "out.mp4",
        EXACT,
        jobs=2,
        executor="serial",
        detector_factory=scripted_factory,
        segment_seconds=1.0,
    )
    assert report.settings["segments"] > 1
    assert any("odd frame size 161x121" in w for w in report.warnings), report.warnings


def test_a_video_too_short_to_split_says_it_ran_in_one_pass(tmp_path: Path) -> None:
    """--jobs 2 on a clip too short for segments still redacts it, and the report says it was one pass."""
    from redact.parallel.segments import redact_video_segments

    src = write_gop_clip(tmp_path / "short.mp4", frames=10, gop=5)
    report = redact_video_segments(
        src, tmp_path / "out.mp4", EXACT, jobs=2, executor="serial", detector_factory=scripted_factory
    )
    assert (tmp_path / "out.mp4").exists() and report.frames == 10
    assert any("ran in one pass, not 2 jobs: it is too short to split" in w for w in report.warnings), report.warnings
