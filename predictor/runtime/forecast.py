"""Forecast and plan one target from its history, as of a given ``now``."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import pandas as pd

from predictor import events as ev
from predictor.capacity import PodModel
from predictor.errors import ForecastError
from predictor.forecasting import calibration, registry
from predictor.forecasting.base import DAY_S, FittedModel, Forecast, quantile_label
from predictor.forecasting.selection import CandidateScore, Selection, SelectionSettings, select_model
from predictor.planning import Bounds, ColdStart, Demand, FloorState, Plan, plan_floor
from predictor.runtime import events as known_events
from predictor.runtime.demand import (
    TokenDemand,
    TokenModels,
    TokenSizingSpec,
    demand_notes,
    fit_token_models,
    token_demand,
    token_kind,
)
from predictor.runtime.policy import Policy

AUTO = "auto"
Binned = TypeVar("Binned", pd.Series, pd.DataFrame)


@dataclass(frozen=True)
class ForecastRequest:
    """Everything needed to forecast and plan one target: its policy, its pod, cold start and bounds.

    ``bounds`` are the ScaledObject's (baseline and maxReplicaCount); the policy's cap applies on
    top of them when the floor is planned. The properties read through to the policy.
    ``events`` are the target's known events (its own, the top-level ones, its holidays).
    ``tokens`` (for a target that reads token series) sizes the role on its forecast tokens instead
    of ``pod``.
    """

    name: str
    policy: Policy
    pod: PodModel
    cold_start: ColdStart
    bounds: Bounds
    events: tuple[ev.Event, ...] = ()
    tokens: TokenSizingSpec | None = None

    @property
    def model(self) -> str:
        return self.policy.model

    @property
    def quantile(self) -> float:
        return self.policy.quantile

    @property
    def quantiles(self) -> tuple[float, ...]:
        return self.policy.quantiles

    @property
    def horizon_s(self) -> int:
        return self.policy.horizon_s

    @property
    def step_s(self) -> int:
        return self.policy.step_s

    @property
    def train_days(self) -> float:
        return self.policy.train_days

    @property
    def utilization(self) -> float:
        return self.policy.floor.utilization

    @property
    def buffer(self) -> float:
        return self.policy.floor.buffer

    @property
    def margin_s(self) -> float:
        return self.policy.floor.margin_s

    @property
    def lead_time_s(self) -> float:
        return self.cold_start.lead_time_s(self.policy.floor.margin_s)


@dataclass(frozen=True)
class TargetForecast:
    """The outcome for one target: the model and its scores, the forecast, and the plan."""

    request: ForecastRequest
    now: pd.Timestamp
    history: pd.Series
    kind: str
    scores: Mapping[str, CandidateScore]
    fallback_reason: str | None
    forecast: Forecast
    plan: Plan
    effects: known_events.EventEffects | None = None
    tokens: TokenDemand | None = None
    calibration: str = "the model's own residuals"  # where the quantile band came from
    anchor: str | None = None  # the choice and seasonal naive's share per weekday, when ``auto`` mixed them
    policy_source: str = "configured"  # or "tuned": the daemon's self-tuned quantile and buffer
    policy_reason: str | None = None  # the tuning's one line, when tuned


def at_model_step(history: Binned, step_s: int) -> Binned:
    """``history`` (a series, or token columns) averaged per model step of ``step_s`` seconds:
    bins on the epoch grid, labelled by their start, each the mean of the points present in it; a
    bin with none stays NaN (missing, not zero). The daemon's training history and the replay's
    are averaged here, so a backtest trains on exactly what the daemon trains on."""
    step = f"{step_s}s"
    return history.resample(step).mean().asfreq(step)


def training_window(history: pd.Series, now: pd.Timestamp, train_days: float) -> pd.Series:
    """The bins of ``history`` that end at or before ``now``, at most ``train_days`` of them."""
    step = pd.Timedelta(history.index.freq) if history.index.freq is not None else pd.Timedelta(0)
    start = now - pd.Timedelta(seconds=train_days * DAY_S)
    window = history[(history.index >= start) & (history.index + step <= now)]
    if window.notna().sum() == 0:
        raise ForecastError(f"no history before {now:%Y-%m-%d %H:%M} UTC in the {train_days:g}-day window")
    return window


def choose_and_fit(
    history: pd.Series, request: ForecastRequest, *, seed: int = 0, budget_s: float | None = None
) -> Selection:
    """``model: auto`` runs the backtest; a named model is fitted as asked, with scores for context.

    ``budget_s`` (seconds, None: no limit) bounds the backtest: the candidates not started by then
    are skipped with the reason (see :class:`~predictor.forecasting.selection.SelectionSettings`).

    The scores are computed at the horizons that matter for pre-warming: from the lead time, in
    two buckets of equal weight, up to 45 minutes past it and up to about four hours past it.
    The past windows of the request's events are left out of the history first.
    """
    history = known_events.training_history(history, request.events)
    lead = int(request.lead_time_s)
    settings = SelectionSettings(
        horizons_s=(lead, lead + 2_700, lead + 13_500), quantile=request.quantile, budget_s=budget_s
    )
    if request.model == AUTO:
        return select_model(history, settings=settings, seed=seed)
    registry.make_forecaster(request.model)  # unknown names fail here, clearly
    # the model asked for, alone: no combination, no anchor
    named = replace(settings, candidates=(request.model,), ensemble=False, anchor=False)
    selection = select_model(history, settings=named, seed=seed)
    if selection.kind == request.model:
        return selection
    try:
        model = registry.make_forecaster(request.model).fit(history, seed=seed)
    except ForecastError as e:
        return replace(selection, fallback_reason=f"{request.model} could not be fitted: {e}")
    note = "the model's own residuals"
    floor = calibration.short_history_floor(model, history)  # as a chosen model gets it
    note = f"{note}; {floor}" if floor else note
    return replace(selection, kind=request.model, model=model, fallback_reason=None, calibration=note)


def fit_token_series(
    selection: Selection,
    frame: pd.DataFrame | None,
    request: ForecastRequest,
    now: pd.Timestamp,
    *,
    seed: int = 0,
    problems: tuple[str, ...] = (),
) -> TokenModels | None:
    """The token models of a token-aware ``request`` (``None`` for one sized on the rate alone):
    each token column of ``frame`` fitted with the request rate's model kind, on the same window."""
    if request.tokens is None:
        return None
    kind = token_kind(selection.kind, selection.scores)
    return fit_token_models(frame, kind, fit=token_fitter(request, now, kind, seed=seed), problems=problems)


