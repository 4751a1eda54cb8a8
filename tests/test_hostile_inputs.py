"""Hostile and unusual inputs: every outcome is an exact output, or one clear line, a non-zero exit and no file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import EXACT, ScriptedDetector, run_redact
from media import (
    PATCHES,
    audio_offset,
    pattern,
    shown_rgb,
    write_clip,
    write_late_audio,
    write_tagged_clip,
    write_two_videos,
    write_with_cover,
)
from PIL import Image

from redact.errors import OutputError
from redact.media.outputs import atomic_output, partial_affixes
from redact.pipeline.photo import redact_photo

BOX = [40, 30, 100, 90]  # the scripted face: covered with fill (black) under EXACT


redact = run_redact


def error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("redact: error:") and "internal error" not in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path, *keep: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p not in keep)


def scripted() -> dict[str, ScriptedDetector]:
    return {"faces": ScriptedDetector(lambda i, img: [BOX])}


def noise(height: int, width: int, channels: int = 3, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    top = np.iinfo(dtype).max
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, top, shape, dtype=dtype, endpoint=True)


# -- outputs: atomic, synced, claimed once ------------------------------------------------------


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_photo_on_a_full_disk_leaves_nothing_and_fails(tmp_path: Path, ext: str) -> None:
    src = tmp_path / f"in{ext}"
    Image.fromarray(noise(600, 800)).save(src, quality=95)
    out = tmp_path / f"out{ext}"
    result = redact(str(src), "-o", str(out), "--targets", "faces", limit_bytes=64 * 1024)
    assert result.returncode == 3, result.stderr
    assert "writing the output failed" in error_line(result)
    assert leftovers(tmp_path, src) == []


def test_temporary_name_fits_wherever_the_output_name_fits(tmp_path: Path) -> None:
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    final = tmp_path / ("é" * ((name_max - 4) // 2) + ".mp4")  # two bytes a character: the longest name that fits
    prefix, end = partial_affixes(final)
    assert len((prefix + "12345678" + end).encode()) <= name_max
    with atomic_output(final) as tmp:
        tmp.write_bytes(b"data")
    assert final.read_bytes() == b"data" and leftovers(tmp_path, final) == []


def test_two_runs_cannot_both_claim_one_output(tmp_path: Path) -> None:
    final = tmp_path / "out.mp4"
    both_written = threading.Barrier(2)
    outcomes: list[str] = []

    def run(data: bytes) -> None:
        try:
            with atomic_output(final, overwrite=False) as tmp:
                tmp.write_bytes(data)
                both_written.wait(timeout=10)  # both runs have checked and written; now both try to claim
            outcomes.append("wrote")
        except OutputError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=run, args=(d,)) for d in (b"first", b"second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[1] == "wrote" and "already exists" in sorted(outcomes)[0]
    assert final.read_bytes() in (b"first", b"second") and leftovers(tmp_path, final) == []


# -- photos of every kind keep their content ----------------------------------------------------


def test_16_bit_grey_png_keeps_depth_and_content(tmp_path: Path) -> None:
    pixels = noise(120, 160, 1, np.uint16)
    src, out = tmp_path / "grey16.png", tmp_path / "out.png"
    Image.fromarray(pixels).save(src)
    redact_photo(src, out, EXACT, detectors=scripted())
    with Image.open(out) as written:
        back = np.asarray(written).astype(np.int64)
    assert back.shape == pixels.shape and written.mode.startswith("I")
    inside = np.zeros(pixels.shape, bool)
    inside[BOX[1] : BOX[3], BOX[0] : BOX[2]] = True
    assert np.array_equal(back[~inside], pixels[~inside])  # every 16-bit level kept
    assert (back[inside] == 0).all()  # covered (fill is black)


def test_16_bit_colour_png_keeps_depth(tmp_path: Path) -> None:
    import cv2

    pixels = noise(120, 160, 3, np.uint16)
    src, out = tmp_path / "rgb16.png", tmp_path / "out.png"
    cv2.imwrite(str(src), pixels)
    redact_photo(src, out, EXACT, detectors=scripted())
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    assert np.array_equal(back[:30], pixels[:30]) and (back[BOX[1] : BOX[3], BOX[0] : BOX[2]] == 0).all()


def test_8_bit_grey_photo_stays_grey(tmp_path: Path) -> None:
    pixels = noise(120, 160, 1)
    src, out = tmp_path / "grey.png", tmp_path / "out.png"
    Image.fromarray(pixels).save(src)
    redact_photo(src, out, EXACT, detectors=scripted())
    with Image.open(out) as written:
        assert written.mode == "L"
        assert np.array_equal(np.asarray(written)[:30], pixels[:30])


def test_rgba_keeps_alpha_and_clears_what_transparency_hid(tmp_path: Path) -> None:
    rgba = noise(120, 160, 4)
    rgba[:, :80, 3] = 0  # left half fully transparent, hiding a picture
    rgba[:, 80:, 3] = 255
    src, out = tmp_path / "rgba.png", tmp_path / "out.png"
    Image.fromarray(rgba, "RGBA").save(src)
    redact_photo(src, out, EXACT, detectors={"faces": ScriptedDetector(lambda i, img: [])})
    with Image.open(out) as written:
        assert written.mode == "RGBA"
        back = np.asarray(written)
    assert np.array_equal(back[:, :, 3], rgba[:, :, 3])
    assert (back[:, :80, :3] == 0).all()  # nothing under full transparency survives
    assert np.array_equal(back[:, 80:], rgba[:, 80:])


@pytest.mark.parametrize("ext", [".png", ".webp"])
def test_animated_image_redacted_frame_by_frame(tmp_path: Path, ext: str) -> None:
    frames = [Image.fromarray(np.roll(pattern(160, 120), 7 * i, axis=1)) for i in range(5)]  # smooth, and moving
    src, out = tmp_path / f"anim{ext}", tmp_path / f"out{ext}"
    frames[0].save(
        src, save_all=True, append_images=frames[1:], duration=[100, 120, 140, 160, 180], loop=0, lossless=True
    )
    seen_in = {2}  # the detector finds the face in the middle frame only
    detector = ScriptedDetector(lambda i, img: [BOX] if i in seen_in else [])
    report = redact_photo(src, out, EXACT, detectors={"faces": detector})
    assert report.frames == 5 and detector.calls == 5
    with Image.open(out) as written:
        assert written.n_frames == 5
        shown = []
        for i in range(5):
            written.seek(i)
            shown.append((np.asarray(written.convert("RGB")).astype(int), written.info.get("duration")))
    inside = (slice(BOX[1], BOX[3]), slice(BOX[0], BOX[2]))
    for i, (pixels, duration) in enumerate(shown):
        original = np.asarray(frames[i]).astype(int)
        assert duration == 100 + 20 * i
        covered = i in (1, 2, 3)  # its own frame and the frames either side
        assert (pixels[inside].mean() < 6) == covered and (pixels[inside].mean() > 30) != covered
        outside = np.ones(pixels.shape[:2], bool)
        outside[inside] = False
        assert np.abs(pixels[outside] - original[outside]).mean() < (0.5 if ext == ".png" else 3)


def test_animated_image_into_a_one_frame_format_refused(tmp_path: Path) -> None:
    frames = [Image.fromarray(noise(60, 80, seed=i)) for i in range(3)]
    src = tmp_path / "anim.png"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(OutputError, match="written as .png or .webp"):
        redact_photo(src, tmp_path / "out.jpg", EXACT, detectors=scripted())
    assert leftovers(tmp_path, src) == []


def test_photo_over_the_pixel_limit_refused_before_decoding(tmp_path: Path) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # a PNG that declares 100000 x 100000 pixels (10 gigapixels) in a few bytes
    src = tmp_path / "bomb.png"
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    src.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )
    result = redact(str(src), "-o", str(tmp_path / "out.png"))
    assert result.returncode == 2
    assert "10000 megapixels, over the limit of 120" in error_line(result)
    jpeg = tmp_path / "big.jpg"
    Image.fromarray(noise(3000, 4000)).save(jpeg)  # 12 MP: over a limit of 10, fine once raised
    result = redact(str(jpeg), "-o", str(tmp_path / "out.jpg"), "--max-megapixels", "10")
    assert result.returncode == 2 and "--max-megapixels" in error_line(result)
    assert leftovers(tmp_path, src, jpeg) == []


# -- which video stream is the video ------------------------------------------------------------


def video_out(path: Path) -> tuple[int, int, int, int]:
    """(video streams, width, height, frames) of an output."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return len(container.streams.video), stream.width, stream.height, frames


