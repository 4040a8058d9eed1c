"""The predictive floor for a replay, using only data from before each simulated moment.

Every ``retrain_every_s`` the model is chosen and fitted on the ``train_days`` before that moment
(at the model step); every ``reconcile_every_s`` a fresh forecast from that model is planned
with the planner's carried state (cooldown, step-down timing), exactly as the daemon does.
Nothing after the simulated "now" is ever seen by the model or the planner.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from predictor.capacity import PodModel
from predictor.errors import ForecastError
from predictor.forecasting import registry
from predictor.planning import Bounds, ColdStart, FloorState, StepRules
from predictor.planning.planner import Demand, plan_floor
from predictor.runtime.forecast import AUTO, ForecastRequest, choose_and_fit, training_window


@dataclass(frozen=True)
class PredictiveSettings:
    """How the predictive policy runs in the replay (durations in seconds)."""

    model: str = "auto"
    quantile: float = 0.9
    train_days: float = 28.0
    retrain_every_s: int = 86_400
    reconcile_every_s: int = 60
    step_s: int = 300
    buffer: float = 0.0
    margin_s: float = 120.0
    cooldown_s: float = 1_800.0
    max_step_down_pods: int = 2
    step_down_interval_s: float = 300.0


@dataclass(frozen=True)
class PredictiveRun:
    """The floor per replay step, the forecast that drove it, and the models used."""

    floor: np.ndarray
    forecast: np.ndarray  # the quantile forecast for each step, made one lead time before it
    forecast_mean: np.ndarray  # the mean forecast, made at the same moment
    fits: tuple[tuple[pd.Timestamp, str], ...]  # (when, chosen model kind)


def predictive_floor(
    load: pd.Series,
    start: pd.Timestamp,
    *,
    pod: PodModel,
    utilization: float,
    cold_start: ColdStart,
    bounds: Bounds,
    settings: PredictiveSettings,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> PredictiveRun:
    """The floor over ``load[start:]`` (a regular UTC series, req/s, NaN = missing)."""
    replay = load[load.index >= start]
    step = pd.Timedelta(load.index.freq)
    history = load.resample(f"{settings.step_s}s").mean()  # NaN stays NaN: missing bins are not zero
    request = ForecastRequest(
        name="replay",
        model=settings.model,
        quantile=settings.quantile,
        horizon_s=0,
        step_s=settings.step_s,
        train_days=settings.train_days,
        pod=pod,
        utilization=utilization,
        buffer=settings.buffer,
        cold_start=cold_start,
        margin_s=settings.margin_s,
        bounds=bounds,
        rules=StepRules(settings.cooldown_s, settings.max_step_down_pods, settings.step_down_interval_s),
    )
    if settings.model != AUTO:
        registry.make_forecaster(settings.model)  # an unknown name fails here, not silently per retrain
    lead = pd.Timedelta(seconds=request.lead_time_s)
    periods = math.ceil(request.lead_time_s / settings.step_s) + 2
    n = len(replay)
    floor = np.full(n, float(bounds.baseline))
    forecast = np.full(n, np.nan)
    forecast_mean = np.full(n, np.nan)
    every = max(1, round(settings.reconcile_every_s / step.total_seconds()))
    state = FloorState(bounds.baseline)
    model, fitted_at, fits = None, None, []
    predicted, predicted_key = None, None
    for i in range(0, n, every):
        now = replay.index[i]
        if fitted_at is None or (now - fitted_at).total_seconds() >= settings.retrain_every_s:
            try:
                selection = choose_and_fit(
                    training_window(history, now, settings.train_days), request, seed=seed
                )
                model, fitted_at, predicted_key = selection.model, now, None
                fits.append((now, selection.kind))
            except ForecastError:
                pass  # too little history yet, or a failed fit: keep the last model, as the daemon does
        if model is not None:
            bin_start = now.floor(f"{settings.step_s}s")
            if predicted is None or predicted_key != bin_start:  # one forecast per model step
                predicted = model.predict(bin_start, periods, (0.5, settings.quantile))
                predicted_key = bin_start
            q = predicted.quantile(settings.quantile)
            plan = plan_floor(
                Demand(predicted.index, q, settings.quantile),
                pod,
                utilization=utilization,
                buffer=settings.buffer,
                cold_start=cold_start,
                margin_s=settings.margin_s,
                bounds=bounds,
                rules=request.rules,
                state=state,
                now=now,
            )
            state = plan.state
            # Record what this forecast says about the moment one lead time ahead.
            ahead = replay.index.searchsorted(now + lead)
            if ahead < n:
                bin_at = predicted.index.searchsorted(replay.index[ahead], side="right") - 1
                forecast[ahead : ahead + every] = q[bin_at]
                forecast_mean[ahead : ahead + every] = predicted.mean[bin_at]
        floor[i : i + every] = state.floor
        if progress is not None:
            progress(min(i + every, n), n)
    return PredictiveRun(floor, forecast, forecast_mean, tuple(fits))
