"""What an input folder holds (its photos and videos) and where each one's output goes."""

from __future__ import annotations

import os
from pathlib import Path

from redact.errors import InputError, OutputError
from redact.media.picture import is_photo

#: video inputs we look for (any PyAV can decode; these are the usual camera and archive types)
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mts", ".m2ts", ".3gp", ".mpg", ".mpeg"}
)


def check_folders(input_dir: Path, output_dir: Path) -> tuple[Path, Path]:
    """The two folders resolved, the output folder created; refuses an output in, around or equal to the input."""
    if not input_dir.exists():
        raise InputError(f"{input_dir}: no such folder")
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: is not a folder")
    inp = input_dir.resolve()
    out = output_dir.resolve()
    if out == inp:
        raise OutputError(f"{output_dir}: is the input folder; choose a separate output folder")
    if out.is_relative_to(inp):
        raise OutputError(
            f"{output_dir}: is inside the input folder {input_dir} (its outputs would become inputs); choose a folder outside it"
        )
    if inp.is_relative_to(out):
        raise OutputError(f"{output_dir}: contains the input folder {input_dir}; choose a folder outside it")
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{output_dir}: cannot create the output folder ({exc.strerror or exc})") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{output_dir}: output folder is not writable")
    return inp, out


def media_kind(path: Path) -> str | None:
    if is_photo(path):
        return "photo"
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return "video"
    return None


def discover(input_dir: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Photos and videos under ``input_dir`` (relative paths, sorted), and what was left out and why.

    Hidden files and folders (names starting with ".", such as macOS ``._`` files) are
    left out; symlinked folders are not followed (they could loop or leave the folder).
    """
    found: list[Path] = []
    ignored: list[tuple[Path, str]] = []

    def walk_error(exc: OSError) -> None:
        raise InputError(f"{exc.filename}: cannot list folder ({exc.strerror or exc})")

    for folder, dirs, files in os.walk(input_dir, onerror=walk_error):
        here = Path(folder)
        keep = []
        for d in sorted(dirs):
            if d.startswith("."):
                continue
            if (here / d).is_symlink():
                ignored.append(((here / d).relative_to(input_dir), "symlinked folder not followed"))
                continue
            keep.append(d)
        dirs[:] = keep
        for name in sorted(files):
            if name.startswith("."):
                continue
            rel = (here / name).relative_to(input_dir)
            if media_kind(rel) is None:
                ignored.append((rel, "not a photo or video type"))
            else:
                found.append(rel)
    return sorted(found, key=lambda p: p.as_posix()), ignored


def output_names(files: list[Path], video_suffix: str) -> dict[Path, Path | str]:
    """Output path (relative) for each input; videos get ``video_suffix``, photos keep theirs.

    When two inputs would land on one output (``a.mov`` and ``a.mp4``), the one whose type
    changes keeps its old extension in the name (``a.mov.mp4``); a clash left after that is an
    error message in place of a path.
    """

    def first_choice(rel: Path) -> Path:
        return rel.with_suffix(video_suffix) if media_kind(rel) == "video" else rel

    def clashes(names: dict[Path, Path | str]) -> list[list[Path]]:
        by_target: dict[str, list[Path]] = {}
        for rel, out in names.items():
            if isinstance(out, Path):
                by_target.setdefault(out.as_posix().lower(), []).append(rel)
        return [group for group in by_target.values() if len(group) > 1]

    names: dict[Path, Path | str] = {rel: first_choice(rel) for rel in files}
    for group in clashes(names):
        for rel in group:
            if media_kind(rel) == "video" and rel.suffix.lower() != video_suffix.lower():
                names[rel] = rel.with_name(rel.name + video_suffix)
    for group in clashes(names):
        for rel in group:
            others = ", ".join(o.as_posix() for o in group if o != rel)
            names[rel] = f"its output {Path(names[rel]).as_posix()} would also be written for {others}; rename one"
    return names
