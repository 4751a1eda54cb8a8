"""Speed benchmark: this tool against a plain transcode (the floor) and against deface, side by side.

Usage (from the repo root, in the project's venv):

    python bench/speed.py                              # a 1080p street clip and a 1080p crowd clip
    python bench/speed.py --heights 720,1080           # the street clip at other sizes too
    python bench/speed.py --clip my.mp4                # any real clip instead
    python bench/speed.py --deface /path/to/deface     # deface's CLI (pip install deface in its own venv)
    python bench/speed.py --memory                     # peak memory on a short and a 6x longer clip

Every command runs in its own process; wall-clock frames per second and the peak resident
memory of that process (from wait4) are reported. Run everything in one invocation: the
machines are shared and noisy, so only side-by-side figures are comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from redact.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "media" / "car-detection.mp4"
DEFAULT_CROWD = ROOT.parent / "shared" / "evaldata" / "faces_crowd_orig"
STAGES = ("decode", "detect", "track", "cover", "encode")

TRANSCODE = r"""
import sys, av
src, dst, crf, preset = sys.argv[1:5]
with av.open(src) as i, av.open(dst, "w", options={"fflags": "+bitexact"}) as o:
    s = i.streams.video[0]; s.thread_type = "AUTO"
    v = o.add_stream("libx264", rate=s.average_rate, options={"crf": crf, "preset": preset})
    v.width, v.height, v.pix_fmt = s.codec_context.width, s.codec_context.height, "yuv420p"
    v.time_base = s.time_base; v.codec_context.time_base = s.time_base
    for f in i.decode(s):
        f.pict_type = av.video.frame.PictureType.NONE
        o.mux(v.encode(f))
    o.mux(v.encode(None))