def token_fitter(
    request: ForecastRequest, now: pd.Timestamp, kind: str, *, seed: int = 0
) -> Callable[[pd.Series], FittedModel]:
    """How a token series is trained: ``kind`` on the same window, chosen and calibrated as a
    named model is (:func:`choose_and_fit`: its quantiles from its own backtest, like the rate's)."""
    named = replace(request, policy=replace(request.policy, model=kind))

    def fit(series: pd.Series) -> FittedModel:
        return choose_and_fit(training_window(series, now, request.train_days), named, seed=seed).model

    return fit


def predict_and_plan(
    model: FittedModel,
    request: ForecastRequest,
    now: pd.Timestamp,
    state: FloorState,
    *,
    holiday_level: ev.HolidayLevel | None = None,
    token_models: TokenModels | None = None,
) -> tuple[Forecast, Plan]:
    """Forecast from ``now`` over the horizon plus the lead time with a fitted model, and plan the floor.

    The forecast reaches one hold window further (a cold start plus KEDA's scale-down window), so
    that the planner sees whether a need comes back before it lowers the floor at the horizon's end.
    A token-aware request is sized on its token forecasts (none fitted: the profile's lengths).
    """
    forecast, _, plan, _ = predict_demand_and_plan(
        model, request, now, state, holiday_level=holiday_level, token_models=token_models
    )
    return forecast, plan


