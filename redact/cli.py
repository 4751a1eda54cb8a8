"""The command line: turns options into Settings, library errors into one-line messages and exit codes."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from typer import Abort

try:  # newer typer carries its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer with click installed beside it
    from click.exceptions import ClickException

from redact import __version__
from redact.errors import Cancelled, ConfigError, RedactError, TruncatedInputError
from redact.settings import DEFAULTS, HELP, Settings, load_config

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find and cover faces and licence plates in video, offline, before you publish.\n\n"
    "Usage: redact INPUT [-o OUTPUT] [options]   (the same as: redact run INPUT ...)",
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False)


def _opt(name: str, *flags: str, **kwargs: Any) -> Any:
    """A typer option whose default and help come from the one defaults table."""
    return typer.Option(getattr(DEFAULTS, name), *flags, help=HELP[name], show_default=True, **kwargs)


def _settings_from(
    ctx: typer.Context, config: Path | None, values: dict[str, Any], base: dict[str, Any] | None = None
) -> Settings:
    """Defaults < base (a detections file's settings) < config file < options given on the command line."""
    merged: dict[str, Any] = dict(base or {})
    merged.update(load_config(config) if config else {})
    for name, value in values.items():
        source = ctx.get_parameter_source(name)
        if getattr(source, "name", None) == "COMMANDLINE" or name not in merged:
            merged[name] = value
    if isinstance(merged.get("targets"), str):
        merged["targets"] = tuple(t.strip() for t in merged["targets"].split(",") if t.strip())
    return Settings(**merged)


def _progress(quiet: bool, label: str) -> tuple[Progress | None, Callable[[int, int | None], None] | None]:
    if quiet or not err.is_terminal:
        return None, None
    progress = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        TextColumn("{task.fields[fps]:.1f} fps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task(label, total=None, fps=0.0)

    def update(done: int, total: int | None) -> None:
        elapsed = progress.tasks[0].elapsed or 0.0
        progress.update(task, completed=done, total=total, fps=done / elapsed if elapsed else 0.0)

    return progress, update


def _write_report(path: Path | None, data: dict[str, Any]) -> None:
    if path is not None:
        from redact.media.outputs import write_file

        write_file(path, (json.dumps(data, indent=2, default=str) + "\n").encode("utf-8"))


def _check_side_files(**paths: Path | None) -> None:
    """--report and --save-tracks are checked before the run, so a long encode never ends in a write error."""
    from redact.media.outputs import check_side_file

    for option, path in paths.items():
        if path is not None:
            check_side_file(path, "--" + option.replace("_", "-"))


@app.command("run")
def run_command(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="Video to redact.", show_default=False),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Output file (default: INPUT.redacted.mp4 beside the input)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file (never the input)."),
    targets: str = typer.Option(",".join(DEFAULTS.targets), "--targets", help=HELP["targets"]),
    quality: str = _opt("quality", "--quality", "-q"),
    face_threshold: float | None = _opt("face_threshold", "--face-threshold"),
    plate_threshold: float | None = _opt("plate_threshold", "--plate-threshold"),
    face_every: int | None = _opt("face_every", "--face-every"),
    plate_every: int | None = _opt("plate_every", "--plate-every"),
    style: str = _opt("style", "--style"),
    shape: str = _opt("shape", "--shape"),
    face_margin: float = _opt("face_margin", "--face-margin"),
    plate_margin: float = _opt("plate_margin", "--plate-margin"),
    hold: float = _opt("hold", "--hold"),
    backfill: float = _opt("backfill", "--backfill"),
    scene_cut: float = _opt("scene_cut", "--scene-cut"),
    codec: str = _opt("codec", "--codec"),
    crf: int = _opt("crf", "--crf"),
    preset: str = _opt("preset", "--preset"),
    audio: bool = _opt("audio", "--audio/--no-audio"),
    keep_metadata: bool = _opt("keep_metadata", "--keep-metadata/--strip-metadata"),
    device: str = _opt("device", "--device"),
    threads: int | None = _opt("threads", "--threads"),
    max_megapixels: float = _opt("max_megapixels", "--max-megapixels"),
    allow_truncated: bool = _opt("allow_truncated", "--allow-truncated"),
    config: Path | None = typer.Option(
        None, "--config", help="TOML or JSON file of settings (options given here win)."
    ),
    report: Path | None = typer.Option(None, "--report", help="Write a JSON report of the run and the settings used."),
    save_tracks: Path | None = typer.Option(
        None, "--save-tracks", help="Also write the detections file (for review, `redact render`)."
    ),
    jobs: int = typer.Option(
        1,
        "--jobs",
        "-j",
        min=1,
        help="Parallel workers: files of a folder at once, or keyframe-aligned segments of one video.",
    ),
    executor: str | None = typer.Option(
        None, "--executor", help="serial, process or dask (default: process when --jobs > 1)."
    ),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        envvar="DASK_SCHEDULER_ADDRESS",
        help="Dask scheduler address (tcp://host:8786); runs the jobs on that cluster.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar or summary."),
) -> None:
    """Redact a video, photo or folder: detect, track and cover faces and plates, copy audio, strip metadata."""
    from redact.media.outputs import default_output
    from redact.media.picture import is_photo
    from redact.pipeline.photo import redact_photo
    from redact.pipeline.video import redact_video

    values = {k: v for k, v in locals().items() if k in Settings.__dataclass_fields__}
    settings = _settings_from(ctx, config, values)
    _check_side_files(report=report, save_tracks=save_tracks)
    if save_tracks is not None and (input.is_dir() or is_photo(input)):
        # a silent skip would leave the user believing the file exists for review
        raise ConfigError("--save-tracks writes one video's detections file; it does not apply to a photo or a folder")
    if cluster:
        executor = "dask"
    if input.is_dir():
        _batch(
            input,
            output or input.with_name(input.name + ".redacted"),
            settings,
            jobs,
            executor,
            cluster,
            overwrite,
            report,
            quiet,
        )
        return
    if is_photo(input):
        output = output or default_output(input, input.suffix)
        photo = redact_photo(input, output, settings, overwrite=overwrite)
        _write_report(report, photo.to_dict())
        if not quiet:
            found = ", ".join(f"{n} {k}s" for k, n in sorted(photo.detections.items())) or "nothing found"
            err.print(f"[green]done[/]: {found}; wrote {output} (no EXIF, XMP or IPTC)")
        for warning in photo.warnings:
            err.print(f"[yellow]note[/]: {warning}")
        return
    output = output or default_output(input)
    progress, update = _progress(quiet, input.name)
    if progress is not None:
        progress.start()
    recorder = None
    if save_tracks is not None:
        from redact.media.source import probe
        from redact.review.detections_file import Recorder

        recorder = Recorder(probe(input), settings.to_dict())
    try:
        if jobs > 1 or executor == "dask":
            if recorder is not None:
                raise ConfigError("--save-tracks needs a single-pass run (--jobs 1)")
            from redact.parallel.segments import redact_video_segments

            result = redact_video_segments(
                input, output, settings, jobs=jobs, executor=executor, address=cluster, overwrite=overwrite
            )
        else:
            result = redact_video(input, output, settings, overwrite=overwrite, on_progress=update, on_frame=recorder)
    finally:
        if progress is not None:
            progress.stop()
    if recorder is not None:
        recorder.write(save_tracks)
    _write_report(report, result.to_dict())
    if not quiet:
        found = ", ".join(f"{n} {k} tracks" for k, n in sorted(result.tracks.items())) or "nothing found"
        err.print(
            f"[green]done[/]: {result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} fps); {found}; "
            f"wrote {result.output}"
        )
    for warning in result.warnings:
        err.print(f"[yellow]note[/]: {warning}")
    _check_truncated(result.truncated, settings)


