"""`redact review INPUT`: check and correct a redaction in a local web page, then render and verify from it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from redact.errors import Cancelled, RedactError
from redact.settings import Settings

from .common import NONE, OFF, err, progress_bar, settings_from, with_settings

if TYPE_CHECKING:
    from redact.review.studio.session import ReviewSession


@with_settings("targets", "quality")
def review_command(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="The video to review."),
    tracks: Path | None = typer.Option(
        None,
        "--tracks",
        help="Detections file to review (detected first when missing).",
        show_default="INPUT.detections.json beside the input",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Where the page's Render writes.",
        show_default="INPUT.redacted.mp4 beside the input",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Let Render replace an existing output.", show_default=OFF
    ),
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Print the page's address instead of opening a browser.", show_default=OFF
    ),
    *,
    values: dict[str, Any],
    config: Path | None = typer.Option(
        None, "--config", help="TOML or JSON file of settings for detection.", show_default=NONE
    ),
) -> None:
    """Check and correct a redaction in a local web page (127.0.0.1 only), then render and verify from it."""
    import webbrowser

    from redact.media.outputs import default_output
    from redact.review.studio.server import local_socket, new_token, serve
    from redact.review.studio.session import ReviewSession

    default_tracks = input.with_name(input.name + ".detections.json")
    session = ReviewSession(input, tracks or default_tracks, output or default_output(input), overwrite)
    if tracks is not None or default_tracks.exists():
        session.open()  # a file for another video is refused here, with render's message
        if tracks is None:
            err.print(f"reviewing {default_tracks} (delete it to detect again)")
    else:
        start_detection(session, settings_from(ctx, config, values))
    sock, token = local_socket(), new_token()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/{token}/"
    err.print(f"review page: {url}\n(keep this address private; Ctrl-C or closing the page stops the server)")
    if not no_browser:
        webbrowser.open(url)
    serve(session, sock, token)
    if not session.ready and session.job.error:  # detection failed or was stopped: say so here too
        raise (Cancelled if session.job.stage == "cancelled" else RedactError)(session.job.error)


def start_detection(session: ReviewSession, settings: Settings) -> None:
    """Detect in the session's job thread while the page already shows the video; the bar ends with the job."""

    def detect() -> dict[str, Any]:
        with progress_bar(f"detect {session.video.name}") as update:
            session.detect(settings, on_progress=update)
        return {}

    session.start(detect, "detect")
