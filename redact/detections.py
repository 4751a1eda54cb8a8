"""The one detections type passed between stages: numpy arrays, validated on creation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

KINDS: tuple[str, ...] = ("face", "plate", "text", "manual")
KIND_CODES: dict[str, int] = {name: code for code, name in enumerate(KINDS)}
#: why a box is covered in its frame: a detector found it there, or the tracker guessed it
#: (held after the face was last seen, backfilled before it was first seen, interpolated across a
#: gap between two sightings, or kept where a lost face was when its track linked far away)
ORIGINS: tuple[str, ...] = ("found", "held", "backfilled", "interpolated", "stay")
ORIGIN_CODES: dict[str, int] = {name: code for code, name in enumerate(ORIGINS)}


def kind_code(kind: str) -> int:
    try:
        return KIND_CODES[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}") from None


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes in pixels of the upright frame, as float32 x1, y1, x2, y2 (x2, y2 exclusive).

    ``track_ids`` is -1 for untracked boxes; ``filled`` marks boxes the tracker
    predicted or interpolated rather than the detector found; ``origins`` (codes of
    :data:`ORIGINS`, optional) says which kind of guess a filled box is, for reports and review.
    """

    boxes: np.ndarray
    scores: np.ndarray
    kinds: np.ndarray
    track_ids: np.ndarray
    filled: np.ndarray
    origins: np.ndarray | None = None  # None: "found" where not filled, "held" where filled

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(boxes)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        kinds = np.asarray(self.kinds, dtype=np.uint8).reshape(-1)
        track_ids = np.asarray(self.track_ids, dtype=np.int64).reshape(-1)
        filled = np.asarray(self.filled, dtype=bool).reshape(-1)
        if self.origins is None:
            origins = filled.astype(np.uint8) * np.uint8(ORIGIN_CODES["held"])
        else:
            origins = np.asarray(self.origins, dtype=np.uint8).reshape(-1)
        named = (
            ("scores", scores),
            ("kinds", kinds),
            ("track_ids", track_ids),
            ("filled", filled),
            ("origins", origins),
        )
        for name, arr in named:
            if len(arr) != n:
                raise ValueError(f"Detections.{name} has {len(arr)} entries for {n} boxes")
        if n and not np.isfinite(boxes).all():
            raise ValueError("Detections.boxes contains NaN or infinity")
        if n and ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
            raise ValueError("Detections.boxes must have x2 >= x1 and y2 >= y1")
        if n and kinds.max() >= len(KINDS):
            raise ValueError(f"Detections.kinds has a code outside 0..{len(KINDS) - 1}")
        if n and (origins.max() >= len(ORIGINS) or ((origins == ORIGIN_CODES["found"]) == filled).any()):
            raise ValueError("Detections.origins must be 'found' exactly where a box is not filled")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "track_ids", track_ids)
        object.__setattr__(self, "filled", filled)
        object.__setattr__(self, "origins", origins)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))

    @classmethod
    def from_boxes(
        cls,
        boxes: np.ndarray | Sequence[Sequence[float]],
        scores: np.ndarray | Sequence[float] | None = None,
        kind: str = "face",
    ) -> Detections:
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        n = len(boxes)
        scores = np.ones(n, dtype=np.float32) if scores is None else np.asarray(scores, dtype=np.float32)
        return cls(boxes, scores, np.full(n, kind_code(kind)), np.full(n, -1), np.zeros(n, dtype=bool))

    @classmethod
    def merge(cls, parts: Iterable[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.kinds for p in parts]),
            np.concatenate([p.track_ids for p in parts]),
            np.concatenate([p.filled for p in parts]),
            np.concatenate([p.origin_codes for p in parts]),
        )

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1) if index != -1 else slice(-1, None)
        return Detections(
            self.boxes[index],
            self.scores[index],
            self.kinds[index],
            self.track_ids[index],
            self.filled[index],
            self.origin_codes[index],
        )

    @property
    def origin_codes(self) -> np.ndarray:
        """``origins`` as an array (None only in objects made before the field existed, e.g. pickled)."""
        if self.origins is None:
            return self.filled.astype(np.uint8) * np.uint8(ORIGIN_CODES["held"])
        return self.origins

    def of_kind(self, kind: str) -> Detections:
        return self[self.kinds == kind_code(kind)]

    def kind_names(self) -> list[str]:
        return [KINDS[k] for k in self.kinds]

    def with_track_ids(self, track_ids: np.ndarray, filled: np.ndarray | None = None) -> Detections:
        if filled is None:
            return Detections(self.boxes, self.scores, self.kinds, track_ids, self.filled, self.origins)
        return Detections(self.boxes, self.scores, self.kinds, track_ids, filled)

    def guessed(self, origin: str) -> Detections:
        """The same boxes as tracker guesses of one origin ("held", "backfilled", ...)."""
        n = len(self)
        return Detections(
            self.boxes, self.scores, self.kinds, self.track_ids, np.ones(n, bool), np.full(n, ORIGIN_CODES[origin])
        )


@dataclass(frozen=True)
class Look:
    """A detector pass looked for ``kind`` (a code of :data:`KINDS`) over ``region`` (x1, y1, x2, y2
    in frame pixels) at a scale where an object of at least ``min_size`` px (mean of width and
    height) is found reliably. Finding nothing where a track of that size should be is evidence
    that it is gone; a pass that did not look says nothing."""

    kind: int
    min_size: float
    region: tuple[float, float, float, float]

    def sees(self, kinds: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Which boxes (of the given kind codes) this pass would have found: large enough, and
        mostly inside the region it looked at (a face cut by the frame's edge is found less)."""
        if not len(boxes):
            return np.zeros(0, bool)
        x1, y1, x2, y2 = self.region
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        inside_w = np.clip(np.minimum(boxes[:, 2], x2) - np.maximum(boxes[:, 0], x1), 0, None)
        inside_h = np.clip(np.minimum(boxes[:, 3], y2) - np.maximum(boxes[:, 1], y1), 0, None)
        mostly_inside = inside_w * inside_h >= 0.75 * np.maximum(w * h, 1e-6)
        return (kinds == self.kind) & ((w + h) / 2 >= self.min_size) & mostly_inside
