"""Cover the people, not the story: plates that are plates, and a verify that finds leaks.

    python bench/precision.py                      # every part, default settings
    python bench/precision.py --parts signs plates # skip the verify run (the slow part)
    python bench/precision.py --option read=false  # the plate detector without reading (before)
    python bench/precision.py --parts signs plates --misses docs/plate-misses.png

Parts (sets from ``--evaldata``, default ../shared/evaldata):

* ``signs``: signs_no_plates (protest, rally, parade and sports photos with signs and no plate):
  photos with any region taken for a plate, regions, and the share of the photo they cover.
* ``plates``: plates_street, plates_dashcam and plates_night_extra: labelled plates covered (at
  least half of the plate under a box, as ``bench/accuracy.py``) in all, at least 32 and 64 px
  wide and under 32 px, and false plates per frame; ``--misses PNG`` draws every missed plate.

Photos (plates_street, signs_no_plates) go through the photo path (``detect_photo``: the plate
detector's ``detect_still``), dashcam frames through ``detect``, as the command line does.
Plates and signs are reported for the tune half, the check half and all of each set
(``bench/halves.py``: a fixed split; tune rules on the tune half only).
* ``verify``: the ``redact batch`` command line with default settings on faces_crowd_orig, then
  ``redact verify``'s check (same settings as the command) on every output photo: the share of
  outputs it calls clean, and the detections it dismissed as the tool's own covers. Then the
  leaks it must still find: the outputs with every other labelled face >= 16 px pasted back
  from the input, and the original photos of faces_crowd_orig and faces_portraits (every labelled
  face >= 16 px the detector finds there that verify dismisses is a leak it would not report).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import covered_fraction, overlaps_any, pct, rasterize, to_xyxy
from halves import HALVES, half_of, select
from plate_sheet import Miss, write_sheet

from redact.detectors import create_detector


def detect(detector, image: np.ndarray, still: bool) -> np.ndarray:
    """Boxes as the command line finds them: photos through the photo path (``detect_still``
    where the detector has it), video frames through ``detect``."""
    if still:
        from redact.pipeline.photo import detect_photo

        return detect_photo(image, {"plates": detector}).boxes
    return detector.detect(image).boxes


#: sets of photos (the rest are frames of videos)
STILLS = ("plates_street", "signs_no_plates")


def signs(detector, root: Path) -> list[str]:
    """Photos with any region taken for a plate, per half and in all."""
    images = json.loads((root / "labels.json").read_text())["images"]
    found: dict[str, tuple[int, int, float]] = {}
    for entry in images:
        image = cv2.imread(str(root / entry["file"]))
        boxes = detect(detector, image, root.name in STILLS)
        share = float(rasterize(boxes, *image.shape[:2]).mean())
        found[entry["file"]] = (bool(len(boxes)), len(boxes), share)
        if len(boxes):
            print(f"  plate(s) in {entry['file']}: {len(boxes)}, {100 * share:.2f}% of the photo", flush=True)
    rows = []
    for half in HALVES:
        part = [found[e["file"]] for e in select(images, half)]
        shares = [s for *_, s in part]
        rows.append(
            f"| signs_no_plates | {half} | {len(part)} | photos with a plate region: "
            f"**{sum(p for p, *_ in part)} of {len(part)}** | regions {sum(n for _, n, _ in part)}; "
            f"mean share of a photo {100 * np.mean(shares):.2f}%, max {100 * max(shares):.2f}% |"
        )
    return rows


#: plate width buckets reported (px, labelled box width)
SIZES = (("all", 0, 1e9), (">= 32 px", 32, 1e9), (">= 64 px", 64, 1e9), ("< 32 px", 0, 32))


def plates(detector, root: Path, misses: list | None = None) -> list[str]:
    """Labelled plates covered (at least half of the plate under a box, as ``bench/accuracy.py``)
    by width, and false plates per frame (boxes touching no labelled or ignored plate), per half."""
    images = json.loads((root / "labels.json").read_text())["images"]
    per_image = {}
    for entry in images:
        image = cv2.imread(str(root / entry["file"]))
        boxes = detect(detector, image, root.name in STILLS).astype(np.float64)
        labelled, ignore = to_xyxy(entry.get("boxes", [])), to_xyxy(entry.get("ignore", []))
        mask = rasterize(boxes, *image.shape[:2])
        hits = [(b[2] - b[0], covered_fraction(mask, b) >= 0.5) for b in labelled]
        known = np.concatenate([labelled, ignore])
        per_image[entry["file"]] = (hits, sum(not overlaps_any(b, known) for b in boxes))
        if misses is not None:
            half = half_of(entry["file"])
            misses += [Miss(root, entry["file"], half, b) for b, (_, hit) in zip(labelled, hits) if not hit]
    rows = []
    for half in HALVES:
        part = [per_image[e["file"]] for e in select(images, half)]
        cells = []
        for name, lo, hi in SIZES:
            sized = [hit for hits, _ in part for width, hit in hits if lo <= width < hi]
            cells.append(
                f"{name} **{pct(sum(sized), len(sized))}**"
                if name == ">= 32 px"
                else f"{name} {pct(sum(sized), len(sized))}"
            )
        false = sum(f for _, f in part) / max(1, len(part))
        rows.append(f"| {root.name} | {half} | {len(part)} | {'; '.join(cells)} | false plates per frame {false:.2f} |")
    return rows


def labelled_faces(entry: dict, min_width: float = 16) -> np.ndarray:
    """An image's labelled faces at least ``min_width`` px wide, as x1 y1 x2 y2."""
    boxes = np.array([b for b in entry["boxes"] if b[2] >= min_width], np.float32).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


