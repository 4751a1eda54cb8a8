"""Make real media files for tests with PyAV: patterns, audio, rotation, variable frame rate, tags, data streams."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from redact.demo import demo_face


def pattern(width: int, height: int, index: int = 0) -> np.ndarray:
    """A smooth gradient (re-encodes almost losslessly) with an 8-px checkerboard square that any cover changes."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack(
        [xx * 200 // max(width, 1) + 20, yy * 200 // max(height, 1) + 20, np.full_like(xx, 90 + index % 5)], -1
    )
    return image.astype(np.uint8)


def checker(width: int, height: int, cell: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    v = (((xx // cell) + (yy // cell)) % 2 * 255).astype(np.uint8)
    return np.stack([v, v, v], -1)


def write_clip(
    path: Path,
    *,
    frames: int = 20,
    size: tuple[int, int] = (160, 120),
    fps: int = 25,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    audio: bool = False,
    rotation: int = 0,
    tags: dict[str, str] | None = None,
    data_stream: bool = False,
    fmt: str | None = None,
    images: list[np.ndarray] | None = None,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
) -> Path:
    """Write a clip; ``images`` (BGR) overrides the default pattern; ``pts`` gives variable frame timing."""
    width, height = size
    time_base = time_base or Fraction(1, fps)
    with av.open(str(path), "w", format=fmt, options=options or {}) as container:
        if tags:
            container.metadata.update(tags)
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = pix_fmt
        if codec == "libx264":
            video.options = {"crf": "12", "preset": "ultrafast"}
        video.codec_context.time_base = time_base
        if rotation:
            video.set_display_rotation(rotation)
        data = None
        if data_stream:
            data = container.add_data_stream("bin_data")
            data.codec_tag = "gpmd"
        astream = None
        if audio:
            astream = container.add_stream("aac", rate=48000)
            astream.layout = "stereo"
        for i in range(frames):
            image = images[i % len(images)] if images is not None else pattern(width, height, i)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = time_base
            container.mux(video.encode(frame))
            if data is not None:
                packet = av.Packet(b"GPS+48.8577+002.2950-frame%d" % i)
                packet.stream = data
                packet.pts = packet.dts = int(frame.pts * time_base * 1000)
                packet.time_base = Fraction(1, 1000)
                container.mux(packet)
        container.mux(video.encode(None))
        if astream is not None:
            seconds = float((pts[-1] if pts else frames) * time_base) + 0.2
            n = int(seconds * 48000)
            t = np.arange(n) / 48000
            tone = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
            for start in range(0, n, 1024):
                chunk = np.stack([tone[start : start + 1024]] * 2)
                aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                aframe.sample_rate = 48000
                aframe.pts = start
                container.mux(astream.encode(aframe))
            container.mux(astream.encode(None))
    return path


def decode_frames(path: Path) -> tuple[list[np.ndarray], list[int], Fraction]:
    """Displayed frames (rotation applied), their pts and the stream time base."""
    from redact.media.source import upright

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        images, pts = [], []
        for frame in container.decode(stream):
            images.append(upright(frame.to_ndarray(format="bgr24"), round(frame.rotation / 90) * 90 % 360))
            pts.append(frame.pts)
        return images, pts, stream.time_base


def frame_times(path: Path) -> list[float]:
    _, pts, tb = decode_frames(path)
    return [float(p * tb) for p in pts]


def face_image(size: int = 96) -> np.ndarray:
    import cv2

    return cv2.resize(demo_face(), (size, size), interpolation=cv2.INTER_AREA)


def exif_with_gps_and_thumbnail(make: str, model: str, thumbnail_jpeg: bytes) -> bytes:
    """Raw EXIF (TIFF) bytes as cameras write them: make, model, a GPS position and an IFD1 thumbnail.

    Pillow writes no IFD1 thumbnail, so the structure is laid out by hand.
    """
    import struct

    def ascii_(s: str) -> bytes:
        return s.encode() + b"\0"

    def rationals(values: list[tuple[int, int]]) -> bytes:
        return b"".join(struct.pack("<II", n, d) for n, d in values)

    def ifd(entries: list[tuple[int, int, int, bytes]], start: int, next_ifd: int) -> bytes:
        """entries: (tag, type, count, payload); payloads over 4 bytes go after the IFD."""
        head_len = 2 + 12 * len(entries) + 4
        data_at = start + head_len
        head, data = struct.pack("<H", len(entries)), b""
        for tag, typ, count, payload in sorted(entries):
            if len(payload) <= 4:
                head += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\0")
            else:
                head += struct.pack("<HHII", tag, typ, count, data_at + len(data))
                data += payload + (b"\0" if len(payload) % 2 else b"")
        return head + struct.pack("<I", next_ifd) + data

    ASCII, LONG, RATIONAL = 2, 4, 5
    gps_entries = [
        (1, ASCII, 2, b"N\0"),
        (2, RATIONAL, 3, rationals([(48, 1), (51, 1), (2772, 100)])),
        (3, ASCII, 2, b"E\0"),
        (4, RATIONAL, 3, rationals([(2, 1), (17, 1), (4200, 100)])),
    ]
    make_b, model_b = ascii_(make), ascii_(model)

    def ifd0(gps_at: int, ifd1_at: int) -> bytes:
        entries = [
            (0x010F, ASCII, len(make_b), make_b),
            (0x0110, ASCII, len(model_b), model_b),
            (0x8825, LONG, 1, struct.pack("<I", gps_at)),
        ]
        return ifd(entries, 8, ifd1_at)

    size0 = len(ifd0(0, 0))
    gps_at = 8 + size0
    gps = ifd(gps_entries, gps_at, 0)
    ifd1_at = gps_at + len(gps)
    thumb_at = ifd1_at + len(ifd([(0x0201, LONG, 1, b"\0" * 4), (0x0202, LONG, 1, b"\0" * 4)], ifd1_at, 0))
    ifd1 = ifd(
        [(0x0201, LONG, 1, struct.pack("<I", thumb_at)), (0x0202, LONG, 1, struct.pack("<I", len(thumbnail_jpeg)))],
        ifd1_at,
        0,
    )
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd0(gps_at, ifd1_at) + gps + ifd1 + thumbnail_jpeg


def write_with_cover(
    path: Path, *, cover_size: int = 1000, size: tuple[int, int] = (320, 180), frames: int = 10, flagged: bool = True
) -> Path:
    """A clip whose first-added video stream is a one-picture JPEG cover: an attached picture when
    ``flagged`` (MP4 keeps the flag; Matroska stores it as an ordinary track first, without it)."""
    import cv2

    fmt = "mp4" if path.suffix == ".mp4" else "matroska"
    ok, jpeg = cv2.imencode(".jpg", checker(cover_size, cover_size))
    with av.open(str(path), "w", format=fmt) as container:
        cover = container.add_stream("mjpeg", rate=1)
        cover.width = cover.height = cover_size
        cover.pix_fmt = "yuvj420p"
        cover.time_base = Fraction(1, 90000)
        if flagged:
            cover.disposition = av.stream.Disposition.attached_pic
        video = container.add_stream("libx264", rate=25)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "12", "preset": "ultrafast"}
        container.start_encoding()
        packet = av.Packet(jpeg.tobytes())
        packet.stream, packet.pts, packet.dts, packet.time_base = cover, 0, 0, Fraction(1, 90000)
        container.mux(packet)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(*size, i), format="bgr24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return path


def write_two_videos(
    path: Path, small: tuple[int, int] = (160, 90), large: tuple[int, int] = (320, 180), frames: int = 10
) -> Path:
    """A Matroska file with two video streams, the small one first."""
    with av.open(str(path), "w", format="matroska") as container:
        streams = []
        for size in (small, large):
            s = container.add_stream("libx264", rate=25)
            s.width, s.height = size
            s.pix_fmt = "yuv420p"
            s.options = {"preset": "ultrafast"}
            streams.append(s)
        for i in range(frames):
            for s in streams:
                frame = av.VideoFrame.from_ndarray(pattern(s.width, s.height, i), format="bgr24")
                frame.pts = i
                container.mux(s.encode(frame))
        for s in streams:
            container.mux(s.encode(None))
    return path


#: (Kr, Kb) of the colour matrices the tests use
MATRICES = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114), "bt2020": (0.2627, 0.0593)}
#: saturated patches (RGB 0-1) and near-black / near-white, where range mistakes show most
PATCHES = [(0.9, 0.1, 0.1), (0.1, 0.85, 0.1), (0.1, 0.1, 0.9), (0.9, 0.9, 0.1), (0.02, 0.02, 0.02), (0.98, 0.98, 0.98)]


def yuv_patches(width: int, height: int, matrix: str, full_range: bool, bits: int = 8, sub: int = 2) -> np.ndarray:
    """A yuv420p (sub=2; 10-bit with bits=10) or yuv444p (sub=1) picture of vertical patch bars, laid out
    as PyAV's from_ndarray takes it."""
    kr, kb = MATRICES[matrix]
    scale = 1 << (bits - 8)
    y = np.zeros((height, width), np.float64)
    u = np.zeros((height // sub, width // sub), np.float64)
    v = np.zeros_like(u)
    bar = width // len(PATCHES)
    for i, (r, g, b) in enumerate(PATCHES):
        luma = kr * r + (1 - kr - kb) * g + kb * b
        cb, cr = (b - luma) / (2 * (1 - kb)), (r - luma) / (2 * (1 - kr))
        if full_range:
            yy, uu, vv = luma * 255, 128 + cb * 255, 128 + cr * 255
        else:
            yy, uu, vv = 16 + luma * 219, 128 + cb * 224, 128 + cr * 224
        y[:, i * bar : (i + 1) * bar] = yy * scale
        u[:, i * bar // sub : (i + 1) * bar // sub] = uu * scale
        v[:, i * bar // sub : (i + 1) * bar // sub] = vv * scale
    dtype = np.uint8 if bits == 8 else np.uint16
    top = (1 << bits) - 1
    if sub == 1:
        return np.stack([np.clip(np.round(p), 0, top).astype(dtype) for p in (y, u, v)])
    return np.concatenate([np.clip(np.round(p), 0, top).astype(dtype).reshape(-1, width) for p in (y, u, v)])


def write_tagged_clip(
    path: Path,
    *,
    matrix: str = "bt709",
    full_range: bool = False,
    pix_fmt: str = "yuv420p",
    primaries: str | None = None,
    transfer: str | None = None,
    size: tuple[int, int] = (384, 216),
    frames: int = 5,
    codec: str = "libx264",
    rotation: int = 0,
    options: dict[str, str] | None = None,
) -> Path:
    """Patch bars written straight as YUV, the stream and frames tagged with matrix, range, primaries and transfer."""
    from av.video.reformatter import ColorRange, Colorspace

    width, height = size
    bits = 10 if "10" in pix_fmt else 8
    planes = yuv_patches(width, height, matrix, full_range, bits, 1 if "444" in pix_fmt else 2)
    space = {"bt709": Colorspace.ITU709, "bt601": Colorspace.SMPTE170M, "bt2020": Colorspace.BT2020}[matrix]
    prim = primaries or {"bt709": "bt709", "bt601": "smpte170m", "bt2020": "bt2020"}[matrix]
    trc = transfer or {"bt709": "bt709", "bt601": "smpte170m", "bt2020": "bt709"}[matrix]
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=25)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.options = {
            **({"crf": "0", "preset": "ultrafast"} if codec == "libx264" else {"crf": "1"}),
            **(options or {}),
        }
        ctx = video.codec_context
        ctx.colorspace = int(space)
        ctx.color_range = int(ColorRange.JPEG if full_range else ColorRange.MPEG)
        ctx.color_primaries = _color_enum("ColorPrimaries", prim)
        ctx.color_trc = _color_enum("ColorTrc", trc)
        if rotation:
            video.set_display_rotation(rotation)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(planes, format=pix_fmt)
            frame.colorspace, frame.color_range = ctx.colorspace, ctx.color_range
            frame.color_primaries, frame.color_trc = ctx.color_primaries, ctx.color_trc
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return path


def _color_enum(kind: str, name: str) -> int:
    import av.video.reformatter as r

    values = {
        "ColorPrimaries": {"bt709": 1, "smpte170m": 6, "bt2020": 9},
        "ColorTrc": {"bt709": 1, "smpte170m": 6, "smpte2084": 16, "arib-std-b67": 18},
    }
    enum = getattr(r, kind, None)
    return (
        int(enum[name.upper().replace("-", "_")])
        if enum is not None and name.upper().replace("-", "_") in getattr(enum, "__members__", {})
        else values[kind][name]
    )


def shown_rgb(path: Path) -> tuple[np.ndarray, dict[str, int]]:
    """The first frame as a player shows it (converted with the stream's own matrix and range), and its tags."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        tags = {
            "colorspace": int(frame.colorspace),
            "color_range": int(frame.color_range),
            "color_primaries": int(frame.color_primaries),
            "color_trc": int(frame.color_trc),
        }
        from av.video.reformatter import Interpolation

        accurate = Interpolation.BILINEAR | Interpolation.ACCURATE_RND
        rgb = frame.reformat(
            format="rgb48le", src_colorspace=frame.colorspace, src_color_range=frame.color_range, interpolation=accurate
        )
        return rgb.to_ndarray().astype(np.float64) / 257.0, tags


def write_late_audio(
    path: Path, *, start: float = 0.5, codec: str = "pcm_s16le", frames: int = 50, fps: int = 25
) -> Path:
    """A clip whose audio starts ``start`` seconds after its first video frame (as a MOV edit does)."""
    rate = 48000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = container.add_stream(codec, rate=rate)
        audio.layout = "stereo"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(160, 120, i), format="bgr24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        tone = (3000 * np.sin(np.arange(rate * frames // fps) * 2 * np.pi * 440 / rate)).astype(np.int16)
        for first in range(round(start * rate), rate * frames // fps, 1024):
            chunk = tone[first : first + 1024]
            if codec.startswith("pcm"):
                samples = av.AudioFrame.from_ndarray(np.repeat(chunk, 2)[None, :], format="s16", layout="stereo")
            else:
                samples = av.AudioFrame.from_ndarray(
                    np.stack([chunk, chunk]).astype(np.float32) / 32768, format="fltp", layout="stereo"
                )
            samples.sample_rate, samples.pts = rate, first
            container.mux(audio.encode(samples))
        container.mux(audio.encode(None))
    return path


def audio_offset(path: Path) -> float:
    """Seconds from the first video frame to the first audio sample (encoder priming removed)."""
    with av.open(str(path)) as container:
        firsts = {}
        for stream in (container.streams.video[0], container.streams.audio[0]):
            for packet in container.demux(stream):
                if packet.pts is not None:
                    firsts[stream.type] = packet.pts * packet.time_base
                    break
            container.seek(0)
        audio = container.streams.audio[0]
        # FFmpeg's AAC encoder primes with 1024 samples that players skip
        priming = Fraction(1024, audio.codec_context.sample_rate) if audio.codec_context.name == "aac" else 0
        return float(firsts["audio"] + priming - firsts["video"])


#: when the synthetic voice of write_voice_clip speaks (seconds from the first frame)
VOICED = ((0.30, 0.70), (1.00, 1.55))


def voice(rate: int, seconds: float, f0: float = 140.0, spans: tuple[tuple[float, float], ...] = VOICED) -> np.ndarray:
    """A vowel-like voice: harmonics of a gliding pitch under three formant peaks, on during ``spans``."""
    t = np.arange(round(seconds * rate)) / rate
    pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    out = np.zeros_like(t)
    for k in range(1, int(rate / 2 / (f0 * 1.1))):
        hz = k * pitch
        gain = sum(np.exp(-(((hz - f) / bw) ** 2)) for f, bw in ((700, 130), (1200, 160), (2600, 250)))
        out += (gain + 0.02) * np.sin(k * phase)
    on = np.zeros_like(t)
    for a, b in spans:
        on[(t >= a) & (t < b)] = 1.0
    return (0.25 * out / np.abs(out).max() * on).astype(np.float32)


def write_voice_clip(
    path: Path,
    *,
    codec: str = "aac",
    rate: int = 48000,
    channels: int = 2,
    fmt: str | None = None,
    frames: int = 50,
    fps: int = 25,
    audio_start: float = 0.0,
    gop: int | None = None,
) -> Path:
    """A clip with a voice track (see :func:`voice`) that starts ``audio_start`` s after the first frame;
    ``gop``: a keyframe every so many frames (for segments)."""
    layout = "stereo" if channels == 2 else "mono"
    sound = voice(rate, frames / fps - audio_start, spans=tuple((a - audio_start, b - audio_start) for a, b in VOICED))
    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        video.options = {"crf": "12", "preset": "ultrafast"}
        if gop:
            video.options = {**video.options, "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        audio = container.add_stream(codec, rate=rate)
        audio.layout = layout
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(160, 120, i), format="bgr24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        first = round(audio_start * rate)
        for at in range(0, len(sound), 1024):
            chunk = np.stack([sound[at : at + 1024]] * channels)
            if codec.startswith("pcm") or codec == "flac":
                pcm = (chunk.T.reshape(1, -1) * 32767).astype(np.int16)
                samples = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
            else:
                samples = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
            samples.sample_rate, samples.pts, samples.time_base = rate, first + at, Fraction(1, rate)
            container.mux(audio.encode(samples))
        container.mux(audio.encode(None))
    return path


def decode_audio(path: Path) -> tuple[np.ndarray, int, Fraction]:
    """The first audio track as float samples (channels x samples), its rate and its first sample's time."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        to_float = av.AudioResampler(format="fltp", layout=stream.layout, rate=stream.codec_context.sample_rate)
        blocks, start = [], None
        for frame in container.decode(stream):
            if start is None:
                start = frame.pts * frame.time_base
            blocks += [f.to_ndarray() for f in to_float.resample(frame)]
        return np.concatenate(blocks, axis=1), stream.codec_context.sample_rate, start or Fraction(0)