"""


def make_clip(source: Path, height: int, seconds: float, out_dir: Path, loops: int = 1) -> Path:
    """Scale a real clip to ``height`` (even width) and encode it with H.264 at high quality."""
    path = out_dir / f"{source.stem}_{height}p_{seconds:g}s_{loops}x.mp4"
    if path.exists():
        return path
    with av.open(str(source)) as src, av.open(str(path), "w") as dst:
        stream = src.streams.video[0]
        rate = stream.average_rate or Fraction(25)
        width = round(stream.codec_context.width * height / stream.codec_context.height / 2) * 2
        out = dst.add_stream("libx264", rate=rate, options={"crf": "18", "preset": "fast"})
        out.width, out.height, out.pix_fmt = width, height, "yuv420p"
        limit = int(seconds * rate)
        index = 0
        for _ in range(loops):
            src.seek(0)
            for n, frame in enumerate(src.decode(stream)):
                if n >= limit:
                    break
                image = cv2.resize(frame.to_ndarray(format="bgr24"), (width, height), interpolation=cv2.INTER_CUBIC)
                new = av.VideoFrame.from_ndarray(image, format="bgr24")
                new.pts, new.time_base = index, 1 / Fraction(rate)
                dst.mux(out.encode(new))
                index += 1
        dst.mux(out.encode(None))
    return path


def densest_photo(set_dir: Path) -> tuple[Path, int]:
    labels = json.loads((set_dir / "labels.json").read_text())["images"]
    best = max(labels, key=lambda item: len(item["boxes"]))
    return set_dir / best["file"], len(best["boxes"])


def make_crowd_clip(set_dir: Path, height: int, seconds: float, out_dir: Path) -> Path:
    """A slow pan and push-in over a 2x2 mosaic of the set's densest photo (mirrored copies, so no
    tile repeats exactly): several hundred real faces in view in every frame, as at a protest."""
    photo, faces = densest_photo(set_dir)
    path = out_dir / f"crowd_{photo.stem}_{height}p_{seconds:g}s.mp4"
    if path.exists():
        return path
    img = cv2.imread(str(photo))
    flipped = img[:, ::-1]
    mosaic = np.vstack([np.hstack([img, flipped]), np.hstack([flipped, img])])
    mh, mw = mosaic.shape[:2]
    width = round(height * 16 / 9 / 2) * 2
    fill = max(width / mw, height / mh)
    rate = Fraction(25)
    frames = int(seconds * rate)
    with av.open(str(path), "w") as dst:
        out = dst.add_stream("libx264", rate=rate, options={"crf": "18", "preset": "fast"})
        out.width, out.height, out.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            a = i / max(frames - 1, 1)
            s = fill * (1.35 + 0.15 * a)  # about 600 faces in view; push in slowly while panning across
            cx = width / (2 * s) + a * (mw - width / s)
            cy = mh / 2 + 0.1 * (a - 0.5) * (mh - height / s)
            m = np.array([[s, 0, width / 2 - s * cx], [0, s, height / 2 - s * cy]])
            image = cv2.warpAffine(mosaic, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            new = av.VideoFrame.from_ndarray(image, format="bgr24")
            new.pts, new.time_base = i, 1 / rate
            dst.mux(out.encode(new))
        dst.mux(out.encode(None))
    print(f"crowd clip: {photo.name} ({faces} labelled faces) as a 2x2 mosaic, {frames} frames", file=sys.stderr)
    return path


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.demux(c.streams.video[0]) if _.size)


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command (run in ``cwd``: ``python -m`` imports from
    there first); raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd or ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}): {err[-500:]}")
    return wall, usage.ru_maxrss / 1024


def bench_clip(clip: Path, args: argparse.Namespace, out_dir: Path) -> list[dict]:
    frames = frame_count(clip)
    rows: list[dict] = []

    def run(name: str, cmd: list[str], report: Path | None = None, cwd: Path | None = None) -> None:
        # best of --repeat: the run least disturbed by other processes on a shared machine
        best = None
        for _ in range(args.repeat):
            wall, rss = timed(cmd, cwd)
            if best is None or wall < best[0]:
                stages = json.loads(report.read_text()).get("stage_seconds", {}) if report else {}
                best = (wall, rss, stages)
        wall, rss, stages = best
        rows.append({"name": name, "fps": frames / wall, "seconds": wall, "rss": rss, "stages": stages})
        per_stage = "  ".join(f"{k} {1000 * stages[k] / frames:.0f}" for k in STAGES if k in stages)
        print(f"  {name:<28} {frames / wall:7.2f} fps  {wall:7.1f} s  {rss:6.0f} MiB  {per_stage}", file=sys.stderr)

    out = out_dir / "out.mp4"
    run("plain transcode (floor)", [sys.executable, "-c", TRANSCODE, str(clip), str(out), str(args.crf), args.preset])
    if args.deface:
        run("deface (defaults)", [*shlex.split(args.deface), str(clip), "-o", str(out_dir / "deface.mp4")])
    for quality in args.qualities:
        report = out_dir / "report.json"
        cmd = redact_command(clip, out, "--quality", quality, "--targets", args.targets, "--crf", str(args.crf))
        cmd += ["--preset", args.preset, "--report", str(report)]
        run(f"redact --quality {quality}", cmd, report)
        if args.baseline:  # the same command on another checkout (e.g. a worktree of main before a change)
            run(f"baseline --quality {quality}", cmd, report, args.baseline.resolve())
    return rows


def redact_command(clip: Path, out: Path, *options: str) -> list[str]:
    """The command line as a user types it, quiet, replacing ``out``."""
    return [sys.executable, "-m", "redact", str(clip), "-o", str(out), "--overwrite", "--quiet", *options]


def table(clip: Path, rows: list[dict]) -> str:
    floor = next(r for r in rows if r["name"].startswith("plain"))
    deface = next((r for r in rows if r["name"].startswith("deface")), None)
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        size = f"{s.codec_context.width}x{s.codec_context.height}"
    lines = [
        f"**{clip.name}** ({size}, {frame_count(clip)} frames)",
        "",
        "| run | fps | share of plain transcode | times deface | peak memory | ms per frame: "
        + ", ".join(STAGES)
        + " |",
        "|---|---|---|---|---|---|",
    ]
    frames = frame_count(clip)
    for r in rows:
        vs_deface = f"{r['fps'] / deface['fps']:.1f}x" if deface else "-"
        stages = (
            " / ".join(f"{1000 * r['stages'][k] / frames:.0f}" if k in r["stages"] else "-" for k in STAGES)
            if r.get("stages")
            else "-"
        )
        lines.append(
            f"| {r['name']} | {r['fps']:.1f} | {100 * r['fps'] / floor['fps']:.0f}% | {vs_deface} "
            f"| {r['rss']:.0f} MiB | {stages} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, action="append", help="real clip(s) to use as they are")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="clip to scale to 720p and 1080p")
    parser.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        help="clip length; long enough that start-up (imports, model loading) is a small share, as on real footage",
    )
    parser.add_argument("--heights", default="1080", help="street clip heights")
    parser.add_argument(
        "--crowd",
        type=Path,
        default=DEFAULT_CROWD,
        help="labelled photo set whose densest photo makes the crowd clip (1080p)",
    )
    parser.add_argument("--no-crowd", action="store_true", help="street clips only")
    parser.add_argument("--crowd-seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per command; the fastest counts")
    parser.add_argument("--deface", default=None, help="deface command, e.g. /path/venv/bin/deface")
    parser.add_argument("--qualities", default="fast,balanced,thorough")
    parser.add_argument("--targets", default="faces,plates")
    parser.add_argument("--crf", type=int, default=20)
    parser.add_argument("--preset", default=Settings().preset, help="x264 preset for every run (default: the tool's)")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout (git worktree add DIR COMMIT) whose redact runs beside this one",
    )
    parser.add_argument("--memory", action="store_true", help="peak memory on a short and a 6x longer clip")
    parser.add_argument("--segments", action="store_true", help="one video in one pass against --jobs 2 segments")
    parser.add_argument("--out-dir", type=Path, default=Path(tempfile.gettempdir()) / "redact-bench")
    args = parser.parse_args()
    args.qualities = args.qualities.split(",")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"command: {shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])}\n")
    if args.memory:
        short = make_clip(args.source, 720, args.seconds, args.out_dir, loops=1)
        long = make_clip(args.source, 720, args.seconds, args.out_dir, loops=6)
        print("| clip | frames | peak memory |\n|---|---|---|")
        for clip in (short, long):
            _, rss = timed(redact_command(clip, args.out_dir / "m.mp4"))
            print(f"| {clip.name} | {frame_count(clip)} | {rss:.0f} MiB |")
        return
    if args.segments:
        clip = (args.clip or [make_clip(args.source, 1080, args.seconds, args.out_dir, loops=3)])[0]
        frames = frame_count(clip)
        print(f"**{clip.name}** ({frames} frames)\n\n| run | fps | speed-up | peak memory |\n|---|---|---|---|")
        base = None
        for jobs in (1, 2):
            wall, rss = timed(
                redact_command(clip, args.out_dir / "s.mp4", "--jobs", str(jobs), "--targets", args.targets)
            )
            base = base or wall
            print(f"| --jobs {jobs} | {frames / wall:.2f} | {base / wall:.2f}x | {rss:.0f} MiB |")
        return
    clips = args.clip or [make_clip(args.source, int(h), args.seconds, args.out_dir) for h in args.heights.split(",")]
    if not args.clip and not args.no_crowd:
        if (args.crowd / "labels.json").exists():
            clips.append(make_crowd_clip(args.crowd, 1080, args.crowd_seconds, args.out_dir))
        else:
            print(f"no crowd set at {args.crowd}: crowd clip skipped", file=sys.stderr)
    for clip in clips:
        print(f"{clip}:", file=sys.stderr)
        print(table(clip, bench_clip(clip, args, args.out_dir)) + "\n")


if __name__ == "__main__":
    main()
