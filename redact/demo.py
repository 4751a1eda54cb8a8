"""A short clip with a real face and a sound track, made on the spot, for `redact demo` and the tests."""

from __future__ import annotations

from fractions import Fraction
from importlib import resources
from pathlib import Path

import av
import cv2
import numpy as np


def demo_face() -> np.ndarray:
    """The bundled public-domain portrait (BGR)."""
    data = resources.files("redact.assets").joinpath("demo_face.jpg").read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError("bundled demo_face.jpg cannot be decoded")
    return image


def make_demo_clip(path: Path, seconds: float = 3.0, size: tuple[int, int] = (640, 360), fps: int = 25) -> Path:
    """Write an H.264 + AAC clip of the portrait gliding across a textured background."""
    width, height = size
    face = demo_face()
    face = cv2.resize(face, (height // 2, height // 2), interpolation=cv2.INTER_AREA)
    fh, fw = face.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([(xx * 255 // width), (yy * 255 // height), np.full_like(xx, 96)], -1).astype(np.uint8)
    frames = int(seconds * fps)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": "23", "preset": "veryfast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=44100)
        audio.layout = "mono"
        for i in range(frames):
            image = background.copy()
            x = int((width - fw) * i / max(frames - 1, 1))
            y = (height - fh) // 2
            image[y : y + fh, x : x + fw] = face
            picture = av.VideoFrame.from_ndarray(image, format="bgr24")
            picture.pts = i
            picture.time_base = Fraction(1, fps)
            container.mux(video.encode(picture))
        samples_per_chunk = 1024
        t = np.arange(int(seconds * 44100)) / 44100
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(tone), samples_per_chunk):
            chunk = tone[start : start + samples_per_chunk]
            sound = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            sound.sample_rate = 44100
            sound.pts = start
            container.mux(audio.encode(sound))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    return path
