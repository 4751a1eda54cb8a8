"""Encode redacted frames with PyAV; the input's audio is copied, or re-encoded with its voices disguised
and ranges muted, by the rules in :mod:`redact.media.mux`, which also decides what metadata the
output carries (by default none)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import av
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream
from av.video.reformatter import ColorRange
from av.video.stream import VideoStream

from redact.audio.edit import AudioEdit
from redact.errors import OutputError
from redact.media.colour import ACCURATE, WORKING_MATRIX, Colour, bgr_to_i420, sws_range
from redact.media.mux import AudioOut, add_audio, open_output, set_container_tags
from redact.media.source import DEEP_FORMATS, DeepPicture, VideoInfo

#: encoders that take 10-bit 4:2:0 from the PyAV wheel (libx264 as High 10)
TEN_BIT_CODECS = frozenset({"libx264", "libx265"})


class VideoSink:
    """Writes one output file; a context manager that finishes the file when its block succeeds and
    removes what was written when it fails. (Without ``with``: :meth:`close` or :meth:`abort`.)"""

    def __init__(
        self,
        path: Path,
        final_path: Path,
        info: VideoInfo,
        audio_streams: Sequence[AudioStream],
        *,
        codec: str = "libx264",
        crf: int = 20,
        preset: str = "fast",
        keep_metadata: bool = False,
        source_metadata: Mapping[str, str] | None = None,
        audio_edit: AudioEdit | None = None,
    ) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        self.container, self.format = open_output(self.path, final_path)
        self.time_base = info.time_base
        self.colour = info.colour
        self.audio_edit = audio_edit
        try:
            self.video = self._add_video(info, codec, crf, preset)
            self.audio_map = {s.index: self._add_audio(s, keep_metadata) for s in audio_streams}
            set_container_tags(self.container, source_metadata or {}, keep_metadata)
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _add_video(self, info: VideoInfo, codec: str, crf: int, preset: str) -> VideoStream:
        options: dict[str, str] = {}
        if codec in ("libx264", "libx265"):
            options = {"crf": str(crf), "preset": preset, **info.colour.encoder_params(codec)}
        try:
            stream = self.container.add_stream(codec, rate=info.frame_rate, options=options)
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"video encoder {codec!r} is not available ({exc})") from exc
        if not isinstance(stream, VideoStream):
            raise OutputError(f"{codec!r} is not a video encoder")
        stream.width, stream.height = info.width, info.height
        self.pix_fmt = self._pixel_format(info, codec)
        stream.pix_fmt = self.pix_fmt
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        _tag(stream.codec_context, info.colour)
        return stream

    def _pixel_format(self, info: VideoInfo, codec: str) -> str:
        """4:2:0 needs even sizes; 4:4:4 keeps an odd-sized frame exact instead of resizing it."""
        if info.width % 2 or info.height % 2:
            self.warnings.append(
                f"odd frame size {info.width}x{info.height} kept exactly with 4:4:4 colour (some players prefer even sizes)"
            )
            return "yuv444p"
        if info.pix_fmt in DEEP_FORMATS:
            if codec in TEN_BIT_CODECS:
                return "yuv420p10le"  # libx264: High 10 profile; HDR stays HDR
            self.warnings.append(
                f"{codec} is used at 8 bits here: the 10-bit input loses precision (use libx264 or libx265)"
            )
        return "yuv420p"

    def _add_audio(self, source: AudioStream, keep_metadata: bool) -> AudioOut:
        out, warning = add_audio(self.container, self.format, source, keep_metadata, self.audio_edit)
        if warning:
            self.warnings.append(warning)
        return out

    def write_frame(self, image: np.ndarray, pts: int, deep: DeepPicture | None = None) -> None:
        colour = self.colour
        if self.pix_fmt == "yuv420p10le":
            frame = av.VideoFrame.from_ndarray(self._deep_planes(image, deep), format="yuv420p10le")
        elif self.pix_fmt == "yuv420p":
            # OpenCV's conversion (BT.601, the exact inverse of redact.media.source.to_bgr) is ~3x
            # faster than swscale's and releases the GIL, so it overlaps with detection.
            frame = av.VideoFrame.from_ndarray(bgr_to_i420(image, colour.full), format="yuv420p")
        else:
            frame = self._convert(image, self.pix_fmt)
        _tag(frame, colour)
        frame.pts = pts
        frame.time_base = self.time_base
        self._mux(self.video.encode(frame))

    def _convert(self, image: np.ndarray, pix_fmt: str) -> av.VideoFrame:
        colour = self.colour
        return av.VideoFrame.from_ndarray(image, format="bgr24").reformat(
            format=pix_fmt,
            src_color_range=ColorRange.JPEG,
            dst_colorspace=WORKING_MATRIX,
            dst_color_range=sws_range(colour.full),
            interpolation=ACCURATE,
        )

    def _ten_bit(self, image: np.ndarray) -> npt.NDArray[np.uint16]:
        return np.asarray(self._convert(image, "yuv420p10le").to_ndarray(), dtype=np.uint16)

    def _deep_planes(self, image: np.ndarray, deep: DeepPicture | None) -> npt.NDArray[np.uint16]:
        """The frame's own 10-bit samples, with the covered pixels (those changed since decoding) replaced."""
        if deep is None:
            return self._ten_bit(image)
        changed = np.any(image != deep.view, axis=2)
        if not changed.any():
            return deep.planes
        height, width = changed.shape
        covered = self._ten_bit(image)
        planes = deep.planes.copy()
        planes[:height][changed] = covered[:height][changed]
        chroma = np.tile(changed.reshape(height // 2, 2, width // 2, 2).any(axis=(1, 3)).reshape(-1), 2)
        out_chroma, new_chroma = planes[height:].reshape(-1), covered[height:].reshape(-1)
        out_chroma[chroma] = new_chroma[chroma]
        return planes

    def write_audio(self, packet: av.Packet) -> None:
        out = self.audio_map.get(packet.stream.index)
        if out is not None:
            self._mux(out.packets(packet))

    def _mux(self, packets: list[av.Packet]) -> None:
        try:
            self.container.mux(packets)
        except av.error.FFmpegError as exc:
            raise OutputError(f"writing the output failed ({exc.strerror or exc})") from exc

    def close(self) -> None:
        """Flush encoders and finish the file; any failure is raised, never swallowed."""
        try:
            self._mux(self.video.encode(None))
            for out in self.audio_map.values():
                self._mux(out.flush())
        except BaseException:
            self.abort()
            raise
        try:
            self.container.close()
        except av.error.FFmpegError as exc:
            raise OutputError(f"finishing the output failed ({exc.strerror or exc})") from exc

    def abort(self) -> None:
        """Stop writing and remove what was written (after a failure: never a partial output)."""
        try:
            self.container.close()
        except av.error.FFmpegError:
            pass  # a close error must not hide the first error
        with contextlib.suppress(OSError):
            self.path.unlink()


def _tag(target: av.VideoFrame | av.video.codeccontext.VideoCodecContext, colour: Colour) -> None:
    """Tag with the input's matrix, primaries, transfer and range (what players need to show it as the input)."""
    target.colorspace = colour.matrix
    target.color_primaries = colour.primaries
    target.color_trc = colour.transfer
    target.color_range = 2 if colour.full else (1 if colour.range == 1 else 0)
