"""`redact demo`: a short clip with a real face, redacted: proof the install works."""

from __future__ import annotations

from pathlib import Path

import typer

from redact.errors import RedactError
from redact.settings import DEFAULTS

from .common import QUIET, err


def demo_command(
    folder: Path = typer.Argument(Path("."), help="Where to write demo.mp4 and demo.redacted.mp4."),
    quiet: bool = QUIET,
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
