"""Tracking for redaction: every detection is covered from its first frame, tracks outlive misses.

Unlike trackers built for counting (which hide a track until it is confirmed),
this one never withholds a box: a new detection is covered at once, and also in
the frames before it (backfill, done by :class:`Lookahead`); a track that the
detector loses keeps being covered where its motion says it went, growing with
the uncertainty, for ``hold`` frames; when it is found again the frames in
between get the interpolated box as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from redact.detections import Detections

GROWTH_PER_FRAME = 0.03  # share of the box size added per side for each frame of guessing
MAX_GROWTH = 0.5
VELOCITY_DAMPING = 0.92
SECOND_CHANCE_SIZES = 1.5  # leftover detections may link to a track up to this many box sizes away per frame  # per predicted frame: a lost face is more likely to stop than to fly off


@dataclass
class Track:
    id: int
    kind: int
    box: np.ndarray  # current estimate, float x1 y1 x2 y2
    velocity: np.ndarray  # centre motion per frame, as [vx, vy, vx, vy] so a shifted box stays valid
    last_box: np.ndarray  # where it was last detected
    last_frame: int
    score: float
    birth_frame: int = 0
    birth_box: np.ndarray | None = None
    matched_once: bool = False


@dataclass
class Gap:
    track_id: int
    kind: int
    score: float
    start_frame: int  # last detection before the gap
    start_box: np.ndarray
    end_frame: int  # the detection that ended it
    end_box: np.ndarray


@dataclass
class TrackStep:
    current: Detections  # boxes for this frame: detected and predicted
    new_tracks: list[Track] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    # tracks whose motion just became known: their backfill can follow that motion back in time
    first_motion: list[Track] = field(default_factory=list)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)


def _centre_closeness(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 at the same centre, 0 at a distance of one box size; lets small fast boxes match without overlap."""
    ca = (a[:, None, :2] + a[:, None, 2:]) / 2
    cb = (b[None, :, :2] + b[None, :, 2:]) / 2
    size = np.maximum((a[:, None, 2] - a[:, None, 0]) + (a[:, None, 3] - a[:, None, 1]), 2.0) / 2
    dist = np.linalg.norm(ca - cb, axis=2) / size
    return np.clip(1.0 - dist, 0.0, 1.0)


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate([np.minimum(a[:2], b[:2]), np.maximum(a[2:], b[2:])])


def grown(box: np.ndarray, share: float) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    return box + np.array([-w, -h, w, h], dtype=np.float32) * share


class Tracker:
    def __init__(self, hold_frames: dict[int, int], min_match: float = 0.2) -> None:
        self.hold_frames = hold_frames  # per kind code
        self.min_match = min_match
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """A scene cut: nothing carries over to the next shot."""
        self.tracks = []

    def update(self, frame: int, detections: Detections | None) -> TrackStep:
        """Advance to ``frame``; ``detections`` is None when no detector ran on it."""
        for t in self.tracks:
            if t.last_frame < frame:
                t.box = t.box + t.velocity
                t.velocity = t.velocity * VELOCITY_DAMPING
        step = TrackStep(Detections.empty())
        matched_track_ids: dict[int, int] = {}  # detection index -> track id
        if detections is not None and len(detections):
            matched_track_ids = self._associate(frame, detections, step)
        self.tracks = [
            t for t in self.tracks if frame - t.last_frame <= self.hold_frames.get(t.kind, 0)
        ]
        step.current = self._current(frame, detections, matched_track_ids)
        return step

    def _associate(self, frame: int, dets: Detections, step: TrackStep) -> dict[int, int]:
        boxes = dets.boxes
        tracks = self.tracks
        assigned: dict[int, int] = {}
        if tracks:
            tboxes = np.stack([t.box for t in tracks])
            tsize = (tboxes[:, 2] - tboxes[:, 0]) + (tboxes[:, 3] - tboxes[:, 1])
            dsize = (boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])
            ratio = dsize[None, :] / np.maximum(tsize[:, None], 1e-6)
            similar = (ratio >= 0.5) & (ratio <= 2.0)  # a face does not halve or double between detections
            score = np.maximum(iou_matrix(tboxes, boxes), np.where(similar, 0.5 * _centre_closeness(tboxes, boxes), 0.0))
            same_kind = np.array([t.kind for t in tracks])[:, None] == dets.kinds[None, :]
            score = np.where(same_kind, score, 0.0)
            used_t: set[int] = set()
            for flat in np.argsort(-score, axis=None):
                ti, di = divmod(int(flat), len(boxes))
                if score[ti, di] < self.min_match:
                    break
                if ti in used_t or di in assigned:
                    continue
                used_t.add(ti)
                assigned[di] = tracks[ti].id
                self._matched(tracks[ti], frame, boxes[di], float(dets.scores[di]), step)
            self._second_chance(frame, dets, tracks, used_t, assigned, step)
        for di in range(len(boxes)):
            if di in assigned:
                continue
            track = Track(
                id=self._next_id,
                kind=int(dets.kinds[di]),
                box=boxes[di].copy(),
                velocity=np.zeros(4, dtype=np.float32),
                last_box=boxes[di].copy(),
                last_frame=frame,
                score=float(dets.scores[di]),
                birth_frame=frame,
                birth_box=boxes[di].copy(),
            )
            self._next_id += 1
            self.tracks.append(track)
            step.new_tracks.append(track)
            assigned[di] = track.id
        return assigned

    def _second_chance(
        self, frame: int, dets: Detections, tracks: list[Track], used_t: set[int], assigned: dict[int, int], step: TrackStep
    ) -> None:
        """Link leftovers too far apart to overlap: a fast face seen every k frames moves more than
        its own size between detections. Linking lets the frames between get interpolated boxes;
        a wrong link between two faces only covers more."""
        for di in np.argsort(-dets.scores):
            di = int(di)
            if di in assigned:
                continue
            box = dets.boxes[di]
            best, best_dist = None, np.inf
            for ti, t in enumerate(tracks):
                if ti in used_t or t.kind != int(dets.kinds[di]):
                    continue
                size = max(float((t.last_box[2] - t.last_box[0]) + (t.last_box[3] - t.last_box[1])) / 2, 2.0)
                new_size = float((box[2] - box[0]) + (box[3] - box[1])) / 2
                if not 0.5 <= new_size / size <= 2.0:
                    continue
                dist = float(np.linalg.norm((box[:2] + box[2:]) / 2 - (t.box[:2] + t.box[2:]) / 2)) / size
                if dist < SECOND_CHANCE_SIZES * (frame - t.last_frame) and dist < best_dist:
                    best, best_dist = ti, dist
            if best is not None:
                used_t.add(best)
                assigned[di] = tracks[best].id
                self._matched(tracks[best], frame, box, float(dets.scores[di]), step)

    def _matched(self, track: Track, frame: int, box: np.ndarray, score: float, step: TrackStep) -> None:
        gap = frame - track.last_frame
        if gap > 1:
            step.gaps.append(Gap(track.id, track.kind, track.score, track.last_frame, track.last_box.copy(), frame, box.copy()))
        if gap >= 1:
            shift = ((box[:2] + box[2:]) - (track.last_box[:2] + track.last_box[2:])) / (2 * gap)
            measured = np.tile(shift, 2).astype(np.float32)
            if not track.matched_once:
                track.velocity = measured
                step.first_motion.append(track)
            else:
                track.velocity = 0.5 * track.velocity + 0.5 * measured
            track.matched_once = True
        track.box = box.copy()
        track.last_box = box.copy()
        track.last_frame = frame
        track.score = score

    def _current(self, frame: int, dets: Detections | None, assigned: dict[int, int]) -> Detections:
        parts: list[Detections] = []
        if dets is not None and len(dets):
            ids = np.array([assigned[i] for i in range(len(dets))], dtype=np.int64)
            parts.append(dets.with_track_ids(ids, np.zeros(len(dets), dtype=bool)))
        seen = set(assigned.values())
        predicted = [t for t in self.tracks if t.id not in seen]
        if predicted:
            # Cover both where the motion says it went and where it was last seen: motion can stop
            # or turn (a camera that stops zooming), and a box between is cheap next to a leak.
            boxes = np.stack(
                [
                    grown(_union(t.box, t.last_box), min(MAX_GROWTH, GROWTH_PER_FRAME * (frame - t.last_frame)))
                    for t in predicted
                ]
            )
            parts.append(
                Detections(
                    boxes,
                    [t.score for t in predicted],
                    [t.kind for t in predicted],
                    [t.id for t in predicted],
                    np.ones(len(predicted), dtype=bool),
                )
            )
        return Detections.merge(parts)


