"""Scene cuts from colour histograms: cheap, and unmoved by camera pans and zooms within a shot.

One fixed distance cannot serve every kind of footage: two dark shots of a stage differ less
than two frames of a hand-held crowd. A frame starts a new shot when its distance from the
previous frame is above ``threshold``, or when it stands far out from the distances between the
frames of the shot so far (``RELATIVE`` times their high percentile, and at least ``FLOOR``).
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

FLOOR = 0.2  # below this Bhattacharyya distance nothing is a cut (noise, flicker, a flash of light)
RELATIVE = 3.0  # a cut stands this many times above the shot's usual frame-to-frame distance ...
HISTORY = 30  # ... measured over this many frames
PERCENTILE = 90
MIN_HISTORY = 5  # the relative test starts once the shot has this many distances


class CutDetector:
    def __init__(self, threshold: float = 0.45) -> None:
        self.threshold = threshold
        self._previous: np.ndarray | None = None
        self._distances: deque[float] = deque(maxlen=HISTORY)

    def update(self, image: np.ndarray) -> bool:
        """True when ``image`` starts a new shot (never for the first frame)."""
        hist = _histogram(image)
        previous, self._previous = self._previous, hist
        if previous is None or self.threshold <= 0:
            return False
        distance = float(cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA))
        cut = distance > self.threshold or self._stands_out(distance)
        if cut:
            self._distances.clear()  # a new shot, with its own usual distances
        else:
            self._distances.append(distance)
        return cut

    def _stands_out(self, distance: float) -> bool:
        if distance <= min(FLOOR, self.threshold) or len(self._distances) < MIN_HISTORY:
            return False
        usual = float(np.percentile(np.asarray(self._distances), PERCENTILE))
        return distance > RELATIVE * usual


def _histogram(image: np.ndarray) -> np.ndarray:
    step = max(1, min(image.shape[0] // 36, image.shape[1] // 64) // 2)
    small = cv2.resize(image[::step, ::step], (64, 36), interpolation=cv2.INTER_AREA)  # strided view: cheap at 4K too
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, None).flatten()