def _check_truncated(truncated: str | None, settings: Settings) -> None:
    """A cut-short input is written as far as it decodes, but never reported as a plain success."""
    if truncated and not settings.allow_truncated:
        raise TruncatedInputError(f"{truncated}; the output holds only that part (--allow-truncated accepts this)")
    if truncated:
        err.print(f"[yellow]note[/]: {truncated} (accepted: --allow-truncated)")


def _batch(
    input: Path,
    output: Path,
    settings: Settings,
    jobs: int,
    executor: str | None,
    cluster: str | None,
    overwrite: bool,
    report: Path | None,
    quiet: bool,
) -> None:
    from redact.parallel.batch import run_batch

    def event(kind: str, path: object, detail: object) -> None:
        if _SIGNALLED:  # interrupted: the one "interrupted" line says it; the manifest has each file
            return
        if kind == "failed":
            message = detail.get("error", detail) if isinstance(detail, dict) else detail
            err.print(f"[red]failed[/]: {escape(f'{path}: {message}')}")
        elif not quiet and kind in ("done", "skipped"):
            err.print(f"{kind}: {path}")

    summary = run_batch(
        input, output, settings, jobs=jobs, executor=executor, address=cluster, overwrite=overwrite, on_event=event
    )
    _write_report(report, summary.to_dict())
    counts = summary.counts
    line = ", ".join(f"{n} {k}" for k, n in counts.items())
    if summary.failed:
        raise RedactError(f"{len(summary.failed)} file(s) failed ({line}); see {output / 'redact-manifest.json'}")
    if not quiet:
        err.print(f"[green]done[/]: {line}; outputs in {output}")


