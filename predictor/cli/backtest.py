"""``predictor backtest``: what predictor would have done on your history, against KEDA alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Group
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from predictor import events as ev
from predictor.capacity import pod_model
from predictor.cli import backtest_tokens, checks, policy_flags
from predictor.cli.common import (
    console,
    err_console,
    human_duration,
    new_table,
    parse_duration,
    parse_time,
    print_json,
    reported_errors,
)
from predictor.cli.history import FileFormat, Separator, TimestampColumn, TimestampFormat, load_history_file
from predictor.config import PolicySettings, ScheduleSettings, load_events, load_profile, load_settings
from predictor.config.events import events_for
from predictor.errors import ConfigError
from predictor.forecasting.base import DAY_S
from predictor.planning import ColdStart, configured_cold_start
from predictor.runtime.policy import Cadence, Tuning
from predictor.runtime.targets import (
    cadence_from_schedule,
    cold_start_of,
    find_target,
    policy_from_settings,
    reads_tokens,
    source_for,
    tuning_from_settings,
)
from predictor.simulation.replay import BacktestResult, BacktestSettings, run_backtest
from predictor.simulation.tuning import TuningResult, tune_policy
from predictor.simulation.verdict import events_verdict, verdict

REPLAY_STEP_S = 60
DEFAULT_PROFILE = "llama-3-70b-h100-tp8"
INPUT, POLICY, OUTPUT = "Input", policy_flags.POLICY, "Output"
LABELS = {"predictive": "predictive", "tuned": "self-tuned", "without-events": "no events"}


def comparison_table(result: BacktestResult, title: str) -> Group:
    """Every replayed policy side by side, with ratios to the oracle's cost and reactive's shortfall.

    Short headers so that the table fits 80 columns; what each column means is said below it.
    """
    table = new_table(title, "policy", "pod-hours", "vs oracle", "short min", "vs KEDA", "unserved", "events")
    for column in table.columns[1:]:
        column.justify = "right"
    oracle = result.outcomes["oracle"].pod_hours
    reactive = result.outcomes["reactive"].shortfall_minutes
    for name in result.rows:
        o = result.outcomes[name]
        table.add_row(
            LABELS.get(name, name),
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


def setup_lines(result: BacktestResult) -> list[str]:
    """Every setting that shaped the floor, compactly (the JSON's ``setup`` in words)."""
    s, policy, cadence = result.settings, result.settings.policy, result.settings.cadence
    lead = s.cold_start.lead_time_s(policy.floor.margin_s)
    fits = sorted({kind for _, kind in result.predictive.fits}) or ["none"]
    return [
        f"cold start {human_duration(s.cold_start.seconds)} ({s.cold_start.detail}) + margin "
        f"{human_duration(policy.floor.margin_s)} = lead time {human_duration(lead)}",
        f"floor: {policy.floor.describe()}",
        f"forecast: model {policy.model} (fitted: {', '.join(fits)}), {policy.train_days:g} d of history at "
        f"{human_duration(policy.step_s)}, retrain every {human_duration(cadence.retrain_every_s)}, "
        f"reconcile every {human_duration(cadence.reconcile_every_s)}, age limit "
        f"{human_duration(policy.max_forecast_age_s)}",
        f"pods: one serves {result.cluster.pod_rps:.4g} req/s at 100 %; replicas "
        f"{result.cluster.min_replicas}-{result.cluster.max_replicas}",
    ]


def tuning_table(tuning: TuningResult) -> Table:
    """The self-tuning search: every candidate's replay on the history before the scored window."""
    title = (
        f"Self-tuning on {tuning.days:.1f} d before the replay (allowed {tuning.allowance_minutes:.0f} min)"
    )
    table = new_table(title, "quantile", "buffer", "pod-hours", "short min", "meets", "")
    for column in table.columns[1:-1]:
        column.justify = "right"
    for c in tuning.candidates:
        table.add_row(
            f"p{c.quantile * 100:g}",
            f"{c.buffer:.0%}",
            f"{c.pod_hours:,.1f}",
            f"{c.shortfall_minutes:,.0f}",
            "yes" if c.meets else "no",
            "← chosen" if c == tuning.chosen else "",
        )
    table.add_row(
        "KEDA", "alone", f"{tuning.reactive_pod_hours:,.1f}", f"{tuning.reactive_shortfall_minutes:,.0f}"
    )
    return table


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
    profile: Annotated[
        str,
        typer.Option(help="Serving profile whose cold start --history uses.", rich_help_panel=POLICY),
    ] = DEFAULT_PROFILE,
    utilization: policy_flags.Utilization = None,
    floor_utilization: policy_flags.FloorUtilization = None,
    quantile: policy_flags.Quantile = None,
    model: policy_flags.Model = None,
    buffer: policy_flags.Buffer = None,
    retrain_every: Annotated[
        str | None,
        typer.Option(help="Retrain interval, e.g. 6h (default: the schedule's).", rich_help_panel=POLICY),
    ] = None,
    reconcile_every: Annotated[
        str | None,
        typer.Option(help="Reconcile interval, e.g. 1m (default: the schedule's).", rich_help_panel=POLICY),
    ] = None,
    tune: Annotated[
        bool | None,
        typer.Option(
            "--tune/--no-tune",
            help="Also self-tune on the history before the replay, as the daemon does "
            "(default: the policy's tune setting).",
            rich_help_panel=POLICY,
        ),
    ] = None,
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
    events_file: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="YAML file of known events (events:, holidays:) replayed instead of the config's.",
            rich_help_panel=POLICY,
        ),
    ] = None,
    no_events: Annotated[
        bool,
        typer.Option("--no-events", help="Replay without any known events.", rich_help_panel=POLICY),
    ] = False,
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
    """Replay a history under reactive KEDA, predictor's floor and a perfect-foresight oracle.

    By default predictor runs exactly as it ships (or as the target is configured, with --config):
    the policy, the cold start, the daemon's retrain and reconcile intervals. Forecasts use only
    data from before each simulated minute. Prints pod-hours, shortfall minutes, the unserved
    fraction and scale events per policy, every setting that shaped the floor, and a verdict.

    Known events (the target's with --config, or --events FILE instead) are honoured as the daemon
    honours them; the same replay without them is shown as the "no events" row, so the table says
    what the override cost or saved. --no-events replays without any.
    """
    with reported_errors():
        if (history is None) == (config is None):
            raise ConfigError("give either --history FILE or --config FILE --target NAME")
        if events_file is not None and no_events:
            raise ConfigError("give --events FILE or --no-events, not both")
        known: list[ev.Event] = load_events(events_file) if events_file is not None else []
        window = (parse_time(start, "--start") if start else None, parse_time(end, "--end") if end else None)
        checks.backtest_flags(days, min_replicas, max_replicas, peak_pods, retrain_every, reconcile_every)
        checks.outputs(report=report, export_csv=export_csv)
        flags = policy_flags.PolicyFlags(
            model, quantile, buffer, utilization, train_days, floor_utilization=floor_utilization
        )
        pod, token_target, settings = None, None, None
        if history is not None:
            # A bare history replays the shipped policy, schedule and default profile's cold start.
            settings_policy = policy_flags.policy_from_flags(PolicySettings(), flags)
            schedule = ScheduleSettings()
            cold = _profile_cold_start(profile)
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
            settings_policy = policy_flags.policy_from_flags(t.policy, flags)
            schedule = settings.schedule
            name, pod, cold = t.name, pod_model(t.capacity, t.role), cold_start_of(t)
            if events_file is None:
                known = events_for(settings, t)
            last = window[1] or pd.Timestamp.now(tz="UTC").floor(
                "1min"
            )  # a composition root may read the clock
            tunes = settings_policy.tune if tune is None else tune
            tune_days = settings_policy.tune_history_days if tunes else 0.0
            first = (window[0] or last - pd.Timedelta(days=days)) - pd.Timedelta(
                seconds=(settings_policy.history_window_days + tune_days) * DAY_S
            )
            load = source_for(settings, t).fetch(first, last, REPLAY_STEP_S)
            token_target = t if reads_tokens(t) else None
        if cold_start:
            cold = configured_cold_start(total_s=parse_duration(cold_start, "--cold-start"))
        checks.replay_window(load, *window, days=days)
        cadence = cadence_from_schedule(schedule)
        cadence = Cadence(
            retrain_every_s=(
                parse_duration(retrain_every, "--retrain-every") if retrain_every else cadence.retrain_every_s
            ),
            reconcile_every_s=(
                parse_duration(reconcile_every, "--reconcile-every")
                if reconcile_every
                else cadence.reconcile_every_s
            ),
        )
        tuning = tuning_from_settings(settings_policy)
        tuned = tuning.enabled if tune is None else tune
        policy = policy_from_settings(settings_policy)
        settings_ = BacktestSettings(
            policy=policy,
            cadence=cadence,
            cold_start=cold,
            start=window[0],
            end=window[1],
            score_days=days,
            peak_pods=peak_pods,
            pod=pod,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            extra_quantiles=tuple(c.quantile for c in tuning.candidates(policy)) if tuned else (),
            events=() if no_events else tuple(known),
        )
        result = run_with_progress(load, settings_)
        if settings_.events:  # the same replay without the events: what did they cost or save?
            plain = run_with_progress(load, replace(settings_, events=()))
            result = result.with_run("without-events", plain.predictive)
        reselect = tuning.reselect
        tuning_result = tune_as_daemon(load, result, tuning, reselect=reselect) if tuned else None
        if tuning_result is not None and tuning_result.tuned:
            result = result.with_row("tuned", tuning_result.policy.floor, tuning=tuning_result.to_dict())
        elif tuning_result is not None:
            result = replace(result, tuning=tuning_result.to_dict())
        if export_csv is not None:
            export_csv.parent.mkdir(parents=True, exist_ok=True)
            result.to_frame().to_csv(export_csv, date_format="%Y-%m-%dT%H:%M:%SZ")
            err_console.print(f"wrote {export_csv}")
        if report is not None:
            from predictor.cli.report import write_report  # matplotlib loads only when asked

            err_console.print(f"wrote {write_report(result, report, name, tuning=tuning_result)}")
        tokens = None
        if token_target is not None and settings is not None:
            with err_console.status("replaying the token series ..."):
                tokens = backtest_tokens.run_token_replay(
                    settings,
                    token_target,
                    first=load.index[0],
                    start=result.index[0],
                    last=result.index[-1] + pd.Timedelta(seconds=REPLAY_STEP_S),
                    policy=policy,
                    cadence=cadence,
                    cold_start=cold,
                    bounds=settings_.bounds,
                )
        row = "tuned" if "tuned" in result.outcomes else "predictive"
        if as_json:
            lines = [*verdict(result, row=row), *events_verdict(result)]
            extra = {} if tokens is None else {"tokens": tokens.summary()}
            print_json({**result.summary(), "verdict": lines, **extra})
            return
        if tuning_result is not None and tuning_result.tuned:
            console.print(tuning_table(tuning_result))
        if tuning_result is not None:
            console.print(f"self-tuning: {tuning_result.reason}\n")
        console.print(
            comparison_table(
                result, f"Backtest of {name}: {result.index[0]:%Y-%m-%d} → {result.index[-1]:%Y-%m-%d}"
            )
        )
        for line in setup_lines(result):
            console.print(line)
        acc = result.summary()["forecast_accuracy"]
        console.print(f"forecast one lead time ahead: {', '.join(f'{k} {v}' for k, v in acc.items())}")
        console.print("")
        for line in (*verdict(result, row=row), *events_verdict(result)):
            console.print(line)
        if tokens is not None:
            console.print("")
            console.print(backtest_tokens.token_table(tokens))


def _profile_cold_start(profile: str) -> ColdStart:
    """The cold start of a serving profile: its total, or the sum of its stages."""
    cold = load_profile(profile).cold_start
    found = configured_cold_start(total_s=cold.total_s, stages_s=cold.stages_s)
    return replace(found, detail=f"{found.detail} of {profile}")


def tune_as_daemon(
    load: pd.Series, result: BacktestResult, tuning: Tuning, *, reselect: bool = False
) -> TuningResult:
    """Self-tune as the daemon would at the first replayed minute, on the history before it only
    (``reselect``: the policy's ``tune_reselect``, as the daemon reads it)."""
    start = result.index[0]
    with err_console.status("self-tuning on the history before the replay ..."):
        return tune_policy(
            load[load.index < start],
            result.settings.policy,
            cold_start=result.settings.cold_start,
            pod=result.pod,
            bounds=result.settings.bounds,
            tuning=tuning,
            cadence=result.settings.cadence,
            now=start,
            events=result.settings.events,
            reselect=reselect,
        )
