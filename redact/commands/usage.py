"""How the command line explains itself: help that shows switches as switches, and usage mistakes (a bad
value, an unknown option, a missing argument) told in one line, as every other error is."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typer.core import TyperCommand

if TYPE_CHECKING:
    from typer._click import exceptions as click_exceptions
else:
    try:  # newer typer carries its own copy of click
        from typer._click import exceptions as click_exceptions
    except ImportError:  # pragma: no cover - older typer with click installed beside it
        from click import exceptions as click_exceptions

ClickException = click_exceptions.ClickException
UsageError = click_exceptions.UsageError

#: -h as well as --help, on every command
CONTEXT = {"help_option_names": ["-h", "--help"]}

#: what people type after a switch that takes no value
SWITCH_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n"})


class SwitchesCommand(TyperCommand):
    """A command whose help shows a switch without a value type: typer lists ``--overwrite <bool>``,
    and users then type ``--overwrite true``."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        return params


def usage_message(exc: ClickException, args: Sequence[str], command: str, params: Sequence[Any]) -> str:
    """One line for a mistake on the command line. ``args`` are the arguments as typed after the command,
    ``command`` what the user typed to name it ("redact" or "redact verify"), ``params`` its options."""
    before_dashes = list(args[: args.index("--")] if "--" in args else args)
    message = (
        _dashed_file_name(before_dashes, params, command)
        or _switch_given_a_value(before_dashes, params)
        or _specific(exc, args, command, params)
        or f"{_plain(exc.format_message())} (see `{command} --help`)"
    )
    return " ".join(message.split())  # one line, whatever a message or a file name holds


def _option_names(params: Sequence[Any]) -> set[str]:
    return {name for p in params for name in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}


def _dashed_file_name(args: Sequence[str], params: Sequence[Any], command: str) -> str | None:
    """``redact -clip.mp4`` reads as the options -c -l -i ...: say how to pass such a name."""
    known = _option_names(params)
    for arg in args:
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2 and arg.split("=")[0] not in known:
            if Path(arg).exists() or re.search(r"\.\w{2,5}$", arg):
                return (
                    f"{arg}: a name that starts with a dash reads as options; "
                    f"write `{command} ./{arg} [options]` or `{command} [options] -- {arg}`"
                )
    return None


def _switch_given_a_value(args: Sequence[str], params: Sequence[Any]) -> str | None:
    """``--overwrite true`` or ``--overwrite=true``: a switch is on when given, off when not."""
    switches = {name: p for p in params if getattr(p, "is_flag", False) for name in (*p.opts, *p.secondary_opts)}
    for i, arg in enumerate(args):
        name, equals, value = arg.partition("=")
        if name not in switches:
            continue
        if not equals:
            following = args[i + 1] if i + 1 < len(args) else ""
            if following.lower() not in SWITCH_WORDS:
                continue
            value = following
        param = switches[name]
        other = [n for n in (*param.opts, *param.secondary_opts) if n != name and n.startswith("--")]
        opposite = f", or {other[0]} for the opposite" if other else ""
        return f"{name} takes no value (got {value!r}): write {name} alone{opposite}"
    return None


def _specific(exc: ClickException, args: Sequence[str], command: str, params: Sequence[Any]) -> str | None:
    if isinstance(exc, click_exceptions.NoSuchOption):
        return _unknown_option(exc, command)
    if isinstance(exc, click_exceptions.MissingParameter):
        return _missing(exc, command)
    if isinstance(exc, click_exceptions.BadParameter):
        return _bad_value(exc, args)
    if isinstance(exc, click_exceptions.BadOptionUsage) and "requires an argument" in exc.message:
        return f"{exc.option_name} needs a value (see `{command} --help`)"
    extra = re.match(r"Got unexpected extra argument\S* \((.*)\)", exc.message)
    if extra and "--" in args and _option_names(params) & set(extra.group(1).split()):
        return f"unexpected argument {extra.group(1)!r}: after `--` every word is a file name; put options before it"
    if extra:
        return f"unexpected argument {extra.group(1)!r}: {command} takes one input at a time (a folder for many files)"
    return None


def _unknown_option(exc: Any, command: str) -> str:
    guess = sorted(exc.possibilities or [])
    did_you_mean = f"; did you mean {' or '.join(guess)}?" if guess else ""
    return f"unknown option {exc.option_name}{did_you_mean} (see `{command} --help`)"


def _missing(exc: Any, command: str) -> str:
    param = exc.param
    if param is None:
        return f"{_plain(exc.format_message())} (see `{command} --help`)"
    help = _plain(getattr(param, "help", None) or "")
    described = f": {help[:1].lower()}{help[1:]};" if help else ";"
    if getattr(param, "param_type_name", "") == "argument":
        name = (param.name or "input").upper()
        return f"missing {name}{described} write `{command} {name} [options]`"
    return f"missing option {max(param.opts, key=len)}{described} see `{command} --help`"


def _bad_value(exc: Any, args: Sequence[str]) -> str:
    param = exc.param
    names = list(getattr(param, "opts", ())) if param is not None else []
    shown = max(names, key=len) if names else (param.name or "").upper() if param is not None else "value"
    value = _value_of(names, args)
    given = f" {value!r}" if value is not None else ""
    return f"{shown}{given}: {_reason(exc.message)}"


def _value_of(names: Sequence[str], args: Sequence[str]) -> str | None:
    """The value typed for an option, as ``--crf abc`` or ``--crf=abc`` (the last one given wins)."""
    value = None
    for i, arg in enumerate(args):
        name, equals, rest = arg.partition("=")
        if name in names:
            value = rest if equals else (args[i + 1] if i + 1 < len(args) else None)
    return value


def _reason(message: str) -> str:
    """The parser's complaint about a value, in this tool's words."""
    text = _plain(message)
    if "valid integer" in text or "not a valid int" in text:
        return "expected a whole number"
    if "valid number" in text or "valid float" in text or "not a valid float" in text:
        return "expected a number"
    text = re.sub(r"^input should be", "must be", text[:1].lower() + text[1:])
    return text.replace("greater than or equal to", "at least").replace("less than or equal to", "at most")


def _plain(text: str) -> str:
    return " ".join(text.split()).rstrip(".")
