"""The tracker's parameters, in one documented place (as norfair documents its ``Tracker``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrackerParams:
    """How the tracker covers a face between the frames where a detector finds it.

    Every guessed box is backed by evidence and sized by its uncertainty:

    - **Evidence per track.** A track is *confirmed* once a detector found it ``confirm_hits``
      times, or once with a score of at least ``strong_score``. The detector finds a confirmed
      face again reliably, so a pass that looks where it should be and finds nothing is evidence
      that it has gone: it ends after ``misses_to_end`` such passes (the last of them included)
      and is backfilled across ``backfill_looks`` of them. A single weak hit is the least certain
      evidence either way: most are not faces (20 of 21 on crowd photos), but the real faces among
      them are the ones the detector barely sees and will miss again. By default it is not ended
      by passes that miss it (``weak_misses_to_end`` 0) and is backfilled through the whole
      look-ahead: when unsure, cover. Ending it at the first miss painted about 2 points less
      of a crowd video and left about a quarter more faces uncovered (docs/benchmarks.md).
    - **Look where you guess.** A pass "looks" at a track when the pass covers its place at a
      scale at which a face of its size is found reliably (:class:`redact.detections.Look`);
      passes that did not look (between full passes, or too coarse for a small face) leave it
      covered, up to ``hold_frames``.
    - **Measured motion.** Between sightings a box moves with the camera and with what its own
      pixels did (sparse optical flow); it is grown by ``guess_margin`` of its size per side, and
      by ``growth_per_frame`` more for every frame whose motion could not be measured, up to
      ``max_growth``.

    Attributes:
        hold_frames: per kind code, the most frames a lost track stays covered while no pass looks
            at it (kinds not listed: not held at all).
        strong_score: a detection at least this strong confirms its track on its own.
        confirm_hits: detections of one track that confirm it whatever their scores.
        misses_to_end: looking passes in a row that miss a confirmed track before it ends.
        weak_misses_to_end: the same for an unconfirmed track (0: never; it is held up to
            ``hold_frames``).
        backfill_looks: a confirmed track is backfilled through this many earlier looking passes
            (the last not included): one pass that missed it is covered, as on the way out.
        weak_backfill_looks: the same for an unconfirmed track (0: through the whole look-ahead).
        revive_frames: a track ended by misses that a detection finds again within this many frames
            lives on, and the frames between are covered after all (set to the look-ahead's length:
            they must still be in it).
        leave_share: a guessed box with less than this share of its area inside the frame has
            left the picture: the track ends (found boxes are never dropped; 0: only once wholly
            outside). A guessed box the frame's edge cuts is not grown.
        guess_margin: share of its size a guessed box grows by on each side (on top of the face
            margin every box gets when it is covered).
        growth_per_frame: share added per side for each frame of guessing without a measurement.
        grow_weak: grow unconfirmed tracks too. Off: a single weak hit keeps its cover for the
            hold, but at its own size (most are hands, collars, patterns; grown, they became the
            blobs two faces large on a signer's hands and chest).
        max_growth: the most ``growth_per_frame`` adds.
        velocity_damping: per predicted frame without a measurement; a lost face is more likely to
            stop than to fly off.
        min_match: the least overlap score for a detection to continue a track.
        link_sizes_per_frame: a leftover detection may link to a lost track this many box sizes
            away per frame since it was last seen ...
        max_link_sizes: ... and never further (in a crowd, further away is another person).
        stay_beyond_sizes: a link further than this from where the lost track was going keeps
            that place covered too, as a separate "stay" region.
        measure_motion: follow guessed boxes by optical flow (off: camera motion and velocity only).
        span_sizes: a lost face's guessed region spans where it was last seen and where it is
            predicted, up to this many face sizes across; further apart, both are covered alone.
    """

    hold_frames: Mapping[int, int] = field(default_factory=dict)
    strong_score: float = 0.5
    confirm_hits: int = 2
    misses_to_end: int = 2
    weak_misses_to_end: int = 0
    backfill_looks: int = 2
    weak_backfill_looks: int = 0
    revive_frames: int = 12
    leave_share: float = 0.0
    guess_margin: float = 0.0
    growth_per_frame: float = 0.03
    grow_weak: bool = False
    max_growth: float = 0.5
    velocity_damping: float = 0.92
    min_match: float = 0.2
    link_sizes_per_frame: float = 1.5
    max_link_sizes: float = 9.0
    stay_beyond_sizes: float = 2.0
    span_sizes: float = 2.0
    measure_motion: bool = True
