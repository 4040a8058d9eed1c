"""What every command shares: error reporting, exit codes, number formatting."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table

from predictor.config import PolicySettings
from predictor.config.errors import describe_validation_error
from predictor.errors import CapacityError, ConfigError, PredictorError

# Exit codes: 0 fine, 1 a runtime failure (source, forecast, actuation), 2 bad input.
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class CliConsole(Console):
    """rich's Console, with every table drawn without box lines when the output is not a terminal.

    Piped into a file, ``grep`` or ``less``, a table is plain aligned columns (as ``kubectl get``
    prints them), which tools and people read more easily than box-drawing characters.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if not self.is_terminal:
            for item in objects:
                _plain(item)
        super().print(*objects, **kwargs)


def _plain(item: Any) -> None:
    if isinstance(item, Table):
        item.box = None
        item.show_edge = False
        item.pad_edge = False
        item.padding = (0, 2, 0, 0)  # two spaces between columns, none at the edge
        if item.title is not None:
            item.title_style = ""
    for child in getattr(item, "renderables", ()):  # a Group
        _plain(child)


def new_table(title: str | None = None, *columns: str) -> Table:
    """A table as every command draws it: left-aligned title, one header line, 80 columns first."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column)
    return table


console = CliConsole()
err_console = CliConsole(stderr=True)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn predictor's own errors into a clear message and an exit code, never a traceback."""
    try:
        yield
    except (ConfigError, CapacityError) as e:
        _print_error(e)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except PredictorError as e:
        _print_error(e)
        raise typer.Exit(EXIT_FAILURE) from None


def _print_error(error: Exception) -> None:
    for line in str(error).splitlines() or [type(error).__name__]:
        # Plain write: rich would read "[...]" in key paths as markup.
        sys.stderr.write(f"error: {line}\n")


def print_json(payload: Any) -> None:
    """One JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def fmt(value: float | None, unit: str = "") -> str:
    """A number as a person writes it: 9.2, 1,250, 6.57."""
    if value is None:
        return "-"
    value = round(float(value), 6)
    if value.is_integer():
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.1f}"
    else:
        text = f"{value:.4g}"
    return f"{text} {unit}".rstrip()


_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(w|d|h|m|s)", re.I)


def parse_duration(text: str, flag: str = "duration") -> int:
    """``90s``, ``15m``, ``1h30m``, ``1.5h``, ``2d``, ``1w`` -> whole seconds.

    A bare number is refused (``10`` could be seconds or minutes, and a cold start of 10 s instead
    of 10 min would plan far too late); ``0`` alone is allowed. Errors are a ConfigError naming
    ``flag``.
    """
    value = text.strip().lower().replace(" ", "")
    if value.startswith("-"):
        raise ConfigError(f"{flag}: {text!r}: a duration cannot be negative")
    if value == "0":
        return 0
    if re.fullmatch(r"\d+(\.\d*)?|\.\d+", value):
        raise ConfigError(f"{flag}: {text!r} has no unit; did you mean {value}m or {value}s?")
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ConfigError(f"{flag}: {text!r} is not a duration like 90s, 15m, 1h30m, 6h or 2d")
    return round(sum(float(number) * _UNITS_S[unit] for number, unit in parts))


def parse_time(text: str, flag: str = "time"):
    """An ISO timestamp; naive ones are UTC. Returns a tz-aware pandas Timestamp."""
    import pandas as pd

    try:
        moment = pd.Timestamp(text)
    except (ValueError, TypeError):
        moment = pd.NaT
    if moment is pd.NaT:
        raise ConfigError(f"{flag}: {text!r} is not a time like 2026-03-02T08:00 (UTC) or 2026-03-02")
    return moment.tz_localize("UTC") if moment.tz is None else moment.tz_convert("UTC")


def human_duration(seconds: float) -> str:
    """3725 -> '1 h 2 min'; 600 -> '10 min'; 45 -> '45 s'."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def policy_with(base: PolicySettings, flags: Mapping[str, tuple[str, object]]) -> PolicySettings:
    """``base`` with the flags given on the command line applied, validated like the config file.

    ``flags`` maps a flag to (policy field, value); ``None`` values were not given. A bad value is
    a ConfigError that names the flag, e.g. ``--quantile: Input should be less than 1 (got 1.5)``.
    """
    given = {field: value for field, value in flags.values() if value is not None}
    if not given:
        return base
    try:
        return PolicySettings(**{**base.model_dump(), **given})
    except ValidationError as e:
        flag_of = {field: flag for flag, (field, _) in flags.items()}
        lines = []
        for line in describe_validation_error(e):
            field, _, problem = line.partition(": ")
            lines.append(f"{flag_of.get(field, field)}: {problem}")
        raise ConfigError("\n".join(lines)) from e
