"""Encode redacted frames with PyAV and copy audio packets unchanged.

The output carries no tags from the input unless asked (creation time, GPS,
make and model live there), no data, subtitle or attachment streams, no
chapters, and no encoder tag (``+bitexact``).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange

from redact.errors import OutputError, UnsupportedMediaError
from redact.media.colour import ACCURATE, WORKING_MATRIX, Colour, bgr_to_full_i420, sws_range
from redact.media.source import DEEP_FORMATS, DeepPicture, VideoInfo

#: containers we write, by file extension
CONTAINERS: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
#: audio codecs each container takes as they are; others are re-encoded to AAC (and reported)
AUDIO_COPY: dict[str, frozenset[str]] = {
    "mp4": frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac", "mp2"}),
    "mov": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le", "mp2"}),
    "matroska": frozenset(),  # empty means: anything
}
#: encoders that take 10-bit 4:2:0 from the PyAV wheel (libx264 as High 10)
TEN_BIT_CODECS = frozenset({"libx264", "libx265"})
#: stream tags that identify no one and help players
SAFE_STREAM_TAGS = ("language",)


def container_format(path: Path) -> str:
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"{path}: unsupported output type {path.suffix or '(none)'}; use one of {', '.join(sorted(CONTAINERS))}"
        )
    return fmt


#: FFmpeg's standard layout for a bare channel count
STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _named_layout(codec: av.audio.codeccontext.AudioCodecContext) -> av.AudioLayout:
    """PCM in AVI or Matroska often carries a bare channel count ("2 channels"), which the AAC
    encoder refuses; the standard layout of that many channels is what the file means."""
    layout = codec.layout
    if not layout.name.endswith(" channels"):
        return layout
    if codec.channels not in STANDARD_LAYOUTS:
        raise UnsupportedMediaError(
            f"audio with {codec.channels} unnamed channels cannot be re-encoded; use --no-audio"
        )
    return av.AudioLayout(STANDARD_LAYOUTS[codec.channels])


class VideoSink:
    """Writes one output file. Call :meth:`close` on success; on failure just drop the file."""

    def __init__(
        self,
        path: Path,
        final_path: Path,
        info: VideoInfo,
        audio_streams: list[av.audio.stream.AudioStream],
        *,
        codec: str = "libx264",
        crf: int = 20,
        preset: str = "fast",
        keep_metadata: bool = False,
        source_metadata: dict[str, str] | None = None,
    ) -> None:
        self.format = container_format(final_path)
        self.warnings: list[str] = []
        options = {"fflags": "+bitexact"}
        if self.format in ("mp4", "mov"):
            options["movflags"] = "+faststart"
        try:
            self.container = av.open(str(path), mode="w", format=self.format, options=options)
        except av.error.FFmpegError as exc:
            raise OutputError(f"{final_path}: cannot create output ({exc.strerror or exc})") from exc
        try:
            self.video = self._add_video(info, codec, crf, preset)
            self.audio_map = {s.index: self._add_audio(s, keep_metadata) for s in audio_streams}
            if keep_metadata and source_metadata:
                self.container.metadata.update(source_metadata)
        except Exception:
            self.container.close()
            raise
        self.time_base = info.time_base

    def _add_video(self, info: VideoInfo, codec: str, crf: int, preset: str) -> av.video.stream.VideoStream:
        options: dict[str, str] = {}
        if codec in ("libx264", "libx265"):
            options = {"crf": str(crf), "preset": preset, **info.colour.encoder_params(codec)}
        try:
            stream = self.container.add_stream(codec, rate=info.frame_rate, options=options)
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"video encoder {codec!r} is not available ({exc})") from exc
        stream.width, stream.height = info.width, info.height
        # 4:2:0 needs even sizes; 4:4:4 keeps an odd-sized frame exact instead of resizing it.
        even = info.width % 2 == 0 and info.height % 2 == 0
        stream.pix_fmt = "yuv420p" if even else "yuv444p"
        if info.pix_fmt in DEEP_FORMATS and even:
            if codec in TEN_BIT_CODECS:
                stream.pix_fmt = "yuv420p10le"  # libx264: High 10 profile; HDR stays HDR
            else:
                self.warnings.append(
                    f"{codec} is used at 8 bits here: the 10-bit input loses precision (use libx264 or libx265)"
                )
        if not even:
            self.warnings.append(
                f"odd frame size {info.width}x{info.height} kept exactly with 4:4:4 colour (some players prefer even sizes)"
            )
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        self.colour = info.colour
        _tag(stream.codec_context, info.colour)
        return stream

    def _add_audio(self, source: av.audio.stream.AudioStream, keep_metadata: bool) -> _AudioOut:
        allowed = AUDIO_COPY[self.format]
        name = source.codec_context.name
        if not allowed or name in allowed:
            out = self.container.add_stream_from_template(source)
            _set_stream_tags(out, source, keep_metadata)
            return _AudioOut(out, None)
        self.warnings.append(f"audio codec {name} cannot go into {self.format}; re-encoded to AAC")
        out = self.container.add_stream("aac", rate=source.codec_context.sample_rate)
        out.layout = _named_layout(source.codec_context)
        _set_stream_tags(out, source, keep_metadata)
        decoder = av.CodecContext.create(source.codec_context.name, "r")
        decoder.extradata = source.codec_context.extradata
        decoder.sample_rate = source.codec_context.sample_rate
        decoder.layout = source.codec_context.layout
        return _AudioOut(out, decoder)

    def write_frame(self, image: np.ndarray, pts: int, deep: DeepPicture | None = None) -> None:
        colour = self.colour
        if self.video.pix_fmt == "yuv420p10le":
            frame = av.VideoFrame.from_ndarray(self._deep_planes(image, deep), format="yuv420p10le")
        elif self.video.pix_fmt == "yuv420p":
            # OpenCV's conversion (BT.601, the exact inverse of redact.media.source.to_bgr) is ~3x
            # faster than swscale's and releases the GIL, so it overlaps with detection.
            yuv = bgr_to_full_i420(image) if colour.full else cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        else:
            frame = self._convert(image, self.video.pix_fmt)
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

    def _deep_planes(self, image: np.ndarray, deep: DeepPicture | None) -> np.ndarray:
        """The frame's own 10-bit samples, with the covered pixels (those changed since decoding) replaced."""
        if deep is None:
            return self._convert(image, "yuv420p10le").to_ndarray()
        changed = np.any(image != deep.view, axis=2)
        if not changed.any():
            return deep.planes
        height, width = changed.shape
        covered = self._convert(image, "yuv420p10le").to_ndarray()
        planes = deep.planes.copy()
        planes[:height][changed] = covered[:height][changed]
        chroma = np.tile(changed.reshape(height // 2, 2, width // 2, 2).any(axis=(1, 3)).reshape(-1), 2)
        out_chroma, new_chroma = planes[height:].reshape(-1), covered[height:].reshape(-1)
        out_chroma[chroma] = new_chroma[chroma]
        return planes

    def write_audio(self, packet: av.Packet) -> None:
        out = self.audio_map.get(packet.stream.index)
        if out is None:
            return
        if out.decoder is None:
            packet.stream = out.stream
            self._mux([packet])
            return
        for frame in out.decoder.decode(packet):
            self._mux(out.stream.encode(out.retime(frame, packet)))

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
                if out.decoder is not None:
                    for frame in out.decoder.decode(None):
                        self._mux(out.stream.encode(out.retime(frame, None)))
                    self._mux(out.stream.encode(None))
        except BaseException:
            self.abort()
            raise
        try:
            self.container.close()
        except av.error.FFmpegError as exc:
            raise OutputError(f"finishing the output failed ({exc.strerror or exc})") from exc

    def abort(self) -> None:
        try:
            self.container.close()
        except av.error.FFmpegError:
            pass  # the caller deletes the file; a close error must not hide the first error


def _tag(target: av.VideoFrame | av.video.codeccontext.VideoCodecContext, colour: Colour) -> None:
    """Tag with the input's matrix, primaries, transfer and range (what players need to show it as the input)."""
    target.colorspace = colour.matrix
    target.color_primaries = colour.primaries
    target.color_trc = colour.transfer
    target.color_range = 2 if colour.full else (1 if colour.range == 1 else 0)


class _AudioOut:
    def __init__(self, stream: av.stream.Stream, decoder: av.CodecContext | None) -> None:
        self.stream = stream
        self.decoder = decoder
        self.next_sample: int | None = None  # where the next re-encoded frame starts, in samples

    def retime(self, frame: av.AudioFrame, packet: av.Packet | None) -> av.AudioFrame:
        """Time re-encoded audio from where the input's starts (an audio track that starts 0.5 s after
        the video must not be moved to 0); then sample by sample, so the encoder sees no gaps."""
        rate = frame.sample_rate
        if self.next_sample is None:
            start = Fraction(0)
            if packet is not None and packet.pts is not None and packet.time_base:
                start = packet.pts * packet.time_base
            self.next_sample = round(start * rate)
        frame.pts = self.next_sample
        frame.time_base = Fraction(1, rate)
        self.next_sample += frame.samples
        return frame


def _set_stream_tags(out: av.stream.Stream, source: av.stream.Stream, keep_metadata: bool) -> None:
    out.metadata.clear()
    for key, value in source.metadata.items():
        if keep_metadata or key in SAFE_STREAM_TAGS:
            out.metadata[key] = value
