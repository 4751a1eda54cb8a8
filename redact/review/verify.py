"""`redact verify`: look again at a file about to be published, with a second, independent opinion.

Faces: candidates come from YuNet on every frame of a video (the cheaper model; at most
``VIDEO_SIDE`` px on the long side) and, on photos, also from CenterFace's thorough pass. Each
candidate is looked at again by both models (``opinions``), and a finding needs more than one
face-like response: both models, or one model in two views away from the tool's covers. Where the
run's detections file is beside the output (or named), verify knows exactly where the run painted
and checks that the pixels there are still its cover (``cover_evidence``); without it, the cover
is told by its smooth surface. Plates are searched with the plate detector on every
``PLATE_EVERY``-th frame; identifying metadata and extra streams are reported too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from redact.boxes import iou
from redact.detections import KINDS, Detections
from redact.detectors.base import Detector, create_detector
from redact.detectors.onnx import default_threads
from redact.media.mux import harmless_tag
from redact.media.picture import is_photo, load_photo, photo_metadata
from redact.media.source import Frame, VideoInfo, VideoSource, probe
from redact.pipeline.threads import Producer
from redact.review import opinions
from redact.review.contact import Tile, contact_sheet
from redact.review.cover_evidence import CoverPlan, cover_surface, find_plan, surface_limit
from redact.settings import Settings

MAX_SHEET_FRAMES = 16
#: videos are searched by YuNet with their long side at most this (720p at half size: faces from
#: about 20 px in the frame; photos at their own size and twice it)
VIDEO_SIDE = 640
#: YuNet responses from this score are candidates (each is then looked at again by both models)
PROPOSE = 0.2
#: CenterFace's thorough pass proposes candidates on photos from this score (>= 16 px from half)
CENTERFACE_PROPOSE = 0.2
#: photos up to this long side are also searched by YuNet at twice their size (small faces)
PHOTO_ZOOM_UP_TO = 2048
#: plates are searched on every Nth frame of a video (2 s at 25 fps; one plate search costs as much
#: as about 25 frames of the face search): a plate in view for less than this can be missed
PLATE_EVERY = 50
PLATE_THRESHOLD = 0.6
#: a candidate set aside in the frame before, at nearly the same place (IoU >= REUSE_IOU) and not
#: scored higher by YuNet's full pass (by more than REUSE_RISE), is set aside again without its
#: second looks, for at most REUSE_FRAMES frames in a row: the tool's covers stay put on a face
#: from frame to frame, and a face appearing under one changes the full pass's score
REUSE_IOU = 0.5
REUSE_RISE = 0.1
REUSE_FRAMES = 12
#: model keys in ``detectors`` besides the targets': the second face model, and CenterFace for the
#: second looks (one pass at the crop's size, weak responses kept; "faces" itself when missing)
SECOND = "faces_second"
LOOK = "faces_look"


@dataclass
class Finding:
    kind: str
    score: float
    box: list[float]
    frame: int | None = None  # None for photos
    time: float | None = None
    why: str = ""  # which opinions agreed


@dataclass
class VerifyReport:
    path: str
    frames_checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)
    sheet: str | None = None
    covers_dismissed: int = 0  # face-like responses set aside on the tool's own covers
    weak_dismissed: int = 0  # face-like responses set aside elsewhere: one weak opinion only
    small_faces: list[Finding] = field(default_factory=list)  # both models agree, under MIN_FACE px
    tracks: str | None = None  # the detections file used as evidence
    notes: list[str] = field(default_factory=list)
    stopped_early: bool = False  # --fast: stopped at the first certain leak
    plate_every: int = 1  # plates searched on every this many frames (0: not at all)

    @property
    def clean(self) -> bool:
        return not self.findings and not self.metadata

    def to_dict(self) -> dict:
        return {
            **self.__dict__,
            "findings": [f.__dict__ for f in self.findings],
            "small_faces": [f.__dict__ for f in self.small_faces],
            "clean": self.clean,
        }


def video_metadata(path: Path) -> list[str]:
    found: list[str] = []
    with av.open(str(path)) as container:
        for key, value in container.metadata.items():
            if not harmless_tag(key, value):
                found.append(f"container tag {key}={value!r}")
        for stream in container.streams:
            if stream.type not in ("video", "audio"):
                found.append(f"extra {stream.type} stream #{stream.index}")
            for key, value in stream.metadata.items():
                if not harmless_tag(key, value):
                    found.append(f"stream #{stream.index} tag {key}={value!r}")
    return found


def build_checkers(settings: Settings, video: bool = False) -> dict[str, Detector]:
    """Verify's models: CenterFace (thorough, reporting weak responses too), YuNet, and plates (on
    video frames at the plate detector's fast size: a third of the cost, plates from about 40 px in
    720p). On a video two stages run side by side (the search of the next frame while this one is
    judged), so the models that serve them get one thread each unless ``settings.threads`` says."""
    threads = settings.threads or default_threads()
    common: dict[str, Any] = {"threads": threads, "device": settings.device}
    staged: dict[str, Any] = {"threads": settings.threads or 1, "device": settings.device}
    built: dict[str, Detector] = {}
    if "faces" in settings.targets:
        built["faces"] = create_detector("centerface", quality="thorough", threshold=CENTERFACE_PROPOSE, **common)
        built[LOOK] = create_detector("centerface", quality="fast", threshold=0.1, **staged)
        built[SECOND] = create_detector("yunet", threshold=0.05, **staged)
    if "plates" in settings.targets:
        threshold = settings.plate_threshold or PLATE_THRESHOLD
        quality = "fast" if video else "thorough"
        built["plates"] = create_detector("plates", quality=quality, threshold=threshold, **staged)
    return built


class FaceChecker:
    """Candidates of a picture, each judged by ``opinions.verdict``."""

    def __init__(self, centerface: Detector, yunet: Detector, centerface_look: Detector | None = None) -> None:
        self.centerface, self.yunet = centerface, yunet
        self.centerface_look = centerface_look or centerface
        self.previous: list[tuple[np.ndarray, float, bool, int]] = []  # the last frame's set-aside candidates

    def candidates(self, image: np.ndarray, photo: bool) -> list[tuple[np.ndarray, float, dict[str, float]]]:
        """Candidate boxes (once each), their proposing score, and each model's full-pass score there."""
        h, w = image.shape[:2]
        passes: dict[str, list[Detections]] = {"centerface": [], "yunet": []}
        if photo:
            passes["centerface"].append(self.centerface.detect(image))
            scales = [1.0, 2.0] if max(h, w) <= PHOTO_ZOOM_UP_TO else [1.0]
        else:
            scales = [min(1.0, VIDEO_SIDE / max(h, w))]
        passes["yunet"] = [_detect_at(self.yunet, image, scale) for scale in scales]
        found = {name: Detections.merge(parts) for name, parts in passes.items()}
        proposed = Detections.merge([found["centerface"], found["yunet"][found["yunet"].scores >= PROPOSE]])
        if not len(proposed):
            return []
        boxes, scores = opinions.distinct(proposed.boxes, proposed.scores)
        out = []
        for box, score in zip(boxes, scores):
            full = {name: _best_at(box, dets) for name, dets in found.items() if name == "yunet" or photo}
            out.append((box, float(score), full))
        return out

    def judge(
        self,
        image: np.ndarray,
        photo: bool,
        covered: Callable[[np.ndarray], float],
        candidates: list[tuple[np.ndarray, float, dict[str, float]]] | None = None,
    ) -> opinions.Judged:
        judged = opinions.Judged()
        set_aside: list[tuple[np.ndarray, float, bool, int]] = []  # box, score, on a cover, frames reused
        for box, score, full in self.candidates(image, photo) if candidates is None else candidates:
            look = opinions.Look(image, box, self.centerface_look, self.yunet, full)
            if float(box[2] - box[0]) < opinions.MIN_FACE:
                if opinions.both_in_both_views(look, opinions.BOTH_VIEWS):
                    judged.small.append((box, score))
                continue
            before = None if photo else self._set_aside_before(box, score)
            if before is not None:
                on_cover, age = before
                set_aside.append((box, score, on_cover, age + 1))
                judged.on_covers += on_cover
                judged.weak += not on_cover
                continue
            share = covered(box)
            why = opinions.verdict(look, share)
            if why is None:
                on_cover = share >= opinions.COVERED
                set_aside.append((box, score, on_cover, 0))
                judged.on_covers += on_cover
                judged.weak += not on_cover
                continue
            strength = min(look.scores().values())
            judged.findings.append((box, strength, why))
            # certain whatever the verdict's first reason was: a strong face is "YuNet, both views" first
            judged.certain |= opinions.both_in_both_views(look, opinions.CERTAIN)
        self.previous = set_aside
        return judged

    def _set_aside_before(self, box: np.ndarray, score: float) -> tuple[bool, int] | None:
        """(on a cover, frames reused) of a candidate set aside in the frame before at this place, if reusable."""
        for old, old_score, on_cover, age in self.previous:
            if age < REUSE_FRAMES and score <= old_score + REUSE_RISE and iou(box, old[None])[0] >= REUSE_IOU:
                return on_cover, age
        return None