@pytest.mark.parametrize(
    "make",
    [
        lambda d: write_with_cover(d / "cover.mp4", cover_size=1000),  # cover art larger than the video
        lambda d: write_with_cover(d / "cover.mkv", cover_size=300, flagged=False),  # a JPEG track first
        lambda d: write_two_videos(d / "two.mkv"),  # a small video stream first
    ],
    ids=["attached-picture", "jpeg-track-first", "small-stream-first"],
)
def test_main_video_is_the_largest_real_video_stream(tmp_path: Path, make) -> None:
    from redact.pipeline.video import redact_video

    src = make(tmp_path)
    report = redact_video(src, tmp_path / "out.mp4", EXACT, detectors={"faces": ScriptedDetector(lambda i, img: [])})
    assert video_out(tmp_path / "out.mp4") == (1, 320, 180, 10)
    assert report.frames == 10 and report.video["width"] == 320
    assert report.video["stream_index"] == (1 if "two" in src.name or src.suffix == ".mkv" else 0)
    assert any("dropped streams" in w and "video:" in w for w in report.warnings)


# -- truncated input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ext,options", [(".mp4", {"movflags": "+faststart"}), (".mkv", {})], ids=["mp4-faststart", "mkv"]
)
def test_truncated_input_is_written_but_never_a_plain_success(tmp_path: Path, ext: str, options: dict) -> None:
    import json

    whole = write_clip(tmp_path / f"whole{ext}", frames=50, size=(320, 240), audio=True, options=options)
    src = tmp_path / f"cut{ext}"
    src.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out, report = tmp_path / "out.mp4", tmp_path / "report.json"
    result = redact(str(src), "-o", str(out), "--targets", "faces", "--report", str(report))
    assert result.returncode == 6, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert (
        lines[-1].startswith("redact: error:")
        and "input is truncated" in lines[-1]
        and "--allow-truncated" in lines[-1]
    )
    frames = video_out(out)[3]
    assert 10 < frames < 50  # what decoded is what the user has
    assert "input is truncated" in json.loads(report.read_text())["truncated"]
    out.unlink()
    result = redact(str(src), "-o", str(out), "--targets", "faces", "--allow-truncated")
    assert result.returncode == 0 and "input is truncated" in result.stderr and video_out(out)[3] == frames
    out.unlink()
    assert redact(str(whole), "-o", str(out), "--targets", "faces").returncode == 0  # a whole file is not flagged