@app.command("batch")
def batch_command(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="Folder of photos and videos (searched recursively)."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Output folder (mirrors the input tree; holds redact-manifest.json)."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Files processed at once."),
    executor: str | None = typer.Option(
        None, "--executor", help="serial, process or dask (default: process when --jobs > 1)."
    ),
    cluster: str | None = typer.Option(
        None, "--cluster", envvar="DASK_SCHEDULER_ADDRESS", help="Dask scheduler address (tcp://host:8786)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace outputs this batch did not write."),
    targets: str = typer.Option(",".join(DEFAULTS.targets), "--targets", help=HELP["targets"]),
    quality: str = _opt("quality", "--quality", "-q"),
    style: str = _opt("style", "--style"),
    shape: str = _opt("shape", "--shape"),
    audio: bool = _opt("audio", "--audio/--no-audio"),
    device: str = _opt("device", "--device"),
    max_megapixels: float = _opt("max_megapixels", "--max-megapixels"),
    config: Path | None = typer.Option(
        None, "--config", help="TOML or JSON file of settings (options given here win)."
    ),
    report: Path | None = typer.Option(None, "--report", help="Write the batch summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Redact a whole archive folder; a second run skips finished files and retries failed ones."""
    values = {k: v for k, v in locals().items() if k in Settings.__dataclass_fields__}
    settings = _settings_from(ctx, config, values)
    _check_side_files(report=report)
    if not input.is_dir():
        raise ConfigError(f"{input}: not a folder (use `redact {input}` for one file)")
    _batch(input, output, settings, jobs, "dask" if cluster else executor, cluster, overwrite, report, quiet)


@app.command("demo")
def demo_command(
    folder: Path = typer.Argument(Path("."), help="Where to write demo.mp4 and demo.redacted.mp4."),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Make a short clip with a real face (a public-domain NASA portrait) and redact it."""
    from redact.demo import make_demo_clip
    from redact.pipeline.video import redact_video

    folder.mkdir(parents=True, exist_ok=True)
    clip = make_demo_clip(folder / "demo.mp4")
    output = folder / "demo.redacted.mp4"
    result = redact_video(clip, output, DEFAULTS, overwrite=True)
    if not quiet:
        err.print(
            f"made {clip}; redacted it into {output}: {result.frames} frames, "
            f"faces found in {result.detections.get('face', 0)} detections, {result.fps:.1f} fps"
        )
    if not result.detections.get("face"):
        raise RedactError("the demo face was not detected; the face model is not working")


@app.command("detect")
def detect_command(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="Video to search."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Detections file (default: INPUT.detections.json)."
    ),
    targets: str = typer.Option(",".join(DEFAULTS.targets), "--targets", help=HELP["targets"]),
    quality: str = _opt("quality", "--quality", "-q"),
    face_threshold: float | None = _opt("face_threshold", "--face-threshold"),
    plate_threshold: float | None = _opt("plate_threshold", "--plate-threshold"),
    face_every: int | None = _opt("face_every", "--face-every"),
    plate_every: int | None = _opt("plate_every", "--plate-every"),
    face_margin: float = _opt("face_margin", "--face-margin"),
    plate_margin: float = _opt("plate_margin", "--plate-margin"),
    hold: float = _opt("hold", "--hold"),
    backfill: float = _opt("backfill", "--backfill"),
    scene_cut: float = _opt("scene_cut", "--scene-cut"),
    device: str = _opt("device", "--device"),
    threads: int | None = _opt("threads", "--threads"),
    config: Path | None = typer.Option(None, "--config", help="TOML or JSON file of settings."),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Detect and track, and write the detections file for review (no video is written)."""
    from redact.media.source import probe
    from redact.pipeline.video import detect_video
    from redact.review.detections_file import Recorder

    values = {k: v for k, v in locals().items() if k in Settings.__dataclass_fields__}
    settings = _settings_from(ctx, config, values)
    output = output or input.with_name(input.name + ".detections.json")
    recorder = Recorder(probe(input), settings.to_dict())
    progress, update = _progress(quiet, f"detect {input.name}")
    if progress is not None:
        progress.start()
    try:
        result, _ = detect_video(input, settings, on_progress=update, on_frame=recorder)
    finally:
        if progress is not None:
            progress.stop()
    recorder.write(output)
    if not quiet:
        found = ", ".join(f"{n} {k} tracks" for k, n in sorted(result.tracks.items())) or "nothing found"
        err.print(f"[green]done[/]: {result.frames} frames, {found}; wrote {output}")
    if result.truncated:
        err.print(f"[yellow]note[/]: {result.truncated}")


def _ranges(values: list[str], what: str) -> list[tuple[float, float]]:
    spans = []
    for value in values:
        try:
            start, end = (float(v) for v in value.split("-", 1))
        except ValueError:
            raise ConfigError(f"{what} {value!r}: expected START-END in seconds, e.g. 12.5-14") from None
        spans.append((start, end))
    return spans


@app.command("render")
def render_command(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="The video the detections file was made from."),
    tracks: Path = typer.Option(
        ..., "--tracks", help="Detections file (from `redact detect` or --save-tracks), reviewed."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output file (default: INPUT.redacted.mp4)."),
    overwrite: bool = typer.Option(False, "--overwrite"),
    keep_visible: str = typer.Option(
        "", "--keep-visible", help="Track ids to leave uncovered, e.g. 3,7 (people who consented)."
    ),
    add_region: list[str] = typer.Option(
        [], "--add-region", help="Cover a box for a time range: START-END:x1,y1,x2,y2 (seconds, pixels). Repeatable."
    ),
    cover_all: list[str] = typer.Option(
        [], "--cover-all", help="Cover whole frames from START to END seconds, e.g. 12-14.5. Repeatable."
    ),
    style: str = _opt("style", "--style"),
    shape: str = _opt("shape", "--shape"),
    face_margin: float = _opt("face_margin", "--face-margin"),
    plate_margin: float = _opt("plate_margin", "--plate-margin"),
    codec: str = _opt("codec", "--codec"),
    crf: int = _opt("crf", "--crf"),
    preset: str = _opt("preset", "--preset"),
    audio: bool = _opt("audio", "--audio/--no-audio"),
    keep_metadata: bool = _opt("keep_metadata", "--keep-metadata/--strip-metadata"),
    report: Path | None = typer.Option(None, "--report"),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Redact exactly what a (reviewed) detections file says, without detecting again."""
    from redact.media.outputs import default_output
    from redact.media.source import probe
    from redact.pipeline.video import redact_video
    from redact.review.detections_file import add_cover_all, add_manual, load

    _check_side_files(report=report)
    info = probe(input)
    try:
        ids = {int(v) for v in keep_visible.split(",") if v.strip()}
    except ValueError:
        raise ConfigError(f"--keep-visible {keep_visible!r}: expected track ids like 3,7") from None
    plan, data = load(tracks, info, ids)
    for value in add_region:
        span, _, box = value.partition(":")
        ((start, end),) = _ranges([span], "--add-region")
        try:
            coords = [float(v) for v in box.split(",")]
        except ValueError:
            coords = []
        if len(coords) != 4:
            raise ConfigError(f"--add-region {value!r}: expected START-END:x1,y1,x2,y2")
        add_manual(plan, {"keyframes": [{"time": start, "box": coords}], "start": start, "end": end}, "--add-region")
    for start, end in _ranges(cover_all, "--cover-all"):
        add_cover_all(plan, {"start": start, "end": end}, "--cover-all")
    values = {k: v for k, v in locals().items() if k in Settings.__dataclass_fields__}
    base = {k: v for k, v in (data.get("settings") or {}).items() if k in Settings.__dataclass_fields__}
    settings = _settings_from(ctx, None, values, base)
    output = output or default_output(input)
    progress, update = _progress(quiet, f"render {input.name}")
    if progress is not None:
        progress.start()
    try:
        result = redact_video(input, output, settings, overwrite=overwrite, on_progress=update, plan=plan)
    finally:
        if progress is not None:
            progress.stop()
    _write_report(report, result.to_dict())
    if not quiet:
        err.print(
            f"[green]done[/]: {result.frames} frames from {tracks.name}, {result.covered_frames} with regions; wrote {output}"
        )


@app.command("preview")
def preview_command(
    input: Path = typer.Argument(..., help="Video to preview."),
    tracks: Path | None = typer.Option(
        None, "--tracks", help="Detections file; without it, detection runs first (default settings)."
    ),
    sheet: Path | None = typer.Option(None, "--sheet", help="Contact sheet PNG (default: INPUT.preview.png)."),
    frames: int = typer.Option(16, "--frames", min=1, help="How many frames the sheet samples."),
    video: Path | None = typer.Option(None, "--video", help="Also write a small preview video with boxes drawn."),
    targets: str = typer.Option(",".join(DEFAULTS.targets), "--targets", help=HELP["targets"]),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Contact sheet (and optionally a small video) with boxes, track ids, kinds and scores drawn."""
    import tempfile

    from redact.media.source import probe
    from redact.pipeline.video import detect_video
    from redact.review.detections_file import Recorder, load
    from redact.review.preview import preview_sheet, preview_video

    info = probe(input)
    if tracks is None:
        settings = Settings(targets=tuple(t.strip() for t in targets.split(",") if t.strip()))
        recorder = Recorder(info, settings.to_dict())
        progress, update = _progress(quiet, f"detect {input.name}")
        if progress is not None:
            progress.start()
        try:
            detect_video(input, settings, on_progress=update, on_frame=recorder)
        finally:
            if progress is not None:
                progress.stop()
        with tempfile.TemporaryDirectory() as tmp:
            plan, _ = load(recorder.write(Path(tmp) / "d.json"), info, check_hash=False)
    else:
        plan, _ = load(tracks, info)
    sheet = sheet or input.with_name(input.name + ".preview.png")
    preview_sheet(info, plan, sheet, frames=frames)
    if video is not None:
        preview_video(info, plan, video)
    if not quiet:
        err.print(f"wrote {sheet}" + (f" and {video}" if video else ""))


@app.command("verify")
def verify_command(
    input: Path = typer.Argument(..., help="Redacted photo or video to check before publishing."),
    sheet: Path | None = typer.Option(
        None, "--sheet", help="Contact sheet PNG of the frames in question (default: INPUT.verify.png)."
    ),
    targets: str = typer.Option(",".join(DEFAULTS.targets), "--targets", help=HELP["targets"]),
    every: int = typer.Option(1, "--every", min=1, help="Check every Nth frame (1 = all)."),
    threshold: float = typer.Option(
        0.6,
        "--threshold",
        help="Report detections scoring at least this (large faces from half of it). Covered regions can score up to ~0.3 as face-shaped blobs; lower it to see weaker candidates.",
    ),
    report: Path | None = typer.Option(None, "--report", help="Write the findings as JSON."),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Look again with the most thorough settings: report faces, plates, metadata or streams left. Exit 1 if any."""
    from redact.review.verify import verify

    _check_side_files(report=report)
    settings = Settings(
        targets=tuple(t.strip() for t in targets.split(",") if t.strip()),
        face_threshold=threshold,
        plate_threshold=threshold,
    )
    sheet = sheet or input.with_name(input.name + ".verify.png")
    progress, update = _progress(quiet, f"verify {input.name}")
    if progress is not None:
        progress.start()
    try:
        result = verify(input, settings, sheet_path=sheet, every=every, on_progress=update)
    finally:
        if progress is not None:
            progress.stop()
    _write_report(report, result.to_dict())
    for f in result.findings[:50]:
        where = f"frame {f.frame} at {f.time:.2f}s" if f.frame is not None else "photo"
        out.print(f"FOUND {f.kind} ({where}) box {f.box} score {f.score}")
    if len(result.findings) > 50:
        out.print(f"... and {len(result.findings) - 50} more (see --report)")
    for m in result.metadata:
        out.print(f"METADATA {m}")
    if result.clean:
        out.print(f"clean: {result.frames_checked} frame(s) checked, nothing found")
        return
    summary = f"{len(result.findings)} detection(s), {len(result.metadata)} metadata item(s) left in {input}"
    if result.sheet:
        summary += f"; contact sheet {result.sheet}"
    err.print(f"[red]not clean[/]: {summary}")
    raise typer.Exit(1)


@app.command("review")
def review_command(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="The video to review."),
    tracks: Path | None = typer.Option(
        None,
        "--tracks",
        help="Detections file to review (default: INPUT.detections.json; detected first when missing).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where the page's Render writes (default: INPUT.redacted.mp4)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Let Render replace an existing output."),
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Print the page's address instead of opening a browser."
    ),
    targets: str = typer.Option(",".join(DEFAULTS.targets), "--targets", help=HELP["targets"]),
    quality: str = _opt("quality", "--quality", "-q"),
    config: Path | None = typer.Option(None, "--config", help="TOML or JSON file of settings for detection."),
) -> None:
    """Check and correct a redaction in a local web page (127.0.0.1 only), then render and verify from it."""
    import threading
    import webbrowser

    from redact.media.outputs import default_output
    from redact.review.studio.server import local_socket, new_token, serve
    from redact.review.studio.session import ReviewSession

    values = {k: v for k, v in locals().items() if k in Settings.__dataclass_fields__}
    default_tracks = input.with_name(input.name + ".detections.json")
    session = ReviewSession(input, tracks or default_tracks, output or default_output(input), overwrite)
    if tracks is not None or default_tracks.exists():
        session.open()  # a file for another video is refused here, with render's message
        if tracks is None:
            err.print(f"reviewing {default_tracks} (delete it to detect again)")
    else:
        settings = _settings_from(ctx, config, values)
        progress, update = _progress(False, f"detect {input.name}")
        if progress is not None:
            progress.start()
        session.start(lambda: session.detect(settings, on_progress=update), "detect")
        if progress is not None:
            threading.Thread(target=lambda: (session.thread.join(), progress.stop()), daemon=True).start()
    sock, token = local_socket(), new_token()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/{token}/"
    err.print(f"review page: {url}\n(keep this address private; Ctrl-C or closing the page stops the server)")
    if not no_browser:
        webbrowser.open(url)
    serve(session, sock, token)
    if not session.ready and session.job.error:  # detection failed or was stopped: say so here too
        raise (Cancelled if session.job.stage == "cancelled" else RedactError)(session.job.error)


@app.command("version")
def version_command() -> None:
    """Print the version."""
    out.print(__version__)


COMMANDS = {"run", "demo", "version", "detect", "render", "preview", "verify", "batch", "review"}


#: the signal that stopped this run, if one did (see _on_signal)
_SIGNALLED: list[int] = []


def _on_signal(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM (kill, docker stop, systemd, SLURM) both stop the run as Ctrl-C does: the
    KeyboardInterrupt unwinds every cleanup path (workers, temporary files, segment folders)."""
    _SIGNALLED.append(signum)
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the cleanup short
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def _interrupted(debug: bool) -> None:
    signum = _SIGNALLED[0] if _SIGNALLED else signal.SIGINT
    _fail("interrupted; unfinished outputs and temporary files were removed", 128 + int(signum), debug)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    # `redact INPUT ...` means `redact run INPUT ...`
    if args and args[0] not in COMMANDS and args[0] not in ("--help", "-h", "--version"):
        args.insert(0, "run")
    if args[:1] == ["--version"]:
        args = ["version"]
    debug = os.environ.get("REDACT_DEBUG") == "1"
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _on_signal)
    try:
        code = app(args=args, prog_name="redact", standalone_mode=False)
    except (Abort, KeyboardInterrupt):
        code = 130
    except typer.Exit as exc:
        code = exc.exit_code
    except ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except RedactError as exc:
        if _SIGNALLED:
            _interrupted(debug)
        _fail(str(exc), exc.exit_code, debug)
    except Exception as exc:  # a bug: still one line and a non-zero exit; the traceback on request
        if _SIGNALLED:
            _interrupted(debug)
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with REDACT_DEBUG=1 for details)", 70, debug)
    if _SIGNALLED or code == 130:  # typer turns a KeyboardInterrupt into a silent exit 130
        _interrupted(debug)
    if isinstance(code, int) and code:
        sys.exit(code)


def _fail(message: str, code: int, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    # messages carry paths and commands such as pip install 'redact[heic]': not rich markup
    err.print(f"[red]redact: error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
