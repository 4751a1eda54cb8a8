"""Tracking for redaction: every detection is covered from its first frame, tracks outlive misses.

Unlike trackers built for counting (which hide a track until it is confirmed),
this one never withholds a box: a new detection is covered at once, and also in
the frames before it (backfill, done by :class:`Lookahead`); a track that the
detector loses keeps being covered where its motion says it went, growing with
the uncertainty, for ``hold`` frames; when it is found again the frames in
between get the interpolated box as well.

Every step works on arrays of all tracks at once, and association only scores
pairs that are near each other (:func:`near_pairs`), so the cost of a frame grows
with the number of faces, not with its square: a crowd of 600 costs 60 times a
crowd of 10.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from redact.boxes import centres, grown, iou, sizes
from redact.detections import KINDS, Detections
from redact.tracking.motion import identity, warp_boxes

GROWTH_PER_FRAME = 0.03  # share of the box size added per side for each frame of guessing
MAX_GROWTH = 0.5
VELOCITY_DAMPING = 0.92  # per predicted frame: a lost face is more likely to stop than to fly off
# Leftover detections may link to a lost track up to this many box sizes away per frame since
# it was last seen, and never more than MAX_LINK_SIZES: further than that, in a crowd, the
# nearest lost track is another person, and a wrong link smears a box across the crowd.
SECOND_CHANCE_SIZES = 1.5
MAX_LINK_SIZES = 9.0
# a link further than this (box sizes from the lost track's predicted place) keeps that place covered
STAY_BEYOND_SIZES = 2.0
# a lost face's guessed region spans where it was last seen and where its motion puts it, up to
# this many face sizes across; further apart, the two places are covered on their own
SPAN_SIZES = 2.0


@dataclass
class BoxBatch:
    """Rows of boxes with their track's id, kind and score; the base of the step records below."""

    ids: np.ndarray
    kinds: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray  # N x 4 float32


@dataclass
class Backfill(BoxBatch):
    """Cover these tracks in the buffered frames before ``frames``, moving back along ``velocity``."""

    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))


@dataclass
class Gaps(BoxBatch):
    """Tracks found again after a miss: ``boxes`` at ``start_frames``, ``end_boxes`` at ``end_frame``."""

    start_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    end_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    end_frame: int = 0


@dataclass
class TrackStep:
    current: Detections  # boxes for this frame: detected and predicted
    backfills: list[Backfill] = field(default_factory=list)
    gaps: Gaps | None = None


