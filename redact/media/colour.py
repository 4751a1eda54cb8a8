"""Colour: what a video's pixel values mean (matrix, primaries, transfer, range, depth) and the
converters between its YUV and the BGR that detectors and styles work on."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import av
import cv2
import numpy as np
import numpy.typing as npt
from av.sidedata.sidedata import SideData, Type
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
    # HDR10 static metadata, as x264/x265 take it: G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min), and MaxCLL,MaxFALL
    mastering_display: str | None = None
    content_light: str | None = None

    @property
    def full(self) -> bool:
        return self.range == 2

    @classmethod
    def of(cls, frame: av.VideoFrame) -> Colour:
        return cls(
            matrix=int(frame.colorspace),
            primaries=int(frame.color_primaries),
            transfer=int(frame.color_trc),
            range=colour_range(frame),
            bits=max(c.bits for c in frame.format.components) if frame.format.components else 8,
            mastering_display=_mastering_display(frame),
            content_light=_content_light(frame),
        )

    def encoder_params(self, codec: str) -> dict[str, str]:
        """Encoder options that write the HDR10 static metadata (mastering display, light levels)."""
        if codec == "libx264" and (self.mastering_display or self.content_light):
            parts = [f"mastering-display={self.mastering_display}"] * bool(self.mastering_display)
            return {"x264-params": ":".join(parts + [f"cll={self.content_light}"] * bool(self.content_light))}
        if codec == "libx265" and (self.mastering_display or self.content_light):
            parts = ["hdr10=1"] + [f"master-display={self.mastering_display}"] * bool(self.mastering_display)
            return {"x265-params": ":".join(parts + [f"max-cll={self.content_light}"] * bool(self.content_light))}
        return {}


def _side_data(frame: av.VideoFrame, kind: Type) -> bytes | None:
    """The frame's side data of one type, looked up by key: PyAV's container is a mapping from
    :class:`Type` to :class:`SideData` (18.1.0 iterated its values, 18.1.1 iterates its keys, as a
    mapping should; a keyed lookup means the same on both)."""
    try:
        # PyAV 18.1.0 builds the container eagerly and raises ValueError for a side-data type its
        # enum does not name (a newer FFmpeg's, or junk in a damaged file); such a frame has no
        # side data we could read
        found: object = frame.side_data
    except ValueError:
        return None
    # 18.1.0's stub types the attribute as a TypedDict of motion vectors, 18.1.1's as the container
    item = cast("Mapping[Type, SideData]", found).get(kind)
    return None if item is None else bytes(memoryview(item))


def _mastering_display(frame: av.VideoFrame) -> str | None:
    """AVMasteringDisplayMetadata (r, g, b and white point as xy rationals, min and max luminance)."""
    data = _side_data(frame, Type.MASTERING_DISPLAY_METADATA)
    if data is None or len(data) < 88:
        return None
    v = struct.unpack("<22i", data[:88])
    ratio = lambda i: v[i] / v[i + 1] if v[i + 1] else 0.0
    if not (v[20] and v[21]):  # has_primaries, has_luminance
        return None
    xy = lambda i: f"({round(ratio(i) * 50000)},{round(ratio(i + 2) * 50000)})"
    return f"G{xy(4)}B{xy(8)}R{xy(0)}WP{xy(12)}L({round(ratio(18) * 10000)},{round(ratio(16) * 10000)})"


def _content_light(frame: av.VideoFrame) -> str | None:
    data = _side_data(frame, Type.CONTENT_LIGHT_LEVEL)
    if data is None or len(data) < 8:
        return None
    max_cll, max_fall = struct.unpack("<2I", data[:8])
    return f"{max_cll},{max_fall}"


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
    up = lambda c: cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(cv2.merge([planes[:height], up(v), up(u)]), cv2.COLOR_YCrCb2BGR)


def bgr_to_full_i420(image: np.ndarray) -> npt.NDArray[np.uint8]:
    """The exact counterpart of :func:`full_i420_to_bgr`."""
    height, width = image.shape[:2]
    y, cr, cb = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb))
    down = lambda c: cv2.resize(c, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    planes = np.concatenate([y.reshape(-1), down(cb).reshape(-1), down(cr).reshape(-1)])
    return planes.reshape(height * 3 // 2, width).astype(np.uint8, copy=False)


def bgr_to_i420(image: np.ndarray, full: bool) -> npt.NDArray[np.uint8]:
    """8-bit BGR to I420 planes in the working matrix: the exact inverse of the decoder's conversion."""
    if full:
        return bgr_to_full_i420(image)
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), dtype=np.uint8)
