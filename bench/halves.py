"""A fixed tune half and check half of every evaluation set, so that a rule tuned on one half is
judged on the other.

A photo's half is decided by a seeded hash of its file name. Frames of a video (names ending in
``_t<seconds>``, as in plates_dashcam and plates_night_extra) are hashed by their drive and
15-second block, so neighbouring frames of one scene never sit in both halves, and a block of a
drive is in the same half in every set that holds frames of it. The seed is the first of 0-11 that
put 40-60% of the images (and of the labelled plates) of each plate set in each half; it was chosen
on those counts alone, before any result.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

HALVES = ("tune", "check", "all")
SEED = "redact-halves-1"
BLOCK_SECONDS = 15
_FRAME = re.compile(r"(.+)_t(\d+)")


def split_key(file: str) -> str:
    """What decides a file's half: the file name, or a video frame's drive and time block."""
    stem = PurePosixPath(file).stem
    frame = _FRAME.fullmatch(stem)
    return f"{frame.group(1)}@{int(frame.group(2)) // BLOCK_SECONDS}" if frame else stem


def half_of(file: str) -> str:
    return "tune" if hashlib.sha256(f"{SEED}:{split_key(file)}".encode()).digest()[0] < 128 else "check"


def select(images: Sequence[dict[str, Any]], half: str) -> list[dict[str, Any]]:
    """The labels.json entries of one half (``all``: every entry)."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {', '.join(HALVES)}, not {half!r}")
    return [e for e in images if half == "all" or half_of(e["file"]) == half]
