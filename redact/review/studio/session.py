"""One review of one video: its detections file held in memory, edits with undo, frames, render and verify.

No web code here: the server (redact.review.studio.server) only translates requests to
these methods. The session can read only its video and write only its
detections file and its output, both fixed when it is created.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

import cv2
import numpy as np

from redact.boxes import areas, intersections
from redact.cover import styles
from redact.detections import KIND_CODES, Detections
from redact.errors import Cancelled, DetectionsFileError, RedactError
from redact.media.source import Frame, VideoInfo, probe
from redact.media.timeline import Timeline
from redact.review.detections_file import Plan, Recorder, add_cover_all, add_manual, from_data, load, save
from redact.review.studio.frames import FrameReader, ProxyFrames
from redact.settings import Settings

EDITABLE = ("keep_visible", "manual", "cover_all", "mute")
UNDO_LIMIT = 200
VERIFY_THRESHOLD = 0.6  # `redact verify`'s default


@dataclass
class Job:
    """A long task (detect, render, verify) running in a thread, with progress the page can poll."""

    stage: str = "idle"  # idle, detect, render, verify, done, failed, cancelled
    done: int = 0
    total: int | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def runs(frames: np.ndarray) -> list[list[int]]:
    """Sorted frame indices as inclusive [start, end] runs."""
    if len(frames) == 0:
        return []
    breaks = np.flatnonzero(np.diff(frames) > 1)
    starts = np.concatenate([[frames[0]], frames[breaks + 1]])
    ends = np.concatenate([frames[breaks], [frames[-1]]])
    return [[int(a), int(b)] for a, b in zip(starts, ends)]


def settings_of(data: dict[str, Any]) -> Settings:
    """The settings `redact render` uses for this file (its own, over the defaults)."""
    base = {k: v for k, v in (data.get("settings") or {}).items() if k in Settings.__dataclass_fields__}
    if isinstance(base.get("targets"), list):
        base["targets"] = tuple(base["targets"])
    return Settings(**base)


class ReviewSession:
    def __init__(self, video: Path, tracks: Path, output: Path, overwrite: bool = False) -> None:
        self.video, self.tracks_path, self.output = Path(video), Path(tracks), Path(output)
        self.info: VideoInfo = probe(self.video)
        self.overwrite = overwrite
        self.lock = threading.RLock()
        self.job = Job()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self._data: dict[str, Any] | None = None
        self._reader: FrameReader | None = None
        self.proxy: ProxyFrames | None = None
        self.proxy_thread: threading.Thread | None = None
        self.thumbs: dict[int, bytes] = {}
        self.undo_stack: list[dict[str, Any]] = []
        self.redo_stack: list[dict[str, Any]] = []
        self.dirty = False
        self._manual: dict[int, list[tuple[int, list[float]]]] = {}
        self._mute: list[list[int]] = []  # muted ranges as frame runs, for the page's lane

    # -- loading -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._data is not None

    @property
    def data(self) -> dict[str, Any]:
        """The open detections file, as edited so far."""
        if self._data is None:
            raise RedactError(f"not ready: {self.job.stage} is still running")
        return self._data

    @property
    def reader(self) -> FrameReader:
        if self._reader is None:
            raise RedactError(f"not ready: {self.job.stage} is still running")
        return self._reader

    def open(self) -> None:
        """Load and check the detections file (the same checks, and errors, as `redact render`)."""
        _, data = load(self.tracks_path, self.info)
        self._adopt(data)

    def _adopt(self, data: dict[str, Any]) -> None:
        for key in EDITABLE:
            data[key] = list(data.get(key) or [])
        self.settings = settings_of(data)
        time_base = Fraction(str(data["video"].get("time_base", self.info.time_base)))
        self.timeline = Timeline(data["frames"]["pts"], time_base)
        shown: dict[int, list[dict[str, Any]]] = {}  # what the page draws at each frame
        entries: dict[int, list[tuple[list[float], float, int, int, bool]]] = {}  # what render covers, as Plan holds it
        for track in data["tracks"]:
            for row in track.get("boxes") or []:
                score, detected = float(row[5]) if len(row) > 5 else 1.0, not (len(row) > 6 and not row[6])
                shown.setdefault(row[0], []).append(
                    {"id": track["id"], "kind": track["kind"], "box": row[1:5], "score": score, "detected": detected}
                )
                entries.setdefault(row[0], []).append(
                    ([float(v) for v in row[1:5]], score, KIND_CODES[track["kind"]], track["id"], not detected)
                )
        frames = {
            t["id"]: np.unique(np.array([r[0] for r in t.get("boxes") or []], dtype=np.int64)) for t in data["tracks"]
        }
        with self.lock:
            self.track_boxes, self.track_entries, self.track_frames = shown, entries, frames
            self.track_runs = {tid: runs(f) for tid, f in frames.items()}
            self._reader = FrameReader(self.info, data["frames"]["pts"])
            self._data = data
            self._changed()
            self.dirty = False
        self._start_proxy(data["frames"]["pts"])

    def _start_proxy(self, pts: list[int]) -> None:
        """Keep the proxy detection filled when it holds every frame; else make it in one background pass."""
        built = self.proxy
        if built is not None and built.covers(len(pts)):
            return
        self.proxy = proxy = ProxyFrames(len(pts))
        if built is not None:
            built.close()
        self.proxy_thread = threading.Thread(
            target=proxy.fill, args=(self.info, pts, self.stop), name="redact-review-proxy", daemon=True
        )
        self.proxy_thread.start()

    def detect(
        self, settings: Settings, on_progress: Callable[[int, int | None], None] | None = None, detectors: Any = None
    ) -> None:
        """Run detection as `redact detect` does, write the detections file, then open it (in the job thread)."""
        from redact.pipeline.video import detect_video

        recorder = Recorder(self.info, settings.to_dict())
        self.proxy = proxy = ProxyFrames()  # filled as detection decodes: ready when detection is

        def progress(done: int, total: int | None) -> None:
            self._progress(done, total)
            if on_progress is not None:
                on_progress(done, total)

        def record(frame: Frame, dets: Detections) -> None:
            recorder(frame, dets)
            proxy.add(frame.index, frame.image)

        detect_video(self.video, settings, detectors=detectors, on_progress=progress, on_frame=record)
        data = recorder.to_dict()  # hashes the video once; the file just made needs no second check
        save(data, self.tracks_path)
        self._adopt(from_data(data, self.info, check_hash=False)[1])

    def _progress(self, done: int, total: int | None) -> None:
        if self.stop.is_set():
            raise Cancelled("stopped; nothing was written")
        self.job.done, self.job.total = done, total

    # -- the plan and what the page shows -----------------------------------------------------

    def _changed(self) -> None:
        """Recompute the edited parts (manual regions, whole-frame ranges) with tracks_file's own functions."""
        self._manual = {}
        for m, region in enumerate(self.data["manual"]):
            scratch = self._blank_plan()
            add_manual(scratch, region, f"manual[{m}]")
            for frame, entries in scratch.by_frame.items():
                self._manual.setdefault(frame, []).extend((m, e[0]) for e in entries)
        scratch = self._blank_plan()
        for c, span in enumerate(self.data["cover_all"]):
            add_cover_all(scratch, span, f"cover_all[{c}]")
        self._cover_all = scratch.cover_all
        self._mute = [self._frames_heard(span["start"], span["end"]) for span in self.data["mute"]]

    def _frames_heard(self, start: float, end: float) -> list[int]:
        """The frames on screen while the sound from ``start`` to ``end`` seconds plays: [first, last]."""
        first = self.timeline.index_at(start)
        return [first, max(first, self.timeline.index_at(end - 1e-6))]

    def _blank_plan(self) -> Plan:
        return Plan(self.timeline)

    def detections(self, index: int) -> Detections:
        """What `render` covers at frame ``index``: the entries load() would make, in the same order."""
        with self.lock:
            kept = set(self.data["keep_visible"])
            entries = [e for e in self.track_entries.get(index, []) if e[3] not in kept]
            entries += [(box, 1.0, KIND_CODES["manual"], -1, False) for _, box in self._manual.get(index, [])]
            plan = self._blank_plan()
            plan.by_frame[index], plan.cover_all = entries, list(self._cover_all)
        return plan.detections(index, self.info.width, self.info.height)

    def frame_count(self) -> int:
        return int(self.data["video"]["frame_count"])

    def summary(self) -> dict[str, Any]:
        with self.lock:
            data = self.data
            kept = set(data["keep_visible"])
            tracks = []
            for track in data["tracks"]:
                rows = track.get("boxes") or []
                detected = [r for r in rows if len(r) < 7 or r[6]]
                tracks.append(
                    {
                        "id": track["id"],
                        "kind": track["kind"],
                        "keep_visible": track["id"] in kept,
                        "runs": self.track_runs[track["id"]],
                        "boxes": len(rows),
                        "score": round(max((r[5] for r in detected), default=0.0), 3),
                    }
                )
            covered = np.zeros(self.frame_count(), dtype=bool)
            for tid, frames in self.track_frames.items():
                if tid not in kept:
                    covered[frames] = True
            covered[list(self._manual)] = True
            for a, b in self._cover_all:
                covered[a : b + 1] = True
            return {
                "tracks": tracks,
                "manual": copy.deepcopy(data["manual"]),
                "manual_spans": self._manual_spans(),
                "cover_all": [list(span) for span in self._cover_all],
                "mute": [list(span) for span in self._mute],
                "mute_seconds": [[span["start"], span["end"]] for span in data["mute"]],
                "uncovered": runs(np.flatnonzero(~covered)),
                "can_undo": bool(self.undo_stack),
                "can_redo": bool(self.redo_stack),
                "dirty": self.dirty,
            }

    def _manual_spans(self) -> list[list[int]]:
        spans: dict[int, list[int]] = {}
        for frame, entries in self._manual.items():
            for m, _ in entries:
                a, b = spans.get(m, [frame, frame])
                spans[m] = [min(a, frame), max(b, frame)]
        return [spans.get(m, [0, -1]) for m in range(len(self.data["manual"]))]

    def regions(self, index: int) -> dict[str, Any]:
        """Everything at frame ``index``: tracked boxes (kept ones flagged), manual regions, full-frame cover."""
        with self.lock:
            kept = set(self.data["keep_visible"])
            boxes = [dict(b, keep_visible=b["id"] in kept) for b in self.track_boxes.get(index, [])]
            manual = [{"index": m, "box": [round(v, 2) for v in box]} for m, box in self._manual.get(index, [])]
            cover_all = any(a <= index <= b for a, b in self._cover_all)
        return {
            "frame": index,
            "pts": self.data["frames"]["pts"][index],
            "boxes": boxes,
            "manual": manual,
            "cover_all": cover_all,
        }

    def image(self, index: int, redacted: bool) -> np.ndarray:
        image = self.reader.get(index)
        if redacted:
            image = styles.cover(image.copy(), self.detections(index), self.settings)
        return image

    def thumbnail(self, track_id: int, height: int = 72) -> bytes:
        """The track's most confident detected box, with some context, as a small JPEG."""
        if track_id in self.thumbs:
            return self.thumbs[track_id]
        track = next((t for t in self.data["tracks"] if t["id"] == track_id), None)
        if track is None or not track.get("boxes"):
            raise KeyError(track_id)
        row = max(track["boxes"], key=lambda r: (len(r) < 7 or r[6], r[5] if len(r) > 5 else 1.0))
        image = self.reader.get(row[0])
        x1, y1, x2, y2 = row[1:5]
        pad = 0.25 * max(x2 - x1, y2 - y1)
        x1, y1 = int(max(0, x1 - pad)), int(max(0, y1 - pad))
        x2, y2 = int(min(image.shape[1], x2 + pad)), int(min(image.shape[0], y2 + pad))
        crop = image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
        scale = height / crop.shape[0]
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
        self.thumbs[track_id] = jpeg(crop)
        return self.thumbs[track_id]

    # -- edits ---------------------------------------------------------------------------------

    def edit(self, op: str, args: dict[str, Any]) -> None:
        """Apply one edit; it is validated as `render` would load it, and refused whole if it is not valid."""
        with self.lock:
            before = {k: copy.deepcopy(self.data[k]) for k in EDITABLE}
            after = copy.deepcopy(before)
            EDITS[op](self, after, args) if op in EDITS else _refuse(f"unknown edit {op!r}")
            self._replace(after)  # raises DetectionsFileError and leaves everything as it was
            self.undo_stack = (self.undo_stack + [before])[-UNDO_LIMIT:]
            self.redo_stack = []

    def _replace(self, state: dict[str, Any]) -> None:
        old = {k: self.data[k] for k in EDITABLE}
        self.data.update(state)
        try:  # the tracks never change (keep_visible ids are checked by the edit): check only the edited parts
            from_data({**self.data, "tracks": [], "keep_visible": []}, self.info, check_hash=False)
            self._changed()
        except BaseException:
            self.data.update(old)
            self._changed()
            raise
        self.dirty = True

    def undo(self) -> None:
        self._swap(self.undo_stack, self.redo_stack)

    def redo(self) -> None:
        self._swap(self.redo_stack, self.undo_stack)

    def _swap(self, source: list[dict[str, Any]], target: list[dict[str, Any]]) -> None:
        with self.lock:
            if not source:
                return
            target.append({k: copy.deepcopy(self.data[k]) for k in EDITABLE})
            self._replace(source.pop())

    def save(self) -> Path:
        with self.lock:
            save(self.data, self.tracks_path)
            self.dirty = False
            return self.tracks_path

    # -- render and verify ---------------------------------------------------------------------

    def start(self, work: Callable[[], dict[str, Any]], stage: str) -> None:
        """Run ``work`` in a thread as the one job; a second job while one runs is refused."""
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                raise RedactError(f"busy: {self.job.stage} is still running")
            self.job = Job(stage=stage)

        def run() -> None:
            try:
                self.job.result = work() or {}
                self.job.stage = "done"
            except Cancelled as exc:
                self.job.stage, self.job.error = "cancelled", str(exc)
            except RedactError as exc:
                self.job.stage, self.job.error = "failed", str(exc)
            except Exception as exc:  # a bug: still reported on the page, not swallowed
                self.job.stage, self.job.error = "failed", f"internal error: {type(exc).__name__}: {exc}"

        self.thread = threading.Thread(target=run, name=f"redact-review-{stage}", daemon=True)
        self.thread.start()

    def render_and_verify(self, detectors: Any = None, verify_detectors: Any = None) -> dict[str, Any]:
        """Render with the current (saved) edits, exactly as `redact render --tracks` would, then verify the output."""
        from redact.pipeline.video import redact_video
        from redact.review.verify import verify

        self.save()
        plan, _ = from_data(self.data, self.info, check_hash=False)
        result = redact_video(
            self.video, self.output, self.settings, overwrite=self.overwrite, on_progress=self._progress, plan=plan
        )
        self.overwrite = True  # this session wrote it; rendering again after fixes replaces it
        self.job.stage, self.job.done, self.job.total = "verify", 0, result.frames
        check = Settings(
            targets=self.settings.targets, face_threshold=VERIFY_THRESHOLD, plate_threshold=VERIFY_THRESHOLD
        )
        report = verify(
            self.output, check, detectors=verify_detectors, tracks=self.tracks_path, on_progress=self._progress
        ).to_dict()
        for finding in report["findings"]:
            finding["kept"] = self._on_kept_track(finding)
        return {
            "output": self.output.name,
            "frames": result.frames,
            "covered_frames": result.covered_frames,
            "warnings": result.warnings,
            "verify": report,
        }

    def _on_kept_track(self, finding: dict[str, Any]) -> bool:
        """Whether verify found a face the person chose to leave visible (mostly inside a kept track's box)."""
        box = np.asarray(finding["box"], dtype=np.float32).reshape(1, 4)
        kept = set(self.data["keep_visible"])
        boxes = [b["box"] for b in self.track_boxes.get(finding["frame"], []) if b["id"] in kept]
        if not boxes:
            return False
        inside = intersections(box, np.asarray(boxes, dtype=np.float32)) / max(1e-6, float(areas(box)[0]))
        return bool((inside > 0.5).any())

    def shutdown(self) -> None:
        """Stop any job (its output is removed, never left half-written) and release the video."""
        self.stop.set()
        for thread in (self.thread, self.proxy_thread):
            if thread is not None:
                thread.join()
        if self._reader is not None:
            self._reader.close()
        if self.proxy is not None:
            self.proxy.close()


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RedactError("cannot encode a JPEG")
    return buf.tobytes()


