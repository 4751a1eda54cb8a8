"""The command line's entry point: registers the commands (redact/commands/, one module each) and turns
library errors into one-line messages and exit codes (REDACT_DEBUG=1 shows the traceback)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from typing import NoReturn

import typer
from typer import Abort

from redact.commands import batch, demo, detect, preview, render, review, run, verify, version
from redact.commands.common import SIGNALLED, Command, say
from redact.commands.usage import CONTEXT, ClickException, SwitchesCommand, usage_message
from redact.errors import RedactError

#: every command, in the order --help lists them: a new command is a module in redact/commands and a line here
COMMANDS: dict[str, Command] = {
    "run": run.run_command,
    "batch": batch.batch_command,
    "demo": demo.demo_command,
    "detect": detect.detect_command,
    "render": render.render_command,
    "preview": preview.preview_command,
    "verify": verify.verify_command,
    "review": review.review_command,
    "version": version.version_command,
}

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, context_settings=CONTEXT)
for name, command in COMMANDS.items():
    app.command(name, cls=SwitchesCommand, context_settings=CONTEXT)(command)


def show_help() -> None:
    """`redact --help`: the options of `redact INPUT` (which is `redact run INPUT`) with their defaults,
    then the other commands."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    commands["run"].main(args=["--help"], prog_name="redact", standalone_mode=False)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name in COMMANDS:
        if name != "run":
            table.add_row(name, commands[name].get_short_help_str(limit=200))
    title = "Other commands: redact COMMAND [ARGS] (redact COMMAND --help for each)"
    Console().print(Panel(table, title=title, title_align="left", border_style="dim"))


def _on_signal(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM (kill, docker stop, systemd, SLURM) both stop the run as Ctrl-C does: the
    KeyboardInterrupt unwinds every cleanup path (workers, temporary files, segment folders)."""
    SIGNALLED.append(signum)
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the cleanup short
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """`redact ...`: run one command; every failure ends in one line on stderr and a non-zero exit."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in CONTEXT["help_option_names"]:
        show_help()
        sys.exit(0 if args else 2)  # no arguments at all is a mistake, for scripts too
    if args[0] == "--version":
        args[0] = "version"
    # `redact INPUT ...` means `redact run INPUT ...`; messages name the command as it was typed
    typed = "redact" if args[0] not in COMMANDS else f"redact {args[0]}"
    if args[0] not in COMMANDS:
        args.insert(0, "run")
    debug = os.environ.get("REDACT_DEBUG") == "1"
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _on_signal)
    code = _run(args, debug, typed)
    if SIGNALLED or code == 130:  # typer turns a KeyboardInterrupt into a silent exit 130
        _interrupted(debug)
    if code:
        sys.exit(code)


def _run(args: list[str], debug: bool, typed: str) -> int:
    """The command's exit code; a usage mistake, a library error or a bug exits here with its one line."""
    try:
        code = app(args=args, prog_name="redact", standalone_mode=False)
    except (Abort, KeyboardInterrupt):
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except ClickException as exc:
        params = getattr(typer.main.get_command(app), "commands", {})[args[0]].params
        _fail(usage_message(exc, args[1:], typed, params), exc.exit_code, debug)
    except RedactError as exc:
        if SIGNALLED:
            _interrupted(debug)
        _fail(str(exc), exc.exit_code, debug)
    except Exception as exc:  # a bug: still one line and a non-zero exit; the traceback on request
        if SIGNALLED:
            _interrupted(debug)
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with REDACT_DEBUG=1 for details)", 70, debug)
    return code if isinstance(code, int) else 0


def _interrupted(debug: bool) -> NoReturn:
    signum = SIGNALLED[0] if SIGNALLED else signal.SIGINT
    _fail("interrupted; unfinished outputs and temporary files were removed", 128 + int(signum), debug)


def _fail(message: str, code: int, debug: bool) -> NoReturn:
    if debug:
        traceback.print_exc()
    say("redact: error", message, "red")
    sys.exit(code)


if __name__ == "__main__":
    main()
