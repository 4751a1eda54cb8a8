"""Is this face-like response a face left visible? Two models, two views each, and the cover's evidence.

The tool's covers are smooth, skin-coloured ellipses, and any face model fires on them and on
their rims weakly, as it does on hands, fabric and camouflage: asked once, verify cried wolf on
most covered photos. A face left visible is seen by both models (CenterFace and YuNet, trained
apart), and by each in more than one view; a response on a cover or a texture rarely is. Each
candidate box is therefore looked at again by each model in two views:

* **wide**: the model's full pass over the picture where it ran (CenterFace's thorough pass on
  photos, YuNet on every photo and frame), or else a crop with context (1.5 box sizes each side),
  faces under 40 px zoomed 2x (as the thorough pass does), large faces shrunk to ``WIDE_MAX`` px;
  the better of the two when both are there;
* **close**: a crop with half a box of context, scaled so the box is ``LOOK_SIDE`` px.

and a candidate is a finding (``verdict``) when

* both models see it in both views (each score >= ``BOTH_VIEWS``), wherever it is; or, where the
  middle of the box is not the tool's cover (``covered`` under ``COVERED``):
* both models see it in the wide view (>= ``BOTH_WIDE``), or
* CenterFace sees it in both views (>= ``CENTERFACE_ALONE``), or YuNet does (>= ``YUNET_ALONE``).

Thresholds were set on one half of faces_crowd_orig (split by file name) and checked on the
other (docs/benchmarks.md, "Verify with two opinions"). Views are computed lazily, cheapest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import cv2
import numpy as np

from redact.boxes import iou
from redact.detections import Detections

#: the close view scales the candidate box to this many pixels on its long side: both models see
#: faces of this size well, and the crop with its context is small (about 128 x 128)
LOOK_SIDE = 64
LOOK_CONTEXT = 0.5  # context of the close view, share of the box's long side on each side
WIDE_CONTEXT = 1.5  # context of the wide view
WIDE_ZOOM_BELOW = 40  # boxes narrower than this are zoomed 2x in the wide view
WIDE_MAX = 96  # larger boxes are shrunk to this long side in the wide view (a close-up needs no more)
#: a box a view finds is the candidate when they overlap this much
SAME_PLACE_IOU = 0.3

#: the rule (module docstring); tuned on the tune half of faces_crowd_orig
BOTH_VIEWS = 0.4
BOTH_WIDE = 0.3
CENTERFACE_ALONE = 0.45
YUNET_ALONE = 0.8
#: the middle of a box is the tool's cover from this share of cover-like pixels
COVERED = 0.2
#: ``--fast`` stops at a finding both models see in both views at least this strongly
CERTAIN = 0.5
#: narrower candidates are not judged as leaks: the size from which the tool and its benches
#: call a face identifiable; both models agreeing on one is listed apart (``small``)
MIN_FACE = 16


class FaceModel(Protocol):
    def detect(self, image: np.ndarray) -> Detections: ...


def look_window(box: np.ndarray, width: int, height: int, context: float) -> tuple[int, int, int, int]:
    """The crop a view sees: the box with ``context`` times its long side around it, in the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    pad = context * max(x2 - x1, y2 - y1, 1.0)
    return (
        max(0, int(np.floor(x1 - pad))),
        max(0, int(np.floor(y1 - pad))),
        min(width, int(np.ceil(x2 + pad))),
        min(height, int(np.ceil(y2 + pad))),
    )


