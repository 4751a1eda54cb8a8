"""`redact version` (and `redact --version`)."""

from __future__ import annotations

from redact import __version__

from .common import out


def version_command() -> None:
    """Print the version."""
    out.print(__version__)
