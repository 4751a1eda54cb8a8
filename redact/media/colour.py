"""Colour: what a video's pixel values mean (matrix, primaries, transfer, range, depth) and the
converters between its YUV and the BGR that detectors and styles work on."""

from __future__ import annotations

from dataclasses import dataclass

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation


@dataclass(frozen=True)
class Colour:
    """How the pixel values are meant to be shown, as FFmpeg numbers them (2 = unspecified): the
    output is tagged with the same, so every player shows it as it showed the input."""

    matrix: int = 2  # AVColorSpace: 1 BT.709, 5/6 BT.601, 9 BT.2020 ...
    primaries: int = 2  # AVColorPrimaries
    transfer: int = 2  # AVColorTransferCharacteristic: 16 PQ, 18 HLG (HDR)
    range: int = 0  # AVColorRange: 0 unspecified, 1 limited (16-235), 2 full (0-255)
    bits: int = 8  # per sample

    @property
    def full(self) -> bool:
        return self.range == 2

    @classmethod
    def of(cls, frame: av.VideoFrame) -> "Colour":
        return cls(
            matrix=int(frame.colorspace),
            primaries=int(frame.color_primaries),
            transfer=int(frame.color_trc),
            range=colour_range(frame),
            bits=max(c.bits for c in frame.format.components) if frame.format.components else 8,
        )


def colour_range(frame: av.VideoFrame) -> int:
    """The frame's range; yuvj* formats are full range whatever the tag says."""
    return 2 if frame.format.name.startswith("yuvj") else int(frame.color_range)


#: Every conversion between YUV and BGR, both ways, uses BT.601: the YUV values of pixels nobody
#: covers come back as they were, and the output's tags (the input's own matrix, primaries,
#: transfer and range) tell players how to show them. Detectors do not mind the slight hue
#: difference BT.601 makes on BT.709 or BT.2020 material; a cover's colours stay consistent.
WORKING_MATRIX = Colorspace.ITU601


#: swscale without these rounds colours off by up to ~2 levels
ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def sws_range(full: bool) -> ColorRange:
    return ColorRange.JPEG if full else ColorRange.MPEG


def full_i420_to_bgr(planes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Full-range 8-bit 4:2:0 to BGR with OpenCV's full-range (JPEG) BT.601 YCrCb, no range squeeze."""
    chroma = planes[height:].reshape(-1)
    quarter = (height // 2) * (width // 2)
    u = chroma[:quarter].reshape(height // 2, width // 2)
    v = chroma[quarter : 2 * quarter].reshape(height // 2, width // 2)
    up = lambda c: cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR)  # noqa: E731
    return cv2.cvtColor(cv2.merge([planes[:height], up(v), up(u)]), cv2.COLOR_YCrCb2BGR)


def bgr_to_full_i420(image: np.ndarray) -> np.ndarray:
    """The exact counterpart of :func:`full_i420_to_bgr`."""
    height, width = image.shape[:2]
    y, cr, cb = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb))
    down = lambda c: cv2.resize(c, (width // 2, height // 2), interpolation=cv2.INTER_AREA)  # noqa: E731
    return np.concatenate([y.reshape(-1), down(cb).reshape(-1), down(cr).reshape(-1)]).reshape(height * 3 // 2, width)
