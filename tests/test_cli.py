"""The command line as a user meets it: one clear line and a non-zero exit for every failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import run_redact
from media import write_clip

redact = run_redact


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("redact: error:")
    return lines[0]


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda d: d / "missing.mp4", "no such file"),
        (lambda d: (d / "text.mp4").write_text("hello\n" * 100) and d / "text.mp4", "not a video"),
    ],
)
def test_bad_input_one_line_nonzero(tmp_path: Path, make, expected: str) -> None:
    result = redact(str(make(tmp_path)), "-o", str(tmp_path / "out.mp4"))
    assert result.returncode != 0
    assert expected in one_error_line(result)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_existing_output_refused(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=3)
    (tmp_path / "in.redacted.mp4").write_bytes(b"x")
    result = redact(str(src), "--targets", "faces")
    assert result.returncode != 0
    assert "already exists" in one_error_line(result)


def test_bad_option_value(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=3)
    result = redact(str(src), "--style", "swirl")
    assert result.returncode == 2
    assert "unknown style" in one_error_line(result)


@pytest.mark.parametrize(
    "option,expected",
    [(("--plate-every", "100000"), "plate-every must be 1 to 60"), (("--backfill", "30"), "backfill must be at most")],
)
def test_settings_that_would_hold_unbounded_frames_are_refused(tmp_path: Path, option, expected: str) -> None:
    # the look-ahead keeps max(every, backfill) decoded frames: --plate-every 100000 once held 2.7 GB
    src = write_clip(tmp_path / "in.mp4", frames=3)
    result = redact(str(src), *option)
    assert result.returncode == 2
    assert expected in one_error_line(result)
    assert not (tmp_path / "in.redacted.mp4").exists()


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = redact(str(tmp_path / "missing.mp4"), env={"REDACT_DEBUG": "1"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_redacts_a_real_face_and_writes_report(tmp_path: Path) -> None:
    from redact.demo import make_demo_clip

    clip = make_demo_clip(tmp_path / "demo.mp4", seconds=1.0)
    report = tmp_path / "report.json"
    result = redact(str(clip), "--targets", "faces", "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert "done" in result.stderr and "demo.redacted.mp4" in result.stderr
    import json

    data = json.loads(report.read_text())
    assert data["frames"] == 25
    assert data["detections"]["face"] > 0
    assert data["settings"]["style"] == "blur"
    assert (tmp_path / "demo.redacted.mp4").stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_config_file_and_command_line_precedence(tmp_path: Path) -> None:
    from media import write_clip as wc

    src = wc(tmp_path / "in.mp4", frames=3)
    config = tmp_path / "redact.toml"
    config.write_text('style = "pixelate"\ncrf = 30\ntargets = "faces"\n')
    report = tmp_path / "r.json"
    result = redact(str(src), "--config", str(config), "--crf", "25", "--report", str(report), "--quiet")
    assert result.returncode == 0, result.stderr
    import json

    settings = json.loads(report.read_text())["settings"]
    assert settings["style"] == "pixelate" and settings["crf"] == 25 and settings["targets"] == ["faces"]
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 'red'\n")
    result = redact(str(src), "--config", str(bad), "-o", str(tmp_path / "x.mp4"))
    assert "unknown settings: colour" in one_error_line(result)


def test_verify_exit_status(tmp_path: Path) -> None:
    from redact.demo import make_demo_clip

    clip = make_demo_clip(tmp_path / "demo.mp4", seconds=0.4)
    result = redact("verify", str(clip), "--targets", "faces")
    assert result.returncode == 1
    assert "FOUND face" in result.stdout and "METADATA" in result.stdout
    assert "sees a face" in result.stdout or "see a face" in result.stdout  # the opinions in words, not rule names
    assert "frame(s) checked" in result.stderr and "metadata item(s)" in result.stderr
    assert "demo.mp4.verify.png" in result.stderr and "redact render" in result.stderr  # where to look, what next
    assert (tmp_path / "demo.mp4.verify.png").exists()
    done = redact(str(clip), "--targets", "faces", "--quiet")
    assert done.returncode == 0, done.stderr
    result = redact("verify", str(tmp_path / "demo.redacted.mp4"), "--targets", "faces")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clean" in result.stdout
    assert "plates searched" not in result.stdout  # --targets faces: no plate search to speak of


def test_folder_input_mirrors_tree_and_fails_loudly_on_a_bad_file(tmp_path: Path) -> None:
    import cv2

    from redact.demo import demo_face

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    write_clip(src / "a.mp4", frames=5)
    cv2.imwrite(str(src / "sub" / "face.jpg"), demo_face())
    (src / "sub" / "broken.mp4").write_bytes(b"garbage" * 100)
    out = tmp_path / "out"
    result = redact(str(src), "-o", str(out), "--targets", "faces")
    assert result.returncode != 0
    assert "failed: sub/broken.mp4" in result.stderr and "1 file(s) failed" in result.stderr
    assert (out / "a.mp4").exists() and (out / "sub" / "face.jpg").exists()
    assert not (out / "sub" / "broken.mp4").exists()
    again = redact("batch", str(src), "-o", str(out), "--targets", "faces")
    assert "skipped: a.mp4" in again.stderr and again.returncode != 0


@pytest.mark.parametrize("target", ["photo", "folder"])
def test_save_tracks_is_refused_where_it_cannot_apply(tmp_path: Path, target: str) -> None:
    """It wrote nothing and exited 0 for a photo or a folder: a silent skip."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    photo = folder / "p.png"
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(photo)
    src = photo if target == "photo" else folder
    result = redact(
        str(src),
        "-o",
        str(tmp_path / ("out.png" if target == "photo" else "out")),
        "--save-tracks",
        str(tmp_path / "t.json"),
    )
    assert result.returncode == 2
    assert "--save-tracks" in one_error_line(result)
    assert (
        not (tmp_path / "t.json").exists() and not (tmp_path / "out.png").exists() and not (tmp_path / "out").exists()
    )


