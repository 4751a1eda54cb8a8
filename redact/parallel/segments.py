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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, wait
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.container import InputContainer, OutputContainer
from av.video.stream import VideoStream

from redact.audio.edit import AudioEdit
from redact.detectors.schedule import detection_stage
from redact.errors import InputError, OutputError
from redact.media.mux import (
    AudioOut,
    add_audio,
    audio_copyable,
    container_format,
    open_output,
    set_container_tags,
    set_stream_tags,
)
from redact.media.outputs import atomic_output, check_output
from redact.media.source import Frame, VideoInfo, VideoSource, Window, main_video_stream, open_input, probe, truncation
from redact.media.timeline import Timeline, to_pts
from redact.parallel.executors import WorkerPool
from redact.parallel.worker import job_detectors, job_settings
from redact.pipeline.video import (
    RunReport,
    audio_notes,
    encoding,
    redact_video,
    run_audio_edit,
    track_video,
    warn_dropped_streams,
)
from redact.settings import Settings

#: a segment is never made shorter than this (seconds): shorter ones cost more in overlap than they gain
MIN_SEGMENT_SECONDS = 4.0


@dataclass(frozen=True)
class KeyframeIndex:
    timeline: Timeline  # every video packet's pts, sorted (display order)
    keyframes: tuple[int, ...]  # pts of the keyframes, sorted

    @property
    def pts(self) -> Sequence[int]:
        return self.timeline.pts

    @property
    def time_base(self) -> Fraction:
        return self.timeline.time_base

    @property
    def frames(self) -> int:
        return len(self.timeline)

    def seconds(self, pts: int) -> float:
        """Seconds from the first frame."""
        return self.timeline.seconds(pts)

    def frames_between(self, start: int, end: int | None) -> range:
        """Positions of the frames with ``start <= pts < end`` (None: to the end)."""
        hi = bisect.bisect_left(self.pts, end) if end is not None else len(self.pts)
        return range(bisect.bisect_left(self.pts, start), hi)


def keyframe_index(path: Path) -> KeyframeIndex | None:
    """Packet timestamps and keyframes of the first video stream, read without decoding.

    None when the packets carry no timestamps (some AVI and raw streams): such a video
    cannot be split by time and runs in one pass.
    """
    pts: list[int] = []
    keys: list[int] = []
    with open_input(Path(path)) as container:
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
        time_base = stream.time_base
    if not pts or not keys or time_base is None:
        return None
    return KeyframeIndex(Timeline(tuple(sorted(pts)), Fraction(time_base)), tuple(sorted(set(keys))))


@dataclass(frozen=True)
class Segment:
    number: int
    start: int  # pts of its first frame (a keyframe)
    end: int | None  # pts where the next segment starts; None for the last
    read_from: int  # pts to seek to (a keyframe at or before start - overlap)
    read_to: int | None  # decode up to this pts (end + overlap); None: to the end
    first_index: int  # index in the whole video of the first frame read
    frames: int  # frames of its own (between start and end)

    @property
    def window(self) -> Window:
        """What its worker decodes: the segment and the overlap around it."""
        return Window(self.read_from, self.read_to, self.first_index)

    def owns(self, pts: int) -> bool:
        """Whether the frame at ``pts`` is one of the segment's own (encoded by it)."""
        return pts >= self.start and (self.end is None or pts < self.end)


def segment_starts(index: KeyframeIndex, segment_seconds: float) -> list[int]:
    """The first pts of each segment: keyframes about ``segment_seconds`` apart."""
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
    return starts


def plan_segments(index: KeyframeIndex, segment_seconds: float, overlap: float) -> list[Segment]:
    """Keyframe-aligned segments of about ``segment_seconds``, each with its read window."""
    starts = segment_starts(index, segment_seconds)
    over = to_pts(overlap, index.time_base)
    segments = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else None
        before = [k for k in index.keyframes if k <= start - over]
        read_from = before[-1] if (n > 0 and before) else index.pts[0]
        read_to = end + over if end is not None else None
        first = bisect.bisect_left(index.pts, read_from)
        segments.append(Segment(n, start, end, read_from, read_to, first, len(index.frames_between(start, end))))
    return segments


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
    started = time.perf_counter()
    settings = job_settings(job.settings, job.threads)
    seg = job.segment
    info = dataclasses.replace(probe(Path(job.input), settings.max_megapixels), frame_count=None)
    stage = detection_stage(settings, job_detectors(settings, job.detector_factory))
    report = RunReport(job.input, job.output, settings.to_dict(), info.to_dict())
    own: list[int] = []
    with (
        VideoSource(info, audio=False, window=seg.window) as source,
        # from 0, as a whole video would be: containers keep such timestamps exactly
        encoding(
            Path(job.output), info, settings, report, pts_offset=seg.start, thread=f"redact-segment-{seg.number}"
        ) as encode,
    ):

        def hand_over(frame: Frame, audio: list[av.Packet], dets: Any) -> None:
            if seg.owns(frame.pts):
                own.append(frame.pts)
                encode(frame, audio, dets)

        track_video(source, stage, settings, hand_over, report)
        if len(own) != seg.frames:
            raise OutputError(
                f"{job.input}: segment {seg.number} decoded {len(own)} of its {seg.frames} frames; not joining a video with frames missing"
            )
    return {"report": report.to_dict(), "frames": len(own), "seconds": time.perf_counter() - started}


