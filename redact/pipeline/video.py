"""One pass over a video: decode -> detect -> track -> redact -> encode, overlapped in threads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from av.audio.stream import AudioStream

from redact.audio.edit import AudioEdit, audio_edit
from redact.cover import styles
from redact.detections import KIND_CODES, KINDS, Detections
from redact.detectors.base import Detector
from redact.detectors.schedule import (
    TARGET_KINDS,
    DetectionStage,
    build_detectors,
    detection_stage,
    device_notes,
)
from redact.errors import DetectionsFileError, InputError
from redact.media.outputs import atomic_output, check_output
from redact.media.sink import VideoSink
from redact.media.source import Frame, VideoInfo, VideoSource, probe
from redact.media.timeline import frames_in
from redact.pipeline.threads import Consumer, Producer
from redact.settings import Settings
from redact.tracking.flow import BoxFlow
from redact.tracking.lookahead import Lookahead
from redact.tracking.motion import CameraMotion
from redact.tracking.params import TrackerParams
from redact.tracking.scenecut import CutDetector
from redact.tracking.tracker import Tracker

if TYPE_CHECKING:
    from redact.review.detections_file import Plan

_DONE = object()

#: the stages whose time a report lists (seconds of work in each, summed over its thread)
STAGES = ("decode", "detect", "track", "cover", "encode")

#: called with (frames done, frames expected or None)
ProgressCallback = Callable[[int, int | None], None]
#: called for every frame as it leaves the tracker: (frame, final detections)
FrameCallback = Callable[[Frame, Detections], None]
#: takes every finished frame on to the output: (frame, the audio stored after it, final detections)
FrameHandler = Callable[[Frame, list[av.Packet], Detections], None]


@dataclass
class RunReport:
    input: str
    output: str | None
    settings: dict[str, Any]
    video: dict[str, Any]
    frames: int = 0
    detections: dict[str, int] = field(default_factory=dict)  # detector hits per kind
    tracks: dict[str, int] = field(default_factory=dict)
    covered_frames: int = 0
    detector_calls: dict[str, int] = field(default_factory=dict)  # every detector run per target, coarse ones too
    coarse_detector_calls: dict[str, int] = field(default_factory=dict)  # of those, the quick coarse passes
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    truncated: str | None = None  # why the input looks cut short; its output holds what decoded
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        """Adds the time of the block to ``stage``; each stage is timed in one thread only."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[stage] += time.perf_counter() - started

    def timed_items(self, items: Iterable[Any], stage: str = "decode") -> Iterator[Any]:
        iterator = iter(items)
        while True:
            with self.timing(stage):
                item = next(iterator, _DONE)
            if item is _DONE:
                return
            yield item

    def count_detections(self, found: Detections) -> None:
        for kind, n in zip(*np.unique(found.kinds, return_counts=True)):
            self.detections[KINDS[kind]] = self.detections.get(KINDS[kind], 0) + int(n)

    def close_tracking(self, frames: int, stage: DetectionStage, seen_tracks: set[tuple[int, int]]) -> None:
        """Frames, detector runs and tracks (each kind's real tracks, by id) once a video is tracked."""
        self.frames = frames
        self.detector_calls = {t: n + stage.coarse_calls.get(t, 0) for t, n in stage.calls.items()}
        self.coarse_detector_calls = dict(stage.coarse_calls)
        for kind, tid in seen_tracks:
            if tid >= 0:
                self.tracks[KINDS[kind]] = self.tracks.get(KINDS[kind], 0) + 1

    def add_counts(self, part: Mapping[str, Any]) -> None:
        """Add another report's counts (a segment's, as a dict) to this one's."""
        for key in ("detections", "tracks", "detector_calls", "coarse_detector_calls"):
            counts = getattr(self, key)
            for k, v in part[key].items():
                counts[k] = counts.get(k, 0) + v
        self.warnings.extend(w for w in part["warnings"] if w not in self.warnings)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["fps"] = round(self.fps, 2)
        out["stage_seconds"] = {k: round(v, 3) for k, v in self.stage_seconds.items()}
        return out


