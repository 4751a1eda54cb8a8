"""The one detections type passed between stages: numpy arrays, validated on creation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

KINDS: tuple[str, ...] = ("face", "plate", "text", "manual")
KIND_CODES: dict[str, int] = {name: code for code, name in enumerate(KINDS)}


def kind_code(kind: str) -> int:
    try:
        return KIND_CODES[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}") from None


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes in pixels of the upright frame, as float32 x1, y1, x2, y2 (x2, y2 exclusive).

    ``track_ids`` is -1 for untracked boxes; ``filled`` marks boxes the tracker
    predicted or interpolated rather than the detector found.
    """

    boxes: np.ndarray
    scores: np.ndarray
    kinds: np.ndarray
    track_ids: np.ndarray
    filled: np.ndarray

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(boxes)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        kinds = np.asarray(self.kinds, dtype=np.uint8).reshape(-1)
        track_ids = np.asarray(self.track_ids, dtype=np.int64).reshape(-1)
        filled = np.asarray(self.filled, dtype=bool).reshape(-1)
        for name, arr in (("scores", scores), ("kinds", kinds), ("track_ids", track_ids), ("filled", filled)):
            if len(arr) != n:
                raise ValueError(f"Detections.{name} has {len(arr)} entries for {n} boxes")
        if n and not np.isfinite(boxes).all():
            raise ValueError("Detections.boxes contains NaN or infinity")
        if n and ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
            raise ValueError("Detections.boxes must have x2 >= x1 and y2 >= y1")
        if n and kinds.max() >= len(KINDS):
            raise ValueError(f"Detections.kinds has a code outside 0..{len(KINDS) - 1}")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "track_ids", track_ids)
        object.__setattr__(self, "filled", filled)

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
        )

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1) if index != -1 else slice(-1, None)
        return Detections(
            self.boxes[index], self.scores[index], self.kinds[index], self.track_ids[index], self.filled[index]
        )

    def of_kind(self, kind: str) -> Detections:
        return self[self.kinds == kind_code(kind)]

    def kind_names(self) -> list[str]:
        return [KINDS[k] for k in self.kinds]

    def with_track_ids(self, track_ids: np.ndarray, filled: np.ndarray | None = None) -> Detections:
        return Detections(self.boxes, self.scores, self.kinds, track_ids, self.filled if filled is None else filled)
