"""Verify's face opinions, measured one combination at a time (used by ``bench/precision.py``).

For every candidate verify looks at in a picture (its own candidates: CenterFace's thorough pass
and YuNet at 1x and 2x), the features each rule reads: CenterFace's and YuNet's full-pass scores
at the candidate (``cf``, ``yn``), the four second looks (``opinions.Look``), the share of the
middle that is cover-like (``covered``) and the box width. Rules are then evaluated on the same
features, so each combination is measured on exactly the same candidates.

Pictures are split into a tune half and a check half by a seeded hash of the file name.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np

from redact.boxes import iou
from redact.review import opinions
from redact.review.cover_evidence import cover_surface, surface_limit
from redact.review.verify import FaceChecker

Row = dict[str, float]
SPLIT_SEED = "issue34"


def half(name: str) -> str:
    """'tune' or 'check', fixed by the file name."""
    return "tune" if hashlib.sha256(f"{SPLIT_SEED}:{name}".encode()).digest()[0] % 2 == 0 else "check"


def _best(box: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> float:
    if not len(boxes):
        return 0.0
    same = iou(box, boxes) >= opinions.SAME_PLACE_IOU
    return float(scores[same].max()) if same.any() else 0.0


def features(
    image: np.ndarray, checker: FaceChecker, only_near: np.ndarray | None = None
) -> list[tuple[np.ndarray, Row]]:
    """Every candidate of a photo (or only those on the boxes ``only_near``) with the features the rules read."""
    limit = surface_limit(image)
    rows = []
    for box, _, full in checker.candidates(image, True):
        if only_near is not None and (not len(only_near) or iou(box, only_near).max() < 0.3):
            continue
        look = opinions.Look(image, box, checker.centerface_look, checker.yunet)  # crops alone: full kept apart
        row = {
            "cf": full["centerface"],
            "yn": full["yunet"],
            "covered": cover_surface(image, box, limit),
            "width": float(box[2] - box[0]),
            "cw": look.centerface_wide,
            "cc": look.centerface_close,
            "yw": look.yunet_wide,
            "yc": look.yunet_close,
        }
        rows.append((box, row))
    return rows


def cached_features(
    cache: Path | None,
    key: str,
    image_fn: Callable[[], np.ndarray],
    checker: FaceChecker,
    only_near: np.ndarray | None = None,
):
    """features(), kept in ``cache`` (a folder) under ``key`` between runs."""
    path = None if cache is None else cache / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".pickle")
    if path is not None and path.exists():
        return pickle.loads(path.read_bytes())
    rows = features(image_fn(), checker, only_near)
    if path is not None:
        path.write_bytes(pickle.dumps(rows))
    return rows


class _Views(opinions.Look):
    """A Look whose views are already measured (so that ``opinions.verdict`` itself is the kept rule)."""

    def __init__(self, row: Row) -> None:  # no image: every view is given
        self.__dict__.update(
            centerface_wide=max(row["cw"], row["cf"]),
            centerface_close=row["cc"],
            yunet_wide=max(row["yw"], row["yn"]),
            yunet_close=row["yc"],
            full={},
        )


def kept(row: Row) -> bool:
    return row["width"] >= opinions.MIN_FACE and opinions.verdict(_Views(row), row["covered"]) is not None


def cf_alone(row: Row) -> bool:
    """CenterFace alone at the old verify's operating point: 0.6, faces >= 16 px from 0.3."""
    return row["cf"] >= 0.6 or (row["width"] >= 16 and row["cf"] >= 0.3)


def yn_alone(at: float) -> Callable[[Row], bool]:
    return lambda row: row["yn"] >= at


YUNET_FINDS = 0.7  # YuNet's operating point alone for "either model finds"


def either(row: Row) -> bool:
    return cf_alone(row) or row["yn"] >= YUNET_FINDS


def both(row: Row) -> bool:
    """Both models at the same place in their full passes: CenterFace at its operating point, YuNet from 0.3."""
    return cf_alone(row) and row["yn"] >= 0.3


def agree_on_covers(row: Row) -> bool:
    """Either model away from the covers; both on a cover (middle >= opinions.COVERED cover-like)."""
    return both(row) if row["covered"] >= opinions.COVERED else either(row)


RULES: dict[str, Callable[[Row], bool]] = {
    "CenterFace alone (0.6; >= 16 px from 0.3)": cf_alone,
    "YuNet alone (0.5)": yn_alone(0.5),
    "YuNet alone (0.7)": yn_alone(0.7),
    "both agree (CenterFace as above, YuNet >= 0.3)": both,
    "either (CenterFace as above, or YuNet >= 0.7)": either,
    "either, but both on a cover": agree_on_covers,
    "**kept: opinions.verdict** (two models, two views each)": kept,
}


def faces_reported(rows: list[tuple[np.ndarray, Row]], faces: np.ndarray, rule: Callable[[Row], bool]) -> list[bool]:
    """Per labelled face: whether any candidate on it (IoU >= 0.3) is reported by ``rule``."""
    out = []
    for face in faces:
        near = [row for box, row in rows if iou(face, box[None])[0] >= 0.3]
        out.append(any(rule(r) for r in near))
    return out
