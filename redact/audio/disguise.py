"""A voice disguise: the pitch and the spectral envelope (formants, tilt) moved apart, by amounts drawn at random per run.

prototype
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class DisguiseParams:
    pitch: float  # factor on the voice's harmonics
    formant: float  # factor on the spectral envelope's frequencies
    bend: float  # exponent that bends the envelope warp (low and high formants move by different factors)
    tilt: float  # dB per octave added to the envelope
    drift: float  # semitones of slow pitch drift
    drift_hz: float
    drift_phase: float
    warp_points: tuple[float, ...] = ()  # input frequencies (Hz) of the warp's breakpoints
    warp_slopes: tuple[float, ...] = ()  # relative slope of each segment between them
    eq_db: tuple[float, ...] = ()  # gains at log-spaced frequencies from 100 Hz to the top
    noise_hz: float = 0.0  # above this, harmonics become noise (0: never)


RANGES = {
    "pitch": (3.0, 6.0),
    "formant": (0.14, 0.30),
    "bend": (0.0, 0.10),
    "tilt": (0.0, 2.0),
    "drift": (0.3, 1.0),
    "slope": (0.0, 0.0),
    "eq": (0.0, 0.0),
    "noise": (0.0, 0.0),
}
WARP_POINTS = (300.0, 700.0, 1200.0, 2000.0, 3000.0, 4500.0)
EQ_BANDS = 8


def draw_params(rng: np.random.Generator, ranges: dict | None = None) -> DisguiseParams:
    r = dict(RANGES, **(ranges or {}))

    def signed(name: str) -> float:
        low, high = r[name]
        return float(rng.uniform(low, high) * rng.choice([-1.0, 1.0]))

    return DisguiseParams(
        pitch=2 ** (signed("pitch") / 12),
        formant=2 ** signed("formant"),
        bend=signed("bend"),
        tilt=signed("tilt"),
        drift=float(rng.uniform(*r["drift"])),
        drift_hz=float(rng.uniform(0.15, 0.5)),
        drift_phase=float(rng.uniform(0, 2 * np.pi)),
        warp_points=WARP_POINTS,
        warp_slopes=tuple(float(2 ** rng.uniform(-r["slope"][1], r["slope"][1])) for _ in range(len(WARP_POINTS) + 1)),
        eq_db=tuple(float(rng.uniform(-r["eq"][1], r["eq"][1])) for _ in range(EQ_BANDS)),
        noise_hz=float(rng.uniform(*r["noise"])),
    )


def fft_size(rate: int, seconds: float = 0.05) -> int:
    return int(2 ** np.round(np.log2(rate * seconds)))


class VoiceDisguise:
    def __init__(
        self,
        rate: int,
        channels: int,
        params: DisguiseParams,
        window_seconds: float = 0.05,
        lifter_ms: float = 1.6,
        chorus: float = 0.0,
        env_smooth: float = 0.0,
    ) -> None:
        self.chorus, self.env_smooth = chorus, env_smooth
        self.env_state = None
        self.rate, self.channels, self.params = rate, channels, params
        n = self.n = fft_size(rate, window_seconds)
        h = self.hop = n // 4
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
        self.norm = float(np.sum(self.window**2) / h)  # 1.5 for a periodic Hann at 75% overlap
        k = self.bins = n // 2 + 1
        self.omega = (2 * np.pi * np.arange(k) / n).astype(np.float64)  # rad per sample of each bin's centre
        self.lifter = max(2, int(rate * lifter_ms / 1000))
        self.pending = np.zeros((channels, n - h), np.float32)  # input not yet in a full frame; starts with padding
        self.acc = np.zeros((channels, n - h), np.float32)  # overlap-add tail
        self.prev_phase = np.zeros((channels, k))
        self.out_phase = np.zeros((channels, k))
        self.out_phase2 = np.random.default_rng().uniform(0, 2 * np.pi, (channels, k))
        self.frame = 0
        self.skip = n - h  # output samples that belong to the padding
        self.taken = 0
        self.given = 0
        freqs = np.arange(k) * rate / n
        # the envelope at output frequency f is the input's at warp^-1(f)
        src = _inverse_warp(freqs, params, rate / 2)
        self.env_pos = np.clip(src * n / rate, 0, k - 1)
        octaves = np.log2(np.maximum(freqs, 50.0) / 1000.0)
        db = params.tilt * octaves
        if params.eq_db:
            at = np.geomspace(100.0, rate / 2, len(params.eq_db))
            db = db + np.interp(np.log(np.maximum(freqs, 1.0)), np.log(at), params.eq_db)
        self.tilt = (db / 20 * np.log(10)).astype(np.float32)
        self.noisy = freqs > params.noise_hz if params.noise_hz > 0 else None
        self.rng = np.random.default_rng()

    def process(self, block: Samples) -> Samples:
        self.taken += block.shape[1]
        self.pending = np.concatenate([self.pending, block.astype(np.float32, copy=False)], axis=1)
        return self._run()

    def flush(self) -> Samples:
        self.pending = np.concatenate([self.pending, np.zeros((self.channels, self.n), np.float32)], axis=1)
        out = self._run()
        return out

    def _run(self) -> Samples:
        n, h = self.n, self.hop
        count = (self.pending.shape[1] - n) // h + 1
        if count <= 0:
            return np.zeros((self.channels, 0), np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(self.pending, n, axis=1)[:, : count * h : h]
        self.pending = self.pending[:, count * h :]
        out_frames = self._frames(frames)
        acc = np.zeros((self.channels, (count + 3) * h), np.float32)
        acc[:, : n - h] += self.acc
        for j in range(4):
            acc[:, j * h : j * h + count * h] += out_frames[:, :, j * h : (j + 1) * h].reshape(self.channels, -1)
        done, self.acc = acc[:, : count * h], acc[:, count * h :]
        if self.skip:
            cut = min(self.skip, done.shape[1])
            done, self.skip = done[:, cut:], self.skip - cut
        room = self.taken - self.given
        done = done[:, :room]
        self.given += done.shape[1]
        return done

    def _frames(self, frames: np.ndarray) -> np.ndarray:
        p, n, h, k = self.params, self.n, self.hop, self.bins
        count = frames.shape[1]
        spec = np.fft.rfft(frames * self.window, axis=-1)
        mag = np.abs(spec).astype(np.float32)
        phase = np.angle(spec)
        logmag = np.log(mag + 1e-7)
        cep = np.fft.irfft(logmag, n=n, axis=-1)
        cep[..., self.lifter : n - self.lifter + 1] = 0
        env = np.fft.rfft(cep, axis=-1).real.astype(np.float32)
        if self.env_smooth:
            a = self.env_smooth
            env = env.copy()
            state = env[:, 0] if self.env_state is None else self.env_state
            for t in range(count):
                state = a * state + (1 - a) * env[:, t]
                env[:, t] = state
            self.env_state = state
        fine = logmag - env
        # pitch factor of each frame (slow drift)
        t = (self.frame + np.arange(count)) * h / self.rate
        self.frame += count
        alpha = p.pitch * 2 ** (p.drift * np.sin(2 * np.pi * p.drift_hz * t + p.drift_phase) / 12)
        prev = np.concatenate([self.prev_phase[:, None, :], phase[:, :-1]], axis=1)
        self.prev_phase = phase[:, -1]
        dev = phase - prev - self.omega * h
        dev = (dev + np.pi) % (2 * np.pi) - np.pi
        inst = self.omega + dev / h  # (C, T, K)
        env_out = _interp(env, np.broadcast_to(self.env_pos, (count, k))) + self.tilt
        out, psi = self._voice(fine, inst, alpha, self.out_phase, env_out)
        self.out_phase = psi[:, -1]
        if self.chorus:
            out2, psi2 = self._voice(fine, inst, alpha * 2 ** (self.chorus / 12), self.out_phase2, env_out)
            self.out_phase2 = psi2[:, -1]
            out = out + out2
        power = np.sum(np.abs(out) ** 2, axis=-1)
        gain = np.sqrt((np.sum(mag.astype(np.float64) ** 2, axis=-1) + 1e-12) / (power + 1e-12))
        out = out * gain[..., None]
        y = np.fft.irfft(out, n=n, axis=-1).astype(np.float32)
        return y * (self.window / self.norm)

    def _voice(self, fine, inst, alpha, phase0, env_out):
        k, h = self.bins, self.hop
        src = np.arange(k)[None, :] / alpha[:, None]  # (T, K)
        src = np.where(src > k - 1, 2 * (k - 1) - src, src)
        src = np.clip(src, 0, k - 1)
        fine_out = _interp(fine, src)
        out_log = env_out + fine_out
        idx = np.rint(src).astype(np.intp)
        inst_src = np.take_along_axis(inst, np.broadcast_to(idx, inst.shape), axis=-1)
        steps = inst_src * alpha[None, :, None] * h
        psi = phase0[:, None, :] + np.cumsum(steps, axis=1)
        psi %= 2 * np.pi
        if self.noisy is not None:
            psi = np.where(self.noisy, self.rng.uniform(0, 2 * np.pi, psi.shape), psi)
        return np.exp(out_log) * np.exp(1j * psi), psi


def _interp(values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    lo = np.floor(pos).astype(np.intp)
    lo = np.minimum(lo, values.shape[-1] - 2)
    frac = (pos - lo).astype(np.float32)
    lo_b = np.broadcast_to(lo, values.shape)
    a = np.take_along_axis(values, lo_b, axis=-1)
    b = np.take_along_axis(values, lo_b + 1, axis=-1)
    return a + (b - a) * frac


def _inverse_warp(freqs: np.ndarray, p: DisguiseParams, nyquist: float) -> np.ndarray:
    grid = np.linspace(0, nyquist * 1.5, 4096)
    if p.warp_points:
        edges = np.concatenate([[0.0], p.warp_points, [grid[-1]]])
        slopes = np.asarray(p.warp_slopes)
        ends = np.concatenate([[0.0], np.cumsum(np.diff(edges) * slopes)])
        grid_w = np.interp(grid, edges, ends)
    else:
        grid_w = grid
    warped = grid_w * p.formant * (np.maximum(grid, 1.0) / 1500.0) ** p.bend
    return np.interp(freqs, warped, grid)
