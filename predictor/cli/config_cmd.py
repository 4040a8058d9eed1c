"""``predictor config``: validate a configuration file, or print the effective one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from predictor.cli.common import console, reported_errors
from predictor.config import format_settings, load_settings
from predictor.errors import ConfigError

app = typer.Typer(help="Validate a configuration file, or print the effective configuration.")

ConfigArg = Annotated[Path | None, typer.Argument(help="Config file; default $PREDICTOR_CONFIG.")]


@app.command()
def check(path: ConfigArg = None) -> None:
    """Validate a configuration file: exit 0 if it is valid, 2 with one line per problem if not."""
    with reported_errors():
        settings = load_settings(path)
        label = str(path or "(defaults and environment)")
        problems = [
            f"{label}: targets[{i}].history_file: {problem}"
            for i, t in enumerate(settings.targets)
            if t.history_file is not None and (problem := _unreadable(t.history_file))
        ]
        if problems:
            raise ConfigError("\n".join(problems))
        n = len(settings.targets)
        note = "" if n or settings.kubernetes.namespaces else " (nothing to manage: add targets)"
        console.print(f"[green]ok[/green]: {label}: {n} target{'s' if n != 1 else ''}{note}")


def _unreadable(path: Path) -> str | None:
    """Why the history file cannot be read, or None; its content is checked when it is read."""
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_file():
        return f"{path} is not a regular file"
    try:
        with path.open("rb"):
            return None
    except OSError as e:
        return f"{path}: cannot read: {e.strerror}"


@app.command()
def show(path: ConfigArg = None) -> None:
    """Print the effective configuration: defaults, the file and the environment, secrets masked."""
    with reported_errors():
        sys.stdout.write(format_settings(load_settings(path)))
