"""``predictor run``, ``predictor status`` and ``predictor release``: the daemon and its controls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from predictor.actuation.errors import ScaledObjectGone
from predictor.actuation.scaledobject import effective_baseline
from predictor.cli.common import EXIT_FAILURE, console, err_console, parse_time, reported_errors
from predictor.config import load_settings
from predictor.daemon import logs
from predictor.daemon.app import build_app, run_forever, run_once
from predictor.daemon.clock import ShiftedClock, SystemClock
from predictor.daemon.status import read_status
from predictor.daemon.target import Decision
from predictor.errors import ConfigError, PredictorError

ConfigOption = Annotated[Path | None, typer.Option(help="Config file (default $PREDICTOR_CONFIG).")]


def run(
    config: ConfigOption = None,
    once: Annotated[
        bool, typer.Option(help="One retrain and one reconcile, print the decisions as a table, and exit.")
    ] = False,
    clock_start: Annotated[
        str | None, typer.Option(help="Run as if now were this time (UTC); for tests, demos and replays.")
    ] = None,
    clock_speed: Annotated[
        float, typer.Option(help="With --clock-start: simulated seconds per real second.")
    ] = 1.0,
) -> None:
    """Run the daemon: retrain on a schedule, reconcile the floors, serve /metrics, /healthz, /readyz.

    SIGTERM finishes the running cycle and exits; nothing is left half-written.
    """
    with reported_errors():
        settings = load_settings(config)
        if not settings.targets:
            raise ConfigError(f"{config or '(defaults)'}: no targets configured; nothing to run")
        logs.configure(settings.server.log_format, settings.server.log_level)
        clock = ShiftedClock(parse_time(clock_start), clock_speed) if clock_start else SystemClock()
        app = build_app(settings, clock=clock)
        if not once:
            run_forever(app)
            return
        try:
            decisions = run_once(app)
        finally:
            app.close()
        console.print(decisions_table(decisions, f"Decisions at {clock.now():%Y-%m-%d %H:%M} UTC"))
        if any(d.action == "failed" for d in decisions):
            raise typer.Exit(EXIT_FAILURE)


def decisions_table(decisions: list[Decision], title: str) -> Group:
    """A compact table of the decisions, then each one's reason on its own line."""
    table = Table(title=title, title_justify="left")
    for column in ("target", "mode", "state", "model", "baseline", "floor", "action", "next change"):
        table.add_column(column, no_wrap=column in {"target", "floor"}, overflow="fold")
    for d in decisions:
        floor = (
            _n(d.current) if d.floor is None or d.current == d.floor else f"{_n(d.current)} → {_n(d.floor)}"
        )
        table.add_row(
            d.target, d.mode, d.state, d.model or "-", _n(d.baseline), floor, d.action, d.next_change or "-"
        )
    reasons = Text()
    for d in decisions:
        reasons.append(f"{d.target}: ", style="bold")
        reasons.append(f"{d.reason}\n")
    return Group(table, reasons)


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def status(config: ConfigOption = None) -> None:
    """A table of the managed targets: baseline, current floor, next planned change, state, model, last error.

    Reads each ScaledObject and the stored models now, and plans as the daemon would without
    changing anything; the daemon's own view (state, last error) comes from the status file it
    writes in the state directory after every cycle.
    """
    with reported_errors():
        settings = load_settings(config)
        app = build_app(settings, read_only=True)
        written = read_status(settings.state_dir) or {}
        seen_by_daemon = written.get("targets", {})
        try:
            app.daemon.load_models()
            for rt in app.daemon.targets.values():
                # Plan on the applied minReplicaCount, as in patch mode; read-only means nothing is sent.
                policy = rt.settings.policy.model_copy(update={"actuation_mode": "patch"})
                rt.settings = rt.settings.model_copy(update={"policy": policy})
            decisions = app.daemon.reconcile_all(write_status=False)
        finally:
            app.close()
        table = Table(title=f"Managed targets (state in {settings.state_dir})", title_justify="left")
        columns = (
            "target",
            "baseline",
            "floor now",
            "planned",
            "next change",
            "state",
            "model",
            "last error",
        )
        for column in columns:
            table.add_column(column, no_wrap=column == "target")
        for d in decisions:
            seen = seen_by_daemon.get(d.target, {})
            error = seen.get("last_error") or (d.reason if d.action == "failed" else "")
            table.add_row(
                d.target,
                _n(d.baseline),
                _n(d.current),
                _n(d.floor),
                d.next_change or "-",
                seen.get("state", d.state),
                d.model or "-",
                error,
            )
        console.print(table)
        if written:
            console.print(f"daemon status written at {written.get('written_at')}")
        else:
            err_console.print(
                f"no daemon status in {settings.state_dir}: is the daemon running with this state_dir?"
            )


def release(
    config: ConfigOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Apply; without it, only show what would change.")
    ] = False,
) -> None:
    """Restore every managed ScaledObject to its baseline and remove predictor's annotations (uninstall)."""
    with reported_errors():
        settings = load_settings(config)
        if settings.kubernetes.mode == "offline":
            raise ConfigError("kubernetes.mode is offline: there is no cluster to release")
        app = build_app(settings, read_only=True)
        assert app.cluster is not None
        table = Table(
            title="Release" + ("" if yes else " (dry run: add --yes to apply)"), title_justify="left"
        )
        for column in ("ScaledObject", "minReplicaCount", "baseline", "action"):
            table.add_column(column)
        failed = False
        try:
            for rt in app.daemon.targets.values():
                try:
                    view = app.cluster.get(rt.ref)
                    if not view.managed:
                        table.add_row(str(rt.ref), str(view.min_replicas), "-", "not managed by predictor")
                        continue
                    baseline = effective_baseline(view)
                    if not yes:
                        action = "would restore the baseline and remove the annotations"
                        table.add_row(str(rt.ref), str(view.min_replicas), str(baseline), action)
                        continue
                    result = app.cluster.restore_baseline(rt.ref)
                    table.add_row(str(rt.ref), str(view.min_replicas), str(baseline), result.outcome)
                except ScaledObjectGone:
                    table.add_row(str(rt.ref), "-", "-", "gone")
                except PredictorError as e:
                    failed = True
                    table.add_row(str(rt.ref), "-", "-", f"[red]failed[/red]: {e}")
        finally:
            app.close()
        console.print(table)
        if failed:
            raise typer.Exit(EXIT_FAILURE)