def reported(image: np.ndarray, faces: np.ndarray, detectors) -> tuple[int, int]:
    """Of ``faces``: how many the checker's detectors find (IoU >= 0.3), and how many of those
    verify still reports after dismissing the tool's own covers."""
    from redact.boxes import iou
    from redact.pipeline.photo import detect_photo
    from redact.review.verify import residual

    found = detect_photo(image, detectors)
    kept, _ = residual(image, found)
    hit = [sum(bool(len(d) and iou(face, d.boxes).max() >= 0.3) for face in faces) for d in (found, kept)]
    return hit[0], hit[1]


def dismissed_faces(evaldata: Path, detectors) -> str:
    """Real faces verify would dismiss: labelled faces >= 16 px in the original, unredacted photos."""
    parts = []
    for name in ("faces_crowd_orig", "faces_portraits"):
        found = kept = 0
        for entry in json.loads((evaldata / name / "labels.json").read_text())["images"]:
            image = cv2.imread(str(evaldata / name / entry["file"]))
            f, k = reported(image, labelled_faces(entry), detectors)
            found, kept = found + f, kept + k
        parts.append(f"{name}: {pct(kept, found)}")
    return f"| originals: labelled faces >= 16 px the detector finds that verify still reports | all | | {'; '.join(parts)} | |"


def left_visible(root: Path, images: list[dict], out: Path, detectors) -> str:
    """Each output with every other labelled face >= 16 px pasted back from the input (a leak
    beside covered neighbours): how many of those faces verify reports."""
    found = kept = total = 0
    for entry in images:
        output = cv2.imread(str(out / Path(entry["file"]).name))
        source = cv2.imread(str(root / entry["file"]))
        faces = labelled_faces(entry)[::2]
        for x1, y1, x2, y2 in faces.astype(int):
            output[y1:y2, x1:x2] = source[y1:y2, x1:x2]
        ok, data = cv2.imencode(".jpg", output, [cv2.IMWRITE_JPEG_QUALITY, 92])  # as the tool writes
        f, k = reported(cv2.imdecode(data, cv2.IMREAD_COLOR), faces, detectors)
        found, kept, total = found + f, kept + k, total + len(faces)
    return (
        f"| outputs with every other face >= 16 px left visible ({total}) | all | {len(images)} | "
        f"reported: **{pct(kept, total)}** | the checker's detector finds {pct(found, total)} |"
    )


#: a pixel the tool changed: some channel differs from the input by more than this (JPEG noise: a few levels)
CHANGED_LEVEL = 12
CAUSE_ORDER = (
    "real face left visible",
    "untouched pixels, fires on the input too",
    "untouched pixels, not on the input",
    "rim: cover and untouched pixels",
    "inside the tool's covers",
    "metadata",
)


def finding_cause(box: np.ndarray, kind: str, changed: np.ndarray, faces: np.ndarray, on_input) -> str:
    """Why a finding is there: judged by how much of its box the tool changed, the labelled faces
    (ignored ones included) and, for untouched pixels, whether the checker fires there on the input."""
    from redact.boxes import iou

    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    share = float(changed[y1:y2, x1:x2].mean()) if x2 > x1 and y2 > y1 else 0.0
    if share >= 0.8:
        return CAUSE_ORDER[4]
    if share >= 0.1:
        return CAUSE_ORDER[3]
    if kind == "face" and len(faces) and iou(box, faces).max() >= 0.3:
        return CAUSE_ORDER[0] + (" (< 16 px)" if x2 - x1 < 16 else "")
    found = on_input()
    return CAUSE_ORDER[1] if len(found) and iou(box, found).max() >= 0.3 else CAUSE_ORDER[2]


