"""The predictive floor for a replay, using only data from before each simulated moment.

Every ``cadence.retrain_every_s`` the model is chosen and fitted on the ``policy.train_days`` before
that moment (at the model step); every ``cadence.reconcile_every_s`` a fresh forecast from that model
is planned with the planner's carried state (cooldown, step-down timing) under the same
:class:`~predictor.runtime.policy.Policy` value the daemon uses.
Nothing after the simulated "now" is ever seen by the model or the planner.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from predictor.capacity import PodModel
from predictor.errors import ForecastError
from predictor.forecasting import registry
from predictor.planning import Bounds, ColdStart, FloorState
from predictor.planning.planner import Demand, plan_floor
from predictor.runtime.forecast import AUTO, ForecastRequest, choose_and_fit, training_window
from predictor.runtime.policy import Cadence, Policy


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
    cold_start: ColdStart,
    bounds: Bounds,
    policy: Policy,
    cadence: Cadence,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> PredictiveRun:
    """The floor over ``load[start:]`` (a regular UTC series, req/s, NaN = missing).

    ``policy`` is the same value the daemon plans with; ``cadence`` its retrain and reconcile
    intervals.
    """
    replay = load[load.index >= start]
    step = pd.Timedelta(load.index.freq)
    history = load.resample(f"{policy.step_s}s").mean()  # NaN stays NaN: missing bins are not zero
    request = ForecastRequest(
        name="replay", policy=replace(policy, horizon_s=0), pod=pod, cold_start=cold_start, bounds=bounds
    )
    if policy.model != AUTO:
        registry.make_forecaster(policy.model)  # an unknown name fails here, not silently per retrain
    lead = pd.Timedelta(seconds=request.lead_time_s)
    periods = math.ceil(request.lead_time_s / policy.step_s) + 2
    n = len(replay)
    floor = np.full(n, float(bounds.baseline))
    forecast = np.full(n, np.nan)
    forecast_mean = np.full(n, np.nan)
    every = max(1, round(cadence.reconcile_every_s / step.total_seconds()))
    state = FloorState(bounds.baseline)
    model, fitted_at, fits = None, None, []
    predicted, predicted_key = None, None
    for i in range(0, n, every):
        now = replay.index[i]
        if fitted_at is None or (now - fitted_at).total_seconds() >= cadence.retrain_every_s:
            try:
                selection = choose_and_fit(
                    training_window(history, now, policy.train_days), request, seed=seed
                )
                model, fitted_at, predicted_key = selection.model, now, None
                fits.append((now, selection.kind))
            except ForecastError:
                pass  # too little history yet, or a failed fit: keep the last model, as the daemon does
        if model is not None:
            bin_start = now.floor(f"{policy.step_s}s")
            if predicted is None or predicted_key != bin_start:  # one forecast per model step
                predicted = model.predict(bin_start, periods, (0.5, policy.quantile))
                predicted_key = bin_start
            q = predicted.quantile(policy.quantile)
            plan = plan_floor(
                Demand(predicted.index, q, policy.quantile),
                pod,
                policy=policy.floor,
                cold_start=cold_start,
                bounds=bounds,
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