def warn_dropped_streams(report: RunReport, info: VideoInfo) -> None:
    """Say which of the input's streams the output leaves out (never copied: they can identify)."""
    if info.other_streams:
        report.warnings.append("dropped streams that can carry identifying data: " + ", ".join(info.other_streams))


def frames_with_audio(items: Iterable[Frame | av.Packet]) -> Iterator[tuple[Frame, list[av.Packet]]]:
    """Each frame with the audio packets stored after it, up to the next frame (audio before the first
    frame goes with the first). A frame's list is complete once the next frame has been yielded."""
    entry: tuple[Frame, list[av.Packet]] | None = None
    early: list[av.Packet] = []
    for item in items:
        if isinstance(item, Frame):
            entry = (item, early if entry is None else [])
            yield entry
        else:
            (entry[1] if entry is not None else early).append(item)


@contextmanager
def decoding(source: VideoSource, report: RunReport) -> Iterator[Iterator[tuple[Frame, list[av.Packet]]]]:
    """Decode in a thread (timed as the decode stage): each frame with the audio stored after it."""
    decoder = Producer("redact-decode", lambda: report.timed_items(source.items()), maxsize=8)
    try:
        yield frames_with_audio(decoder)
    finally:
        decoder.close()


def hold_frames(stage: DetectionStage, seconds: float, frame_rate: Fraction) -> dict[int, int]:
    """The most frames a lost track stays covered while no detector pass looks at it, per kind:
    ``seconds``, and never less than two gaps between runs of its detector (so a scheduled skip
    never uncovers it). A pass that looks and misses it ends it sooner (TrackerParams)."""
    every = stage.every
    return {
        KIND_CODES[TARGET_KINDS.get(t, "face")]: max(frames_in(seconds, frame_rate), 2 * k + 1)
        for t, k in every.items()
    }


class FrameTracker:
    """Detection on its schedule, scene cuts, camera motion, the tracker and its look-ahead, one frame
    at a time: :meth:`push` returns the frames whose final detections are known."""

    def __init__(
        self,
        stage: DetectionStage,
        settings: Settings,
        info: VideoInfo,
        report: RunReport,
        params: TrackerParams | None = None,
    ) -> None:
        rate = info.frame_rate or Fraction(25)
        self.stage, self.report = stage, report
        backfill = max(frames_in(settings.backfill, rate), max(stage.every.values(), default=1))
        params = replace(
            params or TrackerParams(), hold_frames=hold_frames(stage, settings.hold, rate), revive_frames=backfill
        )
        self.tracker = Tracker(params)
        self.lookahead = Lookahead(backfill, params)
        self.cuts = CutDetector(settings.scene_cut)
        self.camera = CameraMotion()
        self.flow = BoxFlow()

    def push(self, frame: Frame, entry: Any) -> list[tuple[Any, Detections]]:
        """Detect and track ``frame``; ``entry`` travels with it to the output."""
        report = self.report
        with report.timing("detect"):
            cut = self.cuts.update(frame.image)
            scan = self.stage.run(frame.index, frame.image, force=cut or frame.index == 0)
        if scan.found is not None:
            report.count_detections(scan.found)
        with report.timing("track"):
            if cut:  # a new shot: no track and no motion carries over
                self.tracker.reset()
                self.camera.reset()
                self.flow.reset()
            moved = self.camera.update(frame.image)
            self.flow.update(frame.image)
            height, width = frame.image.shape[:2]
            step = self.tracker.update(frame.index, scan.found, moved, scan.looks, self.flow, (width, height))
            return self.lookahead.push(frame.index, entry, step, cut=cut, camera=moved)


