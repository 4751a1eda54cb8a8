"""`redact verify` on video: quiet on covered footage, loud on a real leak, and how fast.

    python bench/verify_video.py                           # moving clips + ../shared/media + planted leak
    python bench/verify_video.py --parts speed --seconds 60  # time verify on a 60 s 720p clip

Parts:

* ``clips``: moving clips made by ``bench/video_leaks.py`` (its camera paths over labelled photos,
  1280x720, H.264), redacted with default settings, the detections file saved beside the output.
  Verify runs on each output twice: with that file as evidence and without it. Ground truth says
  which labelled faces the run left uncovered (less than half of the box painted, as in
  ``video_leaks.py``), so each finding is a real leak (on a labelled face >= 16 px left visible, or
  one the tool left under 16 px), or a false alarm.
* ``media``: the real clips of ``--media`` (default ../shared/media) redacted with defaults, verified
  with and without the detections file.
* ``planted``: a clip whose detections file has one face's boxes removed in 5 frames, rendered
  (`redact render`) and verified: the findings must be on exactly those frames.
* ``speed``: a ``--seconds`` long 720p clip (a pan over a crowd photo and a portrait), redacted with
  defaults, then verify timed alone (wall and CPU seconds). Say how loaded the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from video_leaks import Clip, build_clip, load_photos

from redact.boxes import clip_box, iou
from redact.media.source import probe
from redact.pipeline.photo import cover_mask
from redact.pipeline.video import redact_video
from redact.review.detections_file import Recorder, load
from redact.review.verify import verify
from redact.settings import Settings

DEFAULTS = Settings()


def redact_with_tracks(path: Path, out_dir: Path) -> tuple[Path, Path, float]:
    """The tool with default settings; the detections file beside the output, as `--save-tracks` writes it."""
    output = out_dir / f"{path.stem}.redacted.mp4"
    tracks = out_dir / f"{path.name}.detections.json"
    recorder = Recorder(probe(path), DEFAULTS.to_dict())
    t = time.perf_counter()
    redact_video(path, output, DEFAULTS, overwrite=True, on_frame=recorder)
    recorder.write(tracks)
    return output, tracks, time.perf_counter() - t


def uncovered(clip: Clip, tracks: Path) -> dict[int, list[np.ndarray]]:
    """Per frame: the labelled face boxes the run left uncovered (less than half painted)."""
    info = probe(clip.path)
    plan, _ = load(tracks, info)
    out: dict[int, list[np.ndarray]] = {}
    for index, faces in enumerate(clip.truth):
        mask = cover_mask((info.height, info.width), plan.detections(index, info.width, info.height), DEFAULTS)
        for _, box in faces:
            span = clip_box(box, info.width, info.height)
            if span is not None and mask[span[1] : span[3], span[0] : span[2]].mean() < 0.5:
                out.setdefault(index, []).append(box)
    return out


def judge(report, leaks: dict[int, list[np.ndarray]]) -> tuple[int, int, int]:
    """Findings on a labelled face the run left visible (>= 16 px and smaller), and the others."""
    real = small = false = 0
    for f in report.findings:
        faces = leaks.get(f.frame, [])
        hit = f.kind == "face" and len(faces) and iou(np.array(f.box, np.float32), np.array(faces)).max() >= 0.3
        if hit:
            real += 1
        else:
            false += 1
    return real, small, false


def run_verify(output: Path, use_tracks: bool) -> tuple[object, float]:
    t = time.perf_counter()
    report = verify(output, use_tracks=use_tracks)
    return report, time.perf_counter() - t


def clips_part(args: argparse.Namespace, out_dir: Path) -> list[str]:
    rng = random.Random(args.seed)
    rows = []
    totals = {True: [0, 0], False: [0, 0]}
    for set_name in args.sets.split(","):
        photos = load_photos(args.evaldata / set_name)
        picks = rng.sample(range(len(photos)), min(len(photos), args.clips + 1))
        for c in range(min(args.clips, len(picks) - 1)):
            clip = build_clip(
                f"{set_name}_{c}", [photos[picks[c]], photos[picks[c + 1]]], 48, (1280, 720), rng, out_dir
            )
            output, tracks, _ = redact_with_tracks(clip.path, out_dir)
            leaks = uncovered(clip, tracks)
            big = sum(1 for boxes in leaks.values() for b in boxes if b[2] - b[0] >= 16)
            cells = []
            for use in (True, False):
                report, secs = run_verify(output, use)
                real, _, false = judge(report, leaks)
                totals[use][0] += 1
                totals[use][1] += report.clean
                frames = sorted({f.frame for f in report.findings})
                cells.append(
                    f"{'clean' if report.clean else 'NOT clean'}: {len(report.findings)} findings "
                    f"({real} on faces left uncovered, {false} other; frames {frames[:8]}{'...' if len(frames) > 8 else ''}), "
                    f"{report.covers_dismissed} set aside, {secs:.0f} s"
                )
            rows.append(f"| {clip.name} | {big} | {cells[0]} | {cells[1]} |")
            print(rows[-1], flush=True)
    rows.append(
        f"| **all** | | clean {totals[True][1]}/{totals[True][0]} | clean {totals[False][1]}/{totals[False][0]} |"
    )
    return [
        "| clip | labelled face instances >= 16 px the run left uncovered | verify with the detections file | without |",
        "|---|---|---|---|",
        *rows,
    ]


def media_part(args: argparse.Namespace, out_dir: Path) -> list[str]:
    rows = []
    for path in sorted(p for p in args.media.iterdir() if p.suffix.lower() in (".mp4", ".mkv", ".mov")):
        output, _, secs = redact_with_tracks(path, out_dir)
        cells = []
        for use in (True, False):
            report, vsecs = run_verify(output, use)
            where = sorted({f.frame for f in report.findings})
            cells.append(
                f"{'clean' if report.clean else 'NOT clean'} ({len(report.findings)} findings, frames {where[:8]}; "
                f"{report.covers_dismissed} set aside; {report.frames_checked} frames in {vsecs:.0f} s)"
            )
        rows.append(f"| {path.name} | {secs:.0f} s | {cells[0]} | {cells[1]} |")
        print(rows[-1], flush=True)
    return ["| clip | redaction | verify with the detections file | without |", "|---|---|---|---|", *rows]


def planted_part(args: argparse.Namespace, out_dir: Path) -> list[str]:
    """Remove one face's boxes from 5 frames of the detections file, render, verify."""
    from redact.demo import make_demo_clip

    clip = make_demo_clip(out_dir / "planted.mp4", seconds=3.0)
    output, tracks, _ = redact_with_tracks(clip, out_dir)
    data = json.loads(tracks.read_text())
    track = max(data["tracks"], key=lambda t: len(t["boxes"]))
    gone = list(range(30, 35))
    track["boxes"] = [b for b in track["boxes"] if b[0] not in gone]
    edited = out_dir / "planted.edited.detections.json"
    edited.write_text(json.dumps(data))
    plan, _ = load(edited, probe(clip))
    leaky = out_dir / "planted.leaky.mp4"
    redact_video(clip, leaky, DEFAULTS, overwrite=True, plan=plan)
    rows = []
    for use, named in ((True, edited), (False, None)):
        t = time.perf_counter()
        report = verify(leaky, tracks=named, use_tracks=use)
        frames = sorted({f.frame for f in report.findings})
        rows.append(
            f"| planted leak, frames {gone} | {'with' if use else 'without'} the detections file | findings on frames "
            f"{frames} | {time.perf_counter() - t:.0f} s |"
        )
    return ["| clip | evidence | result | verify |", "|---|---|---|---|", *rows]


