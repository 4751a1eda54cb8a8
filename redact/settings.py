"""The one defaults table: every option of a run, its default and its help.

The CLI builds its options from :data:`OPTIONS`, a config file may set any of
them, and every run can write the settings it actually used to its JSON report.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redact.errors import ConfigError

TARGETS = ("faces", "plates", "text")
QUALITIES = ("fast", "balanced", "thorough")
STYLES = ("blur", "pixelate", "fill")
SHAPES = ("ellipse", "rect")
AUDIO_MODES = ("keep", "disguise", "drop")
MUTE_STYLES = ("silence", "tone")
#: bounds on what the look-ahead keeps in memory (60 frames of 4K are ~1.5 GB)
MAX_EVERY = 60
MAX_BACKFILL = 2.0


@dataclass(frozen=True)
class Settings:
    # what to find
    targets: tuple[str, ...] = ("faces", "plates")
    quality: str = "balanced"
    face_threshold: float | None = None
    plate_threshold: float | None = None
    # how often each detector runs (1 = every frame); None = the quality preset's choice
    face_every: int | None = None
    plate_every: int | None = None
    # how regions look
    style: str = "blur"
    shape: str = "ellipse"
    # with 4 px more per side (regions.FACE_MARGIN_PX): 98.2% of crowd faces >= 16 px covered at
    # 6.0% of the other pixels, where 0.35 covered 98.5% at 14.7% and buried crowds (docs/benchmarks.md)
    face_margin: float = 0.15
    plate_margin: float = 0.20
    # tracking, in seconds
    hold: float = 1.0
    backfill: float = 0.5
    scene_cut: float = 0.45
    # encoding
    codec: str = "libx264"
    crf: int = 20
    # veryfast: ~2x the speed of "fast" at crf 20 for a few % more bytes; redacted copies are
    # for publishing, the original stays the master
    preset: str = "veryfast"
    audio: str = "keep"
    mute_style: str = "silence"
    keep_metadata: bool = False
    # compute
    device: str = "cpu"
    threads: int | None = None
    # limits and hostile input
    max_megapixels: float = 120.0
    allow_truncated: bool = False

    def __post_init__(self) -> None:
        targets = tuple(self.targets)
        for t in targets:
            if t not in TARGETS:
                raise ConfigError(f"unknown target {t!r}; choose from {', '.join(TARGETS)}")
        if not targets:
            raise ConfigError("no targets: choose at least one of " + ", ".join(TARGETS))
        object.__setattr__(self, "targets", targets)
        _choice("quality", self.quality, QUALITIES)
        _choice("style", self.style, STYLES)
        _choice("shape", self.shape, SHAPES)
        if isinstance(self.audio, bool):  # files written before --audio took a mode: true = keep, false = drop
            object.__setattr__(self, "audio", "keep" if self.audio else "drop")
        _choice("audio", self.audio, AUDIO_MODES)
        _choice("mute style", self.mute_style, MUTE_STYLES)
        for name in ("face_threshold", "plate_threshold"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value < 1.0:
                raise ConfigError(f"{name.replace('_', '-')} must be between 0 and 1, got {value}")
        # the look-ahead holds max(every, backfill) decoded frames in memory: both are bounded
        for name in ("face_every", "plate_every"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_EVERY:
                raise ConfigError(f"{name.replace('_', '-')} must be 1 to {MAX_EVERY} frames, got {value}")
        for name in ("face_margin", "plate_margin", "hold", "backfill"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} must not be negative")
        if self.backfill > MAX_BACKFILL:
            raise ConfigError(f"backfill must be at most {MAX_BACKFILL} seconds, got {self.backfill}")
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"crf must be 0..51, got {self.crf}")
        if not self.max_megapixels > 0:
            raise ConfigError(f"max-megapixels must be above 0, got {self.max_megapixels}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError("threads must be 1 or more")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["targets"] = list(self.targets)
        return out


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {name} {value!r}; choose from {', '.join(allowed)}")


DEFAULTS = Settings()

#: help text for each setting, shared by the CLI and the README.
HELP: dict[str, str] = {
    "targets": "What to cover, comma-separated: faces, plates, text (signs, badges, screens; off by default).",
    "quality": "Detector preset: fast, balanced or thorough (more passes find smaller faces, at a cost in speed).",
    "face_threshold": "Face score threshold, 0-1 (lower covers more); faces 16 px and wider are kept from half of it.",
    "plate_threshold": "Plate score threshold, 0-1 (lower covers more).",
    "face_every": "Run the face detector every N frames (1-60), tracking in between.",
    "plate_every": "Run the plate detector every N frames (1-60), tracking in between.",
    "style": "How regions are covered: blur (a smooth blend of a few colour samples), pixelate (a coarse mosaic) or fill (solid black). All keep too little to recognise anyone.",
    "shape": "Region shape: ellipse or rect.",
    "face_margin": "Grow face boxes by this share of their size (plus 4 px) on each side, to cover hair, ears and chin.",
    "plate_margin": "Grow plate boxes by this share of their size on each side.",
    "hold": "Most seconds a lost face or plate stays covered while no detector pass can see it (a clearly seen face is released sooner once passes look and miss it).",
    "backfill": "Seconds (at most 2) to cover a face or plate before the detector first saw it.",
    "scene_cut": "Scene-cut sensitivity (0-1 histogram distance); at a cut, tracks end so no box is dragged onto the next shot.",
    "codec": "Video encoder (libx264 by default).",
    "crf": "Encoder quality, 0-51 (lower is better quality and larger files).",
    "preset": "Encoder speed preset (ultrafast ... veryslow).",
    "audio": "Voices identify people too: keep copies every audio track unchanged, disguise re-encodes each with the voices disguised (pitch and formants moved by amounts drawn at random for each run), drop leaves them out (--no-audio is the same as --audio drop).",
    "mute_style": "How muted ranges (--mute) sound: silence, or a tone.",
    "keep_metadata": "Keep the input's container and stream tags (creation time, GPS, device). Off by default; data, subtitle and attachment streams are never copied.",
    "device": "Where models run: cpu, or an ONNX Runtime provider such as cuda, coreml, dml, openvino.",
    "threads": "CPU threads for each detector.",
    "max_megapixels": "Refuse photos and video frames larger than this many megapixels, checked before decoding (memory grows with size; 120 holds 108 MP phone photos).",
    "allow_truncated": "Accept a truncated or cut-short input: write what decodes and exit 0 (without it: the output is written, and the exit code is 6).",
}


#: how --help shows the defaults that the table above leaves to the detectors or the --quality preset
#: (None); tests check each against the detectors' own values
DEFAULTS_SHOWN: dict[str, str] = {
    "face_threshold": "0.2",
    "plate_threshold": "0.65",
    "face_every": "by --quality: 8 fast, 6 balanced, 1 thorough",
    "plate_every": "by --quality: 24 fast, 16 balanced, 1 thorough",
    "threads": "the CPU cores, at most 4",
}


def parse_targets(text: str) -> tuple[str, ...]:
    """'faces, plates' -> ('faces', 'plates'), as typed on the command line or in a config file."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def load_config(path: Path) -> dict[str, Any]:
    """Read a TOML or JSON config file of settings; unknown keys are an error, not ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
        ) from exc
    known = {f.name for f in dataclasses.fields(Settings)}
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"config file {path} has unknown settings: {', '.join(unknown)}")
    if isinstance(data.get("targets"), str):
        data["targets"] = parse_targets(data["targets"])
    return data
