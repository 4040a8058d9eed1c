"""``predictor config``: validate a configuration file, or print the effective one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml

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


ACTUAL_RECORD = "predictor:actual_rps"


@app.command()
def rules(
    path: ConfigArg = None,
    namespace: Annotated[str, typer.Option(help="Namespace of the PrometheusRule.")] = "predictor",
    release: Annotated[
        str, typer.Option(help="Value of its `release` label (kube-prometheus-stack selects rules by it).")
    ] = "kube-prometheus-stack",
) -> None:
    """Print a PrometheusRule recording each target's actual request rate as predictor:actual_rps.

    The Grafana dashboard draws ``predictor:actual_rps{target="..."}`` under the forecast, so the
    actual load is the one the target's own query measures. Targets with a history file or the
    synthetic trace have no query and are left out; so are discovered targets (not in the file).
    """
    with reported_errors():
        settings = load_settings(path)
        records = [
            {
                "record": ACTUAL_RECORD,
                # The query returns one unlabelled series (a target's contract); label it.
                "expr": f'label_replace(({t.query}), "target", "{t.name}", "", "")',
            }
            for t in settings.targets
            if t.query
        ]
        if not records:
            raise ConfigError(f"{path or '(defaults and environment)'}: no target with a query to record")
        rule = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {
                "name": "predictor-actuals",
                "namespace": namespace,
                "labels": {"app.kubernetes.io/name": "predictor", "release": release},
            },
            "spec": {"groups": [{"name": "predictor-actuals", "interval": "1m", "rules": records}]},
        }
        sys.stdout.write(yaml.safe_dump(rule, sort_keys=False, width=1000))