#: a packet on its way into the joined file: (decode time in seconds, 0 video / 1 audio, the packet)
Timed = tuple[Fraction, int, av.Packet]


def join_segments(
    parts: list[tuple[Path, Segment]],
    index: KeyframeIndex,
    original: Path,
    tmp: Path,
    final: Path,
    *,
    audio: bool,
    keep_metadata: bool,
    audio_edit: AudioEdit | None = None,
) -> None:
    """Concatenate the segments' video packets, add the original's audio once (copied, or through
    ``audio_edit``: disguised, muted).

    Each part starts at time 0; its packets are moved to their segment's start, and every
    frame must land exactly on a frame time of the input, each once, or nothing is written.
    """
    with contextlib.ExitStack() as stack:
        inputs = [stack.enter_context(av.open(str(p))) for p, _ in parts]
        source = stack.enter_context(open_input(original))
        first = _same_encoding(parts, inputs, final)
        out, fmt = open_output(tmp, final)
        stack.enter_context(out)
        set_container_tags(out, source.metadata, keep_metadata)
        video = out.add_stream_from_template(first)
        set_stream_tags(video, {}, keep_metadata)  # the video stream carries no tags, as in one pass
        video.time_base = index.time_base
        audio_out = _joined_audio(out, fmt, source, final, keep_metadata, audio_edit) if audio else {}
        placed: list[list[Fraction]] = [[] for _ in parts]
        videos = _video_packets(parts, inputs, index.time_base, final, placed)
        audios = _audio_packets(source, audio_out)
        try:
            for _, kind, packet in heapq.merge(videos, audios, key=lambda t: (t[0], t[1])):
                if kind == 0:
                    packet.stream = video
                out.mux(packet)
            for audio_stream in audio_out.values():
                out.mux(audio_stream.flush())
        except av.error.FFmpegError as exc:
            raise OutputError(f"{final}: joining the segments failed ({exc.strerror or exc})") from exc
        _check_frame_times(parts, placed, index, final)


def _same_encoding(parts: list[tuple[Path, Segment]], inputs: list[InputContainer], final: Path) -> VideoStream:
    """The first part's video stream, once every part is known to share its codec parameters."""
    first = inputs[0].streams.video[0]
    for (p, _), c in zip(parts, inputs, strict=True):
        if c.streams.video[0].codec_context.extradata != first.codec_context.extradata:
            raise OutputError(
                f"{final}: segment {p.name} was encoded with other codec parameters; cannot join without re-encoding"
            )
    return first


def _joined_audio(
    out: OutputContainer,
    fmt: str,
    source: InputContainer,
    final: Path,
    keep_metadata: bool,
    edit: AudioEdit | None,
) -> dict[int, AudioOut]:
    """An output stream for each of the original's audio streams: copies, or edited (disguised, muted)."""
    streams = {}
    for s in source.streams.audio:
        changes = edit is not None and edit.changes_sound
        if not changes and not audio_copyable(fmt, s.codec_context.name):
            raise OutputError(
                f"{final}: audio codec {s.codec_context.name} cannot be copied into {fmt}; write .mkv, or run in one pass"
            )
        streams[s.index] = add_audio(out, fmt, s, keep_metadata, edit)[0]
    return streams


def _on_grid(t: Fraction, time_base: Fraction, what: str, final: Path) -> int:
    ticks = t / time_base
    if ticks.denominator != 1:
        raise OutputError(f"{final}: a joined {what} time {float(t):.6f}s is off the input's time grid")
    return int(ticks)


def _video_packets(
    parts: list[tuple[Path, Segment]],
    inputs: list[InputContainer],
    time_base: Fraction,
    final: Path,
    placed: list[list[Fraction]],
) -> Iterator[Timed]:
    """Every part's video packets moved to its segment's start, in order; each frame's time goes to ``placed``."""
    for n, ((_, seg), c) in enumerate(zip(parts, inputs, strict=True)):
        shift = seg.start * time_base
        for packet in c.demux(c.streams.video[0]):
            if packet.size == 0:
                continue
            if packet.pts is None or packet.dts is None:
                raise OutputError(f"{final}: segment {n} has a packet without timestamps")
            ptb = packet.time_base
            pts, dts = packet.pts * ptb + shift, packet.dts * ptb + shift
            placed[n].append(pts)
            packet.pts, packet.dts = _on_grid(pts, time_base, "frame", final), _on_grid(dts, time_base, "decode", final)
            packet.time_base = time_base
            yield dts, 0, packet


