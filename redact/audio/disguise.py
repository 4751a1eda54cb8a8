"""A voice disguise: pitch, formants and the envelope's detail moved apart, by amounts drawn at random per run.

Each short window of sound (about 50 ms, three quarters overlapping) is split into its spectral
envelope (the vocal tract: formants, tilt; a cepstrum smoothed over ``LIFTER_SECONDS``) and its fine
structure (the harmonics of the voice's pitch). Then, with parameters drawn once per run:

- the harmonics move by a pitch factor (4-8 semitones up or down, with a slow drift of 0.3-1
  semitone so the voice's own intonation is not kept exactly);
- the envelope's frequencies are warped by a formant factor (0.2-0.4 octave up or down: formants
  15-32% higher, or 13-24% lower; bent a little so low and high formants move by different amounts)
  and tilted;
- the envelope's detail (how sharp each formant is, how deep the valleys: much of what makes a
  voice one person's) is flattened towards its mean, keeping the broad shape that carries the words.

Phases follow a phase vocoder: each output bin turns at the pitch factor times the frequency of the
input bin it comes from, so harmonics stay coherent from window to window. Each window keeps its
input's energy. Duration, timing and sample rate are exact: output sample ``i`` is made from the
input around sample ``i`` (a window's smear, no delay). Blocks of any size stream through; only a
window's worth of samples is held.

The parameters are never written anywhere: a person who has them and the method could undo much of
the transform. Someone who knows only the method cannot learn one fixed inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]

#: ranges the parameters are drawn from: a magnitude uniform in [low, high], the sign at random
PITCH_SEMITONES = (4.0, 8.0)
FORMANT_OCTAVES = (0.20, 0.40)
DETAIL_KEPT = (0.40, 0.70)  # share of the envelope's deviation from its mean that is kept
BEND = 0.08  # exponent of the warp's bend, +-
TILT_DB_PER_OCTAVE = 2.0  # +-
DRIFT_SEMITONES = (0.3, 1.0)
DRIFT_HZ = (0.15, 0.5)
#: window length (rounded to a power of two samples) and the envelope's smoothing (quefrency cut-off)
WINDOW_SECONDS = 0.05
LIFTER_SECONDS = 0.0016


@dataclass(frozen=True)
class DisguiseParams:
    pitch: float  # factor on the harmonics' frequencies
    formant: float  # factor on the envelope's frequencies
    detail: float  # share of the envelope's detail kept
    bend: float  # the warp is formant * f * (f / 1500 Hz) ** bend
    tilt: float  # dB per octave added to the envelope (around 1 kHz)
    drift: float  # semitones of slow pitch drift
    drift_hz: float
    drift_phase: float

    def __repr__(self) -> str:  # never in a log or a traceback
        return "DisguiseParams(...)"


def draw_params(rng: np.random.Generator) -> DisguiseParams:
    """One run's disguise."""

    def signed(low: float, high: float) -> float:
        return float(rng.uniform(low, high) * rng.choice([-1.0, 1.0]))

    return DisguiseParams(
        pitch=2 ** (signed(*PITCH_SEMITONES) / 12),
        formant=2 ** signed(*FORMANT_OCTAVES),
        detail=float(rng.uniform(*DETAIL_KEPT)),
        bend=signed(0.0, BEND),
        tilt=signed(0.0, TILT_DB_PER_OCTAVE),
        drift=float(rng.uniform(*DRIFT_SEMITONES)),
        drift_hz=float(rng.uniform(*DRIFT_HZ)),
        drift_phase=float(rng.uniform(0.0, 2 * np.pi)),
    )


def window_size(rate: int) -> int:
    """Samples per window: the power of two nearest WINDOW_SECONDS (1024 at 16 kHz, 2048 at 44.1-48 kHz)."""
    return int(2 ** round(float(np.log2(rate * WINDOW_SECONDS))))


