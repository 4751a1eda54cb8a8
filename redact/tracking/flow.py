"""Where each tracked box went since the previous frame, measured from its own pixels.

A face between detector passes moves with the camera and on its own (a head turns, a person
walks). Instead of assuming a velocity and growing the box to cover the doubt, a few points
inside each box are followed by pyramidal Lucas-Kanade optical flow, forward and back; when
enough of them agree, the box moves by their median motion and needs no growth.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_WIDTH = 960  # flow runs on a grey copy this wide at most (1080p at half size)
MIN_SIDE = 8.0  # boxes smaller than this in the copy (16 px in 1080p) are not measured: too few pixels
GRID = 2  # points per box: a GRID x GRID grid over its middle
INNER = 0.6  # the grid spans this share of the box: the face, not its background
FB_ERROR = 0.7  # px in the copy: a point whose backward flow misses its start by more is dropped
MIN_AGREE = 3  # of the GRID**2 points, at least this many must pass
SPREAD = 0.2  # and their motions may differ by at most this share of the box size
MAX_PATCH_ERROR = 12.0  # mean grey-level difference of a point's patches: above, the match is not the face
CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 10, 0.03)  # search starts near: few steps
_FLAGS = cv2.OPTFLOW_USE_INITIAL_FLOW


class BoxFlow:
    """``update(image)`` once per frame, then ``measure(boxes)`` for boxes in the previous
    frame's pixels: where each went in this frame, and which were measured."""

    def __init__(self) -> None:
        # the last two frames, and their grey copies once a measurement needed them: most frames
        # of most clips have no lost face to measure, and then no copy is made
        self._images: list[np.ndarray | None] = [None, None]
        self._greys: list[np.ndarray | None] = [None, None]
        self._previous: np.ndarray | None = None
        self._current: np.ndarray | None = None
        self._scale = 1.0

    def reset(self) -> None:
        self._images, self._greys = [None, None], [None, None]

    def update(self, image: np.ndarray) -> None:
        """This frame (kept by reference: it must not be painted before the next ``update``)."""
        self._images = [self._images[1], image]
        self._greys = [self._greys[1], None]

    def _grey(self, which: int) -> np.ndarray | None:
        image = self._images[which]
        if image is not None and self._greys[which] is None:
            size = (max(1, round(image.shape[1] * self._scale)), max(1, round(image.shape[0] * self._scale)))
            small = image if self._scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            self._greys[which] = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return self._greys[which]

    def _load(self) -> None:
        """The grey copies of both frames, at the current frame's scale (None if a size changed)."""
        current = self._images[1]
        if current is not None:
            self._scale = min(1.0, WORK_WIDTH / current.shape[1])
        self._previous, self._current = self._grey(0), self._grey(1)
        if self._previous is not None and self._current is not None and self._previous.shape != self._current.shape:
            self._previous = None

    def measure(
        self, boxes: np.ndarray, guesses: np.ndarray, camera: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where each box (previous frame's pixels) went in this frame, at its guessed size, and a
        mask of the measured ones. ``guesses`` (this frame's pixels: the camera's motion and the
        track's own velocity) is where the search starts; ``camera`` (previous frame's pixels to
        this one's) is undone to start the check back, so a search that did not move from its
        start cannot confirm itself."""
        moved = guesses.astype(np.float32, copy=True)
        ok = np.zeros(len(boxes), bool)
        if len(boxes):
            self._load()
        if self._previous is None or self._current is None or not len(boxes):
            return moved, ok
        small = boxes * self._scale
        side = np.minimum(small[:, 2] - small[:, 0], small[:, 3] - small[:, 1])
        rows = np.flatnonzero(side >= MIN_SIDE)
        if not len(rows):
            return moved, ok
        points = _grid(small[rows])
        start = _grid(guesses[rows] * self._scale)
        along = np.zeros_like(points) if camera is None else _moved(points, camera, self._scale) - points
        shift, good = self._follow(points, start, along)
        shift = np.where(good[:, None], shift, np.inf).reshape(len(rows), GRID * GRID, 2)
        count = good.reshape(len(rows), GRID * GRID).sum(axis=1)
        agree = count >= MIN_AGREE
        median = _median(shift, count)
        spread = np.where(np.isfinite(shift), np.abs(shift - median[:, None]), 0.0).max(axis=(1, 2))
        # points on the face and on something passing in front of it disagree: not measured
        agree &= spread <= SPREAD * side[rows]
        measured = rows[agree]
        centre = (boxes[measured, :2] + boxes[measured, 2:]) / 2 + median[agree] / self._scale
        half = (guesses[measured, 2:] - guesses[measured, :2]) / 2
        moved[measured] = np.concatenate([centre - half, centre + half], axis=1)
        ok[measured] = True
        return moved, ok

    def _follow(self, points: np.ndarray, start: np.ndarray, camera_shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each point's motion from the previous copy to the current one (searched from ``start``),
        and whether it held up: found back where it began when searched from where the camera
        alone would have put it, and a close match of the two patches."""
        assert self._previous is not None and self._current is not None
        p0 = points.reshape(-1, 1, 2).astype(np.float32)
        ahead = start.reshape(-1, 1, 2).astype(np.float32)
        p1, st1, err = cv2.calcOpticalFlowPyrLK(
            self._previous, self._current, p0, ahead, winSize=(9, 9), maxLevel=1, criteria=CRITERIA, flags=_FLAGS
        )
        behind = (p1 - camera_shift.reshape(-1, 1, 2)).astype(np.float32)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(
            self._current, self._previous, p1, behind, winSize=(9, 9), maxLevel=1, criteria=CRITERIA, flags=_FLAGS
        )
        error = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
        good = (
            (st1.reshape(-1) == 1) & (st2.reshape(-1) == 1) & (error < FB_ERROR) & (err.reshape(-1) < MAX_PATCH_ERROR)
        )
        return (p1 - p0).reshape(-1, 2), good


def _grid(boxes: np.ndarray) -> np.ndarray:
    """GRID x GRID points over the middle INNER share of each box (N*GRID*GRID x 2)."""
    steps = (np.arange(GRID) + 0.5) / GRID * INNER + (1 - INNER) / 2
    gx, gy = np.meshgrid(steps, steps)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    xs = boxes[:, 0, None] + w[:, None] * gx.reshape(1, -1)
    ys = boxes[:, 1, None] + h[:, None] * gy.reshape(1, -1)
    return np.stack([xs, ys], axis=2).reshape(-1, 2)


def _moved(points: np.ndarray, camera: np.ndarray, scale: float) -> np.ndarray:
    """Points of the copy moved by the camera transform (given in full-frame pixels)."""
    full = points / scale
    return (full @ camera[:2, :2].T + camera[:2, 2]) * scale


def _median(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per row, the median of the first ``count`` finite values (N x K x 2; the rest are inf)."""
    ordered = np.sort(values, axis=1)
    rows = np.arange(len(values))
    low, high = np.maximum(count - 1, 0) // 2, np.maximum(count, 1) // 2
    median = (ordered[rows, low] + ordered[rows, high]) / 2
    return np.where(np.isfinite(median), median, 0.0)
