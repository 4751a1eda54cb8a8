"""The container rules and the one metadata policy for every video redact writes.

The sink (one pass) and the segment joiner open, fill and tag their output through this module,
and ``verify`` judges a finished file by the same list of harmless tags. By default the output
carries no tags from the input (creation time, GPS, make and model live there) except a stream's
language, no data, subtitle or attachment streams, no chapters, and no encoder tag (``+bitexact``).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from av.audio.stream import AudioStream
from av.container import OutputContainer

from redact.audio.edit import AudioEdit, StreamEditor
from redact.errors import OutputError, UnsupportedMediaError

#: containers we write, by file extension
CONTAINERS: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
#: audio codecs each container takes as they are; others are re-encoded to AAC (and reported)
AUDIO_COPY: dict[str, frozenset[str]] = {
    "mp4": frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac", "mp2"}),
    "mov": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le", "mp2"}),
    "matroska": frozenset(),  # empty means: anything
}
#: FFmpeg's standard layout for a bare channel count
STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
#: stream tags that identify no one and help players
SAFE_STREAM_TAGS = ("language",)
#: container and stream tags that FFmpeg writes for structure and that identify no one
#: (compared in lower case: Matroska writes DURATION on every stream)
HARMLESS_CONTAINER_TAGS = frozenset(
    {"major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id", "language", "duration"}
)
#: the muxing-app name a bitexact Matroska/WebM file must carry; a versioned one is still reported
HARMLESS_TAG_VALUES = frozenset({("encoder", "Lavf")})


def container_format(path: Path) -> str:
    """The container written for ``path``'s extension; OutputError for one we do not write."""
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"{path}: unsupported output type {path.suffix or '(none)'}; use one of {', '.join(sorted(CONTAINERS))}"
        )
    return fmt


def container_options(fmt: str) -> dict[str, str]:
    """Muxer options: no encoder tag, and the index at the front of MP4/MOV so players start at once."""
    options = {"fflags": "+bitexact"}
    if fmt in ("mp4", "mov"):
        options["movflags"] = "+faststart"
    return options


def open_output(path: Path, final_path: Path) -> tuple[OutputContainer, str]:
    """Open ``path`` (a temporary name) for writing as ``final_path``'s container; the container and its format."""
    fmt = container_format(final_path)
    try:
        return av.open(str(path), mode="w", format=fmt, options=container_options(fmt)), fmt
    except av.error.FFmpegError as exc:
        raise OutputError(f"{final_path}: cannot create output ({exc.strerror or exc})") from exc


def harmless_tag(key: str, value: str) -> bool:
    """Whether a tag found in a written file identifies no one (structure FFmpeg writes itself)."""
    return key.lower() in HARMLESS_CONTAINER_TAGS or (key.lower(), value) in HARMLESS_TAG_VALUES


def set_container_tags(out: OutputContainer, source_tags: Mapping[str, str], keep_metadata: bool) -> None:
    """The input's container tags only when asked to keep them; none otherwise."""
    if keep_metadata:
        out.metadata.update(source_tags)


def set_stream_tags(out: av.stream.Stream, source_tags: Mapping[str, str], keep_metadata: bool) -> None:
    """A written stream's tags: the input stream's when asked to keep them, else only the safe ones."""
    out.metadata.clear()
    for key, value in source_tags.items():
        if keep_metadata or key in SAFE_STREAM_TAGS:
            out.metadata[key] = value


def audio_copyable(fmt: str, codec: str) -> bool:
    allowed = AUDIO_COPY[fmt]
    return not allowed or codec in allowed


def named_layout(codec: AudioCodecContext) -> av.AudioLayout:
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


def copy_audio_stream(out: OutputContainer, source: AudioStream, keep_metadata: bool) -> AudioStream:
    """An output stream that takes the input's audio packets as they are."""
    stream = out.add_stream_from_template(source)
    set_stream_tags(stream, source.metadata, keep_metadata)
    return stream


