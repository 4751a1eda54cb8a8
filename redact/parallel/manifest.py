"""The batch manifest: ``redact-manifest.json`` in the output folder, what a resumed batch trusts.

It is rewritten atomically after every change. For each input (by path relative
to the input folder) it records the status, the settings, the input's and
output's SHA-256, the time taken and any error. A file is skipped on a later run
only when its entry is ``done`` with the same input hash and settings and its
output is still there with the recorded hash. An entry is marked ``running``
just before its file is handed to a worker, so after a killed run the outputs it
may have left are known to be redact's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redact.errors import OutputError
from redact.media.outputs import file_sha256, publish_mode
from redact.settings import Settings

MANIFEST_NAME = "redact-manifest.json"
MANIFEST_FORMAT = "redact-batch-manifest"
MANIFEST_VERSION = 1
#: settings that change how fast a file is done (or what is accepted), not what comes out; a change does not redo a file
COMPUTE_ONLY = ("threads", "max_megapixels", "allow_truncated")


def settings_key(settings: Mapping[str, Any]) -> str:
    """The settings that decide a file's output, as one comparable string."""
    kept = {k: v for k, v in settings.items() if k not in COMPUTE_ONLY}
    return json.dumps(kept, sort_keys=True, default=str)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class FileFacts:
    """What an entry records of an input that was looked at: its type, its output and its bytes."""

    kind: str  # video or photo
    output: str  # relative to the output folder, "/"-separated
    input_sha256: str | None  # None: the input could not be read
    input_size: int | None


class Manifest:
    """The entries of one output folder, and this run's settings that new entries record."""

    def __init__(self, path: Path, data: dict[str, Any], settings: Settings) -> None:
        self.path = path
        self.data = data
        self.files: dict[str, dict[str, Any]] = data["files"]
        # as JSON gives them back, so that they compare equal to a saved entry's
        self.settings: dict[str, Any] = json.loads(json.dumps(settings.to_dict(), default=str))
        self.settings_key = settings_key(self.settings)

    @classmethod
    def load(cls, path: Path, settings: Settings) -> Manifest:
        """The manifest at ``path`` (a new, empty one when there is none); OutputError when it is not one."""
        if not path.exists():
            return cls(path, {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "files": {}}, settings)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OutputError(f"{path}: cannot read the batch manifest ({exc}); move it away to start afresh") from exc
        if (
            not isinstance(data, dict)
            or data.get("format") != MANIFEST_FORMAT
            or not isinstance(data.get("files"), dict)
        ):
            raise OutputError(f"{path}: is not a redact batch manifest; move it away or choose another output folder")
        if data.get("version") != MANIFEST_VERSION:
            raise OutputError(
                f"{path}: manifest version {data.get('version')} is not {MANIFEST_VERSION}; move it away to start afresh"
            )
        return cls(path, data, settings)

    def save(self) -> None:
        """Write the whole manifest beside itself, flush it to disk, then rename it into place."""
        self.data["updated"] = now()
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.data, f, indent=1, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            publish_mode(name)
            os.replace(name, self.path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(name)
            if isinstance(exc, OSError):
                raise OutputError(f"{self.path}: cannot write the batch manifest ({exc.strerror or exc})") from exc
            raise

    # -- reading entries ---------------------------------------------------------------------

    def wrote(self, key: str, output: str) -> bool:
        """True when an entry (of any status) says redact writes ``output`` for ``key``."""
        entry = self.files.get(key) or {}
        return entry.get("output") == output

    def is_current(self, key: str, facts: FileFacts, output_path: Path) -> bool:
        """True when ``key`` is done with these settings and input, and its output still has the recorded hash."""
        entry = self.files.get(key)
        if not entry or entry.get("status") != "done" or entry.get("output") != facts.output:
            return False
        if settings_key(entry.get("settings") or {}) != self.settings_key:
            return False
        if entry.get("input_sha256") != facts.input_sha256 or not output_path.is_file():
            return False
        try:
            return file_sha256(output_path) == entry.get("output_sha256")
        except OSError:
            return False

    # -- writing entries (each saves the manifest) -------------------------------------------

    def record(self, key: str, status: str, facts: FileFacts | None = None, **fields: Any) -> None:
        """Write ``key``'s entry (the one place entries are made) and save the manifest."""
        entry: dict[str, Any] = {"status": status, "settings": self.settings}
        if facts is not None:
            entry.update(
                kind=facts.kind, output=facts.output, input_sha256=facts.input_sha256, input_size=facts.input_size
            )
        entry.update(fields)
        entry["started" if status == "running" else "finished"] = now()
        self.files[key] = entry
        self.save()

    def mark_running(self, key: str, facts: FileFacts) -> None:
        self.record(key, "running", facts)

    def mark_done(self, key: str, facts: FileFacts, output_sha256: str, seconds: float, report: Mapping) -> None:
        """``report``: the file's report as a dict (its frames and warnings are kept)."""
        warnings = list(report.get("warnings") or [])
        self.record(
            key,
            "done",
            facts,
            output_sha256=output_sha256,
            seconds=round(seconds, 3),
            frames=report.get("frames"),
            warnings=warnings,
            error=None,
        )

    def mark_failed(self, key: str, error: str, facts: FileFacts | None = None, seconds: float = 0.0) -> None:
        """A file that failed; without ``facts`` (its output name clashed) only the error is kept."""
        if facts is None:
            self.record(key, "failed", error=error)
        else:
            self.record(key, "failed", facts, output_sha256=None, seconds=round(seconds, 3), error=error)