def _best_at(box: np.ndarray, found: Detections) -> float:
    """The best score among ``found`` at the place of ``box``."""
    if not len(found):
        return 0.0
    same = iou(box, found.boxes) >= opinions.SAME_PLACE_IOU
    return float(found.scores[same].max()) if same.any() else 0.0


def _detect_at(model: Detector, image: np.ndarray, scale: float) -> Detections:
    """A detector's boxes in ``image`` pixels, run on the image resized by ``scale``."""
    if scale == 1.0:
        return model.detect(image)
    h, w = image.shape[:2]
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    found = model.detect(
        cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)
    )
    return Detections.from_boxes(found.boxes / scale, found.scores, kind="face")


def _face_findings(judged: opinions.Judged, frame: int | None, time: float | None) -> list[Finding]:
    return [
        Finding("face", round(s, 3), [round(float(v), 1) for v in b], frame, time, why) for b, s, why in judged.findings
    ]


def _plate_findings(dets: Detections, frame: int | None, time: float | None) -> list[Finding]:
    return [
        Finding(KINDS[k], round(float(s), 3), [round(float(v), 1) for v in b], frame, time, "plate detector")
        for b, s, k in zip(dets.boxes, dets.scores, dets.kinds)
    ]


def _as_detections(findings: list[Finding]) -> Detections:
    if not findings:
        return Detections.empty()
    boxes = np.array([f.box for f in findings], np.float32)
    scores = np.array([f.score for f in findings], np.float32)
    return Detections.merge(Detections.from_boxes(boxes[[i]], scores[[i]], kind=f.kind) for i, f in enumerate(findings))