# -- signals ------------------------------------------------------------------------------------------


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find worker processes")
@pytest.mark.parametrize("sig,code,jobs", [("SIGTERM", 143, 1), ("SIGINT", 130, 1), ("SIGTERM", 143, 2)])
def test_signal_stops_cleanly_with_one_line(tmp_path: Path, sig: str, code: int, jobs: int) -> None:
    import signal
    import time

    src = write_clip(tmp_path / "in.mp4", frames=400 if jobs > 1 else 250, size=(320, 240), fps=25)
    out = tmp_path / "out.mp4"
    args = [sys.executable, "-m", "redact", str(src), "-o", str(out), "--jobs", str(jobs), "--quality", "thorough"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    started = time.monotonic()
    # wait until the run is under way: a temporary output (or the segments' folder) exists
    while not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")] and time.monotonic() - started < 120:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    time.sleep(0.5)
    workers = children_of(proc.pid)
    assert workers or jobs == 1
    proc.send_signal(getattr(signal, sig))
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == ["redact: error: interrupted; unfinished outputs and temporary files were removed"]
    assert leftovers(tmp_path, src) == []
    time.sleep(1.0)
    assert not [pid for pid in workers if alive(pid)]  # no orphaned workers


# -- clear failures, checked before the run ------------------------------------------------------------


def test_long_file_names(tmp_path: Path) -> None:
    src = write_clip(tmp_path / ("x" * 236 + ".mp4"), frames=3)  # 240 characters
    result = redact(str(src), "--targets", "faces")  # the default output name has 249
    assert result.returncode == 0, result.stderr
    out = tmp_path / ("x" * 236 + ".redacted.mp4")
    assert video_out(out)[3] == 3 and leftovers(tmp_path, src, out) == []
    result = redact(str(src), "-o", str(tmp_path / ("y" * 300 + ".mp4")), "--targets", "faces")
    assert result.returncode == 3 and "file name too long" in error_line(result)


@pytest.mark.parametrize("option", ["--report", "--save-tracks"])
def test_side_file_paths_checked_before_the_run(tmp_path: Path, option: str) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=3)
    result = redact(str(src), "-o", str(tmp_path / "out.mp4"), option, str(tmp_path / "missing" / "r.json"))
    assert result.returncode == 3
    assert f"{option} " in error_line(result) and "does not exist" in error_line(result)
    assert leftovers(tmp_path, src) == []


