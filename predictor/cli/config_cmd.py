"""``predictor config``: validate a configuration file, or print the effective one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from predictor.cli.common import console, reported_errors
from predictor.config import format_settings, load_settings

app = typer.Typer(help="Validate a configuration file, or print the effective configuration.")

ConfigArg = Annotated[Path | None, typer.Argument(help="Config file; default $PREDICTOR_CONFIG.")]


@app.command()
def check(path: ConfigArg = None) -> None:
    """Validate a configuration file: exit 0 if it is valid, 2 with one line per problem if not."""
    with reported_errors():
        settings = load_settings(path)
        n = len(settings.targets)
        console.print(f"[green]ok[/green]: {path or '(defaults)'}: {n} target{'s' if n != 1 else ''}")


@app.command()
def show(path: ConfigArg = None) -> None:
    """Print the effective configuration: defaults, the file and the environment, secrets masked."""
    with reported_errors():
        sys.stdout.write(format_settings(load_settings(path)))
