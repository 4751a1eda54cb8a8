"""`redact verify OUTPUT`: look again, with a second opinion, before publishing; exit 1 if anything is left."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from redact.settings import Settings, parse_targets

from .common import NONE, OFF, QUIET, check_side_files, out, progress_bar, say, setting_option, write_report

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
    fast: bool = typer.Option(
        False, "--fast", help="Stop at the first certain leak (both models, both views).", show_default=OFF
    ),
    tracks: Path | None = typer.Option(
        None,
        "--tracks",
        help="The run's detections file: verify then knows where the run covered and checks the cover's "
        "pixels are there. Default: OUTPUT.detections.json or NAME.*.detections.json beside NAME.redacted.EXT.",
        show_default=NONE,
    ),
    no_tracks: bool = typer.Option(
        False, "--no-tracks", help="Ignore any detections file beside the output.", show_default=OFF
    ),
    plate_every: int = typer.Option(
        50,
        "--plate-every",
        min=1,
        help="Search plates on every Nth frame of a video (the plate search is slow).",
        show_default=True,
    ),
    threshold: float = typer.Option(
        0.6, "--plate-threshold", help="Report plates the detector scores from this.", show_default=True
    ),
    report: Path | None = typer.Option(None, "--report", help="Write the findings as JSON.", show_default=NONE),
    quiet: bool = QUIET,
) -> None:
    """Look again with two face models and the plate detector: report faces, plates, metadata or
    streams left. Exit 1 if any."""
    from redact.review.verify import verify

    check_side_files(report=report)
    if tracks is not None and no_tracks:
        from redact.errors import ConfigError

        raise ConfigError("--tracks and --no-tracks contradict each other; give one")
    settings = Settings(targets=parse_targets(targets), plate_threshold=threshold)
    sheet = sheet or input.with_name(input.name + ".verify.png")
    with progress_bar(f"verify {input.name}", quiet) as update:
        result = verify(
            input,
            settings,
            sheet_path=sheet,
            every=every,
            tracks=tracks,
            use_tracks=not no_tracks,
            fast=fast,
            plate_every=plate_every,
            on_progress=update,
        )
    write_report(report, result.to_dict())
    print_findings(result)
    for note in result.notes:
        say("note", note, "yellow")
    if result.clean:
        out.print(f"clean: {result.frames_checked} frame(s) checked, nothing found{set_aside(result)}")
        return
    say("not clean", not_clean_summary(result, input), "red")
    if result.sheet:
        say("next", f"look at each marked box in {result.sheet}: " + NEXT_STEP)
    raise typer.Exit(1)


#: what a user does with a finding (a second look can be wrong; a face left visible cannot be undone)
NEXT_STEP = (
    "where it is a real face or plate, cover it before publishing (redact render with the run's detections "
    "file and --add-region or --cover-all, then verify again); where it is not (a hand, fabric, this tool's "
    "cover), it can be published"
)


def not_clean_summary(result: VerifyReport, input: Path) -> str:
    """What is left and where: findings by kind, the frames they are on, metadata; and how far verify got."""
    kinds: dict[str, int] = {}
    for f in result.findings:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    parts = [f"{n} {kind} finding(s)" for kind, n in sorted(kinds.items())]
    if result.metadata:
        parts.append(f"{len(result.metadata)} metadata item(s)")
    text = f"{', '.join(parts)} left in {input}"
    frames = {f.frame for f in result.findings if f.frame is not None}
    if frames:
        text += f", in {len(frames)} of the {result.frames_checked} frame(s) checked"
    if result.stopped_early:
        text += " (stopped at the first certain leak: --fast; later frames were not checked)"
    return text


def set_aside(result: VerifyReport) -> str:
    """What verify looked at and did not report, so that a clean result says how it was reached."""
    parts = []
    if result.covers_dismissed:
        parts.append(f"{result.covers_dismissed} face-like response(s) on this tool's covers")
    if result.weak_dismissed:
        parts.append(f"{result.weak_dismissed} too weak or seen by one model only")
    text = f" (set aside: {', '.join(parts)})" if parts else ""
    if result.tracks:
        text += f"; covers checked against {Path(result.tracks).name}"
    if result.plate_every > 1 and result.frames_checked > 1:
        text += f"; plates searched once every {result.plate_every} frames (--plate-every)"
    return text


#: the opinions behind a finding (opinions.verdict), in a reader's words
WHY = {
    "both models, both views": "both face models see a face, close up and in context",
    "both models": "both face models see a face",
    "YuNet, both views": "one face model (YuNet) sees a face strongly, close up and in context",
    "CenterFace, both views": "one face model (CenterFace) sees a face, close up and in context",
    "plate detector": "the plate detector sees a plate",
}


def print_findings(result: VerifyReport) -> None:
    """One line per finding (on stdout, for scripts), then small faces and the metadata left."""
    for f in result.findings[:SHOWN]:
        where = f"frame {f.frame} at {f.time:.2f}s" if f.frame is not None else "photo"
        out.print(f"FOUND {f.kind} ({where}) box {f.box}: {WHY.get(f.why, f.why)} (weakest look {f.score:.2f})")
    if len(result.findings) > SHOWN:
        out.print(f"... and {len(result.findings) - SHOWN} more (see --report)")
    if result.small_faces:
        frames = len({f.frame for f in result.small_faces})
        out.print(
            f"SMALL {len(result.small_faces)} face(s) under 16 px both models see"
            + (f", in {frames} frame(s)" if result.small_faces[0].frame is not None else "")
            + " (too small to identify; listed in --report)"
        )
    for m in result.metadata:
        out.print(f"METADATA {m}")
