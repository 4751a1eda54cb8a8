"""Cover the people, not the story: plates that are plates, and a verify that finds leaks.

    python bench/precision.py                      # every part, default settings
    python bench/precision.py --parts signs plates # skip the verify run (the slow part)
    python bench/precision.py --option read=false  # the plate detector without reading (before)

Parts (sets from ``--evaldata``, default ../shared/evaldata):

* ``signs``: signs_no_plates (protest, rally, parade and sports photos with signs and no plate):
  photos with any region taken for a plate, regions, and the share of the photo they cover.
* ``plates``: plates_dashcam and plates_night_extra: labelled plates covered (at least half of
  the plate under a box, as ``bench/accuracy.py``) and false plates per frame.
* ``verify``: the ``redact batch`` command line with default settings on faces_crowd_orig, then
  ``redact verify``'s check (same settings as the command) on every output photo: the share of
  outputs it calls clean, and the detections it dismissed as the tool's own covers.
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

from accuracy import evaluate, pct, rasterize

from redact.detectors import create_detector


def signs(detector, root: Path) -> str:
    images = json.loads((root / "labels.json").read_text())["images"]
    photos = regions = 0
    shares = []
    for entry in images:
        image = cv2.imread(str(root / entry["file"]))
        boxes = detector.detect(image).boxes
        photos += bool(len(boxes))
        regions += len(boxes)
        shares.append(float(rasterize(boxes, *image.shape[:2]).mean()))
        if len(boxes):
            print(f"  plate(s) in {entry['file']}: {len(boxes)}, {100 * shares[-1]:.2f}% of the photo", flush=True)
    return (
        f"| signs_no_plates | {len(images)} | photos with a plate region: **{photos} of {len(images)}** | "
        f"regions {regions}; mean share of a photo {100 * np.mean(shares):.2f}%, max {100 * max(shares):.2f}% |"
    )


def plates(detector, root: Path) -> str:
    r = evaluate(detector, root / "labels.json", "plate", None)
    hit = [sum(v[i] for v in r["hits"].values()) for i in (0, 1)]
    return (
        f"| {root.name} | {r['images']} | plates covered: **{pct(*hit)}** | "
        f"false plates per frame {r['false_per_image']:.2f}; ms per frame {r['ms_per_image']:.0f} |"
    )


def verify_outputs(root: Path, limit: int | None) -> str:
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
        for path in sorted(p for p in out.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
            report = verify(path, settings, detectors=detectors)
            clean += report.clean
            dismissed += report.covers_dismissed
            if not report.clean:
                found = ", ".join(f"{f.kind} {f.score:.2f}" for f in report.findings)
                print(f"  not clean: {path.name}: {found} {report.metadata}", flush=True)
    return (
        f"| {root.name}: `redact batch` then verify | {len(images)} | clean: **{pct(clean, len(images))}** | "
        f"covered regions dismissed {dismissed}; batch {batch_s:.0f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaldata", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "evaldata")
    parser.add_argument(
        "--parts", nargs="+", default=["signs", "plates", "verify"], choices=["signs", "plates", "verify"]
    )
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="plate detector option")
    parser.add_argument("--limit", type=int, default=None, help="verify: only the first N photos")
    args = parser.parse_args()
    options: dict[str, Any] = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = json.loads(value)
    rows = []
    if {"signs", "plates"} & set(args.parts):
        detector = create_detector("plates", **options)
        if "signs" in args.parts:
            rows.append(signs(detector, args.evaldata / "signs_no_plates"))
        if "plates" in args.parts:
            rows += [plates(detector, args.evaldata / name) for name in ("plates_dashcam", "plates_night_extra")]
    if "verify" in args.parts:
        rows.append(verify_outputs(args.evaldata / "faces_crowd_orig", args.limit))
    print("\n| set | n | result | detail |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
