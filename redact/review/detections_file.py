"""The detections file: what was found (or drawn by hand) in each frame, for review and re-rendering.

Schema ``redact-detections`` version 1 (JSON)::

    {
      "schema": "redact-detections", "version": 1,
      "video": {"file", "sha256", "size_bytes", "width", "height", "rotation",
                "frame_count", "time_base", "frame_rate"},
      "settings": {...},                     # the settings of the run that made it
      "frames": {"pts": [int, ...]},         # each frame's timestamp in time_base
      "tracks": [{"id": 3, "kind": "face",
                  "boxes": [[frame, x1, y1, x2, y2, score, detected], ...]}],
      "keep_visible": [7],                   # track ids a person chose to leave uncovered
      "manual": [{"kind": "manual", "keyframes": [{"frame": 10, "box": [x1, y1, x2, y2]},
                                                  {"time": 2.5, "box": [...]}],
                  "start": null, "end": null}],   # optional frame/time range; default: first..last keyframe
      "cover_all": [{"start": 12.0, "end": 14.5}], # seconds in which the whole frame is covered
      "mute": [{"start": 31.2, "end": 32.0}],      # seconds of sound silenced (or a tone) in every audio track
      "filled_margin": 0.0                         # extra margin of tracker-filled face boxes (see below)
    }

Boxes are in pixels of the upright frame; ``detected`` is 1 when the detector
found the box and 0 when the tracker filled it in. Filled boxes are stored as large as the
tracker's doubt about them; files written before the tracker sized its guesses lack
``filled_margin`` and their filled face boxes are grown by ``LEGACY_FILLED_MARGIN`` of their size
per side when covered, as those versions did. Loading validates the file
and its match with the video; a file that cannot be trusted is refused, never
partly applied. Times are seconds from the first frame. ``mute`` is optional (files without it load
unchanged) and needs a seconds range: the sound has no frames.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from redact.boxes import grown
from redact.detections import KIND_CODES, KINDS, Detections
from redact.errors import DetectionsFileError
from redact.media.outputs import file_sha256
from redact.media.source import Frame, VideoInfo
from redact.media.timeline import Timeline

SCHEMA = "redact-detections"
VERSION = 1
#: what covering added to every tracker-filled face box before guesses were sized by the tracker
LEGACY_FILLED_MARGIN = 0.25


def video_facts(info: VideoInfo) -> dict[str, Any]:
    return {
        "file": info.path.name,
        "sha256": file_sha256(info.path),
        "size_bytes": info.path.stat().st_size,
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "frame_count": None,  # filled in when the whole video has been read
        "time_base": str(info.time_base),
        "frame_rate": str(info.frame_rate),
    }


class Recorder:
    """Collects each frame's final detections (an ``on_frame`` callback) into the file's structure."""

    def __init__(self, info: VideoInfo, settings: dict[str, Any]) -> None:
        self.info = info
        self.settings = settings
        self.pts: list[int] = []
        self.tracks: dict[int, dict[str, Any]] = {}
        self.mute: list[tuple[float, float]] = []  # what the run muted (--mute), kept for `render`

    def __call__(self, frame: Frame, dets: Detections) -> None:
        self.pts.append(frame.pts)
        for box, score, kind, tid, filled in zip(
            dets.boxes.tolist(),
            dets.scores.tolist(),
            dets.kinds.tolist(),
            dets.track_ids.tolist(),
            dets.filled.tolist(),
        ):
            track = self.tracks.setdefault(tid, {"id": tid, "kind": KINDS[kind], "boxes": []})
            track["boxes"].append([frame.index, *(round(v, 2) for v in box), round(score, 4), 0 if filled else 1])

    def to_dict(self) -> dict[str, Any]:
        video = video_facts(self.info)
        video["frame_count"] = len(self.pts)
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "video": video,
            "settings": self.settings,
            "frames": {"pts": self.pts},
            "tracks": [self.tracks[k] for k in sorted(self.tracks)],
            "keep_visible": [],
            "manual": [],
            "cover_all": [],
            "mute": [{"start": start, "end": end} for start, end in self.mute],
            "filled_margin": 0.0,
        }

    def write(self, path: Path) -> Path:
        return save(self.to_dict(), path)


def save(data: dict[str, Any], path: Path) -> Path:
    """Write a detections file atomically: readers see the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


Entry = tuple[list[float], float, int, int, bool]  # box, score, kind code, track id, filled


