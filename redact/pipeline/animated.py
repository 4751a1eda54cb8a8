"""Animated PNG and WebP: every frame is redacted, never just the first.

Each frame is covered where it, the frame before and the frame after were found to show a face
or plate (a face the detector misses in one frame of a loop is still covered there). All frames
are held in memory to be written again, so the whole animation must fit the pixel limit.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from redact.cover import styles
from redact.detections import Detections
from redact.detectors.base import Detector
from redact.errors import InputError, OutputError
from redact.settings import Settings

#: formats that hold an animation, of the photo formats redact writes
ANIMATED_FORMATS = frozenset({"PNG", "WEBP"})


def frame_count(path: Path) -> int:
    try:
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1))
    except (OSError, ValueError, SyntaxError):
        return 1  # not a readable image: the photo reader says so


def read_frames(path: Path, max_megapixels: float) -> tuple[list[np.ndarray], list[int], int, bytes | None]:
    """Every frame as shown (RGBA, composited), each frame's duration (ms), the loop count and colour profile."""
    with Image.open(path) as image:
        count = int(getattr(image, "n_frames", 1))
        total = count * image.width * image.height
        if total > max_megapixels * 1_000_000:
            raise InputError(
                f"{path}: animated image of {count} frames of {image.width}x{image.height} is "
                f"{round(total / 1e6, 1):g} megapixels in all, over the limit of {max_megapixels:g} "
                "(raise it with --max-megapixels if this machine has the memory)"
            )
        frames, durations = [], []
        for index in range(count):
            image.seek(index)
            frames.append(np.array(image.convert("RGBA")))
            durations.append(int(image.info.get("duration") or 100))
        return frames, durations, int(image.info.get("loop", 0) or 0), image.info.get("icc_profile")


def redact_animation(
    path: Path, out_format: str, settings: Settings, detectors: Mapping[str, Detector]
) -> tuple[bytes, list[Detections]]:
    """The redacted animation's file bytes, and what was found in each frame."""
    if out_format not in ANIMATED_FORMATS:
        raise OutputError(f"{path}: an animated image is written as .png or .webp (the output type holds one frame)")
    frames, durations, loop, icc = read_frames(path, settings.max_megapixels)
    views = []
    for rgba in frames:
        bgr = np.ascontiguousarray(rgba[:, :, 2::-1])
        bgr[rgba[:, :, 3] == 0] = 0  # what full transparency hides is not kept
        views.append(bgr)
    found = [Detections.merge(d.detect(bgr) for d in detectors.values()) for bgr in views]
    pictures = []
    for index, (rgba, bgr) in enumerate(zip(frames, views)):
        styles.cover(bgr, Detections.merge(found[max(0, index - 1) : index + 2]), settings)
        rgba[:, :, :3] = bgr[:, :, ::-1]
        pictures.append(Image.fromarray(rgba, "RGBA"))
    options: dict = {"save_all": True, "append_images": pictures[1:], "duration": durations, "loop": loop}
    if icc:
        options["icc_profile"] = icc
    if out_format == "PNG":
        options.update(disposal=0, blend=0)  # every frame whole, replacing the last
    else:
        options.update(quality=92)
    buffer = io.BytesIO()
    pictures[0].save(buffer, format=out_format, **options)
    return buffer.getvalue(), found
