"""The ``predictor`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from predictor import __version__
from predictor.capacity import pod_model
from predictor.cli import config_cmd, events, plan
from predictor.cli.backtest import backtest
from predictor.cli.common import console, fmt, reported_errors
from predictor.cli.demo import demo
from predictor.cli.forecast import forecast
from predictor.cli.run import release, run, status
from predictor.config import list_profiles, load_profile

app = typer.Typer(
    name="predictor",
    help="Predictive autoscaler for LLM inference on Kubernetes: forecasts load, sizes pods, and "
    "raises KEDA minReplicaCount before the peak.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(plan.app, name="plan")
app.add_typer(config_cmd.app, name="config")
app.add_typer(events.app, name="events")
app.command()(forecast)
app.command()(backtest)
app.command()(demo)
app.command()(run)
app.command()(status)
app.command()(release)


def _version(value: bool) -> None:
    if value:
        console.print(f"predictor {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Predictive autoscaler for LLM inference on Kubernetes."""


@app.command()
def profiles(
    profiles_dir: Annotated[Path | None, typer.Option(help="Extra folder of serving profiles.")] = None,
) -> None:
    """List the serving profiles (models/): capacity per pod and cold start."""
    with reported_errors():
        table = Table(title="Serving profiles", title_justify="left")
        table.add_column("profile", no_wrap=True)
        for column in ("role", "binding limit", "C per pod", "cold start"):
            table.add_column(column)
        for name in list_profiles(profiles_dir):
            p = load_profile(name, profiles_dir)
            model = pod_model(p.capacity, p.role)
            table.add_row(
                name,
                p.role,
                model.limited_by,
                fmt(round(model.concurrency, 1)),
                fmt(p.cold_start.configured_s, "s"),
            )
        console.print(table)
