"""One time type: a video's frame timestamps in its own time base, and index <-> seconds.

Timestamps stay exact integers in the stream's time base (a Fraction) until a person needs seconds;
frame rates are Fractions too, never rounded (29.97 is 30000/1001).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property


def to_seconds(pts: int, time_base: Fraction) -> float:
    """A timestamp in seconds (from the stream's zero, not from its first frame)."""
    return float(pts * time_base)


def to_pts(seconds: float | Fraction, time_base: Fraction) -> int:
    """The nearest timestamp to ``seconds``, in ``time_base`` (exact for a Fraction)."""
    return round(Fraction(seconds) / time_base)


def frames_in(seconds: float, frame_rate: Fraction | float) -> int:
    """How many frames ``seconds`` spans at ``frame_rate`` (rounded; 0 for a zero rate)."""
    return round(seconds * float(frame_rate)) if frame_rate else 0


@dataclass(frozen=True)
class Timeline:
    """Each frame's timestamp, in decode order, and the time base they are counted in."""

    pts: Sequence[int]
    time_base: Fraction

    def __len__(self) -> int:
        return len(self.pts)

    @property
    def start(self) -> int:
        return self.pts[0] if self.pts else 0

    def seconds(self, pts: int) -> float:
        """Seconds from the first frame (what a person reads on a timeline)."""
        return float((pts - self.start) * self.time_base)

    @cached_property
    def frame_seconds(self) -> tuple[float, ...]:
        """Every frame's time, worked out once: a reviewed file looks up many times in one timeline."""
        return tuple(self.seconds(p) for p in self.pts)

    def index_at(self, seconds: float) -> int:
        """The frame on screen ``seconds`` after the first frame: the last frame shown at or before it,
        clamped to the video (a time before the start is frame 0, one after the end the last frame).
        """
        index = bisect.bisect_right(self.frame_seconds, seconds) - 1
        return min(max(index, 0), max(len(self.pts) - 1, 0))