@dataclass
class Plan:
    """Per-frame regions to cover, from a validated detections file."""

    timeline: Timeline
    by_frame: dict[int, list[Entry]] = field(default_factory=dict)
    cover_all: list[tuple[int, int]] = field(default_factory=list)  # inclusive frame ranges
    mute: list[tuple[float, float]] = field(default_factory=list)  # seconds from the first frame, start < end
    filled_margin: float = 0.0  # grows tracker-filled face boxes (files from before guesses were sized)

    @property
    def frame_count(self) -> int:
        return len(self.timeline)

    @property
    def pts(self) -> Sequence[int]:
        return self.timeline.pts

    def detections(self, index: int, width: int, height: int) -> Detections:
        entries = list(self.by_frame.get(index, []))
        if any(a <= index <= b for a, b in self.cover_all):
            entries.append(([0.0, 0.0, float(width), float(height)], 1.0, KIND_CODES["manual"], -1, False))
        if not entries:
            return Detections.empty()
        boxes, scores, kinds, ids, filled = (np.array(column) for column in zip(*entries))
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        legacy = filled & (kinds == KIND_CODES["face"])
        if self.filled_margin and legacy.any():
            boxes[legacy] = grown(boxes[legacy], self.filled_margin)
        return Detections(boxes, scores, kinds, ids, filled)


def _fail(message: str) -> DetectionsFileError:
    return DetectionsFileError(f"detections file: {message}")


def _box(value: Any, where: str) -> list[float]:
    if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value)):
        raise _fail(f"{where}: a box must be [x1, y1, x2, y2]")
    if not all(math.isfinite(v) for v in value) or value[2] < value[0] or value[3] < value[1]:
        raise _fail(f"{where}: box {value} is not a valid x1 <= x2, y1 <= y2 box")
    return [float(v) for v in value]


def load(
    path: Path, info: VideoInfo, keep_visible: AbstractSet[int] = frozenset(), check_hash: bool = True
) -> tuple[Plan, dict[str, Any]]:
    """Read and validate a detections file against the video it will be applied to."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise _fail(f"{path} is not valid JSON ({exc})") from exc
    return from_data(data, info, keep_visible, check_hash, name=str(path))


def from_data(
    data: Any,
    info: VideoInfo,
    keep_visible: AbstractSet[int] = frozenset(),
    check_hash: bool = True,
    name: str = "the data",
) -> tuple[Plan, dict[str, Any]]:
    """Validate an already-parsed detections file (``load`` without the reading; the review page edits in memory)."""
    plan = Plan(_timeline(data, info, check_hash, name), filled_margin=_filled_margin(data))
    known_ids = _add_tracks(plan, _list(data, "tracks"), keep_visible)
    missing = set(keep_visible) - known_ids
    if missing:
        raise _fail(f"--keep-visible names track(s) not in the file: {', '.join(map(str, sorted(missing)))}")
    keep_visible_in_file = _list(data, "keep_visible")
    if any(not isinstance(k, int) for k in keep_visible_in_file):
        raise _fail("'keep_visible' must list track ids")
    if set(keep_visible_in_file) - keep_visible:
        # edits made in the file itself: honour them by loading again with the union
        return from_data(data, info, set(keep_visible) | set(keep_visible_in_file), check_hash, name)
    for m, region in enumerate(_list(data, "manual")):
        add_manual(plan, region, f"manual[{m}]")
    for c, span in enumerate(_list(data, "cover_all")):
        add_cover_all(plan, span, f"cover_all[{c}]")
    for m, span in enumerate(_list(data, "mute")):
        add_mute(plan, span, f"mute[{m}]")
    return plan, data


def _filled_margin(data: dict[str, Any]) -> float:
    value = data.get("filled_margin", LEGACY_FILLED_MARGIN)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise _fail(f"'filled_margin' {value!r} must be a number from 0 to 1")
    return float(value)


def _timeline(data: Any, info: VideoInfo, check_hash: bool, name: str) -> Timeline:
    """The file's frame timestamps, once it is known to be a detections file for this video."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise _fail(f"{name} is not a redact detections file")
    if data.get("version") != VERSION:
        raise _fail(f"{name} has version {data.get('version')!r}; this redact reads version {VERSION}")
    video = data.get("video")
    if not isinstance(video, dict):
        raise _fail("missing 'video'")
    if (video.get("width"), video.get("height")) != (info.width, info.height):
        raise _fail(
            f"made for a {video.get('width')}x{video.get('height')} video, not this {info.width}x{info.height} one"
        )
    if check_hash and video.get("sha256") != file_sha256(info.path):
        raise _fail(f"made for another video ({video.get('file')!r}); the input's contents differ")
    pts = (data.get("frames") or {}).get("pts")
    count = video.get("frame_count")
    if not isinstance(pts, list) or not isinstance(count, int) or len(pts) != count:
        raise _fail("'frames.pts' must list one timestamp per frame")
    return Timeline(pts, _time_base(video.get("time_base", str(info.time_base))))


def _add_tracks(plan: Plan, tracks: list[Any], keep_visible: AbstractSet[int]) -> set[int]:
    """Every box of every track not kept visible, by frame; returns the ids the file has."""
    known_ids: set[int] = set()
    for t, track in enumerate(tracks):
        where = f"tracks[{t}]"
        if not isinstance(track, dict) or track.get("kind") not in KIND_CODES:
            raise _fail(f"{where}: needs a kind, one of {', '.join(KINDS)}")
        tid = track.get("id")
        if not isinstance(tid, int):
            raise _fail(f"{where}: needs an integer id")
        known_ids.add(tid)
        if tid not in keep_visible:
            for b, row in enumerate(track.get("boxes") or []):
                frame, entry = _track_box(row, plan.frame_count, KIND_CODES[track["kind"]], tid, f"{where}.boxes[{b}]")
                plan.by_frame.setdefault(frame, []).append(entry)
    return known_ids


