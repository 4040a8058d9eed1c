"""From the configuration to what the runtime needs: a forecast request and a history source."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from predictor import events as ev
from predictor.capacity import PodModel, pod_model
from predictor.config import PolicySettings, ScheduleSettings, Settings, TargetSettings
from predictor.config.events import events_for
from predictor.errors import ConfigError, SourceError
from predictor.forecasting.base import DAY_S
from predictor.planning import Bounds, ColdStart, FloorPolicy, StepRules, configured_cold_start
from predictor.runtime.demand import TokenSizingSpec
from predictor.runtime.forecast import ForecastRequest, at_model_step
from predictor.runtime.policy import Cadence, Objective, Policy, Tuning
from predictor.sources.base import HistorySource
from predictor.sources.demand import DemandSources, demand_sources_for
from predictor.sources.files import FileSource
from predictor.sources.prometheus import PrometheusSource
from predictor.sources.synthetic import SyntheticSource


def find_target(settings: Settings, name: str) -> TargetSettings:
    """The target called ``name``, or a ConfigError listing the configured names."""
    for target in settings.targets:
        if target.name == name:
            return target
    known = ", ".join(t.name for t in settings.targets) or "none configured"
    raise ConfigError(f"no target named {name!r} (targets: {known})")


def policy_from_settings(policy: PolicySettings) -> Policy:
    """The policy value that the planner, the daemon and the replay share, from the policy settings."""
    return Policy(
        model=policy.model,
        step_s=policy.model_step_s,
        train_days=policy.history_window_days,
        horizon_s=policy.horizon_s,
        max_forecast_age_s=policy.max_forecast_age_s,
        floor=FloorPolicy(
            quantile=policy.forecast_quantile,
            utilization=policy.utilization_target,
            floor_utilization=policy.floor_utilization,
            buffer=policy.spike_buffer,
            margin_s=policy.lead_time_margin_s,
            rules=StepRules(
                cooldown_s=policy.cooldown_s,
                max_step_down_pods=policy.max_step_down_pods,
                step_down_interval_s=policy.step_down_interval_s,
                scale_down_window_s=policy.scale_down_window_s,
            ),
            cap=policy.max_replicas_cap,
            window=policy.floor_window,
        ),
    )


def tuning_from_settings(policy: PolicySettings) -> Tuning:
    """What self-tuning searches and the objective it must meet, from the policy settings."""
    return Tuning(
        enabled=policy.tune,
        history_days=policy.tune_history_days,
        interval_s=policy.tune_interval_s,
        min_quantile=policy.tune_min_quantile,
        quantiles=tuple(policy.tune_quantiles),
        buffers=tuple(policy.tune_buffers),
        objective=Objective(
            shortfall_minutes_per_day=policy.objective_shortfall_minutes_per_day,
            shortfall_share=policy.objective_shortfall_share,
        ),
        reselect=policy.tune_reselect,
        margin=policy.tune_margin,
    )


def cadence_from_schedule(schedule: ScheduleSettings) -> Cadence:
    """The daemon's rhythm (retrain and reconcile intervals), for a replay that behaves like it."""
    return Cadence(
        retrain_every_s=schedule.retrain_interval_s, reconcile_every_s=round(schedule.reconcile_interval_s)
    )


def cold_start_of(target: TargetSettings) -> ColdStart:
    """The target's configured cold start: its total, or the sum of its (or its profile's) stages."""
    cold = target.cold_start
    return configured_cold_start(total_s=cold.total_s, stages_s=cold.stages_s)


def request_from_policy(
    name: str,
    policy: Policy,
    *,
    pod: PodModel,
    cold_start: ColdStart,
    bounds: Bounds,
    events: Sequence[ev.Event] = (),
    tokens: TokenSizingSpec | None = None,
) -> ForecastRequest:
    """A forecast request for one target under ``policy``; ``bounds`` come from its ScaledObject and
    the policy's cap tightens them; ``events`` are its known events (see :func:`events_for`)."""
    return ForecastRequest(
        name=name,
        policy=policy,
        pod=pod,
        cold_start=cold_start,
        bounds=bounds.capped(policy.floor.cap),
        events=tuple(events),
        tokens=tokens,
    )


