"""``predictor forecast``: what will load be, how many pods, when does pre-warming start."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.progress import Progress

from predictor.capacity import pod_model, pod_model_for_peak
from predictor.cli import checks, forecast_view, policy_flags
from predictor.cli.common import (
    EXIT_FAILURE,
    console,
    err_console,
    parse_duration,
    parse_time,
    print_json,
    reported_errors,
)
from predictor.cli.history import FileFormat, Separator, TimestampColumn, TimestampFormat, load_history_file
from predictor.config import PolicySettings, TargetSettings, load_profile, load_settings
from predictor.config.events import events_for
from predictor.daemon.persist import TargetFiles
from predictor.daemon.state import TunedChoice, inputs_of
from predictor.errors import ConfigError, PredictorError
from predictor.planning import Bounds, configured_cold_start
from predictor.runtime.forecast import TargetForecast, forecast_target, forecast_targets
from predictor.runtime.targets import (
    demand_source_for,
    find_target,
    policy_from_settings,
    read_history,
    read_token_history,
    request_for,
    request_from_policy,
    tuning_from_settings,
)

_DEFAULTS = PolicySettings()
INPUT = "Input"
SIZING = "Sizing (with --history)"
OUTPUT = "Output"


def forecast(
    config: Annotated[
        Path | None, typer.Option(help="Config file: forecast its targets.", rich_help_panel=INPUT)
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Only this target of --config (default: all).", rich_help_panel=INPUT)
    ] = None,
    history: Annotated[
        Path | None, typer.Option(help="CSV or Parquet history instead of --config.", rich_help_panel=INPUT)
    ] = None,
    value_column: Annotated[
        str | None, typer.Option(help="Value column of --history.", rich_help_panel=INPUT)
    ] = None,
    counts: Annotated[
        bool, typer.Option(help="--history holds counts per bin, not req/s.", rich_help_panel=INPUT)
    ] = False,
    timestamp_column: TimestampColumn = None,
    timestamp_format: TimestampFormat = None,
    sep: Separator = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="Forecast as if now were this time (UTC), from the data before it.", rich_help_panel=INPUT
        ),
    ] = None,
    horizon: policy_flags.Horizon = None,
    train_days: policy_flags.TrainDays = None,
    model: policy_flags.Model = None,
    quantile: policy_flags.Quantile = None,
    buffer: policy_flags.Buffer = None,
    utilization: policy_flags.Utilization = None,
    floor_utilization: policy_flags.FloorUtilization = None,
    profile: Annotated[
        str, typer.Option(help="Serving profile that sizes pods.", rich_help_panel=SIZING)
    ] = "llama-3-70b-h100-tp8",
    peak_pods: Annotated[
        int | None,
        typer.Option(
            help="Size pods so the history's peak needs this many (overrides --profile).",
            rich_help_panel=SIZING,
        ),
    ] = None,
    cold_start: policy_flags.ColdStart = None,
    baseline: Annotated[
        int, typer.Option(help="The ScaledObject's minReplicaCount.", rich_help_panel=SIZING)
    ] = 1,
    max_replicas: Annotated[
        int, typer.Option(help="The ScaledObject's maxReplicaCount.", rich_help_panel=SIZING)
    ] = 100,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG plot here.", rich_help_panel=OUTPUT)] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the JSON document instead of tables.", rich_help_panel=OUTPUT),
    ] = False,
) -> None:
    """Forecast the request rate, the pods it needs, and when the floor rises.

    Reads a target's history from Prometheus (--config, --target) or a file (--history), chooses
    and fits a model, forecasts from now (or --at), and plans the floor. The JSON schema is in
    the README.
    """
    with reported_errors():
        if (config is None) == (history is None):
            raise ConfigError("give either --config (with --target) or --history FILE")
        checks.forecast_flags(baseline, max_replicas, peak_pods, plot)
        overrides = policy_flags.PolicyFlags(
            model, quantile, buffer, utilization, train_days, horizon, floor_utilization
        )
        # A bad flag is one clear error, before any target is read.
        policy_flags.policy_from_flags(_DEFAULTS, overrides)
        now = parse_time(at, "--at") if at else None
        fmt = FileFormat(timestamp_column, timestamp_format, sep)
        actuals: dict[str, pd.Series] = {}
        if history is not None:
            results = [
                _from_history(
                    history,
                    fmt,
                    actuals,
                    value_column,
                    counts,
                    now,
                    overrides,
                    profile,
                    peak_pods,
                    cold_start,
                    baseline,
                    max_replicas,
                )
            ]
        else:
            results = _from_config(config, target, now, overrides, baseline, max_replicas)
        failed = [r for r in results if isinstance(r, tuple)]
        done = [r for r in results if not isinstance(r, tuple)]
        if as_json:
            payload = [forecast_view.to_json(r) for r in done]
            print_json(payload[0] if history is not None or target else payload)
        else:
            for result in done:
                console.print(forecast_view.render(result))
        if plot is not None:
            from predictor.cli.plots import forecast_plot  # matplotlib loads only when asked

            for result in done:
                path = (
                    plot
                    if len(done) == 1
                    else plot.with_name(f"{plot.stem}-{result.request.name}{plot.suffix}")
                )
                forecast_plot(result, path, actuals=actuals.get(result.request.name))
                err_console.print(f"wrote {path}")
        for name, error in failed:
            err_console.print(f"[red]error[/red]: target {name}: {error}")
        if failed:
            raise typer.Exit(EXIT_FAILURE)


def _from_history(
    path,
    fmt,
    actuals,
    value_column,
    counts,
    now,
    overrides,
    profile,
    peak_pods,
    cold_start,
    baseline,
    max_replicas,
) -> TargetForecast:
    policy = policy_flags.policy_from_flags(_DEFAULTS, overrides)
    series = load_history_file(
        path, fmt, value_column=value_column, counts=counts, step_s=policy.model_step_s
    )
    actuals[path.name] = series  # the plot compares the forecast with what came after --at
    if now is None:
        now = series.index[-1] + pd.Timedelta(seconds=policy.model_step_s)
    profile_settings = load_profile(profile)
    if peak_pods is not None:
        pod = pod_model_for_peak(float(series.max()), peak_pods, utilization=policy.utilization_target)
    else:
        pod = pod_model(profile_settings.capacity, profile_settings.role)
    cold = (
        configured_cold_start(total_s=parse_duration(cold_start, "--cold-start"))
        if cold_start
        else configured_cold_start(
            total_s=profile_settings.cold_start.total_s, stages_s=profile_settings.cold_start.stages_s
        )
    )
    request = request_from_policy(
        path.name,
        policy_from_settings(policy),
        pod=pod,
        cold_start=cold,
        bounds=Bounds(baseline, max_replicas),
    )
    with console.status(f"choosing a model for {path.name} ..."):
        return forecast_target(series, request, now)


def _from_config(config, target, now, overrides, baseline, max_replicas) -> list:
    settings = load_settings(config)
    targets = [find_target(settings, target)] if target else list(settings.targets)
    if not targets:
        raise ConfigError(f"{config}: no targets configured")
    now = now or pd.Timestamp.now(tz="UTC")  # the CLI is a composition root: it may read the clock
    groups: dict[object, list] = {}
    for t in targets:  # a service's roles share one forecast when trained alike, as in the daemon
        key = (t.service, inputs_of(t, events_for(settings, t))) if t.service else t.name
        groups.setdefault(key, []).append(t)
    results: list = []
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("forecasting", total=len(targets))
        for group in groups.values():
            progress.update(task, description=f"forecasting {', '.join(t.name for t in group)}")
            try:
                tuned = {t.name: _tuned_choice(settings.state_dir, t) for t in group}
                group = [
                    t.model_copy(
                        update={
                            "policy": policy_flags.policy_from_flags(
                                _sized_as_tuned(t, tuned[t.name]), overrides
                            )
                        }
                    )
                    for t in group
                ]
                requests = [
                    request_for(t, bounds=Bounds(baseline, max_replicas), settings=settings) for t in group
                ]
                sources = demand_source_for(settings, group[0])
                series = read_history(sources.requests, now, requests[0])
                tokens: pd.DataFrame | None = None
                problems: tuple[str, ...] = ()
                if any(r.tokens is not None for r in requests):
                    tokens, problems = read_token_history(sources, now, requests[0])
                results += [
                    _with_policy_source(tf, tuned[tf.request.name], overrides)
                    for tf in forecast_targets(
                        series, requests, now, token_history=tokens, token_problems=problems
                    )
                ]
            except PredictorError as e:  # one failing target never stops the others
                if target:
                    raise
                results += [(t.name, str(e)) for t in group]
            progress.advance(task, len(group))
    return results


def _tuned_choice(state_dir: Path, target: TargetSettings) -> TunedChoice | None:
    """The daemon's self-tuned choice for ``target`` from its memory file in ``state_dir``, when the
    target's tuning still allows it (as the daemon would size with it); None otherwise."""
    if not target.policy.tune:
        return None
    try:
        saved = TargetFiles(state_dir).load(target.name)
    except ValueError as e:
        err_console.print(
            f"[yellow]warning[/yellow]: target {target.name}: {e}; sizing with the configured policy"
        )
        return None
    choice = saved.tuned if saved is not None else None
    if choice is None:
        return None
    policy = policy_from_settings(target.policy)
    allowed = tuning_from_settings(target.policy).allows(policy, choice.quantile, choice.buffer)
    return choice if allowed else None


def _sized_as_tuned(target: TargetSettings, choice: TunedChoice | None) -> PolicySettings:
    if choice is None:
        return target.policy
    return target.policy.model_copy(
        update={"forecast_quantile": choice.quantile, "spike_buffer": choice.buffer}
    )


def _with_policy_source(
    tf: TargetForecast, choice: TunedChoice | None, overrides: policy_flags.PolicyFlags
) -> TargetForecast:
    """Say where the sizing quantile and buffer came from: the daemon's tuning, or the configuration
    (also when a --quantile or --buffer flag replaced the tuned value)."""
    if choice is None:
        return tf
    tuned = f"tuned at {choice.tuned_at:%Y-%m-%d %H:%M} UTC: {choice.reason}"
    if overrides.quantile is not None or overrides.buffer is not None:
        return replace(
            tf, policy_source="flags", policy_reason=f"--quantile/--buffer over the daemon's choice ({tuned})"
        )
    return replace(tf, policy_source="tuned", policy_reason=tuned)
