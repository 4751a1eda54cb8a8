"""One pass over a video: decode -> detect -> track -> redact -> encode, overlapped in threads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from redact.cover import styles
from redact.detections import KIND_CODES, KINDS, Detections
from redact.detectors.base import Detector
from redact.detectors.schedule import TARGET_KINDS, DetectionStage, build_detectors, detection_stage
from redact.errors import DetectionsFileError, InputError
from redact.media.outputs import atomic_output, check_output
from redact.media.sink import VideoSink
from redact.media.source import Frame, VideoInfo, VideoSource, probe
from redact.pipeline.threads import Consumer, Producer
from redact.settings import Settings
from redact.tracking.motion import CameraMotion
from redact.tracking.scenecut import CutDetector
from redact.tracking.tracker import Lookahead, Tracker

if TYPE_CHECKING:
    from redact.review.detections_file import Plan

_DONE = object()

#: the stages whose time a report lists (seconds of work in each, summed over its thread)
STAGES = ("decode", "detect", "track", "cover", "encode")

#: called with (frames done, frames expected or None)
ProgressCallback = Callable[[int, int | None], None]
#: called for every frame as it leaves the tracker: (frame, final detections)
FrameCallback = Callable[[Frame, Detections], None]


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
    detector_calls: dict[str, int] = field(default_factory=dict)
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

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["fps"] = round(self.fps, 2)
        out["stage_seconds"] = {k: round(v, 3) for k, v in self.stage_seconds.items()}
        return out


def track_video(
    source: VideoSource,
    stage: DetectionStage,
    settings: Settings,
    on_frame: Callable[[Frame, list[av.Packet], Detections], None],
    report: RunReport,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Decode in a thread, detect and track here, and hand each finished frame (with the audio after it) to ``on_frame``."""
    info = source.info
    fps = float(info.frame_rate) or 25.0
    every = stage.every
    hold = {
        KIND_CODES[TARGET_KINDS.get(t, "face")]: max(round(settings.hold * fps), 2 * k + 1) for t, k in every.items()
    }
    tracker = Tracker(hold)
    lookahead = Lookahead(max(round(settings.backfill * fps), max(every.values(), default=1)))
    cuts = CutDetector(settings.scene_cut)
    camera = CameraMotion()
    decoder = Producer("redact-decode", lambda: report.timed_items(source.items()), maxsize=8)
    seen_tracks: set[tuple[int, int]] = set()
    pending_audio: list[av.Packet] = []
    last_entry: tuple[Frame, list[av.Packet]] | None = None  # audio before the first frame waits for it
    frames = 0

    def emit(finished: list[tuple[Any, Detections]]) -> None:
        for (frame, audio), dets in finished:
            for kind, tid in zip(dets.kinds.tolist(), dets.track_ids.tolist()):
                seen_tracks.add((kind, tid))
            if len(dets):
                report.covered_frames += 1
            on_frame(frame, audio, dets)

    try:
        for item in decoder:
            if isinstance(item, av.Packet):
                (last_entry[1] if last_entry is not None else pending_audio).append(item)
                continue
            frame: Frame = item
            with report.timing("detect"):
                cut = cuts.update(frame.image)
                found = stage.run(frame.index, frame.image, force=cut or frame.index == 0)
            if found is not None:
                for kind, n in zip(*np.unique(found.kinds, return_counts=True)):
                    report.detections[KINDS[kind]] = report.detections.get(KINDS[kind], 0) + int(n)
            # audio read after this frame (until the next one) is written right after it
            last_entry = (frame, pending_audio)
            pending_audio = []
            with report.timing("track"):
                moved = camera.update(frame.image)
                if cut:
                    tracker.reset()
                    moved = None  # a new shot: no motion carries over
                step = tracker.update(frame.index, found, moved)
                finished = lookahead.push(frame.index, last_entry, step, cut=cut, camera=moved)
            emit(finished)
            frames += 1
            if on_progress is not None:
                on_progress(frames, info.frame_count)
        emit(lookahead.flush())
    finally:
        decoder.close()
    report.frames = frames
    report.detector_calls = dict(stage.calls)
    for kind, tid in seen_tracks:
        if tid >= 0:
            name = KINDS[kind]
            report.tracks[name] = report.tracks.get(name, 0) + 1
    if frames == 0:
        raise InputError(f"{info.path}: no video frames could be decoded")
    report.truncated = source.truncation()
    if info.frame_count and frames > info.frame_count:
        report.warnings.append(f"decoded {frames} frames where the container lists {info.frame_count}")


