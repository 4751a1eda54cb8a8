"""How well `--audio disguise` hides who is speaking, how much it costs in words, and how fast it runs.

The attacker is a speaker-verification model whose weights ship inside a permissively licensed wheel:
Resemblyzer 0.1.4's GE2E encoder (Apache-2.0). It compares two utterances by the cosine of their
embeddings; the equal error rate (EER) over every pair of utterances says how well it tells "same
speaker" from "another speaker" (50%: it guesses). Three attackers, as in the VoicePrivacy Challenge:

- clean: both utterances as recorded (the attacker works);
- ignorant: enrolled on clean speech, tested on disguised speech;
- lazy-informed: knows the method, enrols on speech disguised by it with other random draws (each
  utterance is its own run, with its own draw, as two published videos would be).

Intelligibility: PocketSphinx (BSD, its US English model ships in the wheel) transcribes each utterance
clean and disguised; the word error rate of the disguised transcript against the clean one says how
many words the disguise changes for a recogniser (speech_speakers has no reference transcripts). The
same measure for the clean speech after an AAC round trip (what any re-encode does) is the floor.

Speed: CPU seconds of the disguise alone (one thread), on the set's 16 kHz mono speech and on 48 kHz
stereo noise.

Needs torch, so it runs in its own environment, never the tool's (see docs/benchmarks.md):

    python3 -m venv /work/voice-bench-venv
    /work/voice-bench-venv/bin/pip install torch==2.13.0 resemblyzer==0.1.4 'setuptools<81' pocketsphinx==5.1.1 jiwer
    /work/voice-bench-venv/bin/pip install -c constraints.txt -e .
    OMP_NUM_THREADS=1 /work/voice-bench-venv/bin/python bench/voice.py --out voice.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redact.audio.disguise import DisguiseParams, VoiceDisguise, draw_params  # noqa: E402

RATE = 16000


def load(path: Path) -> np.ndarray:
    """A mono file's samples as float32 in [-1, 1]."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        to_float = av.AudioResampler(format="flt", layout="mono", rate=stream.codec_context.sample_rate)
        return np.concatenate(
            [f.to_ndarray()[0] for frame in container.decode(stream) for f in to_float.resample(frame)]
        )


def disguise(
    samples: np.ndarray, rng: np.random.Generator, rate: int = RATE, block: int = 4096
) -> tuple[np.ndarray, float, DisguiseParams]:
    """One run of the disguise (its own random draw) over ``samples`` (channels x n), in blocks as the
    tool feeds it; the result, the CPU seconds it took and the draw (for the diagnostic by draw)."""
    params = draw_params(rng)
    voice = VoiceDisguise(rate, samples.shape[0], params)
    started = time.process_time()
    out = [voice.process(samples[:, i : i + block]) for i in range(0, samples.shape[1], block)]
    out.append(voice.flush())
    return np.concatenate(out, axis=1), time.process_time() - started, params


def ignorant_by_draw(
    clean: np.ndarray, test: np.ndarray, speakers: list[str], draws: list[DisguiseParams]
) -> dict[str, dict[str, float]]:
    """A diagnostic, not a target: the ignorant attacker's EER with the tested utterances split by the
    direction of their draw (which draws keep more of the speaker)."""
    groups = {
        "pitch_up": lambda p: p.pitch > 1,
        "pitch_down": lambda p: p.pitch < 1,
        "formant_up": lambda p: p.formant > 1,
        "formant_down": lambda p: p.formant < 1,
        "same_direction": lambda p: (p.pitch > 1) == (p.formant > 1),
        "opposite_directions": lambda p: (p.pitch > 1) != (p.formant > 1),
    }
    found = {}
    for name, chosen in groups.items():
        scores, same = [], []
        for i in range(len(speakers)):
            for j in (j for j in range(len(speakers)) if j != i and chosen(draws[j])):
                scores.append(float(clean[i] @ test[j]))
                same.append(speakers[i] == speakers[j])
        found[name] = {"eer": eer(scores, same), "utterances": sum(map(chosen, draws))}
    return found


def aac_round_trip(samples: np.ndarray, rate: int = RATE) -> np.ndarray:
    """What a plain AAC re-encode (96 kb/s, as the tool's) leaves of mono speech."""
    import io

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout, stream.bit_rate = "mono", 96_000
        for i in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[None, i : i + 1024]), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = rate, i, Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    buffer.seek(0)
    with av.open(buffer) as container:
        return np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])[: len(samples)]


def eer(scores: Sequence[float], same: Sequence[bool]) -> float:
    """Equal error rate: where the share of same-speaker pairs scored below the threshold equals the
    share of other-speaker pairs scored above it."""
    order = np.argsort(-np.asarray(scores))
    target = np.asarray(same, bool)[order]
    hits = np.cumsum(target) / target.sum()
    false_alarms = np.cumsum(~target) / (~target).sum()
    misses = 1 - hits
    i = int(np.argmin(np.abs(misses - false_alarms)))
    return float((misses[i] + false_alarms[i]) / 2)


