"""Safe output files: never the input, never half-written, never left behind after a failure."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from redact.errors import OutputError


def default_output(input_path: Path, suffix: str = ".mp4") -> Path:
    return input_path.with_name(f"{input_path.stem}.redacted{suffix}")


def check_output(input_path: Path, output_path: Path, overwrite: bool) -> None:
    folder = output_path.parent
    if not folder.is_dir():
        raise OutputError(f"{output_path}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{output_path}: output folder {folder} is not writable")
    if output_path.exists():
        if input_path.exists() and output_path.samefile(input_path):
            raise OutputError(f"{output_path}: is the input file; redact never overwrites its input")
        if output_path.is_dir():
            raise OutputError(f"{output_path}: is a folder")
        if not overwrite:
            raise OutputError(f"{output_path}: already exists (use --overwrite to replace it)")
    elif output_path.resolve() == input_path.resolve():
        raise OutputError(f"{output_path}: is the input file; redact never overwrites its input")


@contextlib.contextmanager
def atomic_output(final_path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place only if the block succeeds."""
    fd, name = tempfile.mkstemp(prefix=f".{final_path.stem}.", suffix=f".partial{final_path.suffix}", dir=final_path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final_path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
