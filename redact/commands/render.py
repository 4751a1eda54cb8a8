"""`redact render INPUT --tracks FILE`: redact exactly what a (reviewed) detections file says."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from redact.errors import ConfigError
from redact.settings import Settings

from .common import (
    MUTE_HELP,
    NONE,
    OFF,
    QUIET,
    check_side_files,
    mute_ranges,
    print_notes,
    progress_bar,
    say,
    settings_from,
    time_ranges,
    with_settings,
    write_report,
)

if TYPE_CHECKING:
    from redact.review.detections_file import Plan

RENDER_SETTINGS = (
    "style",
    "shape",
    "face_margin",
    "plate_margin",
    "codec",
    "crf",
    "preset",
    "audio",
    "mute_style",
    "keep_metadata",
)


@with_settings(*RENDER_SETTINGS)
def render_command(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="The video the detections file was made from."),
    tracks: Path = typer.Option(
        ..., "--tracks", help="Detections file (from `redact detect` or --save-tracks), reviewed."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Output file.", show_default="INPUT.redacted.mp4 beside the input"
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing output file (never the input).", show_default=OFF
    ),
    keep_visible: str = typer.Option(
        "",
        "--keep-visible",
        help="Track ids to leave uncovered, e.g. 3,7 (people who consented).",
        show_default="none: every track covered",
    ),
    add_region: list[str] = typer.Option(
        [],
        "--add-region",
        help="Cover a box for a time range: START-END:x1,y1,x2,y2 (seconds, pixels). Repeatable.",
        show_default=NONE,
    ),
    cover_all: list[str] = typer.Option(
        [],
        "--cover-all",
        help="Cover whole frames from START to END seconds, e.g. 12-14.5. Repeatable.",
        show_default=NONE,
    ),
    mute: list[str] = typer.Option([], "--mute", help=MUTE_HELP, show_default=NONE),
    *,
    values: dict[str, Any],
    report: Path | None = typer.Option(
        None, "--report", help="Write a JSON report of the render and the settings used.", show_default=NONE
    ),
    quiet: bool = QUIET,
) -> None:
    """Redact exactly what a (reviewed) detections file says, without detecting again."""
    from redact.media.outputs import default_output
    from redact.media.source import probe
    from redact.pipeline.video import redact_video
    from redact.review.detections_file import load

    check_side_files(report=report)
    info = probe(input)
    plan, data = load(tracks, info, track_ids(keep_visible))
    add_regions(plan, add_region, cover_all)
    plan.mute.extend(mute_ranges(mute))
    base = {k: v for k, v in (data.get("settings") or {}).items() if k in Settings.__dataclass_fields__}
    settings = settings_from(ctx, None, values, base)
    output = output or default_output(input)
    with progress_bar(f"render {input.name}", quiet) as update:
        result = redact_video(input, output, settings, overwrite=overwrite, on_progress=update, plan=plan)
    write_report(report, result.to_dict())
    if not quiet:
        say(
            "done",
            f"{result.frames} frames from {tracks.name}, {result.covered_frames} with regions; wrote {output}",
            "green",
        )
    print_notes(result.warnings)


def track_ids(keep_visible: str) -> set[int]:
    """--keep-visible 3,7 -> {3, 7}."""
    try:
        return {int(v) for v in keep_visible.split(",") if v.strip()}
    except ValueError:
        raise ConfigError(f"--keep-visible {keep_visible!r}: expected track ids like 3,7") from None


def add_regions(plan: Plan, add_region: list[str], cover_all: list[str]) -> None:
    """Add the --add-region boxes and --cover-all spans to the plan, as the detections file's own would be."""
    from redact.review.detections_file import add_cover_all, add_manual

    for value in add_region:
        span, _, box = value.partition(":")
        ((start, end),) = time_ranges([span], "--add-region")
        try:
            coords = [float(v) for v in box.split(",")]
        except ValueError:
            coords = []
        if len(coords) != 4:
            raise ConfigError(f"--add-region {value!r}: expected START-END:x1,y1,x2,y2")
        add_manual(plan, {"keyframes": [{"time": start, "box": coords}], "start": start, "end": end}, "--add-region")
    for start, end in time_ranges(cover_all, "--cover-all"):
        add_cover_all(plan, {"start": start, "end": end}, "--cover-all")