def test_heic_output_without_the_extra_is_one_clear_line(tmp_path: Path) -> None:
    """It was "internal error: KeyError: 'HEIF'", exit 70 (issue 14, defect 4)."""
    import importlib.util

    import numpy as np
    from PIL import Image

    if importlib.util.find_spec("pillow_heif") is not None:
        pytest.skip("pillow-heif is installed here: HEIC output works")
    photo = tmp_path / "p.png"
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(photo)
    result = redact(str(photo), "-o", str(tmp_path / "out.heic"))
    assert result.returncode == 3
    assert "pip install 'redact[heic]'" in one_error_line(result)
    assert not (tmp_path / "out.heic").exists()


def test_detect_preview_render_round_trip_on_a_real_face(tmp_path: Path) -> None:
    """The review commands as a user types them: detect writes the file, preview draws its boxes,
    render covers exactly what it says (a kept track left as filmed, an added region covered in its
    frames only)."""
    import json

    import numpy as np
    from media import decode_frames

    from redact.demo import make_demo_clip

    clip = make_demo_clip(tmp_path / "demo.mp4", seconds=1.0)
    assert redact("detect", str(clip), "--targets", "faces", "--quiet").returncode == 0
    tracks = tmp_path / "demo.mp4.detections.json"
    data = json.loads(tracks.read_text())
    face = max(data["tracks"], key=lambda t: len(t["boxes"]))
    frame, *box = face["boxes"][len(face["boxes"]) // 2][:5]
    x1, y1, x2, y2 = (int(round(v)) for v in box)

    shown = redact("preview", str(clip), "--tracks", str(tracks), "--video", str(tmp_path / "boxes.mp4"))
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / "demo.mp4.preview.png").stat().st_size > 1000
    original, _, _ = decode_frames(clip)
    boxed, _, _ = decode_frames(tmp_path / "boxes.mp4")
    assert len(boxed) == len(original) == 25

    def rendered(*options: str) -> list[np.ndarray]:
        out = tmp_path / f"out{len(list(tmp_path.glob('out*.mp4')))}.mp4"
        result = redact("render", str(clip), "--tracks", str(tracks), "-o", str(out), "--quiet", *options)
        assert result.returncode == 0, result.stderr
        return decode_frames(out)[0]

    def change(images: list[np.ndarray], index: int, area: tuple[int, int, int, int]) -> float:
        a, b, c, d = area
        return float(np.abs(images[index][b:d, a:c].astype(int) - original[index][b:d, a:c].astype(int)).mean())

    covered = rendered()
    assert change(covered, frame, (x1, y1, x2, y2)) > 8  # the face is covered
    kept = rendered("--keep-visible", str(face["id"]), "--add-region", "0-0.2:0,0,40,40", "--style", "fill")
    assert change(kept, frame, (x1, y1, x2, y2)) < 3  # left as filmed (re-encoding noise only)
    assert kept[0][:40, :40].max() < 30 and kept[4][:40, :40].max() < 30  # filled, frames 0-4 (0.2 s)
    assert change(kept, 24, (0, 0, 40, 40)) < 3 and original[24][:40, :40].max() > 60