def second_look(model: FaceModel, image: np.ndarray, box: np.ndarray, scale: float, context: float) -> float:
    """The best score ``model`` gives a face at ``box`` (0 if none) in a crop with ``context`` around
    it, resized by ``scale``."""
    h, w = image.shape[:2]
    xa, ya, xb, yb = look_window(box, w, h, context)
    if xb - xa < 2 or yb - ya < 2:
        return 0.0
    crop = image[ya:yb, xa:xb]
    if scale != 1.0:
        size = (max(1, round((xb - xa) * scale)), max(1, round((yb - ya) * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    found = model.detect(np.ascontiguousarray(crop))
    if not len(found):
        return 0.0
    target = (np.asarray(box, np.float32) - np.array([xa, ya, xa, ya], np.float32)) * scale
    same = iou(target, found.boxes) >= SAME_PLACE_IOU
    return float(found.scores[same].max()) if same.any() else 0.0


def wide_scale(box: np.ndarray) -> float:
    side = max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)
    if float(box[2] - box[0]) < WIDE_ZOOM_BELOW:
        return 2.0
    return min(1.0, WIDE_MAX / side)


class Look:
    """One candidate's views, each computed the first time the rule asks for it."""

    def __init__(
        self,
        image: np.ndarray,
        box: np.ndarray,
        centerface: FaceModel,
        yunet: FaceModel,
        full: dict[str, float] | None = None,
    ) -> None:
        self.image, self.box = image, np.asarray(box, np.float32)
        self.models = {"centerface": centerface, "yunet": yunet}
        self.full = full or {}  # each model's score here in its full pass over the picture, where it ran

    def _close(self, model: str) -> float:
        scale = LOOK_SIDE / max(float(self.box[2] - self.box[0]), float(self.box[3] - self.box[1]), 1.0)
        return second_look(self.models[model], self.image, self.box, scale, LOOK_CONTEXT)

    def _wide(self, model: str) -> float:
        crop = second_look(self.models[model], self.image, self.box, wide_scale(self.box), WIDE_CONTEXT)
        return max(crop, self.full.get(model, 0.0))

    @cached_property
    def yunet_close(self) -> float:
        return self._close("yunet")

    @cached_property
    def yunet_wide(self) -> float:
        return self._wide("yunet")

    @cached_property
    def centerface_close(self) -> float:
        return self._close("centerface")

    @cached_property
    def centerface_wide(self) -> float:
        return self._wide("centerface")

    def wide_at_least(self, model: str, at: float) -> bool:
        """Whether the model's wide view reaches ``at``: its full pass, when that already does, needs no crop."""
        return self.full.get(model, 0.0) >= at or getattr(self, f"{model}_wide") >= at

    def scores(self) -> dict[str, float]:
        """The views computed so far, and the full passes' scores (for the report)."""
        names = ("centerface_wide", "centerface_close", "yunet_wide", "yunet_close")
        seen = {n: round(self.__dict__[n], 3) for n in names if n in self.__dict__}
        return {**{f"{m}_full": round(v, 3) for m, v in self.full.items()}, **seen}


def both_in_both_views(look: Look, at: float) -> bool:
    return (
        look.yunet_close >= at
        and look.wide_at_least("yunet", at)
        and look.centerface_close >= at
        and look.wide_at_least("centerface", at)
    )


def verdict(look: Look, covered: float) -> str | None:
    """Why this candidate is a face left visible, or None when it is not reported (module docstring).
    The views are asked for in the order that settles most candidates cheapest: YuNet's (a quarter
    of CenterFace's cost) before CenterFace's, close views before wide ones, and a wide view the
    full pass already answers needs no crop."""
    if covered >= COVERED:
        return "both models, both views" if both_in_both_views(look, BOTH_VIEWS) else None
    if look.yunet_close >= YUNET_ALONE and look.wide_at_least("yunet", YUNET_ALONE):
        return "YuNet, both views"
    if not look.wide_at_least("yunet", BOTH_WIDE):  # neither two models can agree: CenterFace alone
        return "CenterFace, both views" if centerface_alone(look) else None
    if both_in_both_views(look, BOTH_VIEWS):
        return "both models, both views"
    if look.wide_at_least("centerface", BOTH_WIDE):
        return "both models"
    return "CenterFace, both views" if centerface_alone(look) else None


def centerface_alone(look: Look) -> bool:
    return look.centerface_close >= CENTERFACE_ALONE and look.wide_at_least("centerface", CENTERFACE_ALONE)


@dataclass
class Judged:
    """The candidates of one picture: findings (box, score, why), small faces, and how many were set aside."""

    findings: list[tuple[np.ndarray, float, str]] = field(default_factory=list)
    small: list[tuple[np.ndarray, float]] = field(default_factory=list)
    on_covers: int = 0  # set aside where the middle of the box is the tool's cover
    weak: int = 0  # set aside elsewhere: too little agreement
    certain: bool = False  # a finding both models see in both views at CERTAIN


def distinct(boxes: np.ndarray, scores: np.ndarray, overlap: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Plain non-maximum suppression: candidates from two models and several passes, once each."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    for i in order:
        if not keep or iou(boxes[i], boxes[keep]).max() <= overlap:
            keep.append(int(i))
    return boxes[keep], scores[keep]