class Lookahead:
    """Holds the last few frames so new tracks can be covered before their first detection.

    ``push`` takes a frame's payload and tracker step, and returns the payloads
    (with their final detections) that have left the buffer, oldest first.
    """

    def __init__(self, frames: int) -> None:
        self.size = frames
        self.entries: list[list[Any]] = []  # [frame index, payload, [Detections parts]]
        self.cut_at = -1  # frame index of the last scene cut: backfill stops there

    def push(self, frame: int, payload: Any, step: TrackStep, cut: bool = False) -> list[tuple[Any, Detections]]:
        if cut:
            self.cut_at = frame
        self.entries.append([frame, payload, [step.current]])
        for track in step.new_tracks:
            self._backfill(frame, track)
        for gap in step.gaps:
            self._fill_gap(gap)
        for track in step.first_motion:
            self._backfill(track.birth_frame, track, track.velocity)
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
        _, payload, parts = self.entries.pop(0)
        return payload, Detections.merge(parts)

    def _entry(self, frame: int) -> list[Any] | None:
        if not self.entries:
            return None
        pos = frame - self.entries[0][0]
        if 0 <= pos < len(self.entries) and self.entries[pos][0] == frame:
            return self.entries[pos]
        return None

    def _add(self, frame: int, track_id: int, kind: int, score: float, box: np.ndarray) -> None:
        entry = self._entry(frame)
        if entry is not None:
            entry[2].append(Detections(box[None], [score], [kind], [track_id], [True]))

    def _backfill(self, frame: int, track: Track, velocity: np.ndarray | None = None) -> None:
        """Cover the track in the buffered frames before ``frame``: where it was first seen, or
        (once its motion is known) where that motion puts it; the box grows the further back it goes."""
        start = track.birth_box if track.birth_box is not None else track.box
        for back in range(1, self.size + 1):
            earlier = frame - back
            if earlier < self.cut_at or self._entry(earlier) is None:
                break
            box = start if velocity is None else start - velocity * back
            box = grown(box, min(MAX_GROWTH, GROWTH_PER_FRAME * back))
            self._add(earlier, track.id, track.kind, track.score, box)

    def _fill_gap(self, gap: Gap) -> None:
        span = gap.end_frame - gap.start_frame
        for f in range(gap.start_frame + 1, gap.end_frame):
            a = (f - gap.start_frame) / span
            box = (1 - a) * gap.start_box + a * gap.end_box
            self._add(f, gap.track_id, gap.kind, gap.score, box.astype(np.float32))