def _refuse(message: str) -> NoReturn:
    raise DetectionsFileError(f"edit refused: {message}")


def _int(args: dict[str, Any], key: str) -> int:
    value = args.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        _refuse(f"'{key}' must be an integer")
    return value


def _keep_visible(session: ReviewSession, state: dict[str, Any], args: dict[str, Any]) -> None:
    tid = _int(args, "track")
    if tid not in {t["id"] for t in session.data["tracks"]}:
        _refuse(f"no track {tid}")
    kept = set(state["keep_visible"]) - {tid}
    state["keep_visible"] = sorted(kept | ({tid} if args.get("value") else set()))


def _region(args: dict[str, Any]) -> dict[str, Any]:
    region = args.get("region")
    if not isinstance(region, dict):
        _refuse("'region' must be an object")
    allowed = {"kind", "keyframes", "start", "end"}
    if set(region) - allowed:
        _refuse(f"unknown region fields: {', '.join(sorted(set(region) - allowed))}")
    return {"kind": "manual", **region}


def _add_manual(session: ReviewSession, state: dict[str, Any], args: dict[str, Any]) -> None:
    state["manual"].append(_region(args))


def _set_manual(session: ReviewSession, state: dict[str, Any], args: dict[str, Any]) -> None:
    m = _int(args, "index")
    if not 0 <= m < len(state["manual"]):
        _refuse(f"no manual region {m}")
    state["manual"][m] = _region(args)


