"""Typed errors. The library raises these; the CLI turns them into one-line messages and exit codes."""

from __future__ import annotations


class RedactError(Exception):
    """Base class: every failure the library expects to report to a user."""

    exit_code = 1


class InputError(RedactError):
    """The input is missing, unreadable, not media, corrupt, or has no video stream."""

    exit_code = 2


class UnsupportedMediaError(InputError):
    """The input is media, but a codec or format we cannot decode."""


class OutputError(RedactError):
    """The output cannot be written (exists, same as input, folder not writable, encoder failure)."""

    exit_code = 3


class ModelError(RedactError):
    """A model file is missing, corrupt, or cannot be loaded."""

    exit_code = 4


class DetectionsFileError(RedactError):
    """A detections file is malformed, of another version, or made for another video."""

    exit_code = 5


class ConfigError(RedactError):
    """An option or config value is invalid."""

    exit_code = 2


class TruncatedInputError(RedactError):
    """The input was cut short; the output holds what could be decoded (raised by the CLI, not the library,
    after the output is written, unless --allow-truncated)."""

    exit_code = 6


class Cancelled(RedactError):
    """The run was interrupted (Ctrl-C); nothing was written."""

    exit_code = 130
