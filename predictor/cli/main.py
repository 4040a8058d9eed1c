"""The ``predictor`` command."""

from __future__ import annotations

from typing import Annotated

import typer

from predictor import __version__
from predictor.cli import config_cmd, events, plan, profiles
from predictor.cli.backtest import backtest
from predictor.cli.common import console
from predictor.cli.demo import demo
from predictor.cli.forecast import forecast
from predictor.cli.run import release, run, status

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
app.add_typer(profiles.app, name="profiles")
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
