"""How much of each frame of real clips the tool covers, beside deface on the same clips.

    python bench/real_clips.py --deface /work/deface-venv/bin/deface

Real footage has no labels, so this measures paint, not recall: both tools cover with solid
black (redact ``--style fill``, deface ``--replacewith solid``), and a pixel counts as covered
when it is near black in the output and was not near black in the input, measured the same way
for both. deface resizes frames whose sides are not multiples of 16, so clips are first cropped
to such sizes (losslessly re-encoded), or the comparison would count resampling as paint.
Prints the share of the frame covered per clip (mean over frames, and the 90th percentile),
redact's over deface's, and the frames where redact covers the most, for looking at.
``--keep DIR`` keeps the outputs there (deface's are reused on the next run: it is the slow part)
and writes, per clip, ``CLIP.worst.png``: input | redact | deface at redact's worst frame.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
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


def frame_at(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise ValueError(f"{path} has no frame {index}")


def side_by_side(paths: list[Path], index: int, dst: Path) -> None:
    """Frame ``index`` of each clip, left to right, as one PNG (the first is the input)."""
    row = np.concatenate([frame_at(q, index) for q in paths], axis=1)
    cv2.imwrite(str(dst), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))


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
    p.add_argument("--keep", type=Path, default=None, help="keep outputs and worst-frame PNGs here")
    p.add_argument("extra", nargs="*", help="more options for redact (after --)")
    args = p.parse_args(argv)
    clips = sorted(q for q in args.media.glob("*") if q.suffix.lower() in (".mp4", ".mkv", ".mov", ".webm"))
    if not clips:
        print(f"skipped: no clips in {args.media}")
        return 0
    print("| clip | frames | redact: mean covered | p90 | deface: mean | p90 | redact / deface |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for clip in clips:
            src = work / f"{clip.stem}.cropped.mkv"
            if not src.exists():
                cropped_copy(clip, src)
            ours = work / f"{clip.stem}.redact.mp4"
            run([*args.redact.split(), str(src), "-o", str(ours), "--style", "fill", "--no-audio", *args.extra])
            mine = covered_shares(src, ours)
            theirs = np.full(1, np.nan)
            if args.deface:
                out = work / f"{clip.stem}.deface.mp4"
                if not out.exists():
                    run([args.deface, str(src), "-o", str(out), "--replacewith", "solid"])
                theirs = covered_shares(src, out)
            # a ratio to a tool that covers (almost) nothing says nothing: print the shares alone
            ratio = f"{mine.mean() / theirs.mean():.2f}x" if np.nanmean(theirs) >= 0.001 else "-"
            print(
                f"| {clip.name} | {len(mine)} | {100 * mine.mean():.2f}% | {100 * np.percentile(mine, 90):.2f}% "
                f"| {100 * np.nanmean(theirs):.2f}% | {100 * np.nanpercentile(theirs, 90):.2f}% | {ratio} |"
            )
            worst = np.argsort(-mine)[: args.worst]
            print(f"|  worst frames | {', '.join(f'{i}: {100 * mine[i]:.1f}%' for i in worst)} | | | | | |")
            if args.keep:
                shown = [src, ours] + ([work / f"{clip.stem}.deface.mp4"] if args.deface else [])
                side_by_side(shown, int(worst[0]), work / f"{clip.stem}.worst.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
