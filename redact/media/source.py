"""Decode a video with PyAV: upright frames with their exact timestamps, plus audio packets to copy.

Frames are yielded one at a time (never the whole video in memory). Rotation side
data is applied so detectors see upright pictures; timestamps stay in the
stream's own time base so the output keeps every frame where it was.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
from av.video.reformatter import ColorRange
from av.video.stream import VideoStream

from redact.errors import InputError, UnsupportedMediaError
from redact.media.colour import ACCURATE, WORKING_MATRIX, Colour, colour_range, full_i420_to_bgr, sws_range
from redact.media.timeline import to_pts, to_seconds
from redact.settings import DEFAULTS


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # upright (after rotation)
    height: int
    rotation: int  # degrees counter-clockwise the stored picture is turned for display
    time_base: Fraction
    frame_rate: Fraction  # average rate; may be an estimate for variable-rate video
    frame_count: int | None  # from the container when it says; None when unknown
    duration: Fraction | None  # seconds
    codec: str
    pix_fmt: str | None
    other_streams: tuple[str, ...] = ()  # data, subtitle, attachment: never copied by default
    stream_index: int = 0  # the container's index of the video stream used (see main_video_stream)
    end: Fraction | None = None  # seconds: where the container says the video stream ends (Matroska)
    colour: Colour = Colour()
    start: Fraction = Fraction(
        0
    )  # seconds: the first frame's time on the file's timeline (where "0 s" of a person's times is)

    def to_dict(self) -> dict:
        return {
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "time_base": str(self.time_base),
            "frame_rate": str(self.frame_rate),
            "frame_count": self.frame_count,
            "duration": float(self.duration) if self.duration is not None else None,
            "codec": self.codec,
            "stream_index": self.stream_index,
            "colour": dataclasses.asdict(self.colour),
        }


#: formats whose every bit is kept (10-bit video stays 10-bit); others are redacted at 8 bits
DEEP_FORMATS = frozenset({"yuv420p10le"})


@dataclass
class DeepPicture:
    """A frame's own 10-bit samples (upright, I420 layout), so that pixels nobody covers keep every bit."""

    planes: npt.NDArray[np.uint16]  # (H * 3 / 2) x W
    view: np.ndarray  # the 8-bit BGR picture as decoded, before any cover: what changed in it was covered


@dataclass
class Frame:
    index: int
    pts: int  # in info.time_base
    image: np.ndarray  # upright BGR, H x W x 3 uint8
    key: bool = False
    deep: DeepPicture | None = None

    def seconds(self, time_base: Fraction) -> float:
        return to_seconds(self.pts, time_base)


def decode_picture(frame: av.VideoFrame, rotation: int) -> tuple[np.ndarray, DeepPicture | None]:
    """The upright 8-bit BGR picture the detectors and styles work on and, for 10-bit video, its own samples."""
    image = upright(to_bgr(frame), rotation)
    if frame.format.name not in DEEP_FORMATS or frame.width % 2 or frame.height % 2:
        return image, None
    return image, DeepPicture(upright_i420(frame.to_ndarray(), frame.height, frame.width, rotation), image.copy())