#: codecs whose samples come back exactly as they went in: edited audio stays in them (untouched
#: samples stay bit-exact); every other codec is edited into AAC
LOSSLESS = frozenset({"flac", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le", "pcm_f32be"})
#: samples a muted range is widened by on each side when the output codec is lossy: an AAC frame's
#: window spans 2048 samples, so no window that touches the range also holds a kept sample
LOSSY_GUARD = 2048


class AudioOut:
    """One audio stream of the output: the input's packets copied, or (with a decoder) decoded and encoded
    again, through ``editor`` when the sound changes (a disguise, muted ranges)."""

    def __init__(
        self,
        stream: AudioStream,
        decoder: AudioCodecContext | None = None,
        edit: AudioEdit | None = None,
        guard: int = 0,
    ) -> None:
        self.stream = stream
        self.decoder = decoder
        self.edit = edit if edit is not None and edit.changes_sound else None
        self.guard = guard
        self.editor: StreamEditor | None = None
        self.to_float: av.AudioResampler | None = None
        self.next_sample: int | None = None  # where the next re-encoded frame starts, in samples

    def packets(self, packet: av.Packet) -> list[av.Packet]:
        """What to mux for one input packet."""
        if self.decoder is None:
            packet.stream = self.stream
            return [packet]
        return [out for frame in self.decoder.decode(packet) for out in self._encode(frame, packet)]

    def flush(self) -> list[av.Packet]:
        """What the re-encoder still holds at the end (nothing for copied audio)."""
        if self.decoder is None:
            return []
        held = [out for frame in self.decoder.decode(None) for out in self._encode(frame, None)]
        if self.editor is not None:
            held += self._write(self.editor.flush())
        return held + self.stream.encode(None)

    def _encode(self, frame: av.AudioFrame, packet: av.Packet | None) -> list[av.Packet]:
        start = self._start(frame, packet)
        if self.edit is None:
            frame.pts = start
            frame.time_base = Fraction(1, frame.sample_rate)
            self.next_sample = start + frame.samples
            return self.stream.encode(frame)
        if self.editor is None:
            self.editor = StreamEditor(
                self.edit, frame.sample_rate, self.stream.codec_context.channels, start, self.guard
            )
            self.next_sample = start
        return self._write(self.editor.push(self._samples(frame)))

    def _start(self, frame: av.AudioFrame, packet: av.Packet | None) -> int:
        """Where this frame starts, in samples: the first frame from its own timestamp (an audio track
        that starts 0.5 s after the video must not be moved to 0), then sample by sample, so the
        encoder sees no gaps."""
        if self.next_sample is not None:
            return self.next_sample
        rate = frame.sample_rate
        start = Fraction(0)
        if frame.pts is not None and frame.time_base:
            start = frame.pts * frame.time_base
        elif packet is not None and packet.pts is not None and packet.time_base:
            start = packet.pts * packet.time_base
        return round(start * rate)

    def _samples(self, frame: av.AudioFrame) -> np.ndarray:
        """A decoded frame as float32, one row per channel."""
        if self.to_float is None:
            self.to_float = av.AudioResampler(format="fltp", layout=self.stream.layout, rate=frame.sample_rate)
        return np.concatenate([f.to_ndarray() for f in self.to_float.resample(frame)], axis=1).astype(np.float32)

    def _write(self, samples: np.ndarray) -> list[av.Packet]:
        if samples.shape[-1] == 0:
            return []
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=self.stream.layout)
        frame.sample_rate = self.stream.codec_context.sample_rate
        frame.pts = self.next_sample
        frame.time_base = Fraction(1, frame.sample_rate)
        self.next_sample = (self.next_sample or 0) + samples.shape[-1]
        return self.stream.encode(frame)


def add_audio(
    out: OutputContainer, fmt: str, source: AudioStream, keep_metadata: bool, edit: AudioEdit | None = None
) -> tuple[AudioOut, str | None]:
    """The output stream for one input audio stream: copied when ``fmt`` takes its codec and the sound
    does not change; else decoded and encoded again, through ``edit`` (a disguise, muted ranges):
    lossless codecs stay as they are, others become AAC (a warning says so when nothing asked for it)."""
    name = source.codec_context.name
    changes = edit is not None and edit.changes_sound
    if audio_copyable(fmt, name) and not changes:
        return AudioOut(copy_audio_stream(out, source, keep_metadata)), None
    codec = name if name in LOSSLESS and audio_copyable(fmt, name) else "aac"
    stream = cast(AudioStream, out.add_stream(codec, rate=source.codec_context.sample_rate))
    stream.layout = named_layout(source.codec_context)
    if codec == "aac":  # the input's bit rate, and never less than 96 kb/s a channel: a second generation loses little
        stream.bit_rate = max(source.codec_context.bit_rate or 0, 96_000 * source.codec_context.channels)
    else:
        stream.format = source.codec_context.format  # the input's sample format: untouched samples stay exact
    set_stream_tags(stream, source.metadata, keep_metadata)
    decoder = cast(AudioCodecContext, av.CodecContext.create(name, "r"))
    decoder.extradata = source.codec_context.extradata
    decoder.sample_rate = source.codec_context.sample_rate
    decoder.layout = source.codec_context.layout
    audio = AudioOut(stream, decoder, edit, guard=0 if codec in LOSSLESS else LOSSY_GUARD)
    return audio, None if changes else f"audio codec {name} cannot go into {fmt}; re-encoded to AAC"