class _Verifier:
    """One verify run: the models, the report, the contact sheet's frames."""

    def __init__(self, path: Path, settings: Settings, detectors: Mapping[str, Detector] | None) -> None:
        models = dict(detectors) if detectors is not None else build_checkers(settings, not is_photo(path))
        if "faces" in settings.targets and "faces" in models and SECOND not in models:
            models[SECOND] = create_detector("yunet", threshold=0.05, threads=settings.threads or default_threads())
        self.faces = FaceChecker(models["faces"], models[SECOND], models.get(LOOK)) if "faces" in models else None
        self.plates = models.get("plates") if "plates" in settings.targets else None
        self.report = VerifyReport(str(path))
        self.tiles: list[Tile] = []

    def check(
        self,
        image: np.ndarray,
        photo: bool,
        covered: Callable[[np.ndarray], float],
        frame: int | None,
        time: float | None,
        plates: bool,
        candidates: list | None = None,
    ) -> bool:
        """Check one picture (``candidates``: the face search's, when it ran ahead); True when a
        certain leak was found."""
        found: list[Finding] = []
        certain = False
        if self.faces is not None:
            judged = self.faces.judge(image, photo, covered, candidates)
            found += _face_findings(judged, frame, time)
            self.report.small_faces += [
                Finding("face", round(s, 3), [round(float(v), 1) for v in b], frame, time, "small")
                for b, s in judged.small
            ]
            self.report.covers_dismissed += judged.on_covers
            self.report.weak_dismissed += judged.weak
            certain = judged.certain
        if plates and self.plates is not None:
            found += _plate_findings(self.plates.detect(image), frame, time)
        self.report.frames_checked += 1
        if found:
            self.report.findings += found
            if len(self.tiles) < MAX_SHEET_FRAMES:
                label = "photo" if frame is None else f"frame {frame}  {time or 0:.2f}s"
                self.tiles.append(Tile(image.copy(), _as_detections(found), label))
        return certain


