"""The tracker's look-ahead: a few frames held back so a face can be covered before it was found.

The tracker reports each frame as a :class:`TrackStep`: the boxes it covers now, and what it
learnt about earlier frames (new tracks to backfill, gaps to fill between two sightings).
:class:`Lookahead` keeps the last frames, adds those boxes to them, and lets each frame go on
once nothing more can be learnt about it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from redact.boxes import grown
from redact.detections import Detections, Look
from redact.tracking.motion import identity, warp_boxes
from redact.tracking.params import TrackerParams


@dataclass
class BoxBatch:
    """Rows of boxes with their track's id, kind and score; the base of the step records below."""

    ids: np.ndarray
    kinds: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray  # N x 4 float32


@dataclass
class Backfill(BoxBatch):
    """Cover these tracks in the buffered frames before ``frames``, moving back along ``velocity``,
    until ``looks_back`` earlier detector passes have looked at the place (the last one excluded)."""

    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    looks_back: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class Gaps(BoxBatch):
    """Tracks found again after a miss: ``boxes`` at ``start_frames``, ``end_boxes`` at ``end_frame``."""

    start_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    end_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    end_frame: int = 0


@dataclass
class TrackStep:
    current: Detections  # boxes for this frame: detected and guessed
    backfills: list[Backfill] = field(default_factory=list)
    gaps: Gaps | None = None
    looks: list[Look] = field(default_factory=list)  # the detector passes that looked at this frame


@dataclass
class _Entry:
    frame: int
    payload: Any
    parts: list[Detections]
    to_newest: np.ndarray  # transform from this frame's pixels to the newest frame's
    looks: list[Look]


class Lookahead:
    """Holds the last ``frames`` frames so new tracks can be covered before their first detection.

    ``push`` takes a frame's payload and tracker step, and returns the payloads
    (with their final detections) that have left the buffer, oldest first.
    """

    def __init__(self, frames: int, params: TrackerParams | None = None) -> None:
        self.size = frames
        self.params = params or TrackerParams()
        self.entries: deque[_Entry] = deque()
        self.cut_at = -1  # frame index of the last scene cut: backfill stops there

    def push(
        self, frame: int, payload: Any, step: TrackStep, cut: bool = False, camera: np.ndarray | None = None
    ) -> list[tuple[Any, Detections]]:
        if cut:
            self.cut_at = frame
        if camera is not None:
            for entry in self.entries:
                entry.to_newest = camera @ entry.to_newest
        self.entries.append(_Entry(frame, payload, [step.current], identity(), list(step.looks)))
        for batch in step.backfills:
            self._backfill(batch)
        if step.gaps is not None:
            self._fill_gaps(step.gaps)
        out = []
        while len(self.entries) > self.size:
            out.append(self._pop())
        return out

    def flush(self) -> list[tuple[Any, Detections]]:
        out = []
        while self.entries:
            out.append(self._pop())
        return out

    def _pop(self) -> tuple[Any, Detections]:
        entry = self.entries.popleft()
        return entry.payload, Detections.merge(entry.parts)

    def _growth(self, frames: int) -> float:
        p = self.params
        return p.guess_margin + min(p.max_growth, p.growth_per_frame * frames)

    def _backfill(self, batch: Backfill) -> None:
        """Cover the batch's tracks in the buffered frames before each one's anchor frame, newest
        first: where it was first seen, or (once its motion is known) where that motion puts it,
        carried back with the camera, the box growing the further back it goes; each track stops
        at its ``looks_back``-th earlier pass that looked at its place."""
        anchors = {e.frame: e.to_newest for e in self.entries}
        for anchor in np.unique(batch.frames).tolist():
            if anchor not in anchors:
                continue  # it left the buffer, and every frame before it has too
            rows = np.flatnonzero(batch.frames == anchor)
            looked = np.zeros(len(rows), np.int64)
            for entry in reversed(self.entries):
                back = anchor - entry.frame
                if back < 1:
                    continue
                if entry.frame < self.cut_at or back > self.size:
                    break
                boxes = batch.boxes[rows] - batch.velocity[rows] * back
                boxes = warp_boxes(np.linalg.inv(entry.to_newest) @ anchors[anchor], boxes)
                for look in entry.looks:
                    looked += look.sees(batch.kinds[rows], boxes)
                on = looked < batch.looks_back[rows]
                if not on.any():
                    break
                r = rows[on]
                found = Detections(
                    grown(boxes[on], self._growth(back)),
                    batch.scores[r],
                    batch.kinds[r],
                    batch.ids[r],
                    np.ones(len(r), bool),
                )
                entry.parts.append(found.guessed("backfilled"))

    def _fill_gaps(self, gaps: Gaps) -> None:
        """Interpolate between the two ends (both in the newest frame's pixels), carried back to
        each frame of the gap with the camera."""
        for entry in self.entries:
            f = entry.frame
            rows = np.flatnonzero((gaps.start_frames < f) & (f < gaps.end_frame))
            if not len(rows):
                continue
            a = ((f - gaps.start_frames[rows]) / (gaps.end_frame - gaps.start_frames[rows])).astype(np.float32)[:, None]
            boxes = warp_boxes(np.linalg.inv(entry.to_newest), (1 - a) * gaps.boxes[rows] + a * gaps.end_boxes[rows])
            boxes = grown(boxes, self.params.guess_margin)
            found = Detections(boxes, gaps.scores[rows], gaps.kinds[rows], gaps.ids[rows], np.ones(len(rows), bool))
            entry.parts.append(found.guessed("interpolated"))