def reads_tokens(target: TargetSettings) -> bool:
    """Whether the target configures a prompt- or output-token series (any source)."""
    synthetic = target.history_synthetic
    return any(
        (
            target.prompt_tokens_query,
            target.output_tokens_query,
            target.history_prompt_tokens_column,
            target.history_output_tokens_column,
            synthetic is not None and synthetic.tokens is not None,
        )
    )


def token_spec_of(target: TargetSettings) -> TokenSizingSpec | None:
    """How a target that reads token series is sized on them; ``None`` for one that reads none
    (sized on the request rate and its profile's lengths, exactly as before)."""
    if not reads_tokens(target):
        return None
    return TokenSizingSpec(params=target.capacity, role=target.role)


def request_for(
    target: TargetSettings, *, bounds: Bounds, settings: Settings | None = None
) -> ForecastRequest:
    """The forecast request a target's settings describe; ``bounds`` come from its ScaledObject.

    With ``settings`` (the whole configuration), the target's known events and holidays apply.
    """
    return request_from_policy(
        target.name,
        policy_from_settings(target.policy),
        pod=pod_model(target.capacity, target.role),
        cold_start=cold_start_of(target),
        bounds=bounds,
        events=events_for(settings, target) if settings is not None else (),
        tokens=token_spec_of(target),
    )


def demand_source_for(settings: Settings, target: TargetSettings) -> DemandSources:
    """The sources of a target's request, prompt-token and output-token series."""
    return demand_sources_for(settings.prometheus, target)


def token_sources_for(settings: Settings, target: TargetSettings) -> DemandSources | None:
    """The sources of a token-aware target's series (``None`` for one that reads no token series)."""
    return demand_sources_for(settings.prometheus, target) if reads_tokens(target) else None


def read_token_history(
    sources: DemandSources, now: pd.Timestamp, request: ForecastRequest
) -> tuple[pd.DataFrame | None, tuple[str, ...]]:
    """The token series of the training window before ``now`` (no token source: ``None``), and a
    sentence per series that could not be read; that series is left out (absent, not zero)."""
    named = {k: v for k, v in sources.named().items() if v is not sources.requests}
    if not named:
        return None, ()
    start = (now - pd.Timedelta(seconds=request.train_days * DAY_S)).floor(f"{request.step_s}s")
    columns: dict[str, pd.Series] = {}
    problems: list[str] = []
    for name, source in named.items():
        try:
            columns[name] = source.fetch(start, now, request.step_s)
        except SourceError as e:
            problems.append(f"the {name.split('_')[0]}-token series could not be read ({e})")
    if not columns:
        return pd.DataFrame(), tuple(problems)
    frame = pd.DataFrame(columns)
    frame.index.freq = next(iter(columns.values())).index.freq
    return frame, tuple(problems)


def source_for(settings: Settings, target: TargetSettings) -> HistorySource:
    """Prometheus for a query, the file for ``history_file``, the built-in trace for ``history_synthetic``."""
    if target.history_synthetic is not None:
        synthetic = target.history_synthetic
        return SyntheticSource(seed=synthetic.seed, base_rps=synthetic.base_rps, peak_rps=synthetic.peak_rps)
    if target.history_file is not None:
        return FileSource(
            target.history_file, value_column=target.history_value_column, counts=target.history_counts
        )
    assert target.query is not None  # the settings guarantee one of the two
    return PrometheusSource(settings.prometheus, target.query)


def read_history(source: HistorySource, now: pd.Timestamp, request: ForecastRequest) -> pd.Series:
    """The training window before ``now`` at the model step."""
    start = (now - pd.Timedelta(seconds=request.train_days * DAY_S)).floor(f"{request.step_s}s")
    return source.fetch(start, now, request.step_s)


#: The resolution history is read at for training, then averaged per model step (the replay's).
READ_STEP_S = 60


def read_training_history(source: HistorySource, now: pd.Timestamp, request: ForecastRequest) -> pd.Series:
    """The training window before ``now`` at the model step, exactly as a replay of the same history
    sees it: read at one-minute resolution and averaged per model step (a bin with no minute of data
    stays NaN: missing, not zero). A rate sampled once per model step (``read_history``) is a
    different series from its average over the step, and a model trained on it makes other
    decisions than ``predictor backtest`` replays."""
    start = (now - pd.Timedelta(seconds=request.train_days * DAY_S)).floor(f"{request.step_s}s")
    if request.step_s % READ_STEP_S:
        return source.fetch(start, now, request.step_s)
    return at_model_step(source.fetch(start, now, READ_STEP_S), request.step_s)
