"""End to end on generated media: pixels, frames, timestamps, audio, rotation, metadata, safe files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import EXACT, ScriptedDetector
from media import checker, decode_frames, pattern, write_clip

from redact.errors import InputError, OutputError
from redact.pipeline.video import redact_video
from redact.review.verify import video_metadata

BOX = [40, 30, 88, 78]  # x1 y1 x2 y2


def with_checker(width: int = 160, height: int = 120, box: list[int] = BOX) -> np.ndarray:
    image = pattern(width, height)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = checker(x2 - x1, y2 - y1)
    return image


def run(src: Path, dst: Path, boxes: list[list[float]] | None = None, settings=EXACT, **kw):
    detector = ScriptedDetector(lambda i, img: boxes if boxes is not None else [BOX])
    report = redact_video(src, dst, settings, detectors={"faces": detector}, **kw)
    return report, detector


def test_pixels_inside_changed_outside_kept(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=10, images=[with_checker()])
    dst = tmp_path / "out.mp4"
    run(src, dst)
    before, _, _ = decode_frames(src)
    after, _, _ = decode_frames(dst)
    assert len(after) == len(before) == 10
    x1, y1, x2, y2 = BOX
    for a, b in zip(before, after):
        inside = np.abs(a[y1:y2, x1:x2].astype(int) - b[y1:y2, x1:x2]).mean()
        assert inside > 60, "the checkerboard under the box must be covered"
        assert b[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].max() < 40, "fill style is black"
        outside = np.ones(a.shape[:2], bool)
        outside[y1 - 2 : y2 + 2, x1 - 2 : x2 + 2] = False
        assert np.abs(a[outside].astype(int) - b[outside]).mean() < 2.5


def test_uncovered_pixels_come_back_unchanged_on_a_lossless_encode(tmp_path: Path) -> None:
    # lossless encode (crf 0) and nothing detected: the stored Y/U/V samples must come back as
    # they were; a decode conversion that is not the encoder's inverse changed 61% of them by 1-2
    src = write_clip(tmp_path / "in.mp4", frames=3, images=[with_checker()])
    dst = tmp_path / "out.mp4"
    run(src, dst, boxes=[], settings=EXACT.replace(crf=0))

    def planes(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as container:
            return [f.to_ndarray() for f in container.decode(video=0)]

    before, after = planes(src), planes(dst)
    assert len(before) == len(after) == 3
    for a, b in zip(before, after):
        assert (a != b).mean() < 0.01, (a != b).mean()  # a few out-of-gamut samples clip in BGR


def test_box_at_frame_edge_covers_last_row_and_column(tmp_path: Path) -> None:
    w, h = 160, 120
    image = checker(w, h, 4)
    src = write_clip(tmp_path / "in.mp4", frames=3, images=[image])
    dst = tmp_path / "out.mp4"
    run(src, dst, boxes=[[100.4, 60.2, 159.6, 119.5]])
    after, _, _ = decode_frames(dst)
    for b in after:
        assert b[64:, 104:].max() < 40
        assert b[h - 1, 104:].max() < 40 and b[64:, w - 1].max() < 40


def test_frames_and_variable_timestamps_kept(tmp_path: Path) -> None:
    pts = [0, 1, 2, 5, 6, 10, 11, 12, 20, 21, 22, 23]  # in 1/30 s: gaps make the rate variable
    src = write_clip(tmp_path / "vfr.mp4", frames=len(pts), pts=pts, time_base=Fraction(1, 30), fps=30)
    dst = tmp_path / "out.mp4"
    run(src, dst)
    _, in_pts, in_tb = decode_frames(src)
    _, out_pts, out_tb = decode_frames(dst)
    assert len(out_pts) == len(in_pts)
    assert [p * in_tb for p in in_pts] == [p * out_tb for p in out_pts]


@pytest.mark.parametrize("fmt,ext", [("mp4", ".mp4"), ("matroska", ".mkv")])
def test_audio_packets_copied_unchanged(tmp_path: Path, fmt: str, ext: str) -> None:
    src = write_clip(tmp_path / f"a{ext}", frames=25, audio=True, fmt=fmt)
    dst = tmp_path / f"out{ext}"
    run(src, dst)

    def audio_packets(path: Path) -> list[bytes]:
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]

    assert audio_packets(dst) == audio_packets(src)
    assert len(audio_packets(src)) > 40


def test_no_audio_drops_every_audio_track(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "a.mp4", frames=10, audio=True)
    dst = tmp_path / "out.mp4"
    run(src, dst, settings=EXACT.replace(audio=False))
    with av.open(str(dst)) as c:
        assert not c.streams.audio


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotated_input_detected_upright_and_played_upright(tmp_path: Path, rotation: int) -> None:
    stored = pattern(160, 96)
    stored[:16, :16] = 255  # a white marker in the stored top-left corner
    src = write_clip(tmp_path / "rot.mp4", frames=4, size=(160, 96), images=[stored], rotation=rotation)
    shown, _, _ = decode_frames(src)  # what a player shows
    dst = tmp_path / "out.mp4"
    _, detector = run(src, dst, boxes=[])
    # the detector saw the upright picture: its top-left corner is the shown one, not the stored marker
    assert np.abs(detector.seen[0].astype(int) - shown[0][:4, :4]).mean() < 3
    assert np.abs(detector.seen[0].astype(int) - stored[:4, :4]).mean() > 50
    out_frames, _, _ = decode_frames(dst)
    assert out_frames[0].shape == shown[0].shape
    assert np.abs(out_frames[0].astype(int) - shown[0]).mean() < 3
    with av.open(str(dst)) as c:
        frame = next(c.decode(video=0))
        assert frame.rotation == 0


def test_metadata_and_extra_streams_dropped(tmp_path: Path) -> None:
    tags = {
        "location": "+48.8577+002.2950/",
        "make": "Apple",
        "model": "iPhone 15 Pro",
        "creation_time": "2026-01-02T03:04:05.000000Z",
        "encoder": "Phone Camera 1.0",
    }
    src = write_clip(
        tmp_path / "tagged.mp4",
        frames=10,
        audio=True,
        tags=tags,
        data_stream=True,
        options={"movflags": "use_metadata_tags"},  # write every tag, as phones do
    )
    with av.open(str(src)) as c:  # the input really carries them
        assert {"location", "make", "model", "creation_time"} <= set(c.metadata)
        assert any(s.type == "data" for s in c.streams)
    dst = tmp_path / "out.mp4"
    report, _ = run(src, dst)
    with av.open(str(dst)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        identifying = {"location", "make", "model", "creation_time", "encoder", "location-eng", "date"}
        assert not identifying & set(c.metadata)
        for s in c.streams:
            assert not identifying & set(s.metadata)
    raw = dst.read_bytes()
    for needle in (b"48.8577", b"iPhone", b"Apple", b"GPS", b"Lavf", b"2026-01-02"):
        assert needle not in raw
    assert any("data" in w for w in report.warnings)


@pytest.mark.parametrize("fmt,ext", [("mp4", "mp4"), ("matroska", "mkv"), ("mov", "mov")])
def test_own_output_passes_the_metadata_check(tmp_path: Path, fmt: str, ext: str) -> None:
    # Matroska writes DURATION tags and a muxing-app name by itself: verify must not call the
    # tool's own clean output dirty, and must still see what the source carried
    src = write_clip(
        tmp_path / f"in.{ext}", frames=3, fmt=fmt, audio=True, tags={"title": "secret", "location": "+48.85+002.35/"}
    )
    assert video_metadata(src), "the source's tags must be reported"
    dst = tmp_path / f"out.{ext}"
    run(src, dst)
    assert video_metadata(dst) == []


def test_keep_metadata_keeps_tags(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "tagged.mp4", frames=5, tags={"title": "kept on request", "make": "Apple"})
    dst = tmp_path / "out.mp4"
    run(src, dst, settings=EXACT.replace(keep_metadata=True))
    with av.open(str(dst)) as c:
        assert c.metadata.get("title") == "kept on request"


def test_odd_frame_size_kept_exactly(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "odd.mkv", frames=5, size=(501, 375), fmt="matroska", codec="ffv1", pix_fmt="yuv444p")
    dst = tmp_path / "out.mp4"
    run(src, dst)
    frames, _, _ = decode_frames(dst)
    assert frames[0].shape == (375, 501, 3)


def test_existing_output_refused_and_input_never_overwritten(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=3)
    original = src.read_bytes()
    with pytest.raises(OutputError, match="input"):
        run(src, src, overwrite=True)
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="exists"):
        run(src, dst)
    assert dst.read_bytes() == b"keep me"
    run(src, dst, overwrite=True)
    assert dst.stat().st_size > 1000
    assert src.read_bytes() == original


def test_failure_midway_leaves_no_file(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=30)

    def explode(i: int, image: np.ndarray) -> list[list[float]]:
        if i == 12:
            raise RuntimeError("detector crashed")
        return [BOX]

    dst = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="crashed"):
        redact_video(src, dst, EXACT, detectors={"faces": ScriptedDetector(explode)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_interrupt_leaves_no_file(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=30)

    def progress(done: int, total: int | None) -> None:
        if done == 10:
            raise KeyboardInterrupt

    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        run(src, dst, on_progress=progress)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(InputError, match="no such file"):
        run(tmp_path / "missing.mp4", out)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="not a video|corrupt"):
        run(text, out)
    good = write_clip(tmp_path / "good.mp4", frames=10)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(good.read_bytes()[:600])
    with pytest.raises(InputError):
        run(corrupt, out)
    audio_only = tmp_path / "audio.m4a"
    with av.open(str(audio_only), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=48000)
        s.layout = "mono"
        for start in range(0, 48000, 1024):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 48000, start
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    with pytest.raises(InputError, match="no video stream"):
        run(audio_only, out)
    with pytest.raises(OutputError, match="does not exist"):
        run(good, tmp_path / "no" / "such" / "folder" / "out.mp4")
    assert not out.exists()


def test_unwritable_output_folder(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    src = write_clip(tmp_path / "in.mp4", frames=3)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="not writable"):
        run(src, locked / "out.mp4")


@pytest.mark.parametrize("ext,video_codec", [("mkv", "libx264"), ("avi", "mpeg4")])
def test_pcm_audio_with_a_bare_channel_count_is_reencoded(tmp_path: Path, ext: str, video_codec: str) -> None:
    """PCM in AVI/Matroska says "2 channels" without a layout: the AAC encoder refused it (exit 70)."""
    src = tmp_path / f"pcm.{ext}"
    with av.open(str(src), "w") as c:
        video = c.add_stream(video_codec, rate=25)
        video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
        audio = c.add_stream("pcm_s16le", rate=48000, layout="stereo")
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(pattern(160, 96, i), format="bgr24")
            frame.pts = i
            c.mux(video.encode(frame))
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 2 * 1920), np.int16), format="s16", layout="stereo")
            sound.sample_rate, sound.pts = 48000, i * 1920
            c.mux(audio.encode(sound))
        c.mux(video.encode(None))
        c.mux(audio.encode(None))
    with av.open(str(src)) as c:
        assert c.streams.audio[0].codec_context.layout.name == "2 channels"  # the case itself
    dst = tmp_path / "out.mp4"
    run(src, dst, boxes=[])
    with av.open(str(dst)) as c:
        stream = c.streams.audio[0]
        assert stream.codec_context.name == "aac" and stream.codec_context.layout.name == "stereo"
        assert sum(1 for p in c.demux(stream) if p.size) > 0