def replay_video(
    source: VideoSource,
    plan: Plan,
    on_frame: Callable[[Frame, list[av.Packet], Detections], None],
    report: RunReport,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Cover exactly what a reviewed detections file says, frame by frame; no detector runs."""
    info = source.info
    decoder = Producer("redact-decode", lambda: report.timed_items(source.items()), maxsize=8)
    pending: list[av.Packet] = []
    held: tuple[Frame, list[av.Packet], Detections] | None = None  # audio after a frame joins it
    frames = 0
    try:
        for item in decoder:
            if isinstance(item, av.Packet):
                (held[1] if held is not None else pending).append(item)
                continue
            if item.index >= plan.frame_count or plan.pts[item.index] != item.pts:
                raise DetectionsFileError(
                    f"detections file: frame {item.index} of the video does not match the file (another cut of the video?)"
                )
            if held is not None:
                on_frame(*held)
            dets = plan.detections(item.index, info.width, info.height)
            report.covered_frames += bool(len(dets))
            held, pending = (item, pending, dets), []
            frames += 1
            if on_progress is not None:
                on_progress(frames, plan.frame_count)
        if held is not None:
            on_frame(*held)
    finally:
        decoder.close()
    report.frames = frames
    if frames != plan.frame_count:
        raise DetectionsFileError(f"detections file lists {plan.frame_count} frames; the video has {frames}")


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
) -> RunReport:
    """Redact one video file into ``output_path``; nothing is left at that path unless the whole video succeeded.

    With ``plan`` (a loaded detections file) the regions come from it and no detector runs.
    """
    started = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    check_output(input_path, output_path, overwrite)
    info = probe(input_path, settings.max_megapixels)
    report = RunReport(str(input_path), str(output_path), settings.to_dict(), info.to_dict())
    stage = None
    if plan is None:
        detectors = dict(detectors) if detectors is not None else build_detectors(settings)
        stage = detection_stage(settings, detectors)
        report.settings["every"] = dict(stage.every)
        report.settings["coarse_every"] = dict(stage.coarse)
    if info.other_streams:
        report.warnings.append("dropped streams that can carry identifying data: " + ", ".join(info.other_streams))
    with VideoSource(info, audio=settings.audio) as source, atomic_output(output_path, overwrite) as tmp:
        container_tags = dict(source.container.metadata)
        sink = VideoSink(
            tmp,
            output_path,
            info,
            source.audio_streams,
            codec=settings.codec,
            crf=settings.crf,
            preset=settings.preset,
            keep_metadata=settings.keep_metadata,
            source_metadata=container_tags,
        )

        def encode(job: tuple[Frame, list[av.Packet], Detections]) -> None:
            frame, audio, dets = job
            with report.timing("cover"):
                styles.cover(frame.image, dets, settings)
            with report.timing("encode"):
                sink.write_frame(frame.image, frame.pts, frame.deep)
                for packet in audio:
                    sink.write_audio(packet)

        encoder = Consumer("redact-encode", encode, maxsize=8)

        def hand_over(frame: Frame, audio: list[av.Packet], dets: Detections) -> None:
            if on_frame is not None:
                on_frame(frame, dets)
            encoder.submit((frame, audio, dets))

        try:
            if stage is not None:
                track_video(source, stage, settings, hand_over, report, on_progress)
            else:
                replay_video(source, plan, hand_over, report, on_progress)
            encoder.finish()
            sink.close()
        except BaseException:
            encoder.close()
            sink.abort()
            raise
        report.warnings.extend(sink.warnings)
    report.seconds = time.perf_counter() - started
    return report


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
    detectors = dict(detectors) if detectors is not None else build_detectors(settings)
    stage = detection_stage(settings, detectors)
    report = RunReport(str(input_path), None, settings.to_dict(), info.to_dict())
    report.settings["every"] = dict(stage.every)
    report.settings["coarse_every"] = dict(stage.coarse)

    def record(frame: Frame, audio: list[av.Packet], dets: Detections) -> None:
        if on_frame is not None:
            on_frame(frame, dets)

    with VideoSource(info, audio=False) as source:
        track_video(source, stage, settings, record, report, on_progress)
    report.seconds = time.perf_counter() - started
    return report, info
