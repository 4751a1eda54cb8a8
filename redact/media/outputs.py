"""Safe output files: never the input, never half-written, never left behind after a failure."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from redact.errors import OutputError


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read in chunks (a video is never held in memory)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def default_output(input_path: Path, suffix: str = ".mp4") -> Path:
    return input_path.with_name(f"{input_path.stem}.redacted{suffix}")


def check_name(path: Path) -> None:
    if len(path.name.encode()) > _name_max(path.parent if path.parent.is_dir() else Path(".")):
        raise OutputError(
            f"{path.name[:40]}...: file name too long for this file system ({len(path.name.encode())} bytes)"
        )


def check_side_file(path: Path, what: str) -> None:
    """Check where a report or detections file will go before the run, not after a long encode."""
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"{what} {path}: folder {folder} does not exist")
    if path.is_dir():
        raise OutputError(f"{what} {path}: is a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"{what} {path}: not writable")
    check_name(path)


def check_output(input_path: Path, output_path: Path, overwrite: bool) -> None:
    folder = output_path.parent
    check_name(output_path)
    if not folder.is_dir():
        raise OutputError(f"{output_path}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{output_path}: output folder {folder} is not writable")
    if output_path.exists():
        if input_path.exists() and output_path.samefile(input_path):
            raise OutputError(f"{output_path}: is the input file; redact never overwrites its input")
        if output_path.is_dir():
            raise OutputError(f"{output_path}: is a folder")
        if not overwrite:
            raise OutputError(f"{output_path}: already exists (use --overwrite to replace it)")
    elif output_path.resolve() == input_path.resolve():
        raise OutputError(f"{output_path}: is the input file; redact never overwrites its input")


#: what a temporary name adds to the output's own name: "." + "." + 8 random characters + ".partial"
_PARTIAL_EXTRA = len("..") + 8 + len(".partial")


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def partial_affixes(final_path: Path) -> tuple[str, str]:
    """Prefix and ending of the temporary names for ``final_path``, short enough that the temporary
    name fits wherever the output's own name fits (the stem is shortened when needed)."""
    stem, end = final_path.stem, f".partial{final_path.suffix}"
    room = _name_max(final_path.parent) - _PARTIAL_EXTRA - len(final_path.suffix.encode())
    while stem and len(stem.encode()) > room:
        stem = stem[:-1]
    return f".{stem}.", end


def _umask() -> int:
    """The process's umask. Linux tells it in /proc without changing it; elsewhere it is set and put
    back at once (to 077, so a file another thread creates in that instant is private, not open)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def publish_mode(path: Path | str) -> None:
    """Give a finished output the mode a new file gets under the umask: temporary files are private
    (mkstemp), but the output is for colleagues on the same server to read too."""
    os.chmod(path, 0o666 & ~_umask())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)  # Windows syncs only a handle open for writing
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; best effort (some systems, Windows among them, cannot sync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _claim(tmp: Path, final_path: Path, overwrite: bool) -> None:
    """Move the finished file into place. Without ``overwrite`` the final name is created only if it is
    still absent (a hard link is atomic), so two runs can never both claim one output."""
    if overwrite:
        os.replace(tmp, final_path)
        return
    try:
        os.link(tmp, final_path)
    except FileExistsError:
        raise OutputError(
            f"{final_path}: already exists (written meanwhile by another run?); nothing was written"
        ) from None
    except OSError:  # no hard links here (some network or FAT file systems): claim the name exclusively
        os.close(os.open(final_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        os.replace(tmp, final_path)
        return
    tmp.unlink()


@contextlib.contextmanager
def atomic_output(final_path: Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; only if the block succeeds is the file synced to disk
    and renamed into place. On any failure (a full disk included) nothing is left behind."""
    prefix, end = partial_affixes(final_path)
    try:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=end, dir=final_path.parent)
    except OSError as exc:
        raise OutputError(f"{final_path}: cannot create a temporary file beside it ({exc.strerror or exc})") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        try:
            publish_mode(tmp)
            _fsync(tmp)
            _claim(tmp, final_path, overwrite)
            _fsync_folder(final_path.parent)
        except FileExistsError:
            raise OutputError(
                f"{final_path}: already exists (written meanwhile by another run?); nothing was written"
            ) from None
        except OSError as exc:
            raise OutputError(
                f"{final_path}: writing the output failed ({exc.strerror or exc}); nothing was written"
            ) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_file(final_path: Path, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``final_path`` through :func:`atomic_output`; a short write or any error
    (a full disk: ENOSPC, a size limit: EFBIG) raises OutputError and leaves nothing."""
    with atomic_output(final_path, overwrite) as tmp:
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            if tmp.stat().st_size != len(data):
                raise OSError(errno.EIO, "short write")
        except OSError as exc:
            raise OutputError(
                f"{final_path}: writing the output failed ({exc.strerror or exc}); nothing was written"
            ) from exc