def track_video(
    source: VideoSource,
    stage: DetectionStage,
    settings: Settings,
    on_frame: FrameHandler,
    report: RunReport,
    on_progress: ProgressCallback | None = None,
    tracker: TrackerParams | None = None,
) -> None:
    """Decode in a thread, detect and track here, and hand each finished frame (with the audio after it) to ``on_frame``."""
    info = source.info
    tracking = FrameTracker(stage, settings, info, report, tracker)
    seen_tracks: set[tuple[int, int]] = set()
    frames = 0

    def emit(finished: list[tuple[Any, Detections]]) -> None:
        for (frame, audio), dets in finished:
            seen_tracks.update(zip(dets.kinds.tolist(), dets.track_ids.tolist()))
            report.covered_frames += bool(len(dets))
            on_frame(frame, audio, dets)

    with decoding(source, report) as entries:
        for entry in entries:
            emit(tracking.push(entry[0], entry))
            frames += 1
            if on_progress is not None:
                on_progress(frames, info.frame_count)
        emit(tracking.lookahead.flush())
    report.close_tracking(frames, stage, seen_tracks)
    if frames == 0:
        raise InputError(f"{info.path}: no video frames could be decoded")
    report.truncated = source.truncation()
    if info.frame_count and frames > info.frame_count:
        report.warnings.append(f"decoded {frames} frames where the container lists {info.frame_count}")


