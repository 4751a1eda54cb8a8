from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from redact.detections import Detections
from redact.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def evaldata_dir() -> Path:
    return Path(os.environ.get("REDACT_EVALDATA", ROOT.parent / "shared" / "evaldata"))


def media_dir() -> Path:
    return Path(os.environ.get("REDACT_MEDIA", ROOT.parent / "shared" / "media"))


@pytest.fixture
def evaldata() -> Path:
    path = evaldata_dir()
    if not path.is_dir():
        pytest.skip(f"shared evaluation data not found at {path}")
    return path


@pytest.fixture
def shared_media() -> Path:
    path = media_dir()
    if not path.is_dir():
        pytest.skip(f"shared media not found at {path}")
    return path


class ScriptedDetector:
    """Returns fixed boxes per frame index (counted by calls to detect), as a real detector would."""

    def __init__(self, script: Callable[[int, np.ndarray], list[list[float]]], kind: str = "face") -> None:
        self.kind = kind
        self.script = script
        self.calls = 0
        self.seen: list[np.ndarray] = []

    def detect(self, image: np.ndarray) -> Detections:
        boxes = self.script(self.calls, image)
        self.calls += 1
        self.seen.append(image[:4, :4].copy())
        return Detections.from_boxes(np.array(boxes, dtype=np.float32).reshape(-1, 4), kind=self.kind)


#: settings that make a scripted box exactly the covered region
EXACT = Settings(targets=("faces",), face_margin=0.0, shape="rect", style="fill", face_every=1, hold=0.0, backfill=0.0)


def run_redact(
    *args: str,
    env: dict[str, str] | None = None,
    limit_bytes: int | None = None,
    umask: int | None = None,
    cwd: Path | None = None,
) -> Any:
    """The command line as a user runs it, in its own process; ``limit_bytes`` caps the size of files
    it may write (a full disk fails writes the same way: EFBIG in place of ENOSPC); ``umask`` is the
    process's umask; ``cwd`` where it runs."""
    import os
    import resource
    import subprocess
    import sys

    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        [sys.executable, "-m", "redact", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        preexec_fn=limit if limit_bytes is not None or umask is not None else None,
        cwd=cwd,
    )
