"""Forecast and plan one target from its history, as of a given ``now``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from predictor.capacity import PodModel
from predictor.errors import ForecastError
from predictor.forecasting import registry
from predictor.forecasting.base import DAY_S, FittedModel, Forecast, quantile_label
from predictor.forecasting.selection import CandidateScore, Selection, SelectionSettings, select_model
from predictor.planning import Bounds, ColdStart, Demand, FloorState, Plan, plan_floor
from predictor.runtime.policy import Policy

AUTO = "auto"


@dataclass(frozen=True)
class ForecastRequest:
    """Everything needed to forecast and plan one target: its policy, its pod, cold start and bounds.

    ``bounds`` are the ScaledObject's (baseline and maxReplicaCount); the policy's cap applies on
    top of them when the floor is planned. The properties read through to the policy.
    """

    name: str
    policy: Policy
    pod: PodModel
    cold_start: ColdStart
    bounds: Bounds

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
    """
    lead = int(request.lead_time_s)
    settings = SelectionSettings(
        horizons_s=(lead, lead + 2_700, lead + 13_500), quantile=request.quantile, budget_s=budget_s
    )
    if request.model == AUTO:
        return select_model(history, settings=settings, seed=seed)
    registry.make_forecaster(request.model)  # unknown names fail here, clearly
    named = replace(settings, candidates=(request.model,), ensemble=False)  # the model asked for, alone
    selection = select_model(history, settings=named, seed=seed)
    if selection.kind == request.model:
        return selection
    try:
        model = registry.make_forecaster(request.model).fit(history, seed=seed)
    except ForecastError as e:
        return replace(selection, fallback_reason=f"{request.model} could not be fitted: {e}")
    return replace(selection, kind=request.model, model=model, fallback_reason=None)


def predict_and_plan(
    model: FittedModel, request: ForecastRequest, now: pd.Timestamp, state: FloorState
) -> tuple[Forecast, Plan]:
    """Forecast from ``now`` over the horizon plus the lead time with a fitted model, and plan the floor.

    The forecast reaches one hold window further (a cold start plus KEDA's scale-down window), so
    that the planner sees whether a need comes back before it lowers the floor at the horizon's end.
    """
    step = pd.Timedelta(seconds=request.step_s)
    rules = request.policy.floor.rules
    hold_s = request.cold_start.seconds + rules.scale_down_window_s
    periods = math.ceil((request.horizon_s + request.lead_time_s + hold_s) / request.step_s) + 1
    forecast = model.predict(now.floor(step), periods, request.quantiles)
    plan = plan_floor(
        demand_of(forecast, request.quantile),
        request.pod,
        policy=request.policy.floor,
        cold_start=request.cold_start,
        bounds=request.bounds,
        state=state,
        now=now,
    )
    return forecast, plan


def demand_of(forecast: Forecast, quantile: float) -> Demand:
    """The planner's view of a forecast: the sizing quantile, the median, and the quantile's clamps."""
    label = quantile_label(quantile)
    return Demand(
        forecast.index,
        forecast.quantile(quantile),
        quantile,
        median=forecast.quantile(0.5) if any(abs(q - 0.5) < 1e-9 for q in forecast.quantiles) else None,
        clamps=tuple(c.describe() for c in forecast.clamps if c.series == label),
    )


def forecast_target(
    history: pd.Series,
    request: ForecastRequest,
    now: pd.Timestamp,
    *,
    state: FloorState | None = None,
    seed: int = 0,
) -> TargetForecast:
    """Train on the history before ``now``, forecast from ``now``, and plan the floor.

    ``state`` is the floor in force (default: the baseline, nothing raised yet).
    """
    train = training_window(history, now, request.train_days)
    selection = choose_and_fit(train, request, seed=seed)
    forecast, plan = predict_and_plan(
        selection.model, request, now, state or FloorState(request.bounds.baseline)
    )
    return TargetForecast(
        request=request,
        now=now,
        history=train,
        kind=selection.kind,
        scores=selection.scores,
        fallback_reason=selection.fallback_reason,
        forecast=forecast,
        plan=plan,
    )
