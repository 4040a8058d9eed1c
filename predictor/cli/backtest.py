"""``predictor backtest``: what predictor would have done on your history, against KEDA alone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import pandas as pd
import typer
from rich.console import Group
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from predictor.capacity import pod_model
from predictor.cli import checks, policy_flags
from predictor.cli.common import (
    console,
    err_console,
    new_table,
    parse_duration,
    parse_time,
    print_json,
    reported_errors,
)
from predictor.cli.history import FileFormat, Separator, TimestampColumn, TimestampFormat, load_history_file
from predictor.config import PolicySettings, load_settings
from predictor.errors import ConfigError
from predictor.forecasting.base import DAY_S
from predictor.planning import configured_cold_start
from predictor.runtime.policy import Cadence
from predictor.runtime.targets import cold_start_of, find_target, policy_from_settings, source_for
from predictor.simulation.replay import POLICIES, BacktestResult, BacktestSettings, run_backtest

REPLAY_STEP_S = 60
INPUT, POLICY, OUTPUT = "Input", policy_flags.POLICY, "Output"


def comparison_table(result: BacktestResult, title: str) -> Group:
    """The three policies side by side, with ratios to the oracle's cost and reactive's shortfall.

    Short headers so that the table fits 80 columns; what each column means is said below it.
    """
    table = new_table(title, "policy", "pod-hours", "vs oracle", "short min", "vs KEDA", "unserved", "events")
    for column in table.columns[1:]:
        column.justify = "right"
    oracle = result.outcomes["oracle"].pod_hours
    reactive = result.outcomes["reactive"].shortfall_minutes
    for name in POLICIES:
        o = result.outcomes[name]
        table.add_row(
            name,
            f"{o.pod_hours:,.1f}",
            f"{o.pod_hours / oracle:.2f}×" if oracle else "-",
            f"{o.shortfall_minutes:,.0f}",
            f"{o.shortfall_minutes / reactive:.0%}" if reactive else "-",
            f"{o.unserved_fraction:.3%}",
            str(o.scale_events),
        )
    legend = Text(
        "pod-hours: every allocated pod, starting or Ready; vs oracle: pod-hours against perfect "
        "foresight; short min: minutes whose load exceeds Ready capacity; vs KEDA: shortfall "
        "against reactive KEDA alone; unserved: share of requests above capacity; events: scale "
        "changes.",
        style="dim",
    )
    return Group(table, legend)


def run_with_progress(load: pd.Series, settings: BacktestSettings) -> BacktestResult:
    columns = (
        TextColumn("replaying"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("replay", total=1)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return run_backtest(load, settings, progress=report)


def backtest(
    history: Annotated[
        Path | None, typer.Option(help="CSV or Parquet history.", rich_help_panel=INPUT)
    ] = None,
    counts: Annotated[
        bool, typer.Option(help="--history holds counts per bin.", rich_help_panel=INPUT)
    ] = False,
    value_column: Annotated[
        str | None, typer.Option(help="Value column of --history.", rich_help_panel=INPUT)
    ] = None,
    timestamp_column: TimestampColumn = None,
    timestamp_format: TimestampFormat = None,
    sep: Separator = None,
    config: Annotated[
        Path | None, typer.Option(help="Config file (with --target).", rich_help_panel=INPUT)
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Target of --config to replay.", rich_help_panel=INPUT)
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First replayed minute (UTC).", rich_help_panel=INPUT)
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="End of the replay (UTC), exclusive.", rich_help_panel=INPUT)
    ] = None,
    days: Annotated[
        float, typer.Option(help="Days replayed when --start is not given.", rich_help_panel=INPUT)
    ] = 7.0,
    train_days: policy_flags.TrainDays = None,
    cold_start: policy_flags.ColdStart = None,
    utilization: policy_flags.Utilization = None,
    quantile: policy_flags.Quantile = None,
    model: policy_flags.Model = None,
    buffer: policy_flags.Buffer = None,
    retrain_every: Annotated[
        str, typer.Option(help="Retrain interval, e.g. 24h.", rich_help_panel=POLICY)
    ] = "24h",
    reconcile_every: Annotated[
        str, typer.Option(help="Floor refresh interval, e.g. 1m.", rich_help_panel=POLICY)
    ] = "1m",
    peak_pods: Annotated[
        int | None,
        typer.Option(
            help="Size pods so the trace's peak needs N (default 20 with --history).", rich_help_panel=POLICY
        ),
    ] = None,
    min_replicas: Annotated[
        int, typer.Option(help="The declared minReplicaCount.", rich_help_panel=POLICY)
    ] = 1,
    max_replicas: Annotated[int, typer.Option(help="maxReplicaCount.", rich_help_panel=POLICY)] = 100,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the comparison as JSON.", rich_help_panel=OUTPUT)
    ] = False,
    export_csv: Annotated[
        Path | None, typer.Option(help="Write one row per minute here.", rich_help_panel=OUTPUT)
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write PNG plots and summary.md here.", rich_help_panel=OUTPUT)
    ] = None,
) -> None:
    """Replay a history under reactive KEDA, predictive floors and a perfect-foresight oracle.

    Forecasts use only data from before each simulated minute. Prints pod-hours, shortfall
    minutes, the unserved fraction and scale events per policy.
    """
    with reported_errors():
        if (history is None) == (config is None):
            raise ConfigError("give either --history FILE or --config FILE --target NAME")
        window = (parse_time(start, "--start") if start else None, parse_time(end, "--end") if end else None)
        checks.backtest_flags(days, min_replicas, max_replicas, peak_pods, retrain_every, reconcile_every)
        checks.outputs(report=report, export_csv=export_csv)
        # Defaults: the target's policy, or for a bare history the policy defaults with no spike
        # buffer (the replay compares policies, so it sizes the floor on the forecast alone).
        base = PolicySettings(spike_buffer=0.0)
        cold = configured_cold_start(total_s=600.0)
        pod = None
        flags = policy_flags.PolicyFlags(model, quantile, buffer, utilization, train_days)
        if history is not None:
            policy = policy_flags.policy_from_flags(base, flags)
            fmt = FileFormat(timestamp_column, timestamp_format, sep)
            load = load_history_file(
                history, fmt, value_column=value_column, counts=counts, step_s=REPLAY_STEP_S
            )
            name = history.name
            peak_pods = peak_pods or 20
        else:
            if target is None:
                raise ConfigError("--config needs --target NAME")
            settings = load_settings(config)
            t = find_target(settings, target)
            policy = policy_flags.policy_from_flags(t.policy, flags)
            name, pod, cold = t.name, pod_model(t.capacity, t.role), cold_start_of(t)
            last = window[1] or pd.Timestamp.now(tz="UTC").floor(
                "1min"
            )  # a composition root may read the clock
            first = (window[0] or last - pd.Timedelta(days=days)) - pd.Timedelta(
                seconds=policy.history_window_days * DAY_S
            )
            load = source_for(settings, t).fetch(first, last, REPLAY_STEP_S)
        if cold_start:
            cold = configured_cold_start(total_s=parse_duration(cold_start, "--cold-start"))
        checks.replay_window(load, *window, days=days)
        settings_ = BacktestSettings(
            policy=policy_from_settings(policy),
            cadence=Cadence(
                retrain_every_s=parse_duration(retrain_every, "--retrain-every"),
                reconcile_every_s=parse_duration(reconcile_every, "--reconcile-every"),
            ),
            cold_start=cold,
            start=window[0],
            end=window[1],
            score_days=days,
            peak_pods=peak_pods,
            pod=pod,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        )
        result = run_with_progress(load, settings_)
        if export_csv is not None:
            export_csv.parent.mkdir(parents=True, exist_ok=True)
            result.to_frame().to_csv(export_csv, date_format="%Y-%m-%dT%H:%M:%SZ")
            err_console.print(f"wrote {export_csv}")
        if report is not None:
            from predictor.cli.report import write_report  # matplotlib loads only when asked

            err_console.print(f"wrote {write_report(result, report, name)}")
        if as_json:
            print_json(result.summary())
        else:
            console.print(
                comparison_table(
                    result, f"Backtest of {name}: {result.index[0]:%Y-%m-%d} → {result.index[-1]:%Y-%m-%d}"
                )
            )
            acc = cast(dict[str, object], result.summary()["forecast_accuracy"])
            console.print(f"forecast one lead time ahead: {', '.join(f'{k} {v}' for k, v in acc.items())}")
