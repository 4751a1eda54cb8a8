"""Camera motion between consecutive frames, so tracks move with a pan, zoom or shake.

A crowd seen by a moving camera moves as one: estimating that motion once per frame
(corners tracked by pyramidal Lucas-Kanade on a small grey copy, then a robust
similarity fit) lets the tracker keep every face where the camera put it, instead
of guessing each face's motion from detections several frames apart.
"""

from __future__ import annotations

import cv2
import numpy as np

from redact.boxes import centres

WORK_WIDTH = 320  # the estimate is made on a copy this wide: a tenth of a pixel there is 0.6 px in 1080p
MAX_CORNERS = 120
MIN_POINTS = 12  # fewer tracked corners than this: no estimate (flat picture, cut, darkness)
STILL_PX = 0.3  # corners that moved less than this (in the small copy) stood still ...
STILL_SHARE = 0.2  # ... and if this share of them did, the camera did not move
MIN_SPREAD = 0.5  # agreeing corners must span half the picture's width and height


def identity() -> np.ndarray:
    return np.eye(3, dtype=np.float64)


class CameraMotion:
    """``update(image)`` returns the 3 x 3 transform taking the previous frame's pixel
    coordinates to this frame's (identity for the first frame and when unsure)."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None
        self._scale = 1.0
        self._last = identity()  # the last estimate, in the small copy's pixels

    def reset(self) -> None:
        self._previous = None
        self._last = identity()

    def update(self, image: np.ndarray) -> np.ndarray:
        grey = self._small_grey(image)
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            return identity()
        corners = cv2.goodFeaturesToTrack(previous, MAX_CORNERS, 0.01, 6, blockSize=5)
        if corners is None or len(corners) < MIN_POINTS:
            return identity()
        # a camera keeps moving as it moved: the search starts where the last motion puts each
        # corner, so a fast zoom or pan stays within the search's reach
        ahead = (corners.reshape(-1, 2) @ self._last[:2, :2].T + self._last[:2, 2]).reshape(-1, 1, 2)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            previous,
            grey,
            corners,
            ahead.astype(np.float32),
            winSize=(15, 15),
            maxLevel=2,
            flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
        )
        ok = status.reshape(-1) == 1
        self._last = identity()  # unless this frame's estimate says otherwise
        if ok.sum() < MIN_POINTS:
            return identity()
        before, after = corners[ok].reshape(-1, 2), moved[ok].reshape(-1, 2)
        if (np.linalg.norm(after - before, axis=1) < STILL_PX).mean() >= STILL_SHARE:
            return identity()  # part of the scene stands still: the camera does, whatever else moves
        fit, inliers = cv2.estimateAffinePartial2D(before, after, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if (
            fit is None
            or inliers is None
            or not self._trustworthy(before[inliers.reshape(-1) == 1], len(before), grey.shape)
        ):
            return identity()
        self._last[:2] = fit
        return self._to_frame_pixels(fit)

    @staticmethod
    def _trustworthy(inliers: np.ndarray, tracked: int, shape: tuple[int, ...]) -> bool:
        """Most corners agree, and they are spread over the picture: a textured thing moving in front
        of a still camera (a person close by, a passing bus) is not a camera move."""
        if len(inliers) < max(MIN_POINTS, 0.5 * tracked):
            return False
        spread = inliers.max(axis=0) - inliers.min(axis=0)
        return bool(spread[0] >= MIN_SPREAD * shape[1] and spread[1] >= MIN_SPREAD * shape[0])

    def _small_grey(self, image: np.ndarray) -> np.ndarray:
        self._scale = min(1.0, WORK_WIDTH / image.shape[1])
        size = (max(1, round(image.shape[1] * self._scale)), max(1, round(image.shape[0] * self._scale)))
        # a linear shrink reads a few pixels per output pixel: ten times cheaper than averaging, and
        # the corner tracker only needs texture, not a faithful picture
        return cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2GRAY)

    def _to_frame_pixels(self, fit: np.ndarray) -> np.ndarray:
        """The fit was made on the small copy: the same motion in full-frame pixels."""
        m = identity()
        m[:2] = fit
        down = np.diag([self._scale, self._scale, 1.0])
        return np.linalg.inv(down) @ m @ down


def warp_boxes(transform: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Axis-aligned boxes (N x 4) moved by a similarity transform: centres mapped, sizes scaled."""
    if not len(boxes):
        return boxes
    scale = float(np.sqrt(abs(np.linalg.det(transform[:2, :2]))))
    centre = centres(boxes)
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * scale
    moved = centre @ transform[:2, :2].T + transform[:2, 2]
    return np.concatenate([moved - half, moved + half], axis=1).astype(np.float32)
