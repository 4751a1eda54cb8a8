"""Previews for review: a contact sheet of frames sampled over the video, and a small video, boxes drawn."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2

from redact.media.outputs import atomic_output
from redact.media.sink import VideoSink
from redact.media.source import VideoInfo, VideoSource
from redact.review.contact import Tile, contact_sheet, draw_boxes, sample_indices
from redact.review.detections_file import Plan


def preview_sheet(info: VideoInfo, plan: Plan, path: Path, frames: int = 16, columns: int = 4) -> Path:
    wanted = set(sample_indices(plan.frame_count, frames))
    tiles: list[Tile] = []
    with VideoSource(info, audio=False) as source:
        for frame in source.video_frames():
            if frame.index in wanted:
                dets = plan.detections(frame.index, info.width, info.height)
                seconds = frame.seconds(info.time_base)
                tiles.append(Tile(frame.image, dets, f"frame {frame.index}  {seconds:.2f}s  {len(dets)} box(es)"))
    return contact_sheet(tiles, path, columns=columns)


def preview_video(info: VideoInfo, plan: Plan, path: Path, width: int = 640) -> Path:
    """A small H.264 copy with boxes drawn (not redacted: for the reviewer's eyes only)."""
    scale = min(1.0, width / info.width)
    w, h = max(2, round(info.width * scale) // 2 * 2), max(2, round(info.height * scale) // 2 * 2)
    small = replace(info, width=w, height=h)
    with (
        atomic_output(path) as tmp,
        VideoSource(info, audio=False) as source,
        VideoSink(tmp, path, small, [], crf=26, preset="veryfast") as sink,
    ):
        for frame in source.video_frames():
            image = cv2.resize(frame.image, (w, h), interpolation=cv2.INTER_AREA)
            image = draw_boxes(image, plan.detections(frame.index, info.width, info.height), w / info.width)
            sink.write_frame(image, frame.pts)
    return path
