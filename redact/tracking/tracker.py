"""Tracking for redaction: every detection is covered from its first frame, and every guess between
detections is backed by evidence and sized by its uncertainty.

Unlike trackers built for counting (which hide a track until it is confirmed), this one never
withholds a box: a new detection is covered at once, and also in the frames before it (backfill,
done by :class:`~redact.tracking.lookahead.Lookahead`). A track the detector loses keeps being
covered where its own pixels and the camera say it went, until detector passes that look at its
place find nothing there: one pass for a single weak detection, more for a face seen strongly or
repeatedly (:class:`~redact.tracking.params.TrackerParams`). When it is found again, the frames
in between get the interpolated box as well.

Every step works on arrays of all tracks at once (:mod:`redact.tracking.association`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from redact.boxes import centres, grown, iou, sizes
from redact.detections import KINDS, ORIGIN_CODES, Detections, Look
from redact.tracking.association import greedy_match, near_pairs
from redact.tracking.flow import BoxFlow
from redact.tracking.lookahead import Backfill, Gaps, TrackStep
from redact.tracking.motion import warp_boxes
from redact.tracking.params import TrackerParams


def _column(dtype: type, width: int = 0) -> Any:
    """An empty column of the table (a dataclass field)."""
    return field(default_factory=lambda: np.zeros((0, width) if width else 0, dtype))


@dataclass
class TrackTable:
    """Every live track as one row of parallel arrays."""

    ids: np.ndarray = _column(np.int64)
    kinds: np.ndarray = _column(np.uint8)
    scores: np.ndarray = _column(np.float32)
    boxes: np.ndarray = _column(np.float32, 4)  # current estimate
    velocity: np.ndarray = _column(np.float32, 4)  # own motion per frame on top of the camera's
    last_boxes: np.ndarray = _column(np.float32, 4)  # where last detected (moved with the camera)
    last_frames: np.ndarray = _column(np.int64)
    birth_frames: np.ndarray = _column(np.int64)
    birth_boxes: np.ndarray = _column(np.float32, 4)
    moving: np.ndarray = _column(bool)  # matched at least once after its birth: its motion is known
    # where a lost track was going when a detection too far for it to reach was linked to it:
    # held as lost (same id, so it counts as one face), never matched again
    stays: np.ndarray = _column(bool)
    hits: np.ndarray = _column(np.int64)  # detections of this track
    best: np.ndarray = _column(np.float32)  # its strongest detection
    misses: np.ndarray = _column(np.int64)  # passes in a row that looked at its place and missed it
    unmeasured: np.ndarray = _column(np.int64)  # guessed frames since last seen whose motion was not measured
    unsure: np.ndarray = _column(bool)  # this frame's motion was not measured: where it is, is a guess
    # ended by passes that missed it, no longer covered; found again within revive_frames, it
    # lives on and the frames between are covered after all (they are still in the look-ahead)
    dead: np.ndarray = _column(bool)
    died: np.ndarray = _column(np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, keep: np.ndarray) -> TrackTable:
        return TrackTable(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})

    def extend(self, other: TrackTable) -> TrackTable:
        return TrackTable(
            **{f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)}
        )


class Tracker:
    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self._hold = np.array([self.params.hold_frames.get(k, 0) for k in range(len(KINDS))], dtype=np.int64)
        self.tracks = TrackTable()
        self._next_id = 1

    def reset(self) -> None:
        """A scene cut: nothing carries over to the next shot."""
        self.tracks = TrackTable()

    def update(
        self,
        frame: int,
        detections: Detections | None,
        camera: np.ndarray | None = None,
        looks: Sequence[Look] = (),
        flow: BoxFlow | None = None,
        bounds: tuple[int, int] | None = None,
    ) -> TrackStep:
        """Advance to ``frame``. ``detections`` is None when no detector ran on it; ``camera`` is the
        transform from the previous frame's pixels to this one's (:mod:`redact.tracking.motion`);
        ``looks`` are the detector passes that ran on it and what they could see; ``flow``, updated
        with this frame, measures where guessed boxes went; ``bounds`` (width, height): a guessed
        box mostly outside the frame has left it, and ends."""
        t = self.tracks
        before = t.boxes.copy()  # in the previous frame's pixels, for the flow
        if camera is not None and len(t):
            # the camera moved every track; velocity is what each face did on top of that
            t.boxes[:] = warp_boxes(camera, t.boxes)
            t.last_boxes[:] = warp_boxes(camera, t.last_boxes)
        behind = t.last_frames < frame
        t.boxes[behind] += t.velocity[behind]
        step = TrackStep(Detections.empty(), looks=list(looks))
        det_ids = np.zeros(0, np.int64)
        if detections is not None and len(detections):
            det_ids = self._associate(frame, detections, step)
        self._measure(frame, before, camera, flow)
        ending, expired = self._evidence(frame, looks)
        t = self.tracks
        inside = np.ones(len(t)) if bounds is None else _inside_share(t.boxes, *bounds)
        ending |= (t.last_frames < frame) & (inside < max(self.params.leave_share, 1e-6))
        confirmed = self._confirmed(t)
        # a weak track is not covered where a pass just missed it; the dead are not covered at all
        shown = ~expired & ~(ending & ~confirmed) & ~t.dead
        step.current = self._current(frame, detections, det_ids, shown, inside)
        t.dead |= ending
        t.died[ending] = frame
        buried = t.dead & (frame - t.died >= self.params.revive_frames)
        self.tracks = t.select(~expired & ~buried)
        return step

    # -- evidence ------------------------------------------------------------------------------

    def _confirmed(self, t: TrackTable) -> np.ndarray:
        return (t.hits >= self.params.confirm_hits) | (t.best >= self.params.strong_score)

    def _evidence(self, frame: int, looks: Sequence[Look]) -> tuple[np.ndarray, np.ndarray]:
        """Count the passes that looked at each lost track's place and missed it; which tracks end
        here (enough such misses) and which have outlived the hold."""
        t, p = self.tracks, self.params
        lost = (t.last_frames < frame) & ~t.dead
        looked = np.zeros(len(t), bool)
        for look in looks:
            looked |= look.sees(t.kinds, t.boxes)
        t.misses[:] = np.where(lost, t.misses + (looked & lost), 0)
        limit = np.where(self._confirmed(t), _limit(p.misses_to_end), _limit(p.weak_misses_to_end))
        return lost & (t.misses >= limit), frame - t.last_frames > self._hold[t.kinds]

    def _looks_back(self, t: TrackTable) -> np.ndarray:
        p = self.params
        return np.where(self._confirmed(t), _limit(p.backfill_looks), _limit(p.weak_backfill_looks))

    def _measure(self, frame: int, before: np.ndarray, camera: np.ndarray | None, flow: BoxFlow | None) -> None:
        """Move guessed tracks by what their pixels did; those that could not be measured keep the
        camera's and their velocity's guess and count a frame of doubt (their box grows)."""
        t = self.tracks
        rows = np.flatnonzero(t.last_frames[: len(before)] < frame)
        rows = rows[~t.stays[rows] & ~t.dead[rows]]
        ok = np.zeros(len(rows), bool)
        if flow is not None and self.params.measure_motion and len(rows):
            moved, ok = flow.measure(before[rows], t.boxes[rows], camera)
            r = rows[ok]
            if len(r):
                camera_only = t.boxes[r] - t.velocity[r]
                t.velocity[r] = 0.5 * t.velocity[r] + 0.5 * np.tile(centres(moved[ok]) - centres(camera_only), 2)
                t.boxes[r] = moved[ok]
        missed = np.flatnonzero(t.last_frames < frame)
        unmeasured = np.setdiff1d(missed, rows[ok], assume_unique=True)
        t.unmeasured[unmeasured] += 1
        t.velocity[unmeasured] *= self.params.velocity_damping
        t.unsure[:] = False
        t.unsure[unmeasured] = True

    # -- association ---------------------------------------------------------------------------

    def _associate(self, frame: int, dets: Detections, step: TrackStep) -> np.ndarray:
        """Match detections to live tracks (overlap first, then distance), then leftovers to tracks
        that recently ended (revived), open tracks for the rest; returns each detection's track id."""
        t = self.tracks
        det_ids = np.full(len(dets), -1, dtype=np.int64)
        free_dets = np.ones(len(dets), bool)
        ti, di = self._overlap_pairs(dets, ~t.stays & ~t.dead, free_dets)
        used = t.stays | t.dead  # held places are never matched; the dead only after the living
        used[ti] = True
        free_dets[di] = False
        ti2, di2, jumps = self._distance_pairs(frame, dets, ~used, free_dets)
        stay = self._stays(ti2[jumps > self.params.stay_beyond_sizes])
        free_dets[di2] = False
        ti3, di3 = self._overlap_pairs(dets, t.dead, free_dets)
        ti, di = np.concatenate([ti, ti2, ti3]), np.concatenate([di, di2, di3])
        det_ids[di] = t.ids[ti]
        t.dead[ti3] = False  # revived: the gap since it was last seen is filled (see _matched)
        t.unmeasured[ti3] += 1
        self._matched(frame, ti, dets.boxes[di], dets.scores[di], step)
        self.tracks = self.tracks.extend(stay)
        det_ids[det_ids < 0] = self._open(frame, dets[det_ids < 0], step)
        return det_ids

    def _stays(self, rows: np.ndarray) -> TrackTable:
        """Copies of the lost tracks ``rows``, linked to a detection more than ``stay_beyond_sizes``
        of their size from where they were going: such a link is as likely another person (in a
        crowd, the next face along) as the face itself, so its own place stays covered too."""
        stay = self.tracks.select(rows)
        stay.stays[:] = True
        return stay

    def _overlap_pairs(
        self, dets: Detections, tracks: np.ndarray, free_dets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of the given tracks and free detections that overlap, or whose centres are within
        a box size at a similar size."""
        t = self.tracks
        rows, cols = np.flatnonzero(tracks), np.flatnonzero(free_dets)
        reach = np.maximum(sizes(t.boxes[rows]), 1.0) * 1.5
        ti, di = near_pairs(centres(t.boxes[rows]), reach, centres(dets.boxes[cols]))
        ti, di = rows[ti], cols[di]
        tb, db = t.boxes[ti], dets.boxes[di]
        tsize, dsize = np.maximum(sizes(tb), 1.0), sizes(db)
        similar = (dsize >= 0.5 * tsize) & (dsize <= 2.0 * tsize)  # a face does not halve or double between detections
        closeness = np.clip(1.0 - np.linalg.norm(centres(tb) - centres(db), axis=1) / tsize, 0.0, 1.0)
        score = np.maximum(iou(tb, db), np.where(similar, 0.5 * closeness, 0.0))
        ok = (score >= self.params.min_match) & (t.kinds[ti] == dets.kinds[di])
        return greedy_match(ti[ok], di[ok], score[ok])

    def _distance_pairs(
        self, frame: int, dets: Detections, free_tracks: np.ndarray, free_dets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Link leftovers too far apart to overlap: a fast face seen every k frames moves more than
        its own size between detections. Linking lets the frames between get interpolated boxes;
        a far link also keeps the lost track's own place covered (see _stays). Returns the pairs
        and how far each link reaches, in the track's box sizes."""
        t, p = self.tracks, self.params
        tracks, det_rows = np.flatnonzero(free_tracks), np.flatnonzero(free_dets)
        if not len(tracks) or not len(det_rows):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        size = self._link_size(tracks)
        sizes_away = np.minimum(p.link_sizes_per_frame * (frame - t.last_frames[tracks]), p.max_link_sizes)
        ti, di = near_pairs(centres(t.boxes[tracks]), size * sizes_away, centres(dets.boxes[det_rows]))
        dist = self._reach(tracks[ti], dets.boxes[det_rows[di]])
        ratio = sizes(dets.boxes[det_rows[di]]) / size[ti]
        ok = (dist < sizes_away[ti]) & (ratio >= 0.5) & (ratio <= 2.0)
        ok &= t.kinds[tracks[ti]] == dets.kinds[det_rows[di]]
        ti, di = greedy_match(ti[ok], di[ok], -dist[ok])
        return tracks[ti], det_rows[di], self._reach(tracks[ti], dets.boxes[det_rows[di]])

    def _link_size(self, rows: np.ndarray) -> np.ndarray:
        """The size links of tracks ``rows`` are measured in: the face's, grown like its guessed box
        for every frame its motion was not measured (the longer the doubt, the further it may
        have gone: a fast face seen every other frame moves two of its sizes between them)."""
        t, p = self.tracks, self.params
        doubt = np.minimum(p.max_growth, p.growth_per_frame * t.unmeasured[rows])
        return np.maximum(sizes(t.last_boxes[rows]), 2.0) * (1.0 + 2.0 * doubt)

    def _reach(self, rows: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """How far each box's centre is from where track ``rows`` was going, in its link sizes."""
        t = self.tracks
        return np.linalg.norm(centres(t.boxes[rows]) - centres(boxes), axis=1) / self._link_size(rows)

    def _matched(self, frame: int, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray, step: TrackStep) -> None:
        t = self.tracks
        gap = frame - t.last_frames[rows]
        # both ends in this frame's pixels: the look-ahead moves them back with the camera; a gap
        # whose every frame was measured is already covered where the face was
        missed = (gap > 1) & (t.unmeasured[rows] > 0)
        if missed.any():
            r = rows[missed]
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
        t.boxes[rows] = boxes
        t.last_boxes[rows] = boxes
        t.last_frames[rows] = frame
        t.scores[rows] = scores
        t.hits[rows] += 1
        t.best[rows] = np.maximum(t.best[rows], scores)
        t.misses[rows] = 0
        t.unmeasured[rows] = 0
        f = r[first]
        if len(f):  # their motion just became known: the backfill can follow it back in time
            looks_back = self._looks_back(t.select(f))
            step.backfills.append(
                Backfill(
                    t.ids[f],
                    t.kinds[f],
                    t.scores[f],
                    t.birth_boxes[f].copy(),
                    t.birth_frames[f],
                    t.velocity[f].copy(),
                    looks_back,
                )
            )

    def _open(self, frame: int, dets: Detections, step: TrackStep) -> np.ndarray:
        n = len(dets)
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        frames = np.full(n, frame, dtype=np.int64)
        zeros = np.zeros(n, np.int64)
        new = TrackTable(
            ids=ids,
            kinds=dets.kinds.copy(),
            scores=dets.scores.copy(),
            boxes=dets.boxes.copy(),
            velocity=np.zeros((n, 4), np.float32),
            last_boxes=dets.boxes.copy(),
            last_frames=frames,
            birth_frames=frames.copy(),
            birth_boxes=dets.boxes.copy(),
            moving=np.zeros(n, bool),
            stays=np.zeros(n, bool),
            hits=np.ones(n, np.int64),
            best=dets.scores.copy(),
            misses=zeros,
            unmeasured=zeros.copy(),
            unsure=np.zeros(n, bool),
            dead=np.zeros(n, bool),
            died=zeros.copy(),
        )
        self.tracks = self.tracks.extend(new)
        looks_back = self._looks_back(new)
        step.backfills.insert(
            0, Backfill(ids, new.kinds, new.scores, new.boxes.copy(), frames, new.velocity.copy(), looks_back)
        )
        return ids

    # -- what this frame covers ----------------------------------------------------------------

    def _current(
        self, frame: int, dets: Detections | None, det_ids: np.ndarray, shown: np.ndarray, inside: np.ndarray
    ) -> Detections:
        parts: list[Detections] = []
        if dets is not None and len(dets):
            parts.append(dets.with_track_ids(det_ids, np.zeros(len(dets), dtype=bool)))
        t, p = self.tracks, self.params
        guessed = shown & (t.last_frames < frame)
        g, edge = t.select(guessed), inside[guessed] < 0.5
        if not len(g):
            return Detections.merge(parts)
        # Measured in this frame: the box is where its pixels went (grown by the doubt of frames
        # that could not be measured since it was last seen). Otherwise cover both where the guess
        # puts it and where it was last seen (motion can stop or turn), up to
        # span_sizes face sizes across; further apart (a velocity learnt in a pan, carried into a
        # zoom) the two places are covered on their own. Either way the box grows with the doubt.
        union = np.concatenate(
            [np.minimum(g.boxes[:, :2], g.last_boxes[:, :2]), np.maximum(g.boxes[:, 2:], g.last_boxes[:, 2:])], axis=1
        )
        # a face the frame's edge cuts cannot be followed by its pixels; it moves with the camera,
        # and growing it would only paint the border; a weak hit is held at its own size
        still = edge | ~(self._confirmed(g) | p.grow_weak)
        growth = p.guess_margin + np.where(still, 0.0, np.minimum(p.max_growth, p.growth_per_frame * g.unmeasured))
        size = np.maximum(g.last_boxes[:, 2:] - g.last_boxes[:, :2], 1.0)
        doubt = g.unsure & ~edge
        apart = doubt & ((union[:, 2:] - union[:, :2]) > p.span_sizes * size).any(axis=1)
        sure = ~doubt | g.stays
        for boxes, rows in ((g.boxes, sure | apart), (union, ~sure & ~apart), (g.last_boxes, apart & ~g.stays)):
            origins = np.where(g.stays[rows], ORIGIN_CODES["stay"], ORIGIN_CODES["held"])
            n = int(rows.sum())
            parts.append(
                Detections(
                    grown(boxes[rows], growth[rows]),
                    g.scores[rows],
                    g.kinds[rows],
                    g.ids[rows],
                    np.ones(n, bool),
                    origins,
                )
            )
        return Detections.merge(parts)


def _limit(count: int) -> int:
    """A count of passes from TrackerParams, where 0 means no limit."""
    return count if count > 0 else np.iinfo(np.int64).max


def _inside_share(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Share of each box's area inside a frame of this size."""
    w = np.clip(np.minimum(boxes[:, 2], width) - np.maximum(boxes[:, 0], 0), 0, None)
    h = np.clip(np.minimum(boxes[:, 3], height) - np.maximum(boxes[:, 1], 0), 0, None)
    return w * h / np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
