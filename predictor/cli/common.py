"""What every command shares: error reporting, exit codes, number formatting."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from predictor.errors import CapacityError, ConfigError, PredictorError

# Exit codes: 0 fine, 1 a runtime failure (source, forecast, actuation), 2 bad input.
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

console = Console()
err_console = Console(stderr=True)


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
