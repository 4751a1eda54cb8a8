"""What a run does to the sound: voices disguised or not, and ranges muted, for every audio track it writes.

The disguise's parameters are drawn once per run (fresh system entropy) and live only in memory: they
are never written to the output or the report, so no one can read back the transform to undo it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from redact.audio.disguise import DisguiseParams, VoiceDisguise, draw_params
from redact.audio.mute import Muter, sample_ranges


@dataclass(frozen=True)
class AudioEdit:
    disguise: DisguiseParams | None = None
    mute: tuple[tuple[Fraction, Fraction], ...] = ()  # seconds on the input's own timeline (not from the first frame)
    mute_style: str = "silence"

    @property
    def changes_sound(self) -> bool:
        """Whether the samples change (then every audio track is decoded and encoded again)."""
        return self.disguise is not None or bool(self.mute)

    def __repr__(self) -> str:  # the parameters stay out of logs and tracebacks
        return f"AudioEdit(disguise={'yes' if self.disguise else 'no'}, mute={len(self.mute)} range(s), mute_style={self.mute_style!r})"


def audio_edit(
    mode: str,
    mute: Sequence[tuple[float, float]] = (),
    mute_style: str = "silence",
    origin: Fraction = Fraction(0),
    rng: np.random.Generator | None = None,
) -> AudioEdit:
    """The edit for one run: ``mute`` ranges are seconds from the video's first frame, which is at
    ``origin`` seconds of the input's timeline; ``disguise`` draws its parameters from ``rng`` (fresh
    system entropy when None)."""
    params = draw_params(rng if rng is not None else np.random.default_rng()) if mode == "disguise" else None
    # str(): the seconds as typed (0.4 is 2/5, not the float just above it), so no sample is lost at an edge
    ranges = tuple((origin + Fraction(str(start)), origin + Fraction(str(end))) for start, end in mute)
    return AudioEdit(params, ranges, mute_style)


class StreamEditor:
    """One audio stream's samples through the disguise and the muted ranges, block by block: the output
    has exactly as many samples as the input, each at its input's place in time."""

    def __init__(self, edit: AudioEdit, rate: int, channels: int, first_sample: int, guard: int = 0) -> None:
        self.rate, self.channels = rate, channels
        self.position = self.out_position = first_sample  # of the next sample in and out
        ranges = sample_ranges(edit.mute, rate, guard)
        self.muter = Muter(ranges, rate, edit.mute_style) if ranges else None
        self.voice = VoiceDisguise(rate, channels, edit.disguise) if edit.disguise is not None else None
        # silence before the disguise too, so that it cannot smear a muted word outside its range
        self.before = Muter(ranges, rate) if ranges and self.voice is not None else None

    def push(self, block: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self.before is not None:
            self.before.apply(block, self.position)
        self.position += block.shape[-1]
        return self._out(self.voice.process(block) if self.voice is not None else block)

    def flush(self) -> npt.NDArray[np.float32]:
        if self.voice is None:
            return np.zeros((self.channels, 0), np.float32)
        return self._out(self.voice.flush())

    def _out(self, block: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self.muter is not None:
            self.muter.apply(block, self.out_position)
        self.out_position += block.shape[-1]
        return block
