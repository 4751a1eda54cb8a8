"""One long video on many workers: keyframe-aligned segments, redacted apart, joined without re-encoding.

1. Find the video's keyframes from its packets (no decoding) and cut it into segments
   that start on keyframes, about ``segment_seconds`` long.
2. Each worker decodes its segment plus ``overlap`` seconds before and after it (from the
   keyframe at or before the pre-roll), so tracking, hold and backfill see the same
   context they would in one pass, and encodes only the segment's own frames. Every
   segment is its own encode, so it starts with an IDR frame and its GOPs are closed.
3. The segments' video packets are joined without re-encoding (their codec parameters
   must be identical, which they are for the same settings and frame size), the
   original audio is copied once, and the frame count is checked against the input's.

Detection schedules use each frame's index in the whole video, so a detector that runs
every N frames runs on the same frames as in one pass. Anything that cannot be joined
exactly fails loudly; the output appears only when the whole video succeeded.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import heapq
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, wait
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from redact.cover import styles
from redact.errors import InputError, OutputError
from redact.media.outputs import atomic_output, check_output
from redact.media.sink import AUDIO_COPY, VideoSink, _set_stream_tags, container_format
from redact.media.source import (
    Frame,
    VideoInfo,
    VideoSource,
    _open,
    decode_picture,
    main_video_stream,
    probe,
    truncation,
)
from redact.settings import Settings

#: a segment is never made shorter than this (seconds): shorter ones cost more in overlap than they gain
MIN_SEGMENT_SECONDS = 4.0


@dataclass(frozen=True)
class KeyframeIndex:
    time_base: Fraction
    pts: tuple[int, ...]  # every video packet's pts, sorted (display order)
    keyframes: tuple[int, ...]  # pts of the keyframes, sorted

    @property
    def frames(self) -> int:
        return len(self.pts)

    def seconds(self, pts: int) -> float:
        return float((pts - self.pts[0]) * self.time_base)


def keyframe_index(path: Path) -> KeyframeIndex | None:
    """Packet timestamps and keyframes of the first video stream, read without decoding.

    None when the packets carry no timestamps (some AVI and raw streams): such a video
    cannot be split by time and runs in one pass.
    """
    pts: list[int] = []
    keys: list[int] = []
    with _open(Path(path)) as container:
        stream = main_video_stream(container)
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    return None
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        except av.error.FFmpegError as exc:
            raise InputError(
                f"{path}: reading the video's packets failed ({exc.strerror or exc}); the file may be corrupt"
            ) from exc
        time_base = Fraction(stream.time_base)
    if not pts or not keys:
        return None
    return KeyframeIndex(time_base, tuple(sorted(pts)), tuple(sorted(set(keys))))


@dataclass(frozen=True)
class Segment:
    number: int
    start: int  # pts of its first frame (a keyframe)
    end: int | None  # pts where the next segment starts; None for the last
    read_from: int  # pts to seek to (a keyframe at or before start - overlap)
    read_to: int | None  # decode up to this pts (end + overlap); None: to the end
    first_index: int  # index in the whole video of the first frame read
    frames: int  # frames of its own (between start and end)


def plan_segments(index: KeyframeIndex, segment_seconds: float, overlap: float) -> list[Segment]:
    """Keyframe-aligned segments of about ``segment_seconds``, each with its read window."""
    tb = index.time_base
    keys = index.keyframes
    starts = [keys[0]]
    for key in keys[1:]:
        if index.seconds(key) - index.seconds(starts[-1]) >= segment_seconds:
            starts.append(key)
    # a short tail joins the segment before it
    if len(starts) > 1 and index.seconds(index.pts[-1]) - index.seconds(starts[-1]) < segment_seconds / 2:
        starts.pop()
    if index.pts[0] < starts[0]:  # leading frames before the first keyframe belong to the first segment
        starts[0] = index.pts[0]
    over = round(Fraction(overlap) / tb)
    segments = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else None
        wanted = start - over
        before = [k for k in keys if k <= wanted]
        read_from = before[-1] if (n > 0 and before) else index.pts[0]
        read_to = end + over if end is not None else None
        first = bisect.bisect_left(index.pts, read_from)
        own = (bisect.bisect_left(index.pts, end) if end is not None else len(index.pts)) - bisect.bisect_left(
            index.pts, start
        )
        segments.append(Segment(n, start, end, read_from, read_to, first, own))
    return segments


class SegmentSource(VideoSource):
    """Frames of one read window, numbered as in the whole video; no audio."""

    def __init__(self, info: VideoInfo, segment: Segment) -> None:
        super().__init__(info, audio=False)
        self.segment = segment

    def items(self) -> Iterator[Frame | av.Packet]:
        seg = self.segment
        stream = self.video_stream
        index = seg.first_index
        try:
            if seg.number > 0:
                self.container.seek(seg.read_from, stream=stream, backward=True, any_frame=False)
            for packet in self.container.demux(stream):
                for frame in packet.decode():
                    if frame.pts is None:
                        raise InputError(
                            f"{self.info.path}: a frame without a timestamp; this video cannot be split into segments"
                        )
                    if frame.pts < seg.read_from:
                        continue  # from before the window (a seek lands on the keyframe at or before it)
                    if seg.read_to is not None and frame.pts >= seg.read_to:
                        return
                    image, deep = decode_picture(frame, self.info.rotation)
                    yield Frame(index=index, pts=frame.pts, image=image, key=frame.key_frame, deep=deep)
                    index += 1
        except av.error.FFmpegError as exc:
            raise InputError(
                f"{self.info.path}: decoding failed at frame {index} ({exc.strerror or exc}); the file may be corrupt"
            ) from exc


@dataclass(frozen=True)
class SegmentJob:
    input: str
    output: str  # this segment's own file (mp4)
    segment: Segment
    settings: Settings
    detector_factory: Callable[[Settings], Any] | None = None
    threads: int | None = None


def run_segment(job: SegmentJob) -> dict[str, Any]:
    """Redact one segment in this process: decode its window, track, encode only its own frames."""
    from redact.detectors.schedule import detection_stage
    from redact.parallel.worker import job_detectors, job_settings
    from redact.pipeline.threads import Consumer
    from redact.pipeline.video import RunReport, track_video

    started = time.perf_counter()
    settings = job_settings(job.settings, job.threads)
    seg = job.segment
    info = dataclasses.replace(probe(Path(job.input), settings.max_megapixels), frame_count=None)
    detectors = job_detectors(settings, job.detector_factory)
    stage = detection_stage(settings, detectors)
    report = RunReport(job.input, job.output, settings.to_dict(), info.to_dict())
    own: list[int] = []
    output = Path(job.output)
    with SegmentSource(info, seg) as source, atomic_output(output) as tmp:
        sink = VideoSink(tmp, output, info, [], codec=settings.codec, crf=settings.crf, preset=settings.preset)

        def encode(item: tuple[Frame, Any]) -> None:
            frame, dets = item
            styles.cover(frame.image, dets, settings)
            # from 0, as a whole video would be: containers keep such timestamps exactly
            sink.write_frame(frame.image, frame.pts - seg.start, frame.deep)

        encoder = Consumer(f"redact-segment-{seg.number}", encode, maxsize=8)

        def hand_over(frame: Frame, audio: list, dets: Any) -> None:
            if frame.pts >= seg.start and (seg.end is None or frame.pts < seg.end):
                own.append(frame.pts)
                encoder.submit((frame, dets))

        try:
            track_video(source, stage, settings, hand_over, report)
            encoder.finish()
            sink.close()
        except BaseException:
            encoder.close()
            sink.abort()
            raise
        report.warnings.extend(sink.warnings)
        if len(own) != seg.frames:
            raise OutputError(
                f"{job.input}: segment {seg.number} decoded {len(own)} of its {seg.frames} frames; not joining a video with frames missing"
            )
    return {"report": report.to_dict(), "frames": len(own), "seconds": time.perf_counter() - started}


def join_segments(
    parts: list[tuple[Path, Segment]],
    index: KeyframeIndex,
    original: Path,
    tmp: Path,
    final: Path,
    *,
    audio: bool,
    keep_metadata: bool,
) -> None:
    """Concatenate the segments' video packets, add the original's audio once.

    Each part starts at time 0; its packets are moved to their segment's start, and every
    frame must land exactly on a frame time of the input, each once, or nothing is written.
    """
    fmt = container_format(final)
    options = {"fflags": "+bitexact"}
    if fmt in ("mp4", "mov"):
        options["movflags"] = "+faststart"
    tb = index.time_base
    with contextlib.ExitStack() as stack:
        inputs = [stack.enter_context(av.open(str(p))) for p, _ in parts]
        source = stack.enter_context(_open(original))
        first = inputs[0].streams.video[0]
        for (p, _), c in zip(parts, inputs, strict=True):
            if c.streams.video[0].codec_context.extradata != first.codec_context.extradata:
                raise OutputError(
                    f"{final}: segment {p.name} was encoded with other codec parameters; cannot join without re-encoding"
                )
        out = stack.enter_context(av.open(str(tmp), mode="w", format=fmt, options=options))
        if keep_metadata:
            out.metadata.update(dict(source.metadata))
        video = out.add_stream_from_template(first)
        video.metadata.clear()
        video.time_base = tb
        audio_out = {}
        if audio:
            allowed = AUDIO_COPY[fmt]
            for s in source.streams.audio:
                name = s.codec_context.name
                if allowed and name not in allowed:
                    raise OutputError(
                        f"{final}: audio codec {name} cannot be copied into {fmt}; write .mkv, or run in one pass"
                    )
                a = out.add_stream_from_template(s)
                _set_stream_tags(a, s, keep_metadata)
                audio_out[s.index] = a
        placed: list[list[Fraction]] = [[] for _ in parts]

        def on_grid(t: Fraction, what: str) -> int:
            ticks = t / tb
            if ticks.denominator != 1:
                raise OutputError(f"{final}: a joined {what} time {float(t):.6f}s is off the input's time grid")
            return int(ticks)

        def video_packets() -> Iterator[tuple[Fraction, int, av.Packet]]:
            for n, ((_, seg), c) in enumerate(zip(parts, inputs, strict=True)):
                shift = seg.start * tb
                for packet in c.demux(c.streams.video[0]):
                    if packet.size == 0:
                        continue
                    if packet.pts is None or packet.dts is None:
                        raise OutputError(f"{final}: segment {n} has a packet without timestamps")
                    ptb = packet.time_base
                    pts, dts = packet.pts * ptb + shift, packet.dts * ptb + shift
                    placed[n].append(pts)
                    packet.pts, packet.dts = on_grid(pts, "frame"), on_grid(dts, "decode")
                    packet.time_base = tb
                    yield dts, 0, packet

        def audio_packets() -> Iterator[tuple[Fraction, int, av.Packet]]:
            if not audio_out:
                return
            for packet in source.demux(*[s for s in source.streams.audio if s.index in audio_out]):
                if packet.size == 0 or packet.dts is None:
                    continue
                yield packet.dts * packet.time_base, 1, packet

        try:
            for _, kind, packet in heapq.merge(video_packets(), audio_packets(), key=lambda t: (t[0], t[1])):
                packet.stream = video if kind == 0 else audio_out[packet.stream.index]
                out.mux(packet)
        except av.error.FFmpegError as exc:
            raise OutputError(f"{final}: joining the segments failed ({exc.strerror or exc})") from exc
        for n, ((_, seg), times) in enumerate(zip(parts, placed, strict=True)):
            lo = bisect.bisect_left(index.pts, seg.start)
            hi = bisect.bisect_left(index.pts, seg.end) if seg.end is not None else len(index.pts)
            if sorted(times) != [p * tb for p in index.pts[lo:hi]]:
                raise OutputError(f"{final}: segment {n}'s frames do not fall on the input's frame times; not joining")


def redact_video_segments(
    input_path: Path,
    output_path: Path,
    settings: Settings,
    *,
    jobs: int = 2,
    executor: str | Executor | None = None,
    address: str | None = None,
    overwrite: bool = False,
    detector_factory: Callable[[Settings], Any] | None = None,
    segment_seconds: float | None = None,
    overlap: float | None = None,
):
    """Redact one video in keyframe-aligned segments on ``jobs`` workers; returns a RunReport for the whole.

    A video too short to split, or without packet timestamps, runs in one pass (redact_video).
    """
    from redact.parallel.executors import create_executor
    from redact.pipeline.video import RunReport, redact_video

    started = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    check_output(input_path, output_path, overwrite)
    container_format(output_path)
    info = probe(input_path, settings.max_megapixels)
    index = keyframe_index(input_path)
    overlap = overlap if overlap is not None else max(1.5, settings.hold + 0.25, settings.backfill + 0.25)
    duration = index.seconds(index.pts[-1]) if index else 0.0
    if segment_seconds is None:
        segment_seconds = max(MIN_SEGMENT_SECONDS, duration / max(1, jobs * 2))
    segments = plan_segments(index, segment_seconds, overlap) if index else []
    if len(segments) < 2:
        detectors = detector_factory(settings) if detector_factory is not None else None
        return redact_video(input_path, output_path, settings, overwrite=overwrite, detectors=detectors)

    own_pool = not isinstance(executor, Executor)
    pool = create_executor(executor or "process", jobs=jobs, address=address) if own_pool else executor
    workdir = Path(tempfile.mkdtemp(prefix=f".{output_path.stem}.segments.", dir=output_path.parent))
    try:
        threads = getattr(pool, "worker_threads", None)
        futures = [
            pool.submit(
                run_segment,
                SegmentJob(
                    str(input_path), str(workdir / f"{s.number:05d}.mp4"), s, settings, detector_factory, threads
                ),
            )
            for s in segments
        ]
        wait(futures)
        results = [f.result() for f in futures]  # the first failure is raised; no output is written
        report = RunReport(str(input_path), str(output_path), settings.to_dict(), info.to_dict())
        for r in results:
            part = r["report"]
            report.frames += r["frames"]
            for key in ("detections", "tracks", "detector_calls"):
                for k, v in part[key].items():
                    getattr(report, key)[k] = getattr(report, key).get(k, 0) + v
            report.warnings.extend(w for w in part["warnings"] if w not in report.warnings)
        report.settings["segments"] = len(segments)
        report.settings["overlap"] = overlap
        if report.frames != index.frames:
            raise OutputError(f"{output_path}: redacted {report.frames} frames where the input has {index.frames}")
        if info.other_streams:
            report.warnings.append("dropped streams that can carry identifying data: " + ", ".join(info.other_streams))
        report.truncated = truncation(info, index.frames, index.pts[-1])
        with atomic_output(
            output_path, overwrite
        ) as tmp:  # renamed into place only once the join is complete and checked
            join_segments(
                [(workdir / f"{s.number:05d}.mp4", s) for s in segments],
                index,
                input_path,
                tmp,
                output_path,
                audio=settings.audio,
                keep_metadata=settings.keep_metadata,
            )
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop the workers now, before their folder goes
        if own_pool:
            own_pool = False
            pool.stop()
        raise
    finally:
        if own_pool:
            pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(workdir, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report