def near_pairs(a_xy: np.ndarray, reach: np.ndarray, b_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with point b_j within ``reach[i]`` of a_i along both axes.

    Sorting b by x and cutting one window per a keeps the work proportional to the
    number of points plus the pairs found, not to len(a) x len(b)."""
    if not len(a_xy) or not len(b_xy):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(b_xy[:, 0], kind="stable")
    bx = b_xy[order, 0]
    lo = np.searchsorted(bx, a_xy[:, 0] - reach, side="left")
    hi = np.searchsorted(bx, a_xy[:, 0] + reach, side="right")
    counts = hi - lo
    rows = np.repeat(np.arange(len(a_xy)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = order[np.repeat(lo, counts) + offsets]
    close = np.abs(a_xy[rows, 1] - b_xy[cols, 1]) <= reach[rows]
    return rows[close], cols[close]


def greedy_match(rows: np.ndarray, cols: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs taken best score first, each row and column at most once (the greedy assignment).

    Each round takes every pair that is the best left for both its row and its column; those
    are exactly the pairs a one-by-one greedy pass would take next, so rounds are few."""
    order = np.argsort(-score, kind="stable")
    rows, cols = rows[order], cols[order]
    taken_rows, taken_cols = [], []
    while len(rows):
        _, first_of_row = np.unique(rows, return_index=True)
        _, first_of_col = np.unique(cols, return_index=True)
        best = np.zeros(len(rows), dtype=np.int8)
        best[first_of_row] += 1
        best[first_of_col] += 1
        take = best == 2
        taken_rows.append(rows[take])
        taken_cols.append(cols[take])
        free = ~np.isin(rows, rows[take]) & ~np.isin(cols, cols[take])
        rows, cols = rows[free], cols[free]
    if not taken_rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(taken_rows), np.concatenate(taken_cols)


@dataclass
class TrackTable:
    """Every live track as one row of parallel arrays."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # current estimate
    velocity: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 4), np.float32)
    )  # centre motion per frame, [vx, vy, vx, vy]
    last_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # where last detected
    last_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    birth_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    birth_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    moving: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # matched at least once
    # where a lost track was going when a detection too far for it to reach was linked to it:
    # held as lost (same id, so it counts as one face), never matched again
    stays: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, keep: np.ndarray) -> TrackTable:
        return TrackTable(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})

    def extend(self, other: TrackTable) -> TrackTable:
        return TrackTable(
            **{f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)}
        )


class Tracker:
    def __init__(self, hold_frames: dict[int, int], min_match: float = 0.2) -> None:
        # frames a lost track is kept, per kind code
        self._hold = np.array([hold_frames.get(k, 0) for k in range(len(KINDS))], dtype=np.int64)
        self.min_match = min_match
        self.tracks = TrackTable()
        self._next_id = 1

    def reset(self) -> None:
        """A scene cut: nothing carries over to the next shot."""
        self.tracks = TrackTable()

    def update(self, frame: int, detections: Detections | None, camera: np.ndarray | None = None) -> TrackStep:
        """Advance to ``frame``; ``detections`` is None when no detector ran on it; ``camera`` is the
        transform from the previous frame's pixels to this one's (see :mod:`redact.tracking.motion`)."""
        t = self.tracks
        if camera is not None and len(t):
            # the camera moved every track; velocity is what each face did on top of that
            t.boxes[:] = warp_boxes(camera, t.boxes)
            t.last_boxes[:] = warp_boxes(camera, t.last_boxes)
        behind = t.last_frames < frame
        t.boxes[behind] += t.velocity[behind]
        t.velocity[behind] *= VELOCITY_DAMPING
        step = TrackStep(Detections.empty())
        det_ids = np.zeros(0, np.int64)
        if detections is not None and len(detections):
            det_ids = self._associate(frame, detections, step)
        t = self.tracks
        self.tracks = t.select(frame - t.last_frames <= self._hold[t.kinds])
        step.current = self._current(frame, detections, det_ids)
        return step

    def _associate(self, frame: int, dets: Detections, step: TrackStep) -> np.ndarray:
        """Match detections to tracks (overlap first, then distance), open tracks for the rest;
        returns each detection's track id."""
        t = self.tracks
        det_ids = np.full(len(dets), -1, dtype=np.int64)
        ti, di = self._overlap_pairs(dets)
        used = t.stays.copy()  # held places are never matched
        used[ti] = True
        free_dets = np.ones(len(dets), bool)
        free_dets[di] = False
        ti2, di2, jumps = self._distance_pairs(frame, dets, ~used, free_dets)
        stay = self._stays(ti2[jumps > STAY_BEYOND_SIZES])
        ti, di = np.concatenate([ti, ti2]), np.concatenate([di, di2])
        det_ids[di] = t.ids[ti]
        self._matched(frame, ti, dets.boxes[di], dets.scores[di], step)
        self.tracks = self.tracks.extend(stay)
        det_ids[det_ids < 0] = self._open(frame, dets[det_ids < 0], step)
        return det_ids

    def _stays(self, rows: np.ndarray) -> TrackTable:
        """Copies of the lost tracks ``rows``, linked to a detection more than STAY_BEYOND_SIZES of
        their size from where they were going: such a link is as likely another person (in a crowd,
        the next face along) as the face itself, so its own place stays covered too."""
        stay = self.tracks.select(rows)
        stay.stays[:] = True
        return stay

    def _overlap_pairs(self, dets: Detections) -> tuple[np.ndarray, np.ndarray]:
        """Pairs that overlap, or whose centres are within a box size at a similar size."""
        t = self.tracks
        reach = np.maximum(sizes(t.boxes), 1.0) * 1.5
        ti, di = near_pairs(centres(t.boxes), reach, centres(dets.boxes))
        tb, db = t.boxes[ti], dets.boxes[di]
        tsize, dsize = np.maximum(sizes(tb), 1.0), sizes(db)
        similar = (dsize >= 0.5 * tsize) & (dsize <= 2.0 * tsize)  # a face does not halve or double between detections
        closeness = np.clip(1.0 - np.linalg.norm(centres(tb) - centres(db), axis=1) / tsize, 0.0, 1.0)
        score = np.maximum(iou(tb, db), np.where(similar, 0.5 * closeness, 0.0))
        ok = (score >= self.min_match) & (t.kinds[ti] == dets.kinds[di]) & ~t.stays[ti]
        return greedy_match(ti[ok], di[ok], score[ok])

    def _distance_pairs(
        self, frame: int, dets: Detections, free_tracks: np.ndarray, free_dets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Link leftovers too far apart to overlap: a fast face seen every k frames moves more than
        its own size between detections. Linking lets the frames between get interpolated boxes;
        a far link also keeps the lost track's own place covered (see _stays). Returns the pairs
        and how far each link reaches, in the track's box sizes."""
        t = self.tracks
        tracks, det_rows = np.flatnonzero(free_tracks), np.flatnonzero(free_dets)
        if not len(tracks) or not len(det_rows):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        size = np.maximum(sizes(t.last_boxes[tracks]), 2.0)
        sizes_away = np.minimum(SECOND_CHANCE_SIZES * (frame - t.last_frames[tracks]), MAX_LINK_SIZES)
        ti, di = near_pairs(centres(t.boxes[tracks]), size * sizes_away, centres(dets.boxes[det_rows]))
        dist = self._reach(tracks[ti], dets.boxes[det_rows[di]])
        ratio = sizes(dets.boxes[det_rows[di]]) / size[ti]
        ok = (dist < sizes_away[ti]) & (ratio >= 0.5) & (ratio <= 2.0)
        ok &= t.kinds[tracks[ti]] == dets.kinds[det_rows[di]]
        ti, di = greedy_match(ti[ok], di[ok], -dist[ok])
        return tracks[ti], det_rows[di], self._reach(tracks[ti], dets.boxes[det_rows[di]])

    def _reach(self, rows: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """How far each box's centre is from where track ``rows`` was going, in the track's sizes."""
        t = self.tracks
        size = np.maximum(sizes(t.last_boxes[rows]), 2.0)
        return np.linalg.norm(centres(t.boxes[rows]) - centres(boxes), axis=1) / size

    def _matched(self, frame: int, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray, step: TrackStep) -> None:
        t = self.tracks
        gap = frame - t.last_frames[rows]
        missed = gap > 1
        if missed.any():
            r = rows[missed]
            # both ends in this frame's pixels: the look-ahead moves them back with the camera
            step.gaps = Gaps(
                t.ids[r], t.kinds[r], t.scores[r], t.last_boxes[r].copy(), t.last_frames[r], boxes[missed].copy(), frame
            )
        moved = gap >= 1
        r, g = rows[moved], gap[moved]
        shift = (centres(boxes[moved]) - centres(t.last_boxes[r])) / g[:, None]
        measured = np.tile(shift, 2).astype(np.float32)
        first = ~t.moving[r]
        t.velocity[r] = np.where(first[:, None], measured, 0.5 * t.velocity[r] + 0.5 * measured)
        t.moving[r] = True
        f = r[first]
        if len(f):  # their motion just became known: the backfill can follow it back in time
            step.backfills.append(
                Backfill(
                    t.ids[f], t.kinds[f], t.scores[f], t.birth_boxes[f].copy(), t.birth_frames[f], t.velocity[f].copy()
                )
            )
        t.boxes[rows] = boxes
        t.last_boxes[rows] = boxes
        t.last_frames[rows] = frame
        t.scores[rows] = scores

    def _open(self, frame: int, dets: Detections, step: TrackStep) -> np.ndarray:
        n = len(dets)
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        frames = np.full(n, frame, dtype=np.int64)
        new = TrackTable(
            ids,
            dets.kinds.copy(),
            dets.scores.copy(),
            dets.boxes.copy(),
            np.zeros((n, 4), np.float32),
            dets.boxes.copy(),
            frames,
            frames.copy(),
            dets.boxes.copy(),
            np.zeros(n, bool),
            np.zeros(n, bool),
        )
        self.tracks = self.tracks.extend(new)
        step.backfills.insert(0, Backfill(ids, new.kinds, new.scores, new.boxes.copy(), frames, new.velocity))
        return ids

    def _current(self, frame: int, dets: Detections | None, det_ids: np.ndarray) -> Detections:
        parts: list[Detections] = []
        if dets is not None and len(dets):
            parts.append(dets.with_track_ids(det_ids, np.zeros(len(dets), dtype=bool)))
        t = self.tracks
        p = t.select(t.last_frames < frame)
        if len(p):
            # Cover both where the motion says it went and where it was last seen: motion can stop
            # or turn (a camera that stops zooming), and a box between is cheap next to a leak, up to
            # SPAN_SIZES face sizes. Further apart (a velocity learnt in a pan, carried into a zoom),
            # the box between would be many faces large: the two places are covered on their own.
            union = np.concatenate(
                [np.minimum(p.boxes[:, :2], p.last_boxes[:, :2]), np.maximum(p.boxes[:, 2:], p.last_boxes[:, 2:])],
                axis=1,
            )
            growth = np.minimum(MAX_GROWTH, GROWTH_PER_FRAME * (frame - p.last_frames))
            size = np.maximum(p.last_boxes[:, 2:] - p.last_boxes[:, :2], 1.0)
            apart = ((union[:, 2:] - union[:, :2]) > SPAN_SIZES * size).any(axis=1)
            for boxes, rows in ((union, ~apart), (p.boxes, apart), (p.last_boxes, apart)):
                parts.append(
                    Detections(
                        grown(boxes[rows], growth[rows]),
                        p.scores[rows],
                        p.kinds[rows],
                        p.ids[rows],
                        np.ones(int(rows.sum()), bool),
                    )
                )
        return Detections.merge(parts)


@dataclass
class _Entry:
    frame: int
    payload: Any
    parts: list[Detections]
    to_newest: np.ndarray  # transform from this frame's pixels to the newest frame's


class Lookahead:
    """Holds the last few frames so new tracks can be covered before their first detection.

    ``push`` takes a frame's payload and tracker step, and returns the payloads
    (with their final detections) that have left the buffer, oldest first.
    """

    def __init__(self, frames: int) -> None:
        self.size = frames
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
        self.entries.append(_Entry(frame, payload, [step.current], identity()))
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

    def _backfill(self, batch: Backfill) -> None:
        """Cover the batch's tracks in the buffered frames before each one's anchor frame: where it was
        first seen, or (once its motion is known) where that motion puts it, carried back with the
        camera; the box grows the further back it goes."""
        anchors = {e.frame: e.to_newest for e in self.entries}
        for anchor in np.unique(batch.frames).tolist():
            if anchor not in anchors:
                continue  # it left the buffer, and every frame before it has too
            of_anchor = np.flatnonzero(batch.frames == anchor)
            for entry in self.entries:
                back = anchor - entry.frame
                if entry.frame < self.cut_at or not 1 <= back <= self.size:
                    continue
                rows = of_anchor
                boxes = batch.boxes[rows] - batch.velocity[rows] * back
                boxes = warp_boxes(np.linalg.inv(entry.to_newest) @ anchors[anchor], boxes)
                boxes = grown(boxes, min(MAX_GROWTH, GROWTH_PER_FRAME * back))
                entry.parts.append(
                    Detections(boxes, batch.scores[rows], batch.kinds[rows], batch.ids[rows], np.ones(len(rows), bool))
                )

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
            entry.parts.append(
                Detections(boxes, gaps.scores[rows], gaps.kinds[rows], gaps.ids[rows], np.ones(len(rows), bool))
            )
