"""`redact preview INPUT`: a contact sheet (and optionally a small video) with the boxes drawn."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from redact.settings import Settings, parse_targets

from .common import NONE, QUIET, err, progress_bar, setting_option

if TYPE_CHECKING:
    from redact.media.source import VideoInfo
    from redact.review.detections_file import Plan


def preview_command(
    input: Path = typer.Argument(..., help="Video to preview."),
    tracks: Path | None = typer.Option(
        None,
        "--tracks",
        help="Detections file; without it, detection runs first (default settings).",
        show_default=NONE,
    ),
    sheet: Path | None = typer.Option(
        None, "--sheet", help="Contact sheet PNG.", show_default="INPUT.preview.png beside the input"
    ),
    frames: int = typer.Option(16, "--frames", min=1, help="How many frames the sheet samples.", show_default=True),
    video: Path | None = typer.Option(
        None, "--video", help="Also write a small preview video with boxes drawn.", show_default=NONE
    ),
    targets: str = setting_option("targets"),
    quiet: bool = QUIET,
) -> None:
    """Contact sheet (and optionally a small video) with boxes, track ids, kinds and scores drawn."""
    from redact.media.source import probe
    from redact.review.detections_file import load
    from redact.review.preview import preview_sheet, preview_video

    info = probe(input)
    if tracks is None:
        plan = detected_plan(input, info, Settings(targets=parse_targets(targets)), quiet)
    else:
        plan, _ = load(tracks, info)
    sheet = sheet or input.with_name(input.name + ".preview.png")
    preview_sheet(info, plan, sheet, frames=frames)
    if video is not None:
        preview_video(info, plan, video)
    if not quiet:
        err.print(f"wrote {sheet}" + (f" and {video}" if video else ""))


def detected_plan(input: Path, info: VideoInfo, settings: Settings, quiet: bool) -> Plan:
    """Detect now, and read the result as a detections file would be read (no file is left behind)."""
    import tempfile

    from redact.pipeline.video import detect_video
    from redact.review.detections_file import Recorder, load

    recorder = Recorder(info, settings.to_dict())
    with progress_bar(f"detect {input.name}", quiet) as update:
        detect_video(input, settings, on_progress=update, on_frame=recorder)
    with tempfile.TemporaryDirectory() as tmp:
        plan, _ = load(recorder.write(Path(tmp) / "d.json"), info, check_hash=False)
    return plan
