"""`redact verify OUTPUT`: look again, thoroughly, before publishing; exit 1 if anything is left."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from redact.settings import Settings, parse_targets

from .common import NONE, QUIET, check_side_files, out, progress_bar, say, setting_option, write_report

if TYPE_CHECKING:
    from redact.review.verify import VerifyReport

#: findings listed on the terminal; the rest are counted (all of them are in --report)
SHOWN = 50


def verify_command(
    input: Path = typer.Argument(..., help="Redacted photo or video to check before publishing."),
    sheet: Path | None = typer.Option(
        None,
        "--sheet",
        help="Contact sheet PNG of the frames in question (written when any is found).",
        show_default="INPUT.verify.png beside the input",
    ),
    targets: str = setting_option("targets"),
    every: int = typer.Option(1, "--every", min=1, help="Check every Nth frame (1 = all).", show_default=True),
    threshold: float = typer.Option(
        0.6,
        "--threshold",
        help="Report detections scoring at least this (large faces from half of it). Covered regions can score up to ~0.3 as face-shaped blobs; lower it to see weaker candidates.",
        show_default=True,
    ),
    report: Path | None = typer.Option(None, "--report", help="Write the findings as JSON.", show_default=NONE),
    quiet: bool = QUIET,
) -> None:
    """Look again with the most thorough settings: report faces, plates, metadata or streams left. Exit 1 if any."""
    from redact.review.verify import verify

    check_side_files(report=report)
    settings = Settings(targets=parse_targets(targets), face_threshold=threshold, plate_threshold=threshold)
    sheet = sheet or input.with_name(input.name + ".verify.png")
    with progress_bar(f"verify {input.name}", quiet) as update:
        result = verify(input, settings, sheet_path=sheet, every=every, on_progress=update)
    write_report(report, result.to_dict())
    print_findings(result)
    if result.clean:
        set_aside = f" ({result.covers_dismissed} weak detection(s) on this tool's covers set aside)"
        out.print(
            f"clean: {result.frames_checked} frame(s) checked, nothing found"
            + set_aside * bool(result.covers_dismissed)
        )
        return
    summary = f"{len(result.findings)} detection(s), {len(result.metadata)} metadata item(s) left in {input}"
    if result.sheet:
        summary += f"; contact sheet {result.sheet}"
    say("not clean", summary, "red")
    raise typer.Exit(1)


def print_findings(result: VerifyReport) -> None:
    """One line per finding (on stdout, for scripts), then the metadata left."""
    for f in result.findings[:SHOWN]:
        where = f"frame {f.frame} at {f.time:.2f}s" if f.frame is not None else "photo"
        out.print(f"FOUND {f.kind} ({where}) box {f.box} score {f.score}")
    if len(result.findings) > SHOWN:
        out.print(f"... and {len(result.findings) - SHOWN} more (see --report)")
    for m in result.metadata:
        out.print(f"METADATA {m}")
