"""Muted ranges: the samples of each range replaced by silence (exact zeros) or a tone, block by block.

Ranges are in samples on the stream's own timeline (sample ``i`` plays at ``i / rate`` seconds), so a
block knows which of its samples to replace from where it starts, whatever size the blocks are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from redact.settings import MUTE_STYLES

TONE_HZ = 1000.0
TONE_LEVEL = 0.1  # -20 dBFS: clearly a bleep, not loud
TONE_FADE_SECONDS = 0.005  # the tone fades in and out inside the range, so its edges do not click


def merge(ranges: Iterable[tuple[Fraction, Fraction]]) -> list[tuple[Fraction, Fraction]]:
    """Sorted ranges, overlapping or touching ones joined."""
    merged: list[tuple[Fraction, Fraction]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def sample_ranges(seconds: Iterable[tuple[Fraction, Fraction]], rate: int, guard: int = 0) -> list[tuple[int, int]]:
    """Half-open sample ranges ``[a, b)`` holding every sample whose time is in ``[start, end)``,
    each widened by ``guard`` samples on both sides."""
    return [
        (math.ceil(start * rate) - guard, math.ceil(end * rate) + guard)
        for start, end in merge((Fraction(a), Fraction(b)) for a, b in seconds)
    ]


class Muter:
    """Replaces the samples of the given ranges in blocks (channels x samples, float) as they pass."""

    def __init__(self, ranges: list[tuple[int, int]], rate: int, style: str = "silence") -> None:
        if style not in MUTE_STYLES:
            raise ValueError(f"unknown mute style {style!r}")
        self.ranges, self.rate, self.style = ranges, rate, style

    def apply(self, block: npt.NDArray[np.float32], first: int) -> npt.NDArray[np.float32]:
        """``block``'s first sample is sample ``first`` of the stream; changed in place and returned."""
        last = first + block.shape[-1]
        for a, b in self.ranges:
            lo, hi = max(a, first), min(b, last)
            if lo >= hi:
                continue
            if self.style == "silence":
                block[:, lo - first : hi - first] = 0.0
            else:
                block[:, lo - first : hi - first] = self._tone(a, b, lo, hi)
        return block

    def _tone(self, a: int, b: int, lo: int, hi: int) -> npt.NDArray[np.float32]:
        """Samples ``lo..hi`` of a tone that fills the range ``a..b`` (the same wherever blocks are cut)."""
        index = np.arange(lo, hi, dtype=np.float64)
        fade = max(1.0, TONE_FADE_SECONDS * self.rate)
        ramp = np.clip(np.minimum(index - a + 1, b - index) / fade, 0.0, 1.0)
        envelope = 0.5 - 0.5 * np.cos(np.pi * ramp)
        return (TONE_LEVEL * envelope * np.sin(2 * np.pi * TONE_HZ * index / self.rate)).astype(np.float32)
