"""`redact batch FOLDER -o OUT` (and `redact FOLDER`): a whole archive, resumable, with a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from redact.errors import ConfigError, RedactError
from redact.settings import Settings

from .common import (
    CONFIG,
    EXECUTOR,
    NONE,
    OFF,
    QUIET,
    SIGNALLED,
    Workers,
    check_side_files,
    err,
    say,
    settings_from,
    with_settings,
    write_report,
)

BATCH_SETTINGS = ("targets", "quality", "style", "shape", "audio", "device", "max_megapixels")


@with_settings(*BATCH_SETTINGS)
def batch_command(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="Folder of photos and videos (searched recursively)."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Output folder (mirrors the input tree; holds redact-manifest.json)."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Files processed at once.", show_default=True),
    executor: str | None = EXECUTOR,
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        envvar="DASK_SCHEDULER_ADDRESS",
        help="Dask scheduler address (tcp://host:8786).",
        show_default=NONE,
        show_envvar=True,
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace outputs this batch did not write.", show_default=OFF
    ),
    *,
    values: dict[str, Any],
    config: Path | None = CONFIG,
    report: Path | None = typer.Option(None, "--report", help="Write the batch summary as JSON.", show_default=NONE),
    quiet: bool = QUIET,
) -> None:
    """Redact a whole archive folder; a second run skips finished files and retries failed ones."""
    settings = settings_from(ctx, config, values)
    check_side_files(report=report)
    if not input.is_dir():
        raise ConfigError(f"{input}: not a folder (use `redact {input}` for one file)")
    run_folder(
        input, output, settings, Workers(jobs, executor, cluster), overwrite=overwrite, report=report, quiet=quiet
    )


def run_folder(
    input: Path,
    output: Path,
    settings: Settings,
    workers: Workers,
    *,
    overwrite: bool,
    report: Path | None,
    quiet: bool,
) -> None:
    """Redact every photo and video under ``input`` into ``output``; one line per file, failures loud."""
    from redact.parallel.batch import run_batch

    def event(kind: str, path: object, detail: object) -> None:
        if SIGNALLED:  # interrupted: the one "interrupted" line says it; the manifest has each file
            return
        if kind == "failed":
            message = detail.get("error", detail) if isinstance(detail, dict) else detail
            say("failed", f"{path}: {message}", "red")
        elif not quiet and kind in ("done", "skipped"):
            err.print(f"{kind}: {path}")

    summary = run_batch(input, output, settings, overwrite=overwrite, on_event=event, **workers.options())
    write_report(report, summary.to_dict())
    line = ", ".join(f"{n} {k}" for k, n in summary.counts.items())
    if summary.failed:
        raise RedactError(f"{len(summary.failed)} file(s) failed ({line}); see {output / 'redact-manifest.json'}")
    if not quiet:
        say("done", f"{line}; outputs in {output}", "green")