def not_clean_causes(report, entry: dict, root: Path, detectors) -> list[str]:
    """The cause of each finding of a report on an output of the photo ``entry``."""
    from redact.pipeline.photo import detect_photo

    source = cv2.imread(str(root / entry["file"]))
    output = cv2.imread(report.path)
    changed = np.abs(source.astype(np.int16) - output).max(axis=2) > CHANGED_LEVEL
    labelled = entry["boxes"] + entry.get("ignore", [])
    faces = np.array([[x, y, x + w, y + h] for x, y, w, h in labelled], np.float32).reshape(-1, 4)
    input_boxes: list[np.ndarray] = []

    def on_input() -> np.ndarray:  # the checker on the input photo, once, only when needed
        if not input_boxes:
            input_boxes.append(detect_photo(source, detectors).boxes)
        return input_boxes[0]

    return [finding_cause(np.array(f.box, np.float32), f.kind, changed, faces, on_input) for f in report.findings]


def worst_causes(causes: dict[str, list[str]]) -> str:
    """Outputs not clean, counted by the first cause in CAUSE_ORDER among their findings."""
    counts: dict[str, int] = {}
    for found in causes.values():
        worst = min(found, key=lambda c: next(i for i, k in enumerate(CAUSE_ORDER) if c.startswith(k)))
        counts[worst] = counts.get(worst, 0) + 1
    return "; ".join(f"{c} {n}" for c, n in sorted(counts.items(), key=lambda item: -item[1]))


def verify_outputs(root: Path, limit: int | None) -> list[str]:
    from redact.detectors.schedule import build_detectors
    from redact.review.verify import verify
    from redact.settings import Settings

    with tempfile.TemporaryDirectory(prefix="redact-precision-") as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        images = json.loads((root / "labels.json").read_text())["images"][:limit]
        for entry in images:  # links, so that batch sees only the photos
            (src / Path(entry["file"]).name).symlink_to((root / entry["file"]).resolve())
        t0 = time.perf_counter()
        subprocess.run(["redact", "batch", str(src), "-o", str(out), "--quiet"], check=True)
        batch_s = time.perf_counter() - t0
        settings = Settings(face_threshold=0.6, plate_threshold=0.6)  # as `redact verify`
        detectors = build_detectors(settings.replace(quality="thorough"))
        clean = dismissed = 0
        by_name = {Path(e["file"]).name: e for e in images}
        causes: dict[str, list[str]] = {}
        for path in sorted(p for p in out.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
            report = verify(path, settings, detectors=detectors)
            clean += report.clean
            dismissed += report.covers_dismissed
            if not report.clean:
                causes[path.name] = not_clean_causes(report, by_name[path.name], root, detectors) or ["metadata"]
                found = ", ".join(
                    f"{f.kind} {f.score:.2f} {f.box} ({c})" for f, c in zip(report.findings, causes[path.name])
                )
                print(f"  not clean: {path.name}: {found} {report.metadata}", flush=True)
        leaks = left_visible(root, images, out, detectors)
    return [
        f"| {root.name}: `redact batch` then verify | all | {len(images)} | clean: **{pct(clean, len(images))}** | "
        f"covered regions dismissed {dismissed}; batch {batch_s:.0f} s; not clean by cause: {worst_causes(causes)} |",
        leaks,
        dismissed_faces(root.parent, detectors),
    ]


PLATE_SETS = ("plates_street", "plates_dashcam", "plates_night_extra")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaldata", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "evaldata")
    parser.add_argument(
        "--parts", nargs="+", default=["signs", "plates", "verify"], choices=["signs", "plates", "verify"]
    )
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="plate detector option")
    parser.add_argument("--limit", type=int, default=None, help="verify: only the first N photos")
    parser.add_argument("--misses", type=Path, default=None, help="plates: write a contact sheet of missed plates")
    args = parser.parse_args()
    options: dict[str, Any] = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = json.loads(value)
    rows = []
    if {"signs", "plates"} & set(args.parts):
        detector = create_detector("plates", **options)
        if "signs" in args.parts:
            rows += signs(detector, args.evaldata / "signs_no_plates")
        if "plates" in args.parts:
            misses: list[Miss] | None = [] if args.misses else None
            for name in PLATE_SETS:
                rows += plates(detector, args.evaldata / name, misses)
            if args.misses and misses is not None:
                write_sheet(detector, misses, args.misses)
                print(f"  {len(misses)} missed plates drawn in {args.misses}", flush=True)
    if "verify" in args.parts:
        rows += verify_outputs(args.evaldata / "faces_crowd_orig", args.limit)
    print("\n| set | half | n | result | detail |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
