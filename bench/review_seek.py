"""How long the review page waits for an exact frame: random seeks and single steps in a long 1080p clip.

Generates (once) a 1080p H.264 clip of the given length with a given key-frame
interval, then asks the review server's frame reader for frames at random
positions and for the next frame, timing what the page waits for: decode to
the exact frame + scale to the page's 1280 px + JPEG. Reports median, 90th
percentile and worst, and the process's memory before and after (it must stay
flat: no whole video in memory). Then builds the scrubbing proxy (small JPEGs of
every frame in a temporary file) and times fetching frames from it.

    python bench/review_seek.py --minutes 3 --gop 250 --seeks 60 --clip /tmp/review-1080p.mp4

Clips longer than a minute are made from one encoded minute, its packets copied again with later
timestamps (minutes of encoding saved; every frame still has its own timestamp). ``--session`` also
opens a review session on the clip with a detections file listing every frame (the work between
detection finishing and the page being usable: checking and indexing the file), timed, with memory.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from redact.media.source import VideoInfo, probe
from redact.review.detections_file import Recorder, save
from redact.review.studio.frames import FrameReader, ProxyFrames
from redact.review.studio.session import ReviewSession, jpeg


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_clip(path: Path, minutes: float, gop: int, fps: int = 25) -> None:
    """A moving gradient with the frame number written on it; beyond a minute, that minute again."""
    if minutes <= 1:
        encode_clip(path, minutes, gop, fps)
        return
    one = path.with_name(path.stem + ".minute.mp4")
    encode_clip(one, 1, gop, fps)
    with av.open(str(one)) as source, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        packets = [p for p in source.demux(source.streams.video[0]) if p.size]
        span = 60 * fps  # in the 1/fps-based time base of the stream: one minute of frames
        step = packets[1].pts - packets[0].pts if len(packets) > 1 else 1
        for m in range(int(minutes)):
            for packet in packets:
                packet.stream = stream
                offset = m * span * step
                packet.pts, packet.dts = packet.pts + offset, packet.dts + offset
                out.mux(packet)
                packet.pts, packet.dts = packet.pts - offset, packet.dts - offset
    one.unlink()


def encode_clip(path: Path, minutes: float, gop: int, fps: int) -> None:
    width, height = 1920, 1080
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 96)], -1).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "28", "preset": "ultrafast", "g": str(gop)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(minutes * 60 * fps)):
            image = np.roll(base, i * 4, axis=1)
            cv2.putText(image, f"{i}", (80, 200), cv2.FONT_HERSHEY_SIMPLEX, 5, (255, 255, 255), 8)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def frame_pts(path: Path) -> list[int]:
    """Every frame's timestamp from the packets (no decoding), as a detections file lists them."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(p.pts for p in container.demux(stream) if p.pts is not None)


def open_session(clip: Path, info: VideoInfo, pts: list[int], tracks: int = 200) -> None:
    """Time what follows detection: the detections file checked (hash, every frame) and indexed for
    the page. ``tracks`` tracks of one box a frame for 10 s each, spread over the video."""
    data = {**Recorder(info, {}).to_dict(), "frames": {"pts": pts}}
    data["video"]["frame_count"] = len(pts)
    span = min(len(pts), 250)
    data["tracks"] = [
        {"id": t, "kind": "face", "boxes": [[f, 100.0, 100.0, 160.0, 170.0, 0.9, 1] for f in range(s, s + span)]}
        for t, s in enumerate(range(0, len(pts) - span + 1, max(1, (len(pts) - span) // tracks)))
    ][:tracks]
    file = save(data, clip.with_name(clip.name + ".detections.json"))
    rss = rss_mib()
    started = time.perf_counter()
    session = ReviewSession(clip, file, clip.with_name("out.mp4"), overwrite=True)
    session.open()
    summary = session.summary()
    opened = time.perf_counter() - started
    print(
        f"session: {len(data['tracks'])} tracks, {sum(len(t['boxes']) for t in data['tracks'])} boxes, "
        f"{file.stat().st_size / 2**20:.0f} MiB file; open and summary in {opened:.2f} s "
        f"({len(summary['tracks'])} tracks listed); RSS {rss:.0f} -> {rss_mib():.0f} MiB"
    )
    session.shutdown()


def shown(reader: FrameReader, index: int) -> float:
    started = time.perf_counter()
    image = reader.get(index)
    small = cv2.resize(image, (1280, 720), interpolation=cv2.INTER_AREA)
    jpeg(small)
    return time.perf_counter() - started


def report(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    print(
        f"{name:>14}: median {statistics.median(ms):6.1f} ms   p90 {p90:6.1f} ms   worst {ms[-1]:6.1f} ms   (n={len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=Path("/tmp/review-1080p.mp4"))
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--gop", type=int, default=250, help="key-frame interval of the generated clip (frames)")
    parser.add_argument("--seeks", type=int, default=60)
    parser.add_argument("--session", action="store_true", help="also time opening a review session on the clip")
    args = parser.parse_args()
    if not args.clip.exists():
        started = time.perf_counter()
        make_clip(args.clip, args.minutes, args.gop)
        print(f"made {args.clip} ({args.clip.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - started:.0f} s")
    info = probe(args.clip)
    pts = frame_pts(args.clip)
    print(f"{args.clip}: {info.width}x{info.height}, {len(pts)} frames, {float(info.duration or 0) / 60:.1f} min")
    if args.session:
        open_session(args.clip, info, pts)
    rss_start = rss_mib()
    reader = FrameReader(info, pts)
    rng = random.Random(7)
    seeks, steps = [], []
    for _ in range(args.seeks):
        index = rng.randrange(len(pts) - 1)
        seeks.append(shown(reader, index))
        steps.append(shown(reader, index + 1))
    report("random seek", seeks)
    report("next frame", steps)
    print(
        f"memory (RSS): {rss_start:.0f} MiB before, {rss_mib():.0f} MiB after, peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    reader.close()
    # the proxy the page scrubs and plays from: one background pass, then any frame without a seek
    proxy = ProxyFrames(len(pts))
    started = time.perf_counter()
    proxy.fill(info, pts, threading.Event())
    built = time.perf_counter() - started
    print(
        f"proxy: {proxy.done} frames in {built:.1f} s ({proxy.done / built:.0f} fps, at low priority), "
        f"{proxy.file.tell() / 2**20:.0f} MiB temporary file"
    )
    fetched = []
    for _ in range(args.seeks):
        started = time.perf_counter()
        assert proxy.get(rng.randrange(len(pts))) is not None
        fetched.append(time.perf_counter() - started)
    report("proxy frame", fetched)
    print(f"memory (RSS) after the proxy: {rss_mib():.0f} MiB")
    proxy.close()


if __name__ == "__main__":
    main()