def speed_part(args: argparse.Namespace, out_dir: Path) -> list[str]:
    rng = random.Random(args.seed)
    crowd = load_photos(args.evaldata / "faces_crowd_orig")
    portraits = load_photos(args.evaldata / "faces_portraits")
    frames = int(args.seconds * 25)
    clip = build_clip("speed", [crowd[3], portraits[2]], frames, (1280, 720), rng, out_dir)
    output = out_dir / "speed.redacted.mp4"
    if not output.exists() or args.redo:
        output, _, secs = redact_with_tracks(clip.path, out_dir)
        print(f"redacted in {secs:.0f} s", flush=True)
    rows = []
    for label, options in (
        ("default (every frame)", {}),
        ("--fast", {"fast": True}),
        ("--every 2", {"every": 2}),
    ):
        load0 = os.getloadavg()[0]
        t, cpu = time.perf_counter(), time.process_time()
        report = verify(output, use_tracks=False, **options)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        rows.append(
            f"| {label} | {report.frames_checked} | {wall:.1f} s | {cpu:.1f} s | {len(report.findings)} | {load0:.1f} |"
        )
        print(rows[-1], flush=True)
    return [
        f"| verify of a {args.seconds:.0f} s 1280x720 clip ({frames} frames) | frames checked | wall | CPU | findings | load average at start |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--evaldata", type=Path, default=repo.parent / "shared" / "evaldata")
    p.add_argument("--media", type=Path, default=repo.parent / "shared" / "media")
    p.add_argument(
        "--parts", nargs="+", default=["clips", "media", "planted"], choices=["clips", "media", "planted", "speed"]
    )
    p.add_argument("--sets", default="faces_portraits,faces_crowd_small,faces_crowd_orig")
    p.add_argument("--clips", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--redo", action="store_true", help="speed: redact the clip again even if its output exists")
    p.add_argument("--out-dir", type=Path, default=Path("/tmp/redact_verify_video"))
    args = p.parse_args()
    if not args.evaldata.is_dir():
        print(f"skipped: no evaldata at {args.evaldata}")
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    parts = {"clips": clips_part, "media": media_part, "planted": planted_part, "speed": speed_part}
    for name in args.parts:
        if name == "media" and not args.media.is_dir():
            print(f"media skipped: nothing at {args.media}")
            continue
        print("\n".join(["", f"### {name}", "", *parts[name](args, args.out_dir)]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