class VoiceDisguise:
    """Disguises the voices in a stream of ``channels`` x samples float blocks (each channel alike)."""

    def __init__(self, rate: int, channels: int, params: DisguiseParams) -> None:
        self.rate, self.channels, self.params = rate, channels, params
        n = self.size = window_size(rate)
        hop = self.hop = n // 4
        bins = self.bins = n // 2 + 1
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
        self.synthesis = (self.window / (np.sum(self.window**2) / hop)).astype(np.float32)  # overlap-adds to one
        self.centre_turn = (2 * np.pi * hop * np.arange(bins) / n).astype(np.float32)  # phase per hop of each bin
        self.centre_unturn = np.exp(-1j * self.centre_turn).astype(np.complex64)
        self.lifter = max(2, round(rate * LIFTER_SECONDS))
        # the envelope at output frequency f is the input's at warp^-1(f); the tilt, in natural log units
        hz = np.arange(bins) * rate / n
        self.envelope_at = _Reading(np.clip(_unwarp(hz, params, rate / 2) * n / rate, 0, bins - 1))
        octaves = np.log2(np.maximum(hz, 50.0) / 1000.0)
        self.tilt = (params.tilt * octaves * np.log(10) / 20).astype(np.float32)
        # streaming state: input not yet in a whole window (starting with a window's worth of padding,
        # so that the first samples are covered by as many windows as every other sample)
        self.pending = np.zeros((channels, n - hop), np.float32)
        self.tail = np.zeros((channels, n - hop), np.float32)  # overlap-add not yet complete
        self.last_turning = np.ones((channels, bins), np.complex64)
        self.out_phase = np.zeros((channels, bins), np.float64)
        self.windows_done = 0
        self.to_skip = n - hop  # output samples that belong to the padding
        self.owed = 0  # input samples taken whose output has not been given yet

    def process(self, block: Samples) -> Samples:
        """Take ``block`` (channels x samples); return the output that is complete (it lags by up to a window)."""
        self.owed += block.shape[1]
        self.pending = np.concatenate([self.pending, block.astype(np.float32, copy=False)], axis=1)
        return self._run()

    def flush(self) -> Samples:
        """The rest of the output: after it, exactly as many samples have come out as went in."""
        self.pending = np.concatenate([self.pending, np.zeros((self.channels, self.size), np.float32)], axis=1)
        return self._run()

    def _run(self) -> Samples:
        n, hop = self.size, self.hop
        count = (self.pending.shape[1] - n) // hop + 1
        if count <= 0:
            return np.zeros((self.channels, 0), np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(self.pending, n, axis=1)[:, : count * hop : hop]
        self.pending = self.pending[:, count * hop :]
        made = self._windows(windows)
        added = np.zeros((self.channels, (count + 3) * hop), np.float32)
        added[:, : n - hop] += self.tail
        for quarter in range(4):
            part = made[:, :, quarter * hop : (quarter + 1) * hop].reshape(self.channels, -1)
            added[:, quarter * hop : quarter * hop + count * hop] += part
        done, self.tail = added[:, : count * hop], added[:, count * hop :]
        skip = min(self.to_skip, done.shape[1])
        done, self.to_skip = done[:, skip:], self.to_skip - skip
        done = done[:, : self.owed]
        self.owed -= done.shape[1]
        return done

    def _windows(self, windows: np.ndarray) -> Samples:
        """Disguise ``count`` windows of every channel at once (channels x count x size)."""
        p, hop, bins = self.params, self.hop, self.bins
        count = windows.shape[1]
        spectrum = np.fft.rfft(windows * self.window, axis=-1)
        magnitude = np.abs(spectrum)
        log_mag = np.log(magnitude + 1e-7)
        envelope = self._envelope(log_mag)
        fine = log_mag - envelope
        # the pitch factor of each window, with its slow drift
        seconds = (self.windows_done + np.arange(count)) * hop / self.rate
        self.windows_done += count
        pitch = (p.pitch * 2 ** (p.drift * np.sin(2 * np.pi * p.drift_hz * seconds + p.drift_phase) / 12)).astype(
            np.float32
        )
        source = np.arange(bins, dtype=np.float32)[None, :] / pitch[:, None]  # the input bin each output bin comes from
        source = np.clip(np.where(source > bins - 1, 2 * (bins - 1) - source, source), 0, bins - 1)
        harmonics = _Reading(source)
        # the envelope: detail flattened, frequencies warped, tilted
        mean = envelope.mean(axis=-1, keepdims=True)
        envelope = mean + p.detail * (envelope - mean)
        out_log = self.envelope_at.read(envelope) + self.tilt + harmonics.read(fine)
        # each window keeps its input's energy (moving harmonics and formants changes it)
        power_in = np.sum(magnitude * magnitude, axis=-1)
        power_out = np.sum(np.exp(2 * out_log), axis=-1)
        out_log += 0.5 * np.log((power_in + 1e-12) / (power_out + 1e-12))[..., None]
        turning = np.where(magnitude > 0, spectrum / np.maximum(magnitude, 1e-30), 1).astype(np.complex64)
        out_phase = self._phases(turning, harmonics, pitch)
        out = np.exp(out_log) * (np.cos(out_phase) + 1j * np.sin(out_phase)).astype(np.complex64)
        return np.fft.irfft(out, n=self.size, axis=-1).astype(np.float32) * self.synthesis

    def _envelope(self, log_mag: np.ndarray) -> np.ndarray:
        """Each window's spectral envelope: its log spectrum with the quefrencies above the lifter removed."""
        cepstrum = np.fft.irfft(log_mag, n=self.size, axis=-1)
        cepstrum[..., self.lifter : self.size - self.lifter + 1] = 0
        return np.fft.rfft(cepstrum, axis=-1).real.astype(np.float32)

    def _phases(self, turning: np.ndarray, source: _Reading, pitch: np.ndarray) -> np.ndarray:
        """The phase vocoder: each output bin turns, per hop, by the pitch factor times the turn of its
        source bin (that bin's frequency as measured from the phase change since the last window).
        ``turning``: each input bin's phase as a unit number (1 where the bin is silent)."""
        before = np.concatenate([self.last_turning[:, None, :], turning[:, :-1]], axis=1)
        self.last_turning = turning[:, -1]
        deviation = np.angle(turning * np.conj(before) * self.centre_unturn)  # in -pi..pi
        steps = source.nearest(self.centre_turn + deviation) * pitch[None, :, None]
        out = self.out_phase[:, None, :] + np.cumsum(steps, axis=1, dtype=np.float64)
        out %= 2 * np.pi
        self.out_phase = out[:, -1]
        return out.astype(np.float32)


class _Reading:
    """Where to read a (..., bins) array at fractional bins: one position per bin, or per window and bin."""

    def __init__(self, positions: np.ndarray) -> None:
        bins = positions.shape[-1]
        low = np.minimum(positions.astype(np.intp), bins - 2)
        self.frac = (positions - low).astype(np.float32)
        if positions.ndim == 2:  # per window: flat indices into (windows * bins)
            low = low + bins * np.arange(positions.shape[0])[:, None]
        self.per_window = positions.ndim == 2
        self.low = low.reshape(-1)
        self.round_up = self.frac >= 0.5

    def _take(self, values: np.ndarray, index: np.ndarray) -> np.ndarray:
        if self.per_window:
            return values.reshape(*values.shape[:-2], -1)[..., index].reshape(values.shape)
        return values[..., index]

    def read(self, values: np.ndarray) -> np.ndarray:
        """Linear interpolation between the two bins around each position."""
        a = self._take(values, self.low)
        b = self._take(values, self.low + 1)
        return a + (b - a) * self.frac

    def nearest(self, values: np.ndarray) -> np.ndarray:
        low = self._take(values, self.low)
        high = self._take(values, self.low + 1)
        return np.where(self.round_up, high, low)


def _unwarp(hz: np.ndarray, p: DisguiseParams, nyquist: float) -> np.ndarray:
    """The input frequency whose envelope value lands at each output frequency ``hz``."""
    grid = np.linspace(0.0, nyquist * 2.0, 8192)
    warped = grid * p.formant * (np.maximum(grid, 1.0) / 1500.0) ** p.bend
    return np.interp(hz, warped, grid)
