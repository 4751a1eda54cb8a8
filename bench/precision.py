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
  ``redact verify`` on every output photo (the share it calls clean, and why the others are not),
  and each combination of face opinions (``bench/verify_opinions.py``: CenterFace alone, YuNet
  alone, both, either, both only on covers, and the rule kept) on the same candidates: outputs
  with no face finding, and the leaks each still finds: the outputs with every other labelled
  face >= 16 px pasted back from the input, the original photos, and the originals with a
  neighbour's cover reaching 40% into every face. Tune and check halves (split by file
  name) are given apart. ``--cache DIR`` keeps each picture's candidates between runs and
  ``--keep-outputs DIR`` the batch outputs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


def jpeg(image: np.ndarray) -> np.ndarray:
    """The picture as the tool writes it (JPEG quality 92), read back."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def pasted_back(output: np.ndarray, source: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """An output with ``faces`` pasted back from the input: leaks beside covered neighbours."""
    output = output.copy()
    for x1, y1, x2, y2 in faces.astype(int):
        output[y1:y2, x1:x2] = source[y1:y2, x1:x2]
    return jpeg(output)


def under_neighbours(source: np.ndarray, faces: np.ndarray, share: float) -> np.ndarray:
    """Every face in ``faces`` with a neighbour's cover (a face-sized region, default margin) reaching
    ``share`` of its width in from the left: real faces partly under the tool's covers."""
    from redact.cover import styles
    from redact.detections import Detections
    from redact.settings import Settings

    regions = []
    for x1, y1, x2, y2 in faces:
        size = x2 - x1
        right = x1 + share * size - (0.15 * size + 4)  # the default margin reaches ``share`` in
        regions.append([right - size, y1, right, y2])
    boxes = np.array(regions, np.float32).reshape(-1, 4)
    return jpeg(styles.cover(source.copy(), Detections.from_boxes(boxes, kind="face"), Settings()))


def verify_outputs(root: Path, limit: int | None, cache: Path | None, keep: Path | None) -> list[str]:
    """`redact batch` on faces_crowd_orig, then each combination of opinions and verify itself."""
    from verify_opinions import RULES, cached_features, either, faces_reported, half

    from redact.review.verify import FaceChecker, build_checkers, verify
    from redact.settings import Settings

    images = json.loads((root / "labels.json").read_text())["images"][:limit]
    with tempfile.TemporaryDirectory(prefix="redact-precision-") as tmp:
        out = keep or Path(tmp) / "out"
        batch_s = run_batch(images, root, Path(tmp) / "in", out)
        settings = Settings()
        models = build_checkers(settings)
        checker = FaceChecker(models["faces"], models["faces_second"], models["faces_look"])
        # per rule and half: outputs clean (faces), pasted-back faces reported, originals reported,
        # faces under a neighbour's cover reported; and the pasted-back faces either model finds
        tally: dict[tuple[str, str, str], list[int]] = {}

        def add(rule: str, part: str, name: str, hits: list[bool]) -> None:
            cell = tally.setdefault((rule, part, half(name)), [0, 0])
            cell[0] += sum(hits)
            cell[1] += len(hits)

        verify_clean = {"tune": [0, 0], "check": [0, 0]}
        causes: dict[str, list[str]] = {}
        for n, entry in enumerate(images):
            name = Path(entry["file"]).name
            source = cv2.imread(str(root / entry["file"]))
            output = cv2.imread(str(out / name))
            faces = labelled_faces(entry)
            pictures = variants(source, output, faces)
            rows = {
                k: cached_features(cache, f"{k}:{name}", f, checker, None if k == "out" else faces)
                for k, f in pictures.items()
            }
            for rule, test in RULES.items():
                add(rule, "clean", name, [not any(test(r) for _, r in rows["out"])])
                add(rule, "pasted", name, faces_reported(rows["pasted"], faces[::2], test))
                add(rule, "orig", name, faces_reported(rows["orig"], faces, test))
                add(rule, "under", name, faces_reported(rows["under 40%"], faces, test))
                found = faces_reported(rows["pasted"], faces[::2], either)
                hits = faces_reported(rows["pasted"], faces[::2], test)
                add(rule, "either-found pasted", name, [h for h, f in zip(hits, found) if f])
            report = verify(out / name, settings, detectors=models)
            verify_clean[half(name)][0] += report.clean
            verify_clean[half(name)][1] += 1
            if not report.clean:
                causes[name] = not_clean_causes(report, entry, root, {"faces": models["faces"]}) or ["metadata"]
                found_text = ", ".join(
                    f"{f.kind} {f.score:.2f} {f.box} [{f.why}] ({c})" for f, c in zip(report.findings, causes[name])
                )
                print(f"  not clean: {name}: {found_text} {report.metadata}", flush=True)
            if n % 10 == 9:
                print(f"  {n + 1} of {len(images)} photos", flush=True)
    lines = [
        f"`redact batch` on {root.name} ({len(images)} photos, {batch_s:.0f} s), split by file name into a tune "
        "and a check half; cells are tune / check.",
        "",
        "| opinions | outputs with no face finding | pasted-back faces >= 16 px reported | ... of those either "
        "model finds | originals: labelled faces >= 16 px reported | originals with a neighbour's cover 40% into "
        "every face: faces reported |",
        "|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        cells = [
            " / ".join(pct(*tally.get((rule, part, h), [0, 0])) for h in ("tune", "check"))
            for part in ("clean", "pasted", "either-found pasted", "orig", "under")
        ]
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"`redact verify` itself (faces, plates, metadata) on the outputs: clean "
        f"**{pct(*verify_clean['tune'])} / {pct(*verify_clean['check'])}**; "
        f"all: {pct(verify_clean['tune'][0] + verify_clean['check'][0], len(images))}; "
        f"not clean by cause: {worst_causes(causes)}",
    ]
    return lines


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


def variants(source: np.ndarray, output: np.ndarray, faces: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    """The pictures each photo gives the verify bench, made only when their features are not cached."""
    return {
        "out": lambda: output,
        "pasted": lambda: pasted_back(output, source, faces[::2]),
        "orig": lambda: source,
        "under 40%": lambda: under_neighbours(source, faces, 0.4),
    }


def run_batch(images: list[dict], root: Path, src: Path, out: Path) -> float:
    """`redact batch` with default settings on the photos (links, so that it sees only them); 0 s
    when ``out`` already holds every output (--keep-outputs from an earlier run)."""
    if out.is_dir() and all((out / Path(e["file"]).name).exists() for e in images):
        return 0.0
    src.mkdir(parents=True, exist_ok=True)
    for entry in images:
        link = src / Path(entry["file"]).name
        if not link.exists():
            link.symlink_to((root / entry["file"]).resolve())
    t0 = time.perf_counter()
    subprocess.run(["redact", "batch", str(src), "-o", str(out), "--quiet"], check=True)
    return time.perf_counter() - t0


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
    parser.add_argument("--cache", type=Path, default=None, help="verify: keep candidates' features here")
    parser.add_argument("--keep-outputs", type=Path, default=None, help="verify: batch outputs here (reused)")
    args = parser.parse_args()
    options: dict[str, Any] = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = json.loads(value)
    rows: list[str] = []
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
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
    if rows:
        print("\n| set | half | n | result | detail |\n|---|---|---|---|---|")
        print("\n".join(rows))
    if "verify" in args.parts:
        print(
            "\n"
            + "\n".join(verify_outputs(args.evaldata / "faces_crowd_orig", args.limit, args.cache, args.keep_outputs))
        )


if __name__ == "__main__":
    main()