def upright_i420(planes: np.ndarray, height: int, width: int, rotation: int) -> np.ndarray:
    """Turn each plane of an I420-layout picture to its display orientation."""
    if not rotation % 360:
        return planes
    flat = planes.reshape(-1)
    quarter = (height // 2) * (width // 2)
    y = upright(planes[:height], rotation)
    u = upright(flat[height * width : height * width + quarter].reshape(height // 2, width // 2), rotation)
    v = upright(flat[height * width + quarter :].reshape(height // 2, width // 2), rotation)
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(-1, y.shape[1])


def open_input(path: Path) -> av.container.InputContainer:
    """Open a video for reading; one clear InputError for each way that fails."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a video")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (permission denied)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    try:
        return av.open(str(path), mode="r")
    except av.error.InvalidDataError as exc:
        raise InputError(f"{path}: not a video file, or corrupt") from exc
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: cannot be opened ({exc.strerror or exc})") from exc


def _rotation_of(container: av.container.InputContainer, stream: VideoStream) -> tuple[int, av.VideoFrame | None]:
    """Read the first frame to learn its display rotation (rotation lives in side data)."""
    for frame in container.decode(stream):
        return int(round(frame.rotation / 90.0)) * 90 % 360, frame
    return 0, None


#: codecs of still pictures: a stream of one of these loses to a moving-picture stream of any size
STILL_CODECS = frozenset({"mjpeg", "png", "bmp", "gif", "webp", "tiff"})


def _is_cover(stream: VideoStream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def main_video_stream(container: av.container.InputContainer) -> VideoStream:
    """The largest real video stream: never cover art (an attached picture), whatever its size or
    place, and a moving-picture codec before a still-picture one; the first of equals."""
    real = [s for s in container.streams.video if not _is_cover(s)]
    if not real:
        name = container.name
        raise InputError(f"{name}: has no video stream" + (" (only cover art)" if container.streams.video else ""))

    def rank(s: VideoStream) -> tuple[bool, bool, int]:
        ctx = s.codec_context
        if ctx is None:  # a codec this FFmpeg lacks: chosen only when there is nothing else
            return (False, False, 0)
        return (True, ctx.name not in STILL_CODECS, (ctx.width or 0) * (ctx.height or 0))

    return max(real, key=rank)


def _describe(stream: av.stream.Stream) -> str:
    ctx = stream.codec_context
    what = f"{stream.type}:{ctx.name if ctx else 'unknown'}"
    if isinstance(stream, VideoStream) and stream.codec_context is not None:
        what += f" {stream.codec_context.width}x{stream.codec_context.height}"
        what += " (cover art)" if _is_cover(stream) else ""
    return what


def check_frame_size(path: Path, width: int, height: int, max_megapixels: float, what: str = "frames are") -> None:
    """Refuse pictures over the pixel limit before decoding them (one rule for video and photos)."""
    if width * height > max_megapixels * 1_000_000:
        raise InputError(
            f"{path}: {width}x{height} {what} {round(width * height / 1e6, 1):g} megapixels, over the "
            f"limit of {max_megapixels:g} (raise it with --max-megapixels if this machine has the memory)"
        )


def probe(path: Path, max_megapixels: float = DEFAULTS.max_megapixels) -> VideoInfo:
    """What the video is, from its header and first frame; frames over ``max_megapixels`` are refused
    before any is decoded (a decoded 16K frame alone takes gigabytes)."""
    path = Path(path)
    with open_input(path) as container:
        stream = main_video_stream(container)
        codec = _video_codec(path, stream, max_megapixels)
        rotation, first = _first_frame(path, container, stream, max_megapixels)
        width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        return VideoInfo(
            path=path,
            width=width,
            height=height,
            rotation=rotation,
            time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000),
            frame_rate=Fraction(rate),
            frame_count=stream.frames or None,
            duration=_duration(container, stream),
            codec=codec,
            pix_fmt=stream.codec_context.pix_fmt,
            other_streams=tuple(
                _describe(s) for s in container.streams if s.type != "audio" and s.index != stream.index
            ),
            stream_index=stream.index,
            end=_tag_seconds(stream.metadata.get("DURATION") or stream.metadata.get("duration")),
            colour=Colour.of(first),
            start=Fraction(first.pts) * first.time_base if first.pts is not None and first.time_base else Fraction(0),
        )


def _video_codec(path: Path, stream: VideoStream, max_megapixels: float) -> str:
    """The stream's codec name, once its header passes the pixel limit."""
    ctx = stream.codec_context
    if ctx is None or ctx.codec is None:
        raise UnsupportedMediaError(f"{path}: video codec not supported")
    check_frame_size(path, ctx.width or 0, ctx.height or 0, max_megapixels)
    return ctx.codec.name


def _first_frame(
    path: Path, container: av.container.InputContainer, stream: VideoStream, max_megapixels: float
) -> tuple[int, av.VideoFrame]:
    """The display rotation and the first frame (whose size may be larger than the header said)."""
    try:
        rotation, first = _rotation_of(container, stream)
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: video stream is corrupt or cannot be decoded ({exc.strerror or exc})") from exc
    if first is None:
        raise InputError(f"{path}: video stream has no decodable frames")
    check_frame_size(path, first.width, first.height, max_megapixels)
    return rotation, first


def _duration(container: av.container.InputContainer, stream: VideoStream) -> Fraction | None:
    """Seconds, from the stream when it says, else from the container."""
    if stream.duration and stream.time_base:
        return Fraction(stream.duration) * stream.time_base
    if container.duration:
        return Fraction(container.duration, av.time_base)
    return None


def _tag_seconds(value: str | None) -> Fraction | None:
    """A Matroska DURATION tag (HH:MM:SS.nnnnnnnnn) in seconds."""
    try:
        h, m, sec = (value or "").split(":")
        return Fraction(int(h) * 3600 + int(m) * 60) + Fraction(sec)
    except ValueError:
        return None


def truncation(info: VideoInfo, frames: int, last_pts: int | None) -> str | None:
    """Why the decoded video looks cut short (a truncated download or copy), or None.

    What decoded is written; the caller says so loudly. Two signs: fewer frames than the container
    lists (MP4, MOV, AVI), or the last frame ending well before the stream's recorded end (Matroska).
    """
    if info.frame_count and frames < info.frame_count:
        return f"{info.path}: input is truncated: {frames} of the {info.frame_count} frames it lists could be decoded"
    if info.end and last_pts is not None:
        step = 1 / info.frame_rate if info.frame_rate else Fraction(1, 25)
        decoded_end = last_pts * info.time_base + step
        if decoded_end < info.end - max(2 * step, Fraction(1, 10)):
            return (
                f"{info.path}: input is truncated: the video stops at {float(decoded_end):.2f} s "
                f"of the {float(info.end):.2f} s it lists"
            )
    return None


def to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame's pixels as BGR, in the frame's own range and the working matrix (BT.601).

    8-bit 4:2:0 (nearly all camera and web video) goes through OpenCV: several times faster than
    swscale, and the exact inverse of the encoder's conversion (redact.media.sink), so pixels nobody
    covers come back unchanged instead of drifting by ~1; full range has its own pair of converters."""
    name = frame.format.name
    if name in ("yuv420p", "yuvj420p") and frame.width % 2 == 0 and frame.height % 2 == 0:
        planes = frame.to_ndarray()
        if colour_range(frame) == 2:
            return full_i420_to_bgr(planes, frame.height, frame.width)
        return cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420)
    if name in ("bgr24", "rgb24", "gray"):
        return frame.to_ndarray(format="bgr24")
    full = colour_range(frame) == 2
    return frame.reformat(
        format="bgr24",
        src_colorspace=WORKING_MATRIX,
        src_color_range=sws_range(full),
        dst_color_range=ColorRange.JPEG,
        interpolation=ACCURATE,
    ).to_ndarray()


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a stored picture to its display orientation (rotation is counter-clockwise degrees)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


@dataclass(frozen=True)
class Window:
    """Part of a video to decode: the frames with ``start <= pts < end`` (None: from the start, to the
    end), numbered from ``first_index`` as in the whole video. A window after the first frame is
    reached by seeking to the keyframe at or before ``start``."""

    start: int | None = None
    end: int | None = None
    first_index: int = 0

    def before(self, pts: int) -> bool:
        return self.start is not None and pts < self.start

    def after(self, pts: int) -> bool:
        return self.end is not None and pts >= self.end


class VideoSource:
    """Iterate a file's video frames (upright BGR) and, optionally, its audio packets, in decode order;
    with a ``window``, only the frames of that part of the video (and no audio)."""

    def __init__(self, info: VideoInfo, audio: bool = True, window: Window | None = None) -> None:
        self.info = info
        self.window = window
        self.container = open_input(info.path)
        self.video_stream = _stream_at(self.container, info)
        self.video_stream.thread_type = "AUTO"
        self.audio_streams = list(self.container.streams.audio) if audio and window is None else []
        self.frames = 0  # decoded so far
        self.last_pts: int | None = None  # of the last frame yielded
        self._last_decoded: int | None = None  # of the last frame decoded, in the window or not

    def truncation(self) -> str | None:
        """After reading every frame: why the video looks cut short, or None (see :func:`truncation`).
        A window stops early on purpose: never truncated."""
        return truncation(self.info, self.frames, self.last_pts) if self.window is None else None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def video_frames(self) -> Iterator[Frame]:
        """The video frames alone (whatever audio there is goes unread)."""
        for item in self.items():
            if isinstance(item, Frame):
                yield item

    def items(self) -> Iterator[Frame | av.Packet]:
        """Yield Frames and audio Packets interleaved as they are stored."""
        window = self.window or Window()  # the whole video
        index = window.first_index
        self._last_decoded = None
        try:
            for packet in self._packets():
                if packet.stream.type == "audio":
                    if packet.dts is not None and packet.size:
                        yield packet
                    continue
                for frame in self.video_stream.decode(packet):
                    pts = self._timestamp(frame.pts)
                    if window.before(pts):
                        continue  # from before the window (a seek lands on the keyframe at or before it)
                    if window.after(pts):
                        return
                    image, deep = decode_picture(frame, self.info.rotation)
                    self.frames, self.last_pts = self.frames + 1, pts
                    yield Frame(index=index, pts=pts, image=image, key=frame.key_frame, deep=deep)
                    index += 1
        except av.error.FFmpegError as exc:
            raise InputError(
                f"{self.info.path}: decoding failed at frame {index} ({exc.strerror or exc}); the file may be corrupt"
            ) from exc

    def _packets(self) -> Iterator[av.Packet]:
        if self.window is not None and self.window.start is not None and self.window.first_index > 0:
            self.container.seek(self.window.start, stream=self.video_stream, backward=True, any_frame=False)
        return self.container.demux(self.video_stream, *self.audio_streams)

    def _timestamp(self, pts: int | None) -> int:
        """A frame's pts, strictly after the one before (the encoder needs strictly increasing times)."""
        last = self._last_decoded
        if pts is None:
            if self.window is not None:
                raise InputError(
                    f"{self.info.path}: a frame without a timestamp; this video cannot be split into segments"
                )
            pts = 0 if last is None else last + _pts_step(self.info)  # some AVI/raw streams: from its position
        if last is not None and pts <= last:
            pts = last + 1
        self._last_decoded = pts
        return pts


def _stream_at(container: av.container.InputContainer, info: VideoInfo) -> VideoStream:
    for stream in container.streams.video:
        if stream.index == info.stream_index:
            return stream
    raise InputError(f"{info.path}: the video stream is gone (was the file replaced while it was read?)")


def _pts_step(info: VideoInfo) -> int:
    """One frame's duration in timestamp ticks (at least one)."""
    if not (info.frame_rate and info.time_base):
        return 1
    return max(1, to_pts(1 / info.frame_rate, info.time_base))