def _track_box(row: Any, count: int, kind: int, tid: int, where: str) -> tuple[int, Entry]:
    if not isinstance(row, list) or len(row) < 5:
        raise _fail(f"{where}: expected [frame, x1, y1, x2, y2, score, detected]")
    score = _score(row[5], where) if len(row) > 5 else 1.0
    filled = len(row) > 6 and not row[6]
    return _frame_index(row[0], count, where), (_box(row[1:5], where), score, kind, tid, filled)


def _time_base(value: Any) -> Fraction:
    try:
        time_base = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise _fail(f"video.time_base {value!r} is not a fraction such as '1/12800'") from None
    if time_base <= 0:
        raise _fail(f"video.time_base {value!r} must be positive")
    return time_base


def _score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise _fail(f"{where}: score {value!r} must be a number from 0 to 1")
    return float(value)


def add_cover_all(plan: Plan, span: Any, where: str = "cover_all") -> None:
    """Cover whole frames from span['start'] to span['end'] (seconds, or {'frame': N})."""
    if not isinstance(span, dict) or "start" not in span or "end" not in span:
        raise _fail(f"{where}: expected {{'start': seconds, 'end': seconds}}")
    start, end = _to_frame(plan, span, "start", where), _to_frame(plan, span, "end", where)
    if end < start:
        raise _fail(f"{where}: ends before it starts")
    plan.cover_all.append((start, end))


def add_mute(plan: Plan, span: Any, where: str = "mute") -> None:
    """Silence the sound from span['start'] to span['end'] seconds (from the first frame)."""
    if not isinstance(span, dict) or set(span) != {"start", "end"}:
        raise _fail(f"{where}: expected {{'start': seconds, 'end': seconds}}")
    start, end = span["start"], span["end"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (start, end)):
        raise _fail(f"{where}: 'start' and 'end' must be seconds")
    if not 0 <= start < end:
        raise _fail(f"{where}: needs 0 <= start < end, got {start}-{end}")
    plan.mute.append((float(start), float(end)))


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise _fail(f"'{key}' must be a list")
    return value


def _frame_index(value: Any, count: int, where: str) -> int:
    if not isinstance(value, int) or not 0 <= value < count:
        raise _fail(f"{where}: frame {value!r} is outside 0..{count - 1}")
    return value


def _to_frame(plan: Plan, spec: dict[str, Any], key: str, where: str) -> int:
    """A 'frame' index or a 'time' in seconds (also accepted as the value of 'start'/'end')."""
    value = spec.get(key)
    if key in ("start", "end"):
        if isinstance(value, dict):
            return _to_frame(plan, value, "frame" if "frame" in value else "time", where)
        if isinstance(value, (int, float)):  # seconds
            return _time_to_frame(plan, float(value))
        raise _fail(f"{where}: '{key}' must be seconds or {{'frame': N}}")
    if key == "frame":
        return _frame_index(value, plan.frame_count, where)
    if isinstance(value, (int, float)):
        return _time_to_frame(plan, float(value))
    raise _fail(f"{where}: needs 'frame' or 'time'")


def _time_to_frame(plan: Plan, seconds: float) -> int:
    """Times in the file count from the video's first frame: the frame on screen at that time."""
    return plan.timeline.index_at(seconds)


def add_manual(plan: Plan, region: Any, where: str = "manual") -> None:
    """Cover a region given at key frames (interpolated between them) over its frame or time range."""
    if not isinstance(region, dict):
        raise _fail(f"{where}: expected an object with 'keyframes'")
    keyframes = region.get("keyframes")
    if not isinstance(keyframes, list) or not keyframes:
        raise _fail(f"{where}: needs at least one keyframe")
    points = []
    for k, key in enumerate(keyframes):
        if not isinstance(key, dict):
            raise _fail(f"{where}.keyframes[{k}]: expected {{'frame' or 'time', 'box'}}")
        frame = _to_frame(plan, key, "frame" if "frame" in key else "time", f"{where}.keyframes[{k}]")
        points.append((frame, np.array(_box(key.get("box"), f"{where}.keyframes[{k}]"))))
    points.sort(key=lambda p: p[0])
    start = _to_frame(plan, region, "start", where) if region.get("start") is not None else points[0][0]
    end = _to_frame(plan, region, "end", where) if region.get("end") is not None else points[-1][0]
    if end < start:
        raise _fail(f"{where}: ends before it starts")
    frames = np.array([p[0] for p in points])
    boxes = np.stack([p[1] for p in points])
    for f in range(start, end + 1):
        box = [float(np.interp(f, frames, boxes[:, i])) for i in range(4)]
        plan.by_frame.setdefault(f, []).append((box, 1.0, KIND_CODES["manual"], -1, False))