def test_messages_show_file_names_exactly_even_with_brackets(tmp_path: Path) -> None:
    """Names such as "march [final].mp4" are text, not markup: every line shows them as they are."""
    src = write_clip(tmp_path / "march [final].mp4", frames=3)
    done = redact(str(src), "--targets", "faces")
    assert done.returncode == 0, done.stderr
    assert "march [final].redacted.mp4" in done.stderr
    again = redact(str(src), "--targets", "faces")
    assert "march [final].redacted.mp4" in one_error_line(again)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_outputs_get_the_mode_a_new_file_gets(tmp_path: Path, umask: int) -> None:
    """Every final output was -rw------- (a private temporary file renamed into place), so a colleague
    on a shared server could not read the redacted video or its report (issue 32)."""
    import os
    import stat

    import numpy as np
    from PIL import Image

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    before = os.umask(umask)
    try:
        with open(tmp_path / "plain.txt", "w") as f:  # what the system gives a new file under this umask
            f.write("x")
    finally:
        os.umask(before)
    expected = mode(tmp_path / "plain.txt")
    src = write_clip(tmp_path / "in.mp4", frames=3)
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(tmp_path / "p.png")
    (tmp_path / "folder").mkdir()
    write_clip(tmp_path / "folder" / "a.mp4", frames=3)
    faces = ("--targets", "faces", "--quiet")
    runs = [
        (str(src), "--report", str(tmp_path / "r.json"), "--save-tracks", str(tmp_path / "t.json"), *faces),
        (str(tmp_path / "p.png"), *faces),
        (str(tmp_path / "folder"), "-o", str(tmp_path / "out"), *faces),
        ("detect", str(src), *faces),
        ("preview", str(src), "--tracks", str(tmp_path / "t.json"), "--video", str(tmp_path / "pv.mp4"), "--quiet"),
        ("verify", str(src), "--targets", "faces", "--report", str(tmp_path / "v.json"), "--quiet"),
    ]
    for args in runs:
        result = redact(*args, umask=umask)
        assert result.returncode in (0, 1), result.stderr  # verify exits 1 when it finds something
    outputs = [
        "in.redacted.mp4",
        "r.json",
        "t.json",
        "p.redacted.png",
        "out/a.mp4",
        "out/redact-manifest.json",
        "in.mp4.detections.json",
        "in.mp4.preview.png",
        "pv.mp4",
        "v.json",
    ]
    assert {name: oct(mode(tmp_path / name)) for name in outputs} == {name: oct(expected) for name in outputs}
    assert not [p for p in tmp_path.rglob("*") if ".partial" in p.name or p.suffix == ".tmp"]