def verify(
    path: Path,
    settings: Settings | None = None,
    *,
    sheet_path: Path | None = None,
    detectors: Mapping[str, Detector] | None = None,
    every: int = 1,
    tracks: Path | None = None,
    use_tracks: bool = True,
    fast: bool = False,
    plate_every: int = PLATE_EVERY,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> VerifyReport:
    """Check a photo or video. ``detectors``: "faces" (CenterFace), ``SECOND`` (YuNet), "plates"
    (built when missing). ``tracks``: the run's detections file (default: one found beside the
    output, unless ``use_tracks`` is False). ``fast``: stop at the first certain leak."""
    path = Path(path)
    settings = settings or Settings()
    run = _Verifier(path, settings, detectors)
    report = run.report
    if is_photo(path):
        image, _ = load_photo(path)
        run.check(image, True, _frame_cover(image, 0, None), None, None, True)
        report.metadata = photo_metadata(path)
    else:
        info = probe(path)
        report.metadata = video_metadata(path)
        plan: CoverPlan | None = None
        if use_tracks or tracks is not None:
            plan, report.notes = find_plan(path, info, tracks)
            report.tracks = str(plan.path) if plan is not None else None
        plates_each = max(1, -(-plate_every // every))  # of the frames checked, plates on every this many
        report.plate_every = plates_each * every if run.plates is not None else 0  # 0: no plate search
        search = Producer("redact-verify-search", lambda: _searched(info, every, run.faces), maxsize=4)
        try:
            for item, candidates in search:
                if candidates is not None:
                    seconds = round(item.seconds(info.time_base), 3)
                    covered = _frame_cover(item.image, item.index, plan)
                    plates = report.frames_checked % plates_each == 0
                    if run.check(item.image, False, covered, item.index, seconds, plates, candidates) and fast:
                        report.stopped_early = True
                        break
                if on_progress is not None:
                    on_progress(item.index + 1, info.frame_count)
        finally:
            search.close()
    if run.tiles and sheet_path is not None:
        report.sheet = str(contact_sheet(run.tiles, sheet_path))
    return report


def _searched(info: VideoInfo, every: int, faces: FaceChecker | None) -> Iterator[tuple[Frame, list | None]]:
    """Each frame with its face candidates (None on frames not checked): decoding and the search with
    the cheaper model, run in a thread ahead of the judging."""
    with VideoSource(info, audio=False) as source:
        for item in source.video_frames():
            checked = item.index % every == 0
            yield item, (faces.candidates(item.image, False) if faces is not None else []) if checked else None


def _frame_cover(image: np.ndarray, index: int, plan: CoverPlan | None) -> Callable[[np.ndarray], float]:
    """How much of the middle of a box is the tool's cover in this frame: from the detections file
    (painted there and still holding the cover's pixels) when there is one, else from the pixels.
    The picture's noise level and the frame's regions are worked out once, when first needed."""
    cache: dict[str, Any] = {}

    def limit() -> float:
        if "limit" not in cache:
            cache["limit"] = surface_limit(image)
        return float(cache["limit"])

    if plan is None:
        return lambda box: cover_surface(image, box, limit())

    def share(box: np.ndarray) -> float:
        if "labels" not in cache:
            cache["labels"] = plan.labels(index, image.shape[1], image.shape[0])
        return plan.covered_share(image, cache["labels"], box, limit())[1]

    return share
