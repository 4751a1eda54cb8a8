"""What the commands share: the consoles, the setting options (declared once, from the defaults table),
the progress bar, and the side files (reports) every command may write."""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from redact.errors import ConfigError
from redact.settings import DEFAULTS, DEFAULTS_SHOWN, HELP, Settings, load_config, parse_targets

if TYPE_CHECKING:
    from redact.review.detections_file import Recorder

# plain text, not rich markup: messages carry file names and commands such as pip install 'redact[heic]'
err = Console(stderr=True, soft_wrap=True, highlight=False, markup=False)
out = Console(soft_wrap=True, highlight=False, markup=False)


def say(label: str, text: str, style: str = "", console: Console = err) -> None:
    """One line "label: text", the label in ``style``; the text exactly as given."""
    console.print(Text.assemble((f"{label}:", style), " ", text))


#: the signal that stopped this run, if one did (set by redact.cli; a stopped batch says so once, not per file)
SIGNALLED: list[int] = []

OnProgress = Callable[[int, int | None], None]
Command = Callable[..., None]

#: option names that are not simply --the-setting-name
FLAGS = {
    "quality": ("--quality", "-q"),
    "audio": ("--audio",),
    "keep_metadata": ("--keep-metadata/--strip-metadata",),
}

#: flags that set a setting to one value: --no-audio is --audio drop (and so it was before --audio took a mode)
ALIASES = {"no_audio": ("--no-audio", "audio", "drop")}

#: --help's words for "not given": a switch that is off, an optional file that is not written
OFF = "off"
NONE = "none"

QUIET = typer.Option(False, "--quiet", help="No progress bar or summary.", show_default=OFF)
MUTE_HELP = "Silence every audio track from START to END seconds, e.g. 31.2-32 (a spoken name). Repeatable."
CONFIG = typer.Option(
    None, "--config", help="TOML or JSON file of settings (options given here win).", show_default=NONE
)
EXECUTOR = typer.Option(
    None, "--executor", help="serial, process or dask.", show_default="process when --jobs > 1, else serial"
)


@dataclass
class Workers:
    """Where the work runs: --jobs, --executor and --cluster (a cluster means dask)."""

    jobs: int
    executor: str | None
    cluster: str | None

    def __post_init__(self) -> None:
        if self.cluster:
            self.executor = "dask"

    def options(self) -> dict[str, Any]:
        """As the library's run_batch and redact_video_segments take them."""
        return {"jobs": self.jobs, "executor": self.executor, "address": self.cluster}


def setting_option(name: str) -> Any:
    """A typer option whose default and help come from the one defaults table; --help shows every
    default, those left to a detector or a preset (None) in words."""
    flags = FLAGS.get(name, ("--" + name.replace("_", "-"),))
    default = getattr(DEFAULTS, name)
    shown: bool | str = DEFAULTS_SHOWN.get(name, True)
    if default is False and len(flags) == 1 and "/" not in flags[0]:  # a lone switch (a pair names its side)
        shown = OFF
    if name == "targets":  # typed as one comma-separated string
        default = ",".join(DEFAULTS.targets)
    return typer.Option(default, *flags, help=HELP[name], show_default=shown)


def _setting_parameter(name: str) -> inspect.Parameter:
    annotation = str if name == "targets" else typing.get_type_hints(Settings)[name]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=setting_option(name), annotation=annotation)


def _typed(ctx: typer.Context | None, name: str) -> bool:
    """Whether the option ``name`` was given on the command line (not a default)."""
    return ctx is not None and getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"


def _alias_parameter(alias: str) -> inspect.Parameter:
    flag, name, value = ALIASES[alias]
    option = typer.Option(False, flag, help=f"Same as --{name.replace('_', '-')} {value}.", show_default=OFF)
    return inspect.Parameter(alias, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=bool)