def _audio_packets(source: InputContainer, streams: dict[int, AudioOut]) -> Iterator[Timed]:
    """The output's audio packets (copied or edited), each with its decode time, in order."""
    if not streams:
        return
    for packet in source.demux(*[s for s in source.streams.audio if s.index in streams]):
        if packet.size == 0 or packet.dts is None:
            continue
        for written in streams[packet.stream.index].packets(packet):
            yield (written.dts or 0) * written.time_base, 1, written


def _check_frame_times(
    parts: list[tuple[Path, Segment]], placed: list[list[Fraction]], index: KeyframeIndex, final: Path
) -> None:
    """Every segment's frames landed on the input's frame times, each once."""
    for n, ((_, seg), times) in enumerate(zip(parts, placed, strict=True)):
        expected = [index.pts[i] * index.time_base for i in index.frames_between(seg.start, seg.end)]
        if sorted(times) != expected:
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
    mute: Sequence[tuple[float, float]] = (),
) -> RunReport:
    """Redact one video in keyframe-aligned segments on ``jobs`` workers; returns a RunReport for the whole.

    A video too short to split, or without packet timestamps, runs in one pass (redact_video). The
    audio (disguised and ``mute`` silenced as asked) is written once, by the join.
    """
    started = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    check_output(input_path, output_path, overwrite)
    container_format(output_path)
    info = probe(input_path, settings.max_megapixels)
    index = keyframe_index(input_path)
    overlap = overlap if overlap is not None else max(1.5, settings.hold + 0.25, settings.backfill + 0.25)
    segments = _split(index, jobs, segment_seconds, overlap) if index is not None else []
    if index is None or len(segments) < 2:
        detectors = detector_factory(settings) if detector_factory is not None else None
        whole = redact_video(input_path, output_path, settings, overwrite=overwrite, detectors=detectors, mute=mute)
        why = "its packets carry no timestamps" if index is None else "it is too short to split"
        whole.warnings.append(f"ran in one pass, not {jobs} jobs: {why}")
        return whole
    with (
        _workdir(output_path) as workdir,
        WorkerPool(executor or "process", jobs=jobs, address=address).running() as pool,
    ):
        parts = [(workdir / f"{s.number:05d}.mp4", s) for s in segments]
        threads = getattr(pool, "worker_threads", None)
        work = [SegmentJob(str(input_path), str(p), s, settings, detector_factory, threads) for p, s in parts]
        futures = [pool.submit(run_segment, job) for job in work]
        wait(futures)
        results = [f.result() for f in futures]  # the first failure is raised; no output is written
        report = _whole_report(input_path, output_path, settings, info, index, results)
        report.settings.update(segments=len(segments), overlap=overlap)
        with atomic_output(output_path, overwrite) as tmp:  # in place only once the join is complete and checked
            join_segments(
                parts,
                index,
                input_path,
                tmp,
                output_path,
                audio=settings.audio != "drop",
                keep_metadata=settings.keep_metadata,
                audio_edit=run_audio_edit(settings, info, mute),
            )
    with av.open(str(input_path)) as container:
        report.warnings.extend(audio_notes(settings, info, len(container.streams.audio), mute))
    report.seconds = time.perf_counter() - started
    return report


def _split(index: KeyframeIndex, jobs: int, segment_seconds: float | None, overlap: float) -> list[Segment]:
    """The segments for ``jobs`` workers: two each by default, none under MIN_SEGMENT_SECONDS."""
    if segment_seconds is None:
        segment_seconds = max(MIN_SEGMENT_SECONDS, index.seconds(index.pts[-1]) / max(1, jobs * 2))
    return plan_segments(index, segment_seconds, overlap)


def _whole_report(
    input_path: Path,
    output_path: Path,
    settings: Settings,
    info: VideoInfo,
    index: KeyframeIndex,
    results: list[dict[str, Any]],
) -> RunReport:
    """One report for the whole video from its segments' reports; every frame must be accounted for."""
    report = RunReport(str(input_path), str(output_path), settings.to_dict(), info.to_dict())
    for r in results:
        report.frames += r["frames"]
        report.add_counts(r["report"])
    if report.frames != index.frames:
        raise OutputError(f"{output_path}: redacted {report.frames} frames where the input has {index.frames}")
    warn_dropped_streams(report, info)
    report.truncated = truncation(info, index.frames, index.pts[-1])
    return report


@contextlib.contextmanager
def _workdir(output_path: Path) -> Iterator[Path]:
    """A hidden folder beside the output for the segments' files, removed afterwards whatever happens."""
    workdir = Path(tempfile.mkdtemp(prefix=f".{output_path.stem}.segments.", dir=output_path.parent))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