def predict_demand_and_plan(
    model: FittedModel,
    request: ForecastRequest,
    now: pd.Timestamp,
    state: FloorState,
    *,
    holiday_level: ev.HolidayLevel | None = None,
    token_models: TokenModels | None = None,
) -> tuple[Forecast, TokenDemand | None, Plan, known_events.EventEffects]:
    """:func:`predict_and_plan`, with the token-aware demand it planned on (``None`` without) and
    what the request's known events did.

    The events' rate effects apply after the forecast's plausibility clamp; the floor limits and the
    events' sentences go to the planner. ``holiday_level`` is the training history's (see
    :func:`predictor.runtime.events.holiday_level`); without it a holiday is forecast like its
    fallback weekday. The token work is sized on the forecast after the events' effects on the rate,
    and the token series follow the rate's change in proportion (lengths per request unchanged).
    """
    step = pd.Timedelta(seconds=request.step_s)
    rules = request.policy.floor.rules
    hold_s = request.cold_start.seconds + rules.scale_down_window_s
    periods = math.ceil((request.horizon_s + request.lead_time_s + hold_s) / request.step_s) + 1
    raw = model.predict(now.floor(step), periods, request.quantiles)
    forecast, effects = known_events.apply_events(
        model, raw, request.events, step_s=request.step_s, holiday_level=holiday_level
    )
    tokens = None
    if request.tokens is not None:
        models = token_models or TokenModels(reasons=("the token series have no fitted model yet",))
        tokens = token_demand(
            forecast,
            models,
            request.tokens,
            request.quantile,
            request.quantiles,
            before_events=raw if effects.any else None,
        )
    plan = plan_floor(
        known_events.with_limits(demand_of(forecast, request.quantile, tokens), effects),
        request.pod,
        policy=request.policy.floor,
        cold_start=request.cold_start,
        bounds=request.bounds,
        state=state,
        now=now,
    )
    return forecast, tokens, plan, effects


def demand_of(forecast: Forecast, quantile: float, tokens: TokenDemand | None = None) -> Demand:
    """The planner's view of a forecast: the sizing quantile, the median, and the quantile's clamps;
    with ``tokens``, the work each point asks of the role and the sentences on how it was sized."""
    label = quantile_label(quantile)
    return Demand(
        forecast.index,
        forecast.quantile(quantile),
        quantile,
        median=forecast.quantile(0.5) if any(abs(q - 0.5) < 1e-9 for q in forecast.quantiles) else None,
        clamps=tuple(c.describe() for c in forecast.clamps if c.series == label),
        work=None if tokens is None else tokens.work,
        work_median=None if tokens is None else tokens.median_work,
        notes=() if tokens is None else demand_notes(tokens),
    )


def forecast_target(
    history: pd.Series,
    request: ForecastRequest,
    now: pd.Timestamp,
    *,
    state: FloorState | None = None,
    seed: int = 0,
    token_history: pd.DataFrame | None = None,
    token_problems: tuple[str, ...] = (),
) -> TargetForecast:
    """Train on the history before ``now``, forecast from ``now``, and plan the floor.

    ``state`` is the floor in force (default: the baseline, nothing raised yet). ``token_history``
    holds the token series of a token-aware request (columns of :mod:`predictor.capacity.demand`;
    a column that is not there is absent, and its length comes from the profile);
    ``token_problems`` are sentences on token series that could not be read, carried into reasons.
    """
    return forecast_targets(
        history,
        (request,),
        now,
        states=None if state is None else (state,),
        seed=seed,
        token_history=token_history,
        token_problems=token_problems,
    )[0]


def forecast_targets(
    history: pd.Series,
    requests: Sequence[ForecastRequest],
    now: pd.Timestamp,
    *,
    states: Sequence[FloorState] | None = None,
    seed: int = 0,
    token_history: pd.DataFrame | None = None,
    token_problems: tuple[str, ...] = (),
) -> list[TargetForecast]:
    """:func:`forecast_target` for the targets of one service: one model choice and one fit of each
    series, from the first request's policy and events (a service's targets share its forecast
    settings), then a plan per request with its own pod, cold start, bounds, floor in force and
    known events, their holidays measured against the history on the request's own calendars."""
    first = requests[0]
    train = training_window(history, now, first.train_days)
    selection = choose_and_fit(train, first, seed=seed)
    token_request = next((r for r in requests if r.tokens is not None), None)
    token_models = (
        None
        if token_request is None
        else fit_token_series(
            selection, token_history, token_request, now, seed=seed, problems=token_problems
        )
    )
    out = []
    for i, request in enumerate(requests):
        state = states[i] if states is not None else FloorState(request.bounds.baseline)
        level = known_events.holiday_level(train, request.events)  # each role's own calendars
        forecast, tokens, plan, effects = predict_demand_and_plan(
            selection.model, request, now, state, holiday_level=level, token_models=token_models
        )
        out.append(
            TargetForecast(
                request=request,
                now=now,
                history=train,
                kind=selection.kind,
                scores=selection.scores,
                fallback_reason=selection.fallback_reason,
                forecast=forecast,
                plan=plan,
                effects=effects,
                tokens=tokens,
                calibration=selection.calibration,
                anchor=selection.anchor,
            )
        )
    return out
