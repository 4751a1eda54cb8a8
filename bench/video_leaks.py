"""Frame-level face leaks on synthetic camera-motion videos built from labelled photos.

    python bench/video_leaks.py --sets faces_portraits,faces_crowd_small --clips 3 --compare

Each clip is four shots of one photo and then another: a pan, a zoom in, a hand-held
shake, and a cut to a second photo that zooms out. The camera is an axis-aligned affine map
(scale + shift), so every labelled box maps exactly to its box in each frame: the ground
truth. Clips are encoded with H.264 (crf 18) so the detector sees codec artefacts.

A face instance (one face in one frame, at least partly inside it) *leaks* when less than
half of its in-frame box lies under the covered region: the detector/tracker box grown by
the face margin with the ellipse inscribed (exactly what ``redact_video`` paints).

Configurations:
* ``tracking``: ``redact_video`` with the flags' settings (schedule, hold, backfill);
* ``per-frame``: the same detector run directly on every decoded frame, boxes grown the
  same way, no tracker at all (the tool's own hold=0 mode still keeps tracks 3 frames);
* ``tool hold=0``: ``redact_video`` with face_every=1, hold=0, backfill=0 (``--compare`` only).
``--compare`` runs all three on the same clips; detections are cached by frame content, so
the detector runs once per decoded frame (reported fps adds the cached detector time back).

Precision: the share of pixels outside every labelled face that the tool paints, split by why
each region is there (found in that frame, held, backfilled, interpolated, stay: each origin
counted only where the ones before it did not already paint), and, on every ``--photo-every``-th
frame, beside the paint of the same frame redacted on its own as a photo (the full detector pass,
no tracker). ``--half tune|check`` builds clips only from one fixed half of each set's photos
(split by a hash of the file name), so a rule tuned on one half can be checked on the other.
``--param NAME=VALUE`` sets a field of ``TrackerParams``; ``--sight-scale`` multiplies the
smallest face size the detector claims to see, to test how the figures move with them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import random
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from redact.boxes import clip_box
from redact.cover.regions import covered_mask, grow, margins
from redact.detections import ORIGIN_CODES, ORIGINS, Detections
from redact.detectors.schedule import build_detectors
from redact.media.source import to_bgr
from redact.pipeline.video import redact_video
from redact.settings import Settings
from redact.tracking.params import TrackerParams

BUCKETS = [(0, 10, "<10"), (10, 16, "10-16"), (16, 32, "16-32"), (32, 64, "32-64"), (64, 1e9, "64+")]
FPS = 25


@dataclass
class Photo:
    path: Path
    boxes: np.ndarray  # labelled faces, x1 y1 x2 y2 in photo pixels (ignore boxes dropped)


@dataclass
class Clip:
    name: str
    path: Path
    # per frame: (face id, box x1 y1 x2 y2 in frame pixels) for faces at least partly in frame
    truth: list[list[tuple[str, np.ndarray]]]
    motion: list[str]  # shot type per frame, for the diagnosis breakdown


def load_photos(set_dir: Path) -> list[Photo]:
    data = json.loads((set_dir / "labels.json").read_text())
    photos = []
    for item in data["images"]:
        b = np.asarray(item["boxes"], dtype=np.float32).reshape(-1, 4)
        if len(b):
            photos.append(Photo(set_dir / item["file"], np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)))
    return photos


def camera_path(
    img_w: int,
    img_h: int,
    n: int,
    motion: str,
    size: tuple[int, int],
    rng: random.Random,
    start: tuple[float, float, float] | None,
    target: np.ndarray | None,
) -> list[tuple[float, float, float]]:
    """Per frame (scale, cx, cy): the photo point (cx, cy) sits at the frame centre, magnified by scale.

    The scale never drops below "fills the frame" and the centre is clamped, so no border shows."""
    W, H = size
    fill = max(W / img_w, H / img_h)

    def clamp(z: float, cx: float, cy: float) -> tuple[float, float, float]:
        s = fill * max(z, 1.0)
        hx, hy = W / (2 * s), H / (2 * s)
        return s, min(max(cx, hx), img_w - hx), min(max(cy, hy), img_h - hy)

    z0, cx0, cy0 = (start[0] / fill, start[1], start[2]) if start else (1.3, img_w / 2, img_h / 2)
    out = []
    shake = np.zeros(2)
    pan_right = rng.random() < 0.5
    for i in range(n):
        a = (i + 1) / n
        ease = a * a * (3 - 2 * a)  # smooth start and stop, as a camera operator moves
        if motion == "pan":  # sweep edge to edge across the photo (direction random), drifting down a little
            hx, hy = W / (2 * fill * z0), H / (2 * fill * z0)
            span = (img_w - 2 * hx) * (ease if pan_right else 1 - ease)
            out.append(clamp(z0, hx + span, hy + (0.3 + 0.4 * ease) * (img_h - 2 * hy)))
        elif motion == "zoom_in":  # push in towards a labelled face
            tx, ty = (target[:2] + target[2:]) / 2 if target is not None else (cx0, cy0)
            out.append(clamp(z0 + ease * 0.8, cx0 + ease * (tx - cx0), cy0 + ease * (ty - cy0)))
        elif motion == "shake":  # hand-held: a jittery random walk of a few frame pixels per frame
            shake = 0.6 * shake + np.array([rng.gauss(0, 10), rng.gauss(0, 7)])
            s = fill * z0
            out.append(clamp(z0, cx0 + shake[0] / s, cy0 + shake[1] / s))
        else:  # zoom_out after a cut
            out.append(clamp(z0 - ease * (z0 - 1.02), cx0, cy0))
    return out


def build_clip(
    name: str, photos: list[Photo], frames: int, size: tuple[int, int], rng: random.Random, out_dir: Path
) -> Clip:
    """Render pan, zoom in, shake on photos[0], then cut to photos[1] zooming out; encode H.264."""
    W, H = size
    n = frames // 4
    plan = [("pan", 0, n), ("zoom_in", 0, n), ("shake", 0, n), ("zoom_out", 1, frames - 3 * n)]
    images = [cv2.imread(str(p.path)) for p in photos]
    path = out_dir / f"{name}.mp4"
    truth: list[list[tuple[str, np.ndarray]]] = []
    motion: list[str] = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        start = None  # shots on the same photo continue where the camera was
        for kind, which, count in plan:
            img, photo = images[which], photos[which]
            target = photo.boxes[rng.randrange(len(photo.boxes))]
            if kind == "zoom_out":
                fill = max(W / img.shape[1], H / img.shape[0])
                start = (fill * 1.8, img.shape[1] / 2, img.shape[0] / 2)  # the cut lands on a close shot
            cam = camera_path(img.shape[1], img.shape[0], count, kind, size, rng, start, target)
            for s, cx, cy in cam:
                m = np.array([[s, 0, W / 2 - s * cx], [0, s, H / 2 - s * cy]], dtype=np.float64)
                frame = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                boxes = photo.boxes * s + np.array([m[0, 2], m[1, 2], m[0, 2], m[1, 2]], dtype=np.float32)
                inside = (boxes[:, 2] > 0) & (boxes[:, 0] < W) & (boxes[:, 3] > 0) & (boxes[:, 1] < H)
                truth.append([(f"{name}/{which}/{i}", boxes[i]) for i in np.flatnonzero(inside)])
                motion.append(kind)
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                    out.mux(packet)
            start = cam[-1]
        for packet in stream.encode():
            out.mux(packet)
    return Clip(name, path, truth, motion)


class CachedDetector:
    """Wraps a detector and remembers its output per frame content, so configurations that see
    the same decoded frame share one detector call (the detector is deterministic)."""

    def __init__(self, inner, sight_scale: float = 1.0) -> None:
        self.inner, self.kind = inner, inner.kind
        self.cache: dict[bytes, tuple[Detections, float]] = {}
        self.saved = 0.0  # detector seconds not spent thanks to the cache
        self.sight_scale = sight_scale

    def sight(self, height: int, width: int, coarse: bool = False) -> float | None:
        seen = self.inner.sight(height, width, coarse)
        return None if seen is None else seen * self.sight_scale

    def load(self, path: Path | None) -> None:
        """Start a clip from the detections saved by an earlier run (--detections-cache), if any."""
        self.cache = pickle.loads(path.read_bytes()) if path is not None and path.exists() else {}

    def save(self, path: Path | None) -> None:
        if path is not None:
            path.write_bytes(pickle.dumps(self.cache))

    def detect(self, image: np.ndarray) -> Detections:
        return self._cached("full", self.inner.detect, image)

    def __getattr__(self, name: str):
        # forward optional passes (detect_coarse) so the tool schedules exactly what it would
        # with the real detector; hiding them would measure a different schedule
        if name == "detect_coarse" and hasattr(self.inner, name):
            return lambda image: self._cached(name, self.inner.detect_coarse, image)
        raise AttributeError(name)

    def _cached(self, mode: str, run, image: np.ndarray) -> Detections:
        key = mode.encode() + hashlib.blake2b(image.tobytes(), digest_size=16).digest()
        if key in self.cache:
            dets, secs = self.cache[key]
            self.saved += secs
            return dets
        t = time.perf_counter()
        dets = run(image)
        self.cache[key] = (dets, time.perf_counter() - t)
        return dets


def painted_mask(dets: Detections, grow_by: dict[int, float], shape: str, h: int, w: int) -> np.ndarray:
    """Exactly the pixels the tool paints for these (ungrown) detections."""
    return covered_mask(grow(dets, grow_by), shape, h, w)


@dataclass
class Result:
    # per instance: (face id, frame, width px, leaked, motion, share of the box inside the frame)
    rows: list[tuple[str, int, float, bool, str, float]] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    dumped: int = 0
    # pixels outside every labelled face box: how many, and how many of them painted (precision)
    other_pixels: int = 0
    other_painted: int = 0
    # of other_painted, by the origin that first paints each pixel (found, held, backfilled, ...)
    by_origin: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORIGINS, 0))
    # sampled frames: pixels outside faces, painted in the video, painted as a photo
    sampled_pixels: int = 0
    sampled_video: int = 0
    sampled_photo: int = 0


def face_mask(clip: Clip, index: int, h: int, w: int) -> np.ndarray:
    faces = np.zeros((h, w), bool)
    for _, box in clip.truth[index]:
        span = clip_box(box, w, h)
        if span is not None:
            faces[span[1] : span[3], span[0] : span[2]] = True
    return faces


def score_frame(
    res: Result,
    clip: Clip,
    index: int,
    image: np.ndarray,
    mask: np.ndarray,
    label: str,
    dump_dir: Path | None,
    dump_max: int,
) -> None:
    h, w = mask.shape
    faces = face_mask(clip, index, h, w)
    res.other_pixels += int((~faces).sum())
    res.other_painted += int((mask & ~faces).sum())
    for fid, box in clip.truth[index]:
        span = clip_box(box, w, h)
        if span is None:
            continue
        x1, y1, x2, y2 = span
        share = mask[y1:y2, x1:x2].mean()
        leaked = bool(share < 0.5)
        width = float(box[2] - box[0])
        inside = (x2 - x1) * (y2 - y1) / max(float((box[2] - box[0]) * (box[3] - box[1])), 1e-6)
        res.rows.append((fid, index, width, leaked, clip.motion[index], inside))
        if leaked and width >= 16 and dump_dir is not None and res.dumped < dump_max:
            # a leaked frame for eyeballing: covered pixels darkened, the leaked face boxed in red
            view = image.copy()
            view[mask] //= 3
            cv2.rectangle(view, (x1, y1), (x2 - 1, y2 - 1), (0, 0, 255), 2)
            cv2.imwrite(str(dump_dir / f"{label}_{clip.name}_f{index:03d}_{int(width)}px.png"), view)
            res.dumped += 1


def run_per_frame(clip: Clip, det: CachedDetector, settings: Settings, res: Result, **dump) -> None:
    """Detector on every decoded frame, no tracker: the cleanest 'no tracking benefit' baseline."""
    grow_by = margins(settings)
    t = time.perf_counter()
    with av.open(str(clip.path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            image = to_bgr(frame)  # decoded exactly as the tool's VideoSource does
            dets = det.detect(image)
            mask = painted_mask(dets, grow_by, settings.shape, *image.shape[:2])
            score_frame(res, clip, index, image, mask, "per-frame", **dump)
            res.frames += 1
    res.seconds += time.perf_counter() - t


def origin_paint(res: Result, dets: Detections, grow_by: dict[int, float], shape: str, faces: np.ndarray) -> None:
    """Pixels outside faces painted, by the first origin (in ORIGINS order) whose regions paint them."""
    h, w = faces.shape
    done = faces.copy()
    for name in ORIGINS:
        part = dets[dets.origin_codes == ORIGIN_CODES[name]]
        if not len(part):
            continue
        mask = painted_mask(part, grow_by, shape, h, w) & ~done
        res.by_origin[name] += int(mask.sum())
        done |= mask


def photo_paint(
    res: Result, det: CachedDetector, settings: Settings, image: np.ndarray, video_mask: np.ndarray, faces: np.ndarray
) -> None:
    """The same frame redacted on its own as a photo (full detector pass, no tracker), beside the video."""
    found = det.detect(image)
    mask = painted_mask(found, margins(settings), settings.shape, *image.shape[:2])
    res.sampled_pixels += int((~faces).sum())
    res.sampled_video += int((video_mask & ~faces).sum())
    res.sampled_photo += int((mask & ~faces).sum())


def run_tool(
    clip: Clip,
    det: CachedDetector,
    settings: Settings,
    res: Result,
    out_dir: Path,
    label: str,
    params: TrackerParams | None = None,
    photo_every: int = 0,
    **dump,
) -> None:
    grow_by = margins(settings)
    saved = det.saved

    def on_frame(frame, dets: Detections) -> None:
        h, w = frame.image.shape[:2]
        mask = painted_mask(dets, grow_by, settings.shape, h, w)
        score_frame(res, clip, frame.index, frame.image, mask, label, **dump)
        faces = face_mask(clip, frame.index, h, w)
        origin_paint(res, dets, grow_by, settings.shape, faces)
        if photo_every and frame.index % photo_every == photo_every // 2:
            photo_paint(res, det, settings, frame.image, mask, faces)

    start = len(res.rows)
    try:
        report = redact_video(
            clip.path,
            out_dir / f"{clip.name}.{label.replace('=', '')}.out.mp4",
            settings,
            overwrite=True,
            detectors={"faces": det},
            on_frame=on_frame,
            tracker=params,
        )
    except ValueError as exc:  # a tool bug must show in the table, not end the benchmark
        del res.rows[start:]
        res.crashes.append(f"{clip.name}: {exc}")
        return
    res.frames += report.frames
    res.seconds += report.seconds + (det.saved - saved)  # as if the detector had really run


def run_deface(clip: Clip, command: str, res: Result) -> None:
    """deface's CLI with its default detector settings, painting solid black so that exactly what it
    covered can be read back from the output: a pixel counts as covered when it is near black (a face
    that was already black in the clip counts as covered too, which can only favour deface)."""
    out = clip.path.with_suffix(".deface.mp4")
    t = time.perf_counter()
    subprocess.run(
        [command, str(clip.path), "-o", str(out), "--replacewith", "solid"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    res.seconds += time.perf_counter() - t
    frames = 0
    with av.open(str(out)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            grey = frame.to_ndarray(format="gray")
            score_frame(res, clip, index, grey, grey < 24, "deface", None, 0)
            frames += 1
    if frames != len(clip.truth):  # a shifted frame would score the wrong truth
        raise RuntimeError(f"deface wrote {frames} frames for {clip.name}, not {len(clip.truth)}")
    res.frames += frames


def longest_run(rows: list[tuple]) -> int:
    """Longest streak of consecutive leaked frames of one face."""
    best = 0
    streak: dict[str, tuple[int, int]] = {}  # face id -> (last leaked frame, streak length)
    for fid, frame, _, leaked, *_ in sorted(rows, key=lambda r: (r[0], r[1])):
        if not leaked:
            continue
        last, n = streak.get(fid, (-2, 0))
        n = n + 1 if frame == last + 1 else 1
        streak[fid] = (frame, n)
        best = max(best, n)
    return best


def table(title: str, res: Result) -> str:
    lines = [
        f"### {title}",
        "",
        "| face width | instances | leaked | leak rate | longest leak run |",
        "|---|---:|---:|---:|---:|",
    ]
    groups = [(lo, hi, name, 0.0) for lo, hi, name in BUCKETS] + [(16, 1e9, "**>=16**", 0.0), (0, 1e9, "all", 0.0)]
    # faces cut by the frame edge to a sliver are hard to detect and hardly identifiable: shown apart
    groups.append((16, 1e9, ">=16, half+ inside frame", 0.5))
    for lo, hi, name, vis in groups:
        rows = [r for r in res.rows if lo <= r[2] < hi and r[5] >= vis]
        leaked = sum(r[3] for r in rows)
        rate = f"{100 * leaked / len(rows):.2f}%" if rows else "-"
        lines.append(f"| {name} | {len(rows)} | {leaked} | {rate} | {longest_run(rows) if rows else '-'} |")
    by_motion: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in res.rows:
        if r[2] >= 16:
            by_motion[r[4]][0] += r[3]
            by_motion[r[4]][1] += 1
    lines.append("")
    lines.append(
        "leaks >=16 px by shot: "
        + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in by_motion.items())
        + f"; {res.frames} frames at {res.frames / res.seconds if res.seconds else 0:.2f} fps"
    )
    if res.other_pixels:
        lines.append(f"pixels outside labelled faces painted: {100 * res.other_painted / res.other_pixels:.2f}%")
        if any(res.by_origin.values()):
            lines.append(
                "  of which by origin: "
                + ", ".join(f"{k} {100 * v / res.other_pixels:.2f}%" for k, v in res.by_origin.items())
            )
    if res.sampled_pixels:
        video, photo = res.sampled_video / res.sampled_pixels, res.sampled_photo / res.sampled_pixels
        ratio = f"{video / photo:.2f}x" if photo else "-"
        lines.append(f"sampled frames: painted {100 * video:.2f}% in the video, {100 * photo:.2f}% as photos ({ratio})")
    for crash in res.crashes:
        lines.append(f"\n**CRASHED** (clip not scored): {crash}")
    return "\n".join(lines)


def half_of(path: Path) -> str:
    """A fixed half of a set: tune or check, by a hash of the file name (not of its place in the set)."""
    return "tune" if hashlib.sha256(path.name.encode()).digest()[0] % 2 == 0 else "check"


def tracker_params(assignments: list[str]) -> TrackerParams:
    """TrackerParams with NAME=VALUE changes (numbers as the field's own type)."""
    base = TrackerParams()
    changes = {}
    for item in assignments:
        name, _, value = item.partition("=")
        current = getattr(base, name)  # an unknown name fails here, loudly
        if isinstance(current, bool):
            changes[name] = value.lower() in ("1", "true", "yes")
        else:
            changes[name] = type(current)(float(value)) if isinstance(current, (int, float)) else value
    return replace(base, **changes)


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--evaldata", type=Path, default=repo.parent / "shared" / "evaldata")
    p.add_argument("--sets", default="faces_portraits,faces_crowd_small")
    p.add_argument("--clips", type=int, default=3, help="clips (main photos) per set")
    p.add_argument("--frames", type=int, default=48, help="frames per clip (4 shots)")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quality", default="balanced")
    p.add_argument("--face-every", type=int, default=None)
    p.add_argument("--hold", type=float, default=None)
    p.add_argument("--backfill", type=float, default=None)
    p.add_argument("--per-frame", action="store_true", help="only the per-frame baseline (no tracker)")
    p.add_argument("--compare", action="store_true", help="per-frame, tool hold=0 and tracking side by side")
    p.add_argument("--deface", default=None, help="also score deface's CLI (its defaults), e.g. /path/venv/bin/deface")
    p.add_argument("--out-dir", type=Path, default=Path("/tmp/redact_video_leaks"))
    p.add_argument("--half", choices=("all", "tune", "check"), default="all", help="which half of each set's photos")
    p.add_argument("--param", action="append", default=[], help="a TrackerParams field, NAME=VALUE (repeatable)")
    p.add_argument("--sight-scale", type=float, default=1.0, help="multiply the detector's claimed sight")
    p.add_argument("--photo-every", type=int, default=6, help="compare every Nth frame with it as a photo (0: off)")
    p.add_argument("--dump-leaks", type=int, default=0, help="write up to N PNGs of leaked >=16 px faces per config")
    p.add_argument(
        "--detections-cache",
        type=Path,
        default=None,
        help="keep each clip's detector output here between runs: tracker and cover experiments then "
        "skip the detector (clear it when the detector changes; reported fps are then not comparable)",
    )
    args = p.parse_args(argv)

    if not args.evaldata.is_dir():
        print(f"skipped: no evaldata at {args.evaldata}")
        return 0
    params = tracker_params(args.param)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    dump_dir = None
    if args.dump_leaks:
        dump_dir = args.out_dir / "leaks"
        dump_dir.mkdir(exist_ok=True)
    changes = {
        k: v
        for k, v in (("face_every", args.face_every), ("hold", args.hold), ("backfill", args.backfill))
        if v is not None
    }
    # preset "ultrafast" only speeds the tool's output encode; it does not change what is covered
    base = Settings(targets=("faces",), quality=args.quality, preset="ultrafast")
    configs: list[tuple[str, Settings]] = []
    if args.per_frame or args.compare:
        configs.append(("per-frame", base))
    if args.compare:
        configs.append(("tool hold=0", base.replace(face_every=1, hold=0.0, backfill=0.0)))
    if not args.per_frame or args.compare:
        configs.append(("tracking", base.replace(**changes)))
    if args.deface:
        configs.append(("deface", base))
    det = CachedDetector(
        build_detectors(base)["faces"], args.sight_scale
    )  # detector options do not depend on tracking flags
    rng = random.Random(args.seed)
    for set_name in [s for s in args.sets.split(",") if s]:
        photos = [p for p in load_photos(args.evaldata / set_name) if args.half in ("all", half_of(p.path))]
        picks = rng.sample(range(len(photos)), min(len(photos), args.clips + 1))
        results = {label: Result() for label, _ in configs}
        for c in range(min(args.clips, len(picks) - 1)):
            clip = build_clip(
                f"{set_name}_{c}" + ("" if args.half == "all" else f"_{args.half}"),
                [photos[picks[c]], photos[picks[c + 1]]],
                args.frames,
                size,
                rng,
                args.out_dir,
            )
            cache = None
            if args.detections_cache is not None:
                args.detections_cache.mkdir(parents=True, exist_ok=True)
                cache = (
                    args.detections_cache / f"{clip.name}_{args.quality}_{args.frames}_{args.size}_{args.seed}.pickle"
                )
            det.load(cache)
            for label, settings in configs:
                dump = {"dump_dir": dump_dir, "dump_max": args.dump_leaks}
                if label == "deface":
                    run_deface(clip, args.deface, results[label])
                elif label == "per-frame":
                    run_per_frame(clip, det, settings, results[label], **dump)
                else:
                    run_tool(clip, det, settings, results[label], args.out_dir, label, params, args.photo_every, **dump)
            det.save(cache)
            det.cache.clear()  # frames never repeat across clips
            print(f"# {clip.name} done", file=sys.stderr, flush=True)
        for label, settings in configs:
            every = settings.face_every or "preset"
            if label == "deface":
                print(table(f"{set_name}, deface (defaults, painting solid)", results[label]) + "\n", flush=True)
                continue
            desc = (
                f"{set_name}, {args.quality}, {label}"
                + (f" [{', '.join(args.param)}]" if args.param and label != "per-frame" else "")
                + (f" [sight x{args.sight_scale}]" if args.sight_scale != 1 and label != "per-frame" else "")
                + (
                    ""
                    if label == "per-frame"
                    else f" (face_every={every}, hold={settings.hold}s, backfill={settings.backfill}s)"
                )
            )
            print(table(desc, results[label]) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