def replay_video(
    source: VideoSource,
    plan: Plan,
    on_frame: FrameHandler,
    report: RunReport,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Cover exactly what a reviewed detections file says, frame by frame; no detector runs."""
    info = source.info
    held: tuple[Frame, list[av.Packet], Detections] | None = None  # sent on once its audio is all read
    frames = 0
    with decoding(source, report) as entries:
        for frame, audio in entries:
            if frame.index >= plan.frame_count or plan.pts[frame.index] != frame.pts:
                raise DetectionsFileError(
                    f"detections file: frame {frame.index} of the video does not match the file (another cut of the video?)"
                )
            if held is not None:
                on_frame(*held)
            dets = plan.detections(frame.index, info.width, info.height)
            report.covered_frames += bool(len(dets))
            held = (frame, audio, dets)
            frames += 1
            if on_progress is not None:
                on_progress(frames, plan.frame_count)
        if held is not None:
            on_frame(*held)
    report.frames = frames
    if frames != plan.frame_count:
        raise DetectionsFileError(f"detections file lists {plan.frame_count} frames; the video has {frames}")


@contextmanager
def encoding(
    output_path: Path,
    info: VideoInfo,
    settings: Settings,
    report: RunReport,
    *,
    overwrite: bool = True,
    audio_streams: Sequence[AudioStream] = (),
    source_tags: Mapping[str, str] | None = None,
    pts_offset: int = 0,
    thread: str = "redact-encode",
    audio_edit: AudioEdit | None = None,
) -> Iterator[FrameHandler]:
    """Everything after tracking, for one output file: yields the handler that covers and encodes a
    frame (in an encoder thread) and writes its audio. The file appears at ``output_path`` only when
    the block succeeds; the sink's warnings join ``report``. ``pts_offset`` is taken off every frame's
    timestamp (a segment starts at 0, as a whole video would)."""
    with atomic_output(output_path, overwrite) as tmp:
        with VideoSink(
            tmp,
            output_path,
            info,
            audio_streams,
            codec=settings.codec,
            crf=settings.crf,
            preset=settings.preset,
            keep_metadata=settings.keep_metadata,
            source_metadata=source_tags,
            audio_edit=audio_edit,
        ) as sink:

            def encode(job: tuple[Frame, list[av.Packet], Detections]) -> None:
                frame, audio, dets = job
                with report.timing("cover"):
                    styles.cover(frame.image, dets, settings)
                with report.timing("encode"):
                    sink.write_frame(frame.image, frame.pts - pts_offset, frame.deep)
                    for packet in audio:
                        sink.write_audio(packet)

            with Consumer(thread, encode, maxsize=8) as encoder:
                yield lambda frame, audio, dets: encoder.submit((frame, audio, dets))
        report.warnings.extend(sink.warnings)


def redact_video(
    input_path: Path,
    output_path: Path,
    settings: Settings,
    *,
    overwrite: bool = False,
    detectors: Mapping[str, Detector] | None = None,
    on_progress: ProgressCallback | None = None,
    on_frame: FrameCallback | None = None,
    plan: Plan | None = None,
    tracker: TrackerParams | None = None,
    mute: Sequence[tuple[float, float]] = (),
) -> RunReport:
    """Redact one video file into ``output_path``; nothing is left at that path unless the whole video succeeded.

    With ``plan`` (a loaded detections file) the regions come from it and no detector runs.
    ``tracker`` tunes the tracker (its hold comes from ``settings``). ``mute`` (seconds from the first
    frame, with the plan's own) are silenced in every audio track.
    """
    started = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    check_output(input_path, output_path, overwrite)
    info = probe(input_path, settings.max_megapixels)
    report = RunReport(str(input_path), str(output_path), settings.to_dict(), info.to_dict())
    stage = None if plan is not None else scheduled_stage(settings, detectors, report)
    warn_dropped_streams(report, info)
    mute = [*mute, *(plan.mute if plan is not None else ())]
    with (
        VideoSource(info, audio=settings.audio != "drop") as source,
        encoding(
            output_path,
            info,
            settings,
            report,
            overwrite=overwrite,
            audio_streams=source.audio_streams,
            source_tags=dict(source.container.metadata),
            audio_edit=run_audio_edit(settings, info, mute),
        ) as encode,
    ):
        report.warnings.extend(audio_notes(settings, info, len(source.container.streams.audio), mute))
        hand_over = with_frame_callback(encode, on_frame)
        if stage is not None:
            track_video(source, stage, settings, hand_over, report, on_progress, tracker)
        elif plan is not None:
            replay_video(source, plan, hand_over, report, on_progress)
    report.seconds = time.perf_counter() - started
    return report


def run_audio_edit(settings: Settings, info: VideoInfo, mute: Sequence[tuple[float, float]]) -> AudioEdit:
    """What this run does to the sound (a disguise draws its parameters here, once per run)."""
    return audio_edit(settings.audio, mute, settings.mute_style, info.start)


def audio_notes(
    settings: Settings, info: VideoInfo, audio_tracks: int, mute: Sequence[tuple[float, float]]
) -> list[str]:
    """What the user asked of the sound that this input makes moot (a silent no-op reads as done)."""
    if settings.audio == "drop":
        return ["--audio drop left every audio track out; the mute ranges had nothing to silence"] if mute else []
    if not audio_tracks and (settings.audio == "disguise" or mute):
        return ["the input has no audio track: there was no voice to disguise or mute"]
    end = float(info.duration) if info.duration is not None else None
    late = [f"{a:g}-{b:g}" for a, b in mute if end is not None and a >= end]
    if late:
        return [f"mute range(s) {', '.join(late)} s start after the video's end ({end:.2f} s): nothing muted there"]
    return []


def scheduled_stage(settings: Settings, detectors: Mapping[str, Detector] | None, report: RunReport) -> DetectionStage:
    """The detection stage with its schedule, which the report's settings record."""
    detectors = dict(detectors) if detectors is not None else build_detectors(settings)
    stage = detection_stage(settings, detectors)
    report.warnings.extend(device_notes(detectors))
    report.settings["every"] = dict(stage.every)
    report.settings["coarse_every"] = dict(stage.coarse)
    return stage


def with_frame_callback(hand_over: FrameHandler, on_frame: FrameCallback | None) -> FrameHandler:
    """``hand_over``, telling ``on_frame`` (when given) of each frame first."""
    if on_frame is None:
        return hand_over

    def both(frame: Frame, audio: list[av.Packet], dets: Detections) -> None:
        on_frame(frame, dets)
        hand_over(frame, audio, dets)

    return both


def detect_video(
    input_path: Path,
    settings: Settings,
    *,
    detectors: Mapping[str, Detector] | None = None,
    on_progress: ProgressCallback | None = None,
    on_frame: FrameCallback | None = None,
) -> tuple[RunReport, VideoInfo]:
    """Detect and track without writing a video (for the detections file and previews)."""
    started = time.perf_counter()
    info = probe(Path(input_path))
    report = RunReport(str(input_path), None, settings.to_dict(), info.to_dict())
    stage = scheduled_stage(settings, detectors, report)
    with VideoSource(info, audio=False) as source:
        track_video(source, stage, settings, with_frame_callback(lambda *_: None, on_frame), report, on_progress)
    report.seconds = time.perf_counter() - started
    return report, info