@pytest.mark.parametrize(
    "args,expected",
    [
        (["{clip}", "--crf", "abc"], "--crf 'abc': expected a whole number"),
        (["{clip}", "--hold", "abc"], "--hold 'abc': expected a number"),
        (["verify", "{clip}", "--every", "0"], "--every '0': must be at least 1"),
        (["{clip}", "--overwrite", "true"], "--overwrite takes no value (got 'true'): write --overwrite alone"),
        (["{clip}", "--overwrite=yes"], "--overwrite takes no value (got 'yes')"),
        (["{clip}", "--audio", "false"], "unknown audio 'false'; choose from keep, disguise, drop"),
        (["{clip}", "--no-audio", "true"], "--no-audio takes no value (got 'true'): write --no-audio alone"),
        (["{clip}", "--frobnicate"], "unknown option --frobnicate (see `redact --help`)"),
        (
            ["verify", "{clip}", "--frames", "3"],
            "unknown option --frames; did you mean --fast or --tracks? (see `redact verify --help`)",
        ),
        (["run"], "missing INPUT: video, photo or folder to redact; write `redact run INPUT [options]`"),
        (["verify"], "missing INPUT"),
        (["render", "{clip}"], "missing option --tracks"),
        (["batch", "{clip}"], "missing option --output"),
        (["{clip}", "-o"], "-o needs a value"),
        (["{clip}", "{clip}"], "takes one input at a time"),
        (["-clip.mp4"], "write `redact ./-clip.mp4 [options]` or `redact [options] -- -clip.mp4`"),
        (["verify", "-clip.mp4"], "`redact verify ./-clip.mp4 [options]`"),
        (["--", "-clip.mp4", "--quiet"], "after `--` every word is a file name; put options before it"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    """They were Click's 3-4 lines (usage, a hint, a blank line, the error) in its own words (issue 32)."""
    write_clip(tmp_path / "clip.mp4", frames=3)
    write_clip(tmp_path / "-clip.mp4", frames=3)
    result = redact(*[a.replace("{clip}", "clip.mp4") for a in args], cwd=tmp_path)
    assert result.returncode == 2
    assert expected in one_error_line(result)
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["-clip.mp4", "clip.mp4"]


@pytest.mark.parametrize("args", [["./-clip.mp4"], ["--targets", "faces", "--", "-clip.mp4"]])
def test_a_name_that_starts_with_a_dash_is_redacted_as_the_message_says(tmp_path: Path, args: list[str]) -> None:
    write_clip(tmp_path / "-clip.mp4", frames=3)
    result = redact(*(["--quiet", *args] if "--" in args else [*args, "--quiet", "--targets", "faces"]), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "-clip.redacted.mp4").stat().st_size > 0


def help_rows(text: str) -> dict[str, str]:
    """An option's name -> its whole cell of help (rows of typer's panel, wrapped lines joined)."""
    rows: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        cells = line.strip("│ *").split()
        if line.startswith("│") and cells and cells[0].startswith("-"):
            name = cells[0]
            rows[name] = line
        elif name is not None and line.startswith("│"):
            rows[name] += line
        else:
            name = None
    return rows


def test_redact_help_shows_the_run_options_with_their_defaults() -> None:
    """`redact --help` listed no option (they were under `redact run --help`), though the README says it
    shows every option with its default (issue 32)."""
    for flag in ("--help", "-h"):
        result = redact(flag)
        assert result.returncode == 0, result.stderr
        rows = help_rows(result.stdout)
        assert "[default: blur]" in rows["--style"]
        assert "[default: (0.2)]" in rows["--face-threshold"]
        assert "Other commands" in result.stdout and "verify" in result.stdout


def test_every_option_of_every_command_shows_its_default_and_switches_take_no_value() -> None:
    from redact.cli import COMMANDS

    for name in COMMANDS:
        result = redact(name, "--help")
        assert result.returncode == 0, result.stderr
        assert "<bool>" not in result.stdout  # `--overwrite <bool>` made users type --overwrite true
        rows = help_rows(result.stdout)
        assert rows, result.stdout
        for option, cell in rows.items():
            if option != "--help":
                assert "[default:" in cell or "[required]" in cell, f"redact {name} {option}: {cell}"
    assert "Video to redact" not in redact("run", "--help").stdout  # it takes photos and folders too


def test_defaults_shown_in_words_are_the_detectors_own() -> None:
    """--help says what None means for the settings left to a detector or the preset: it must be true."""
    import inspect

    from redact.detectors import centerface, plates
    from redact.detectors.schedule import SCHEDULE
    from redact.settings import DEFAULTS, DEFAULTS_SHOWN

    assert all(getattr(DEFAULTS, name) is None for name in DEFAULTS_SHOWN)
    assert DEFAULTS_SHOWN["face_threshold"] == str(centerface.DEFAULT_THRESHOLD)
    assert DEFAULTS_SHOWN["plate_threshold"] == str(inspect.signature(plates.create).parameters["threshold"].default)
    for target, name in (("faces", "face_every"), ("plates", "plate_every")):
        every = ", ".join(f"{SCHEDULE[q][target]} {q}" for q in ("fast", "balanced", "thorough"))
        assert DEFAULTS_SHOWN[name] == f"by --quality: {every}"