def test_video_over_the_pixel_limit_refused_before_decoding(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=3, size=(640, 480))
    result = redact(str(src), "-o", str(tmp_path / "out.mp4"), "--max-megapixels", "0.1")
    assert result.returncode == 2
    assert "640x480 frames are 0.3 megapixels, over the limit of 0.1" in error_line(result)
    assert leftovers(tmp_path, src) == []


# -- colour -----------------------------------------------------------------------------------------------


def patch_means(rgb: np.ndarray) -> np.ndarray:
    """Mean colour of the middle of each patch bar (away from edges that chroma subsampling blurs)."""
    height, width = rgb.shape[:2]
    bar = width // len(PATCHES)
    return np.array(
        [
            rgb[height // 4 : 3 * height // 4, i * bar + 8 : (i + 1) * bar - 8].reshape(-1, 3).mean(0)
            for i in range(len(PATCHES))
        ]
    )


@pytest.mark.parametrize(
    "matrix,full_range,pix_fmt",
    [
        ("bt709", False, "yuv420p"),
        ("bt601", False, "yuv420p"),
        ("bt709", True, "yuvj420p"),
        ("bt709", True, "yuv420p"),
        ("bt601", True, "yuv444p"),
        ("bt709", False, "yuv444p"),
    ],
    ids=["bt709", "bt601", "full-range-yuvj420p", "full-range-tagged", "full-range-444", "bt709-444"],
)
def test_colours_and_tags_carried_through(tmp_path: Path, matrix: str, full_range: bool, pix_fmt: str) -> None:
    from redact.pipeline.video import redact_video

    src = write_tagged_clip(tmp_path / "in.mp4", matrix=matrix, full_range=full_range, pix_fmt=pix_fmt, size=(384, 216))
    out = tmp_path / "out.mp4"
    redact_video(src, out, EXACT.replace(crf=4), detectors={"faces": ScriptedDetector(lambda i, img: [[0, 0, 16, 16]])})
    shown_in, tags_in = shown_rgb(src)
    shown_out, tags_out = shown_rgb(out)
    assert tags_out == tags_in
    assert np.abs(patch_means(shown_out) - patch_means(shown_in)).max() <= 2.0
    assert shown_out[:12, :12].max() <= 2  # the covered corner (away from chroma edges) is black in the output range


def rotation_of(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return round(next(container.decode(video=0)).rotation / 90) * 90 % 360


@pytest.mark.parametrize("full_range", [False, True], ids=["limited", "full"])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotated_video_keeps_its_colours(tmp_path: Path, rotation: int, full_range: bool) -> None:
    """Issue 32 reported a rotated BT.709 phone clip coming out up to 17/255 off; the output, turned
    upright, must show every patch as the input shows it, rotated or not."""
    from redact.pipeline.video import redact_video

    src = write_tagged_clip(tmp_path / "in.mp4", matrix="bt709", full_range=full_range, rotation=rotation)
    out = tmp_path / "out.mp4"
    redact_video(src, out, EXACT.replace(crf=4), detectors={"faces": ScriptedDetector(lambda i, img: [[0, 0, 16, 16]])})
    shown_in, tags_in = shown_rgb(src)  # as stored: the patch bars stand upright in it
    shown_out, tags_out = shown_rgb(out)
    assert rotation_of(src) == rotation and rotation_of(out) == 0
    assert tags_out == tags_in
    # the upright output turned back to the input's storage (the rotation is counter-clockwise for display)
    stored_out = np.rot90(shown_out, -rotation // 90)
    assert stored_out.shape == shown_in.shape
    assert np.abs(patch_means(stored_out) - patch_means(shown_in)).max() <= 1.0


# -- sound --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ext,codec",
    [(".mov", "pcm_s16le"), (".mov", "aac"), (".mkv", "aac")],
    ids=["re-encoded", "copied-mov", "copied-mkv"],
)
def test_audio_offset_from_the_first_video_frame_kept(tmp_path: Path, ext: str, codec: str) -> None:
    from redact.pipeline.video import redact_video

    src = write_late_audio(tmp_path / f"in{ext}", start=0.5, codec=codec)
    out = tmp_path / "out.mp4"
    redact_video(src, out, EXACT, detectors={"faces": ScriptedDetector(lambda i, img: [])})
    assert abs(audio_offset(src) - 0.5) <= 1024 / 48000
    assert abs(audio_offset(out) - audio_offset(src)) <= 1024 / 48000  # within one audio frame


@pytest.mark.parametrize(
    "transfer,ext,rotation",
    [("smpte2084", ".mkv", 0), ("arib-std-b67", ".mp4", 0), ("smpte2084", ".mp4", 90)],
    ids=["pq-mkv", "hlg-mp4", "pq-rotated"],
)
def test_10_bit_hdr_stays_10_bit_with_its_tags(tmp_path: Path, transfer: str, ext: str, rotation: int) -> None:
    import av

    from redact.pipeline.video import redact_video

    src = write_tagged_clip(
        tmp_path / f"in{ext}",
        matrix="bt2020",
        pix_fmt="yuv420p10le",
        transfer=transfer,
        size=(384, 216),
        rotation=rotation,
    )
    out = tmp_path / "out.mp4"
    redact_video(src, out, EXACT.replace(crf=4), detectors={"faces": ScriptedDetector(lambda i, img: [[0, 0, 16, 16]])})
    shown_in, tags_in = shown_rgb(src)
    shown_out, tags_out = shown_rgb(out)
    assert tags_out == tags_in and tags_in["color_trc"] in (16, 18)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        fa, fb = next(a.decode(video=0)), next(b.decode(video=0))
        assert fb.format.name == "yuv420p10le"
        planes_in, planes_out = fa.to_ndarray().astype(int), fb.to_ndarray().astype(int)
    luma_out = planes_out[: fb.height]
    assert luma_out[:16, :16].max() <= 64 + 2  # the covered corner: 10-bit limited-range black
    if rotation:  # compare in the input's storage orientation
        assert (fb.width, fb.height) == (216, 384)
        luma_out = np.rot90(luma_out, -rotation // 90)
    bar = 384 // len(PATCHES)
    for i in range(len(PATCHES)):  # every 10-bit level of the uncovered bars kept (within 2 of 1023)
        middle = (slice(60, 150), slice(i * bar + 8, (i + 1) * bar - 8))
        assert abs(luma_out[middle].mean() - planes_in[:216][middle].mean()) <= 2


def test_truncated_file_in_a_batch_fails_alone(tmp_path: Path) -> None:
    from redact.parallel.batch import run_batch

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    whole = write_clip(src / "whole.mp4", frames=50, size=(160, 120), options={"movflags": "+faststart"})
    (src / "cut.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    summary = run_batch(src, out, EXACT, detector_factory=lambda s: scripted())
    assert [r.path for r in summary.failed] == ["cut.mp4"] and "input is truncated" in summary.failed[0].error
    assert sorted(p.name for p in out.iterdir()) == ["redact-manifest.json", "whole.mp4"]
    summary = run_batch(src, out, EXACT.replace(allow_truncated=True), detector_factory=lambda s: scripted())
    assert not summary.failed and any("input is truncated" in w for r in summary.done for w in r.warnings)


HDR10 = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"


@pytest.mark.parametrize("codec", ["libx265", "libx264"])
def test_hdr10_mastering_display_and_light_levels_carried(tmp_path: Path, codec: str) -> None:
    import av

    from redact.media.colour import Colour
    from redact.pipeline.video import redact_video

    params = {
        "libx265": {"x265-params": f"hdr10=1:master-display={HDR10}:max-cll=1000,400"},
        "libx264": {"x264-params": f"mastering-display={HDR10}:cll=1000,400"},
    }[codec]
    src = write_tagged_clip(
        tmp_path / "in.mkv", matrix="bt2020", pix_fmt="yuv420p10le", transfer="smpte2084", codec=codec, options=params
    )
    out = tmp_path / "out.mp4"
    redact_video(src, out, EXACT.replace(crf=4), detectors={"faces": ScriptedDetector(lambda i, img: [])})
    with av.open(str(src)) as a, av.open(str(out)) as b:
        colour_in, colour_out = Colour.of(next(a.decode(video=0))), Colour.of(next(b.decode(video=0)))
    assert colour_in.mastering_display == HDR10 and colour_in.content_light == "1000,400"
    assert colour_out == colour_in


def test_side_data_read_by_type_on_the_installed_pyav(tmp_path: Path) -> None:
    """PyAV 18.1.1 iterates the side-data mapping's keys, 18.1.0 its values: values are looked up by key."""
    import av
    from av.sidedata.sidedata import Type

    from redact.media.colour import _side_data

    params = {"x264-params": f"mastering-display={HDR10}:cll=1000,400"}
    src = write_tagged_clip(
        tmp_path / "in.mkv", matrix="bt2020", pix_fmt="yuv420p10le", transfer="smpte2084", options=params
    )
    with av.open(str(src)) as container:
        frame = next(container.decode(video=0))
    light = _side_data(frame, Type.CONTENT_LIGHT_LEVEL)
    assert light is not None and np.frombuffer(light[:8], "<u4").tolist() == [1000, 400]
    assert _side_data(frame, Type.ICC_PROFILE) is None


def test_photo_named_like_a_video_is_redacted_or_refused_in_one_line(tmp_path: Path) -> None:
    """A JPEG named .mp4 never stops with exit 70 (FFmpeg attaches its EXIF as side data of a type that
    PyAV 18.1.0 cannot name: it raised ValueError on reading the frame's side data)."""
    src = tmp_path / "photo.mp4"
    exif = Image.Exif()
    exif[0x010F] = "Camera"  # Make
    Image.fromarray(noise(120, 160)).save(src, format="JPEG", exif=exif)
    out = tmp_path / "out.mp4"
    result = redact(str(src), "-o", str(out), "--targets", "faces")
    assert result.returncode in (0, 2), result.stderr
    if result.returncode:
        error_line(result)
        assert leftovers(tmp_path, src) == []
    else:
        import av

        with av.open(str(out)) as container:
            assert container.streams.video[0].frames in (0, 1) and (container.streams.video[0].width == 160)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find worker processes")
def test_sigterm_stops_a_folder_run_with_one_line(tmp_path: Path) -> None:
    import json
    import signal
    import time

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for i in range(3):
        write_clip(folder / f"c{i}.mp4", frames=300, size=(320, 240))
    args = [sys.executable, "-m", "redact", str(folder), "-o", str(out), "--jobs", "2", "--quality", "thorough"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    started = time.monotonic()
    while (
        not (out.is_dir() and [p for p in out.iterdir() if ".partial" in p.name]) and time.monotonic() - started < 120
    ):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    time.sleep(0.5)
    workers = children_of(proc.pid)
    proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, stderr
    assert [line for line in stderr.splitlines() if line.strip()] == [
        "redact: error: interrupted; unfinished outputs and temporary files were removed"
    ]
    files = json.loads((out / "redact-manifest.json").read_text())["files"]
    unfinished = [name for name, entry in files.items() if entry["status"] != "done"]
    assert unfinished and all("cancelled" in files[name]["error"] for name in unfinished)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["redact-manifest.json", *(n for n in files if n not in unfinished)]
    )
    time.sleep(1.0)
    assert not [pid for pid in workers if alive(pid)]