def _delete(key: str) -> Callable[[ReviewSession, dict[str, Any], dict[str, Any]], None]:
    def delete(session: ReviewSession, state: dict[str, Any], args: dict[str, Any]) -> None:
        m = _int(args, "index")
        if not 0 <= m < len(state[key]):
            _refuse(f"no {key} entry {m}")
        del state[key][m]

    return delete


def _add_cover_all(session: ReviewSession, state: dict[str, Any], args: dict[str, Any]) -> None:
    start, end = _int(args, "start"), _int(args, "end")
    state["cover_all"].append({"start": {"frame": min(start, end)}, "end": {"frame": max(start, end)}})


def _add_mute(session: ReviewSession, state: dict[str, Any], args: dict[str, Any]) -> None:
    """Silence the sound from the start of one frame to the end of another (as seconds, which the file keeps)."""
    first, last = sorted((_int(args, "start"), _int(args, "end")))
    seconds = session.timeline.frame_seconds
    if not 0 <= first <= last < len(seconds):
        _refuse(f"frames {first}-{last} are outside the video")
    step = float(1 / session.info.frame_rate) if session.info.frame_rate else 0.04
    end = seconds[last + 1] if last + 1 < len(seconds) else seconds[last] + step
    state["mute"].append({"start": seconds[first], "end": end})


EDITS: dict[str, Callable[[ReviewSession, dict[str, Any], dict[str, Any]], None]] = {
    "keep_visible": _keep_visible,
    "add_manual": _add_manual,
    "set_manual": _set_manual,
    "delete_manual": _delete("manual"),
    "add_cover_all": _add_cover_all,
    "delete_cover_all": _delete("cover_all"),
    "add_mute": _add_mute,
    "delete_mute": _delete("mute"),
}
