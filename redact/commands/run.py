"""`redact run INPUT` (or just `redact INPUT`): redact a video, a photo or a folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from redact.errors import ConfigError, TruncatedInputError
from redact.settings import Settings

from .batch import run_folder
from .common import (
    CONFIG,
    EXECUTOR,
    MUTE_HELP,
    NONE,
    OFF,
    QUIET,
    Workers,
    check_side_files,
    counted,
    detections_recorder,
    mute_ranges,
    print_notes,
    progress_bar,
    say,
    settings_from,
    with_settings,
    write_report,
)

if TYPE_CHECKING:
    from redact.pipeline.video import RunReport

#: every setting is an option of `run`, in the defaults table's order
RUN_SETTINGS = tuple(field.name for field in dataclasses.fields(Settings))

JOBS = typer.Option(
    1,
    "--jobs",
    "-j",
    min=1,
    help="Parallel workers: files of a folder at once, or keyframe-aligned segments of one video.",
    show_default=True,
)
CLUSTER = typer.Option(
    None,
    "--cluster",
    envvar="DASK_SCHEDULER_ADDRESS",
    help="Dask scheduler address (tcp://host:8786); runs the jobs on that cluster.",
    show_default=NONE,
    show_envvar=True,
)


@with_settings(*RUN_SETTINGS)
def run_command(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="Video, photo or folder to redact.", show_default=False),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Output file, or folder for a folder.",
        show_default="beside the input: NAME.redacted.mp4, a photo NAME.redacted.EXT, a folder NAME.redacted/",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing output file (never the input).", show_default=OFF
    ),
    *,
    values: dict[str, Any],
    config: Path | None = CONFIG,
    report: Path | None = typer.Option(
        None, "--report", help="Write a JSON report of the run and the settings used.", show_default=NONE
    ),
    save_tracks: Path | None = typer.Option(
        None, "--save-tracks", help="Also write the detections file (for review, `redact render`).", show_default=NONE
    ),
    jobs: int = JOBS,
    executor: str | None = EXECUTOR,
    cluster: str | None = CLUSTER,
    mute: list[str] = typer.Option([], "--mute", help=MUTE_HELP, show_default=NONE),
    quiet: bool = QUIET,
) -> None:
    """Find and cover faces and licence plates in a video, a photo or a folder of them, offline: detect, track
    and cover them, copy the audio, strip the metadata."""
    from redact.media.picture import is_photo

    settings = settings_from(ctx, config, values)
    check_side_files(report=report, save_tracks=save_tracks)
    muted = mute_ranges(mute)
    for option, given in (("--save-tracks", save_tracks is not None), ("--mute", bool(muted))):
        if given and (input.is_dir() or is_photo(input)):
            # a silent skip would leave the user believing it was done
            raise ConfigError(f"{option} applies to one video; not to a photo or a folder")
    workers = Workers(jobs, executor, cluster)
    if input.is_dir():
        folder_output = output or input.with_name(input.name + ".redacted")
        run_folder(input, folder_output, settings, workers, overwrite=overwrite, report=report, quiet=quiet)
    elif is_photo(input):
        run_photo(input, output, settings, overwrite=overwrite, report=report, quiet=quiet)
    else:
        run_video(
            input,
            output,
            settings,
            workers,
            overwrite=overwrite,
            report=report,
            save_tracks=save_tracks,
            quiet=quiet,
            mute=muted,
        )


def run_photo(
    input: Path, output: Path | None, settings: Settings, *, overwrite: bool, report: Path | None, quiet: bool
) -> None:
    """Redact one photo: its pixels, and none of its metadata."""
    from redact.media.outputs import default_output
    from redact.pipeline.photo import redact_photo

    output = output or default_output(input, input.suffix)
    photo = redact_photo(input, output, settings, overwrite=overwrite)
    write_report(report, photo.to_dict())
    if not quiet:
        say("done", f"{counted(photo.detections, 's')}; wrote {output} (no EXIF, XMP or IPTC)", "green")
    print_notes(photo.warnings)


def run_video(
    input: Path,
    output: Path | None,
    settings: Settings,
    workers: Workers,
    *,
    overwrite: bool,
    report: Path | None,
    save_tracks: Path | None,
    quiet: bool,
    mute: list[tuple[float, float]] | None = None,
) -> None:
    """Redact one video, in one pass or in keyframe-aligned segments on several workers; ``mute``: seconds
    from the first frame silenced in every audio track."""
    from redact.media.outputs import default_output
    from redact.pipeline.video import redact_video

    output = output or default_output(input)
    recorder = detections_recorder(input, settings) if save_tracks is not None else None
    with progress_bar(input.name, quiet) as update:
        if workers.jobs > 1 or workers.executor == "dask":
            if recorder is not None:
                raise ConfigError("--save-tracks needs a single-pass run (--jobs 1)")
            result = run_segments(input, output, settings, workers, overwrite, mute or [])
        else:
            result = redact_video(
                input, output, settings, overwrite=overwrite, on_progress=update, on_frame=recorder, mute=mute or []
            )
    if recorder is not None and save_tracks is not None:
        recorder.mute = list(mute or [])
        recorder.write(save_tracks)
    write_report(report, result.to_dict())
    if not quiet:
        say(
            "done",
            f"{result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} fps); "
            f"{counted(result.tracks, ' tracks')}; wrote {result.output}",
            "green",
        )
    print_notes(result.warnings)
    check_truncated(result.truncated, settings)


def run_segments(
    input: Path, output: Path, settings: Settings, workers: Workers, overwrite: bool, mute: list[tuple[float, float]]
) -> RunReport:
    from redact.parallel.segments import redact_video_segments

    return redact_video_segments(input, output, settings, overwrite=overwrite, mute=mute, **workers.options())


def check_truncated(truncated: str | None, settings: Settings) -> None:
    """A cut-short input is written as far as it decodes, but never reported as a plain success."""
    if truncated and not settings.allow_truncated:
        raise TruncatedInputError(f"{truncated}; the output holds only that part (--allow-truncated accepts this)")
    if truncated:
        say("note", f"{truncated} (accepted: --allow-truncated)", "yellow")