def trials(enrol: np.ndarray, test: np.ndarray, speakers: list[str], symmetric: bool) -> tuple[list[float], list[bool]]:
    """Every pair of different utterances (each unordered pair once when both sides are the same set)."""
    scores, same = [], []
    for i in range(len(speakers)):
        for j in range(len(speakers)):
            if i == j or (symmetric and j < i):
                continue
            scores.append(float(enrol[i] @ test[j]))
            same.append(speakers[i] == speakers[j])
    return scores, same


def halves(labels: dict[str, Any]) -> dict[str, set[str]]:
    """Speakers split into a tune half and a check half, each sex alternately (both halves hold both sexes)."""
    by_sex: dict[str, list[str]] = {}
    for speaker, info in sorted(labels["speakers"].items()):
        by_sex.setdefault(info["sex"], []).append(speaker)
    tune = {s for group in by_sex.values() for s in group[::2]}
    everyone = set(labels["speakers"])
    return {"all": everyone, "tune": tune, "check": everyone - tune}


def attacker_eers(
    clean: np.ndarray, ignorant: np.ndarray, enrol: np.ndarray, speakers: list[str], keep: set[str]
) -> dict[str, float]:
    idx = [i for i, s in enumerate(speakers) if s in keep]
    who = [speakers[i] for i in idx]
    return {
        "clean": eer(*trials(clean[idx], clean[idx], who, True)),
        "ignorant": eer(*trials(clean[idx], ignorant[idx], who, False)),
        "lazy_informed": eer(*trials(enrol[idx], ignorant[idx], who, False)),
    }


def recogniser() -> Callable[[np.ndarray], str]:
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=RATE, loglevel="FATAL")

    def transcribe(samples: np.ndarray) -> str:
        decoder.start_utt()
        decoder.process_raw((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    return transcribe


def speed_48k_stereo(rng: np.random.Generator, seconds: float = 30.0) -> float:
    noise = (0.1 * rng.standard_normal((2, int(48000 * seconds)))).astype(np.float32)
    _, cpu, _ = disguise(noise, rng, rate=48000)
    return seconds / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "evaldata" / "speech_speakers")
    parser.add_argument("--seed", type=int, default=2026, help="seeds the bench's draws (the tool draws fresh ones)")
    parser.add_argument("--asr", type=int, default=-1, help="utterances per speaker to transcribe (-1: all, 0: none)")
    parser.add_argument("--out", type=Path, help="write every figure as JSON")
    args = parser.parse_args()
    if not (args.data / "labels.json").exists():
        sys.exit(f"no speech_speakers set at {args.data}")
    import torch
    from resemblyzer import VoiceEncoder, preprocess_wav

    torch.set_num_threads(1)
    encoder = VoiceEncoder("cpu", verbose=False)
    labels = json.loads((args.data / "labels.json").read_text())
    utterances = labels["utterances"]
    speakers = [u["speaker"] for u in utterances]
    clean = [load(args.data / u["file"]) for u in utterances]
    rng = np.random.default_rng(args.seed)
    cpu = 0.0
    disguised: list[list[np.ndarray]] = [
        [],
        [],
    ]  # two runs of every utterance: tested, and enrolled by the informed attacker
    draws: list[DisguiseParams] = []  # of the tested run
    for version in disguised:
        for samples in clean:
            out, seconds, params = disguise(samples[None, :], rng)
            version.append(out[0])
            cpu += seconds
            if version is disguised[0]:
                draws.append(params)
    total = sum(len(s) for s in clean) / RATE

    def embed(samples: list[np.ndarray]) -> np.ndarray:
        return np.array([encoder.embed_utterance(preprocess_wav(s, source_sr=RATE)) for s in samples])

    emb_clean, emb_test, emb_enrol = embed(clean), embed(disguised[0]), embed(disguised[1])
    results: dict[str, Any] = {
        "utterances": len(utterances),
        "speakers": len(set(speakers)),
        "seconds": round(total, 1),
        "eer": {
            name: attacker_eers(emb_clean, emb_test, emb_enrol, speakers, keep) for name, keep in halves(labels).items()
        },
        "ignorant_by_draw": ignorant_by_draw(emb_clean, emb_test, speakers, draws),
        "halves": {name: sorted(keep) for name, keep in halves(labels).items() if name != "all"},
        "speed_x_realtime": {
            "16k_mono_speech": round(2 * total / cpu, 1),
            "48k_stereo": round(speed_48k_stereo(rng), 1),
        },
    }
    print(json.dumps(results, indent=2), flush=True)  # the attacker's figures now: the recogniser takes far longer
    if args.asr:
        import jiwer

        transcribe = recogniser()
        picked = [
            i
            for s in sorted(set(speakers))
            for i in [j for j, x in enumerate(speakers) if x == s][: args.asr if args.asr > 0 else None]
        ]
        reference = [transcribe(clean[i]) for i in picked]
        results["intelligibility"] = {
            "recogniser": "pocketsphinx 5.1.1, en-us model from its wheel",
            "utterances": len(picked),
            "wer_aac_round_trip_vs_clean": round(
                jiwer.wer(reference, [transcribe(aac_round_trip(clean[i])) for i in picked]), 3
            ),
            "wer_disguised_vs_clean": round(jiwer.wer(reference, [transcribe(disguised[0][i]) for i in picked]), 3),
        }
        print(json.dumps(results["intelligibility"], indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
