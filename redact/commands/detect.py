"""`redact detect INPUT`: detect and track, and write the detections file for review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .common import NONE, QUIET, counted, detections_recorder, progress_bar, say, settings_from, with_settings

DETECT_SETTINGS = (
    "targets",
    "quality",
    "face_threshold",
    "plate_threshold",
    "face_every",
    "plate_every",
    "face_margin",
    "plate_margin",
    "hold",
    "backfill",
    "scene_cut",
    "device",
    "threads",
)


@with_settings(*DETECT_SETTINGS)
def detect_command(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="Video to search."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Detections file.", show_default="INPUT.detections.json beside the input"
    ),
    *,
    values: dict[str, Any],
    config: Path | None = typer.Option(None, "--config", help="TOML or JSON file of settings.", show_default=NONE),
    quiet: bool = QUIET,
) -> None:
    """Detect and track, and write the detections file for review (no video is written)."""
    from redact.pipeline.video import detect_video

    settings = settings_from(ctx, config, values)
    output = output or input.with_name(input.name + ".detections.json")
    recorder = detections_recorder(input, settings)
    with progress_bar(f"detect {input.name}", quiet) as update:
        result, _ = detect_video(input, settings, on_progress=update, on_frame=recorder)
    recorder.write(output)
    if not quiet:
        say("done", f"{result.frames} frames, {counted(result.tracks, ' tracks')}; wrote {output}", "green")
    if result.truncated:
        say("note", result.truncated, "yellow")
