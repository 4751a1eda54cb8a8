"""Exact frames by index for the review page: seek to the key frame before N, decode forward by timestamp.

Frame N is the N-th frame `render` decodes (the detections file lists every
frame's timestamp), turned upright the same way. The container stays open and
the decoder's position is remembered, so stepping forward decodes one frame; a
small LRU keeps recent pictures so stepping back is free. Never more than a
handful of frames in memory.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

import av
import cv2
import numpy as np

from redact.errors import InputError
from redact.media.source import VideoInfo, VideoSource, to_bgr, upright

#: decoding forward this many frames is cheaper than a seek and a key frame's worth of decoding
FORWARD_LIMIT = 30
CACHE_FRAMES = 12

#: a decoded frame's index and its upright BGR picture, converted only when asked for: a seek decodes
#: up to a key-frame interval of frames on the way, and turning each into BGR cost more than decoding it
Decoded = Iterator[tuple[int, Callable[[], np.ndarray]]]


class FrameReader:
    """Thread-safe random access to a video's upright BGR frames by index."""

    def __init__(self, info: VideoInfo, pts: list[int], cache_frames: int = CACHE_FRAMES) -> None:
        self.info = info
        self.pts = pts
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.cache_frames = cache_frames
        self.lock = threading.Lock()
        self.container: av.container.InputContainer | None = None
        self.decoded: Decoded | None = None
        self.next_index = -1  # index the open decoder yields next
        self.seekable = all(b > a for a, b in zip(pts, pts[1:]))

    def close(self) -> None:
        with self.lock:
            self.close_container()

    def close_container(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def get(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self.pts):
            raise IndexError(f"frame {index} is outside 0..{len(self.pts) - 1}")
        with self.lock:
            if index in self.cache:
                self.cache.move_to_end(index)
                return self.cache[index]
            if not (self.decoded is not None and self.next_index <= index < self.next_index + FORWARD_LIMIT):
                self._position(index)
            return self._decode_until(index)

    def _remember(self, index: int, image: np.ndarray) -> None:
        self.cache[index] = image
        self.cache.move_to_end(index)
        while len(self.cache) > self.cache_frames:
            self.cache.popitem(last=False)

    def _decode_until(self, index: int) -> np.ndarray:
        assert self.decoded is not None
        for i, picture in self.decoded:
            self.next_index = i + 1
            if i >= index - 2:  # the frames just before are kept too: stepping back is free
                image = picture()
                self._remember(i, image)
                if i == index:
                    return image
        self.decoded = None
        raise InputError(f"{self.info.path}: frame {index} could not be decoded")

    def _position(self, index: int) -> None:
        """Open a decoder that yields (index, image) from at or before ``index``."""
        if self.container is None:
            self.container = av.open(str(self.info.path))
            self.container.streams.video[0].thread_type = "AUTO"
        container = self.container
        if self.seekable and index > 0:
            stream = container.streams.video[0]
            target = self.pts[index]
            step = max(1, self.pts[-1] - self.pts[0]) // max(1, len(self.pts) - 1)
            for back in (0, 2 * FORWARD_LIMIT, 300, 3000):  # retry earlier if a seek lands past the frame
                container.seek(max(self.pts[0], target - back * step), stream=stream, backward=True)
                first, frames = self._first(container, stream)
                if first is not None and first <= index:
                    self.decoded, self.next_index = frames, first
                    return
        self.decoded, self.next_index = self._from_start(), 0

    def _first(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> tuple[int | None, Decoded]:
        """Decode after a seek until a frame whose timestamp the file lists; its index, and the rest."""
        rotation = self.info.rotation
        decoder = container.decode(stream)
        for frame in decoder:
            i = bisect.bisect_left(self.pts, frame.pts) if frame.pts is not None else len(self.pts)
            if i < len(self.pts) and self.pts[i] == frame.pts:
                return i, _chain(frame, decoder, self.pts, i, rotation)
            return None, iter(())
        return None, iter(())

    def _from_start(self) -> Decoded:
        """The slow, always-right path (timestamps missing or repeated): decode as `render` does, counting."""
        self.close_container()
        source = VideoSource(self.info, audio=False)
        try:
            for frame in source.video_frames():
                yield frame.index, _ready(frame.image)
        finally:
            source.close()


def _chain(
    first: av.VideoFrame, decoder: Iterator[av.VideoFrame], pts: list[int], index: int, rotation: int
) -> Decoded:
    yield index, _upright(first, rotation)
    for frame in decoder:
        index += 1
        if index >= len(pts) or frame.pts != pts[index]:
            raise InputError(f"frame {index}: its timestamp does not match the detections file")
        yield index, _upright(frame, rotation)


def _upright(frame: av.VideoFrame, rotation: int) -> Callable[[], np.ndarray]:
    return lambda: upright(to_bgr(frame), rotation)


def _ready(image: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: image


PROXY_WIDTH = 480


class ProxyFrames:
    """Small JPEGs of every frame, for scrubbing and playback without a seek: filled while detection
    decodes the video (or by one pass in the background when a detections file is opened), kept in an
    anonymous temporary file (unlinked at once, gone when closed or on a crash), so memory stays flat
    whatever the video's length. Frame N here is frame N of the video, scaled."""

    def __init__(self, count: int = 0, width: int = PROXY_WIDTH) -> None:
        self.file = tempfile.TemporaryFile(prefix="redact-review-")
        self.where: list[tuple[int, int] | None] = [None] * count
        self.width = width
        self.lock = threading.Lock()
        self.done = 0

    def add(self, index: int, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if w > self.width:
            image = cv2.resize(image, (self.width, max(1, round(h * self.width / w))), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])
        with self.lock:
            if not ok or self.file.closed:  # a frame missing here is decoded exactly when asked for
                return
            self.file.seek(0, os.SEEK_END)
            if index >= len(self.where):  # filled during detection, before the frame count is known
                self.where.extend([None] * (index + 1 - len(self.where)))
            self.where[index] = (self.file.tell(), len(data))
            self.file.write(data.tobytes())
            self.done += 1

    def get(self, index: int) -> bytes | None:
        with self.lock:
            spot = self.where[index] if 0 <= index < len(self.where) else None
            if spot is None or self.file.closed:
                return None
            self.file.seek(spot[0])
            return self.file.read(spot[1])

    def covers(self, count: int) -> bool:
        """Whether every one of ``count`` frames is here (and no more: the same video as the file)."""
        with self.lock:
            return len(self.where) == count and self.done == count and not self.file.closed

    def fill(self, info: VideoInfo, pts: list[int], stop: threading.Event) -> None:
        """Decode the whole video once, as `render` does, at low priority; stops at a timestamp mismatch."""
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 15)  # this thread only (Linux)
        with contextlib.suppress(InputError), VideoSource(info, audio=False) as source:
            for frame in source.video_frames():
                if stop.is_set() or frame.index >= len(pts) or frame.pts != pts[frame.index]:
                    return
                self.add(frame.index, frame.image)

    def close(self) -> None:
        with self.lock:
            self.file.close()
