"""Time per frame of tracking (association, prediction, backfill, gap filling) against the number of faces.

    python bench/tracker_scaling.py                       # 10, 100, 300, 600 faces
    python bench/tracker_scaling.py --against ad37c19     # also the tracker of that commit, side by side

Faces are boxes of 12-40 px scattered over a 1080p frame, moving with a slow camera pan plus a
little motion of their own; the detector "runs" on the tool's default schedule (a full pass every
6th frame finding every face in view but a tenth, a coarse pass every 2nd frame finding the faces
of 24 px and more), so the tracker sees what it sees on a crowd clip. Only the tracker and the
look-ahead are timed: no decoding, detection or covering.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout
from redact.detections import Detections  # noqa: E402


def scripted_crowd(faces: int, frames: int, seed: int = 0) -> list[Detections | None]:
    rng = np.random.default_rng(seed)
    size = rng.uniform(12, 40, faces)
    xy = rng.uniform([0, 0], [1920, 1080], (faces, 2))
    drift = rng.normal(0, 0.3, (faces, 2))
    out: list[Detections | None] = []
    for f in range(frames):
        centre = xy + f * (drift + [-3.0, 0.5])  # the pan, plus each face's own motion
        boxes = np.concatenate([centre - size[:, None] / 2, centre + size[:, None] / 2], axis=1)
        inside = (boxes[:, 0] >= 0) & (boxes[:, 2] <= 1920) & (boxes[:, 1] >= 0) & (boxes[:, 3] <= 1080)
        if f % 6 == 0:
            seen = inside & (rng.random(faces) > 0.1)
        elif f % 2 == 0:
            seen = inside & (size >= 24)
        else:
            out.append(None)
            continue
        jitter = rng.normal(0, 0.5, (int(seen.sum()), 4))
        out.append(Detections.from_boxes(boxes[seen] + jitter, rng.uniform(0.3, 0.9, int(seen.sum()))))
    return out


def load_tracker_module(commit: str | None) -> ModuleType:
    if commit is None:
        import redact.tracking.tracker as track

        return track
    for where in ("redact/tracking/tracker.py", "redact/track.py"):  # the tracker's home before the refactor
        shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{where}"], capture_output=True, text=True)
        if shown.returncode == 0:
            source = shown.stdout
            break
    else:
        raise SystemExit(f"{commit} has no tracker at redact/tracking/tracker.py or redact/track.py")
    path = Path(tempfile.mkdtemp()) / f"track_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[path.stem] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def ms_per_frame(track: ModuleType, script: list[Detections | None]) -> tuple[float, int]:
    tracker = track.Tracker({0: 25})
    lookahead = track.Lookahead(12)
    start = time.perf_counter()
    for frame, dets in enumerate(script):
        lookahead.push(frame, None, tracker.update(frame, dets))
    lookahead.flush()
    return 1000 * (time.perf_counter() - start) / len(script), tracker._next_id - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", default="10,100,300,600")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--against", default=None, help="a commit whose redact/tracking/tracker.py to time as well")
    args = parser.parse_args()
    versions = {"this checkout": load_tracker_module(None)}
    if args.against:
        versions[args.against] = load_tracker_module(args.against)
    print(f"command: python bench/tracker_scaling.py {' '.join(sys.argv[1:])}\n")
    print("| faces | " + " | ".join(f"{name}: ms per frame (tracks opened)" for name in versions) + " |")
    print("|---:|" + "---:|" * len(versions))
    for n in (int(v) for v in args.faces.split(",")):
        script = scripted_crowd(n, args.frames)
        cells = []
        for module in versions.values():
            ms, tracks = ms_per_frame(module, script)
            cells.append(f"{ms:.2f} ({tracks})")
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
