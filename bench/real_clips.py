"""How much of each frame of real clips the tool covers, beside deface on the same clips.

    python bench/real_clips.py --deface /work/deface-venv/bin/deface

Real footage has no labels, so this measures paint, not recall: both tools cover with solid
black (redact ``--style fill``, deface ``--replacewith solid``), and a pixel counts as covered
when it is near black in the output and was not near black in the input, measured the same way
for both. deface resizes frames whose sides are not multiples of 16, so clips are first cropped
to such sizes (losslessly re-encoded), or the comparison would count resampling as paint.
Prints the share of the frame covered per clip (mean over frames, and the 90th percentile),
redact's over deface's, and the frames where redact covers the most, for looking at.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

DARK = 24  # near black: a covered pixel after encoding
LIT = 40  # an input pixel at least this bright counts if it turns near black


def grey_frames(path: Path):
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="gray")


def cropped_copy(src: Path, dst: Path) -> Path:
    """The clip cropped to multiples of 16 (top left kept), encoded losslessly, no audio."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        rate = stream.average_rate or 25
        video = out.add_stream("libx264rgb", rate=rate)
        width, height = stream.codec_context.width // 16 * 16, stream.codec_context.height // 16 * 16
        video.width, video.height, video.pix_fmt = width, height, "rgb24"
        video.options = {"crf": "0", "preset": "ultrafast"}
        for frame in inp.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")[:height, :width]
            for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return dst


def covered_shares(src: Path, out: Path) -> np.ndarray:
    shares = []
    for a, b in zip(grey_frames(src), grey_frames(out)):
        shares.append(float(((a >= LIT) & (b < DARK)).mean()))
    return np.asarray(shares)


def run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--media", type=Path, default=repo.parent / "shared" / "media")
    p.add_argument("--deface", default=None, help="deface's command, e.g. /path/venv/bin/deface")
    p.add_argument("--redact", default=f"{sys.executable} -m redact", help="redact's command")
    p.add_argument("--worst", type=int, default=3, help="list this many frames where redact covers most")
    p.add_argument("extra", nargs="*", help="more options for redact (after --)")
    args = p.parse_args(argv)
    clips = sorted(q for q in args.media.glob("*") if q.suffix.lower() in (".mp4", ".mkv", ".mov", ".webm"))
    if not clips:
        print(f"skipped: no clips in {args.media}")
        return 0
    print("| clip | frames | redact: mean covered | p90 | deface: mean | p90 | redact / deface |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for clip in clips:
            src = cropped_copy(clip, work / f"{clip.stem}.mkv")
            ours = work / f"{clip.stem}.redact.mp4"
            run([*args.redact.split(), str(src), "-o", str(ours), "--style", "fill", "--no-audio", *args.extra])
            mine = covered_shares(src, ours)
            theirs = np.full(1, np.nan)
            if args.deface:
                out = work / f"{clip.stem}.deface.mp4"
                run([args.deface, str(src), "-o", str(out), "--replacewith", "solid"])
                theirs = covered_shares(src, out)
            ratio = mine.mean() / theirs.mean() if theirs.mean() > 0 else float("nan")
            print(
                f"| {clip.name} | {len(mine)} | {100 * mine.mean():.2f}% | {100 * np.percentile(mine, 90):.2f}% "
                f"| {100 * np.nanmean(theirs):.2f}% | {100 * np.nanpercentile(theirs, 90):.2f}% | {ratio:.2f}x |"
            )
            worst = np.argsort(-mine)[: args.worst]
            print(f"|  worst frames | {', '.join(f'{i}: {100 * mine[i]:.1f}%' for i in worst)} | | | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