def with_settings(*names: str) -> Callable[[Command], Command]:
    """Offer the named settings as options where the command has its ``values`` parameter (so --help lists
    them there); the command receives them as one dict, for :func:`settings_from`."""

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        if "values" not in signature.parameters:  # a programming error: say so at import, not at run time
            raise TypeError(f"{command.__name__} has no `values` parameter for the settings {names}")
        parameters: list[inspect.Parameter] = []
        aliases = {alias: spec for alias, spec in ALIASES.items() if spec[1] in names}
        for parameter in signature.parameters.values():
            if parameter.name == "values":
                parameters.extend(_setting_parameter(name) for name in names)
                parameters.extend(_alias_parameter(alias) for alias in aliases)
            else:  # keyword-only: the settings inserted in the middle have defaults, some others don't
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def parse(**options: Any) -> None:
            values = {name: options.pop(name) for name in names}
            for alias, (flag, name, value) in aliases.items():
                if options.pop(alias):
                    if _typed(options.get("ctx"), name) and values[name] != value:
                        raise ConfigError(f"{flag} contradicts --{name.replace('_', '-')} {values[name]}")
                    values[name] = value
            command(values=values, **options)

        # typer reads the options from the signature and the annotations
        cast(Any, parse).__signature__ = signature.replace(parameters=parameters)
        parse.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        return parse

    return decorate


def settings_from(
    ctx: typer.Context, config: Path | None, values: Mapping[str, Any], base: Mapping[str, Any] | None = None
) -> Settings:
    """Defaults < base (a detections file's settings) < config file < options given on the command line."""
    merged: dict[str, Any] = dict(base or {})
    merged.update(load_config(config) if config else {})
    typed = {name for name in values if _typed(ctx, name)}
    typed |= {name for alias, (_, name, _) in ALIASES.items() if name in values and _typed(ctx, alias)}
    for name, value in values.items():
        if name in typed or name not in merged:
            merged[name] = value
    if isinstance(merged.get("targets"), str):
        merged["targets"] = parse_targets(merged["targets"])
    return Settings(**merged)


@contextmanager
def progress_bar(label: str, quiet: bool = False) -> Iterator[OnProgress | None]:
    """A frame-count progress bar on a terminal, stopped however the work ends; yields the progress callback
    (None when quiet or not on a terminal)."""
    if quiet or not err.is_terminal:
        yield None
        return
    progress = Progress(
        TextColumn(f"[bold]{escape(label)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        TextColumn("{task.fields[fps]:.1f} fps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task(label, total=None, fps=0.0)

    def update(done: int, total: int | None) -> None:
        elapsed = progress.tasks[0].elapsed or 0.0
        progress.update(task, completed=done, total=total, fps=done / elapsed if elapsed else 0.0)

    progress.start()
    try:
        yield update
    finally:
        progress.stop()


def write_report(path: Path | None, data: dict[str, Any]) -> None:
    """Write a command's JSON report, when --report asked for one."""
    if path is not None:
        from redact.media.outputs import write_file

        write_file(path, (json.dumps(data, indent=2, default=str) + "\n").encode("utf-8"))


def time_ranges(values: list[str], what: str) -> list[tuple[float, float]]:
    """['12.5-14'] -> [(12.5, 14.0)]; ``what`` names the option in the error."""
    spans = []
    for value in values:
        try:
            start, end = (float(v) for v in value.split("-", 1))
        except ValueError:
            raise ConfigError(f"{what} {value!r}: expected START-END in seconds, e.g. 12.5-14") from None
        spans.append((start, end))
    return spans


def mute_ranges(values: list[str]) -> list[tuple[float, float]]:
    """--mute 12-14.5 (repeatable): seconds from the first frame, each a non-empty range."""
    spans = time_ranges(values, "--mute")
    for start, end in spans:
        if not 0 <= start < end:
            raise ConfigError(f"--mute {start:g}-{end:g}: needs 0 <= START < END (seconds from the first frame)")
    return spans


def check_side_files(**paths: Path | None) -> None:
    """--report and --save-tracks are checked before the run, so a long encode never ends in a write error."""
    from redact.media.outputs import check_side_file

    for option, path in paths.items():
        if path is not None:
            check_side_file(path, "--" + option.replace("_", "-"))


def counted(counts: Mapping[str, int], unit: str) -> str:
    """{'face': 2} -> '2 face tracks' (unit ' tracks'), or 'nothing found'."""
    return ", ".join(f"{n} {kind}{unit}" for kind, n in sorted(counts.items())) or "nothing found"


def print_notes(warnings: Iterable[str]) -> None:
    for warning in warnings:
        say("note", warning, "yellow")


def detections_recorder(input: Path, settings: Settings) -> Recorder:
    """Collects what a run covers, for --save-tracks and `redact detect`."""
    from redact.media.source import probe
    from redact.review.detections_file import Recorder

    return Recorder(probe(input), settings.to_dict())
