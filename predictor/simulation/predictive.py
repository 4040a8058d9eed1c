"""The predictive floor for a replay: what the daemon would have done, using only past data.

Two stages, so that floor policies which differ only in how a forecast becomes a floor (quantile,
buffer, floor utilisation) share one forecast run, as they can: the forecast does not depend on
them.

1. :func:`record_forecasts` runs the daemon's forecasting over the replay and keeps every forecast
   it would have planned from (a :class:`ForecastTape`).
2. :func:`replay_floor` runs the planner on that tape, reconcile by reconcile, with its memory
   (cooldown, step-down timing) carried, under one :class:`~predictor.planning.FloorPolicy`.

The daemon's documented behaviour, reproduced here:

- a retrain at the first reconcile and then every ``cadence.retrain_every_s``, on the
  ``policy.train_days`` before that moment at the model step; ``trained_at`` is the end of the
  data the model saw; a failed retrain keeps the last model and is retried one model step later;
- a reconcile every ``cadence.reconcile_every_s``: a forecast from the model step that holds
  ``now``, planned by :func:`~predictor.planning.plan_floor`'s rules with the carried state;
- no model yet: the floor holds; a model older than ``policy.max_forecast_age_s``: the floor
  steps back to the baseline (:func:`~predictor.planning.step_back`).

Known events apply as in the daemon: their past windows are left out of each retrain's history,
their rate effects change each recorded forecast (after its clamp), and their floor limits are
recorded per forecast point and bound what the planner sizes (:mod:`predictor.runtime.events`).

Not reproduced: the daemon's random retrain jitter and its fit time (the replay retrains at
exactly the interval, and the new model is used at once). Nothing after the simulated ``now`` is
ever seen by the model or the planner.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from predictor import events as ev
from predictor.capacity import PodModel
from predictor.errors import ForecastError, PlanningError
from predictor.forecasting import registry
from predictor.forecasting.base import Clamp, quantile_label
from predictor.forecasting.selection import CandidateScore
from predictor.planning import (
    Bounds,
    ColdStart,
    FloorPolicy,
    FloorState,
    PlannedChange,
    planner,
    step_back,
    steps,
)
from predictor.runtime import events as known_events
from predictor.runtime.demand import (
    TOKEN_COLUMNS,
    TokenModels,
    fit_token_models,
    follow_rate,
    rate_ratio,
    token_kind,
)
from predictor.runtime.forecast import (
    AUTO,
    ForecastRequest,
    at_model_step,
    choose_and_fit,
    token_fitter,
    training_window,
)
from predictor.runtime.policy import Cadence, Policy

NO_MODEL, TOO_OLD = -1, -2  # a reconcile without a forecast: hold, or step back to the baseline


@dataclass(frozen=True)
class ForecastTape:
    """Every forecast the daemon would have planned from over a replay.

    ``index`` holds the replayed steps; ``reconciles`` the positions in it where a reconcile ran,
    and ``entry`` per reconcile the row of the forecast it planned from (or ``NO_MODEL`` /
    ``TOO_OLD``). Row ``r`` is a forecast from ``origins[r]`` at the model step: ``rates[q][r]``
    per recorded quantile and ``mean[r]``, req/s, with its plausibility ``clamps[r]``.
    ``min_pods`` / ``max_pods`` (same shape as ``mean``, NaN = none) are the known events' floor
    limits, or None when no event limits the floor.
    ``tokens[column][q][r]`` are the token series' forecasts made at the same moments (tokens/s;
    empty without token history; a row whose token model is missing is NaN).
    """

    index: pd.DatetimeIndex
    reconciles: np.ndarray
    entry: np.ndarray
    origins: pd.DatetimeIndex
    rates: Mapping[float, np.ndarray]
    mean: np.ndarray
    clamps: tuple[tuple[Clamp, ...], ...]
    fits: tuple[tuple[pd.Timestamp, str], ...]
    policy: Policy
    cold_start: ColdStart
    min_pods: np.ndarray | None = None
    max_pods: np.ndarray | None = None
    tokens: Mapping[str, Mapping[float, np.ndarray]] = field(default_factory=dict)

    @property
    def quantiles(self) -> tuple[float, ...]:
        return tuple(sorted(self.rates))

    @property
    def periods(self) -> int:
        return int(self.mean.shape[1])

    def between(self, start: pd.Timestamp, end: pd.Timestamp) -> ForecastTape:
        """The part of the tape for the replayed steps in ``[start, end)`` (rows are shared)."""
        keep = (self.index >= start) & (self.index < end)
        first = int(np.argmax(keep)) if keep.any() else len(self.index)
        chosen = (self.index[self.reconciles] >= start) & (self.index[self.reconciles] < end)
        return replace(
            self,
            index=self.index[keep],
            reconciles=self.reconciles[chosen] - first,
            entry=self.entry[chosen],
            fits=tuple((t, k) for t, k in self.fits if start <= t < end),
        )


@dataclass(frozen=True)
class PredictiveRun:
    """The floor per replay step, the forecast that drove it, and the models used."""

    floor: np.ndarray
    forecast: np.ndarray  # the sizing quantile for each step, forecast one lead time before it
    forecast_mean: np.ndarray  # the mean forecast, made at the same moment
    fits: tuple[tuple[pd.Timestamp, str], ...]  # (when, chosen model kind)
    changes: tuple[PlannedChange, ...] = ()


def tape_periods(policy: Policy, cold_start: ColdStart) -> int:
    """Forecast points a plan looks at from now: the lead-time window plus the hold window."""
    floor = policy.floor
    return planner.window_width(cold_start, floor, policy.step_s) + planner.hold_steps(
        cold_start, floor.rules, policy.step_s
    )


def record_forecasts(
    load: pd.Series,
    start: pd.Timestamp,
    *,
    pod: PodModel,
    cold_start: ColdStart,
    policy: Policy,
    cadence: Cadence,
    quantiles: tuple[float, ...] = (),
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
    reselect: bool = True,
    events: tuple[ev.Event, ...] = (),
    token_history: pd.DataFrame | None = None,
) -> ForecastTape:
    """The forecasts over ``load[start:]`` (a regular UTC series, req/s, NaN = missing).

    ``token_history`` (token columns on ``load``'s index) adds the token series' forecasts: at
    every retrain each is fitted with the request rate's model kind on the same window, as the
    daemon fits them (:func:`predictor.runtime.demand.fit_token_models`).

    ``quantiles`` are recorded besides the policy's own and the median, for other floor policies
    to be replayed on the same tape. ``reselect=False`` chooses the model (``model: auto``) at the
    first retrain only and refits that kind at the later ones: about ten times faster, and no
    longer exactly the daemon's forecasting, which chooses at every retrain. ``events`` are the
    target's known events, applied as the daemon applies them.
    """
    if policy.model != AUTO:
        registry.make_forecaster(policy.model)  # an unknown name fails here, not silently per retrain
    if load.index.freq is None:
        raise PlanningError("the replay needs a regular series with a frequency")
    replay = load[load.index >= start]
    step_s = pd.Timedelta(load.index.freq).total_seconds()
    bin_freq = f"{policy.step_s}s"
    model_step = pd.Timedelta(seconds=policy.step_s)
    history = at_model_step(load, policy.step_s)
    token_bins = None if token_history is None else at_model_step(token_history, policy.step_s)
    token_models = TokenModels()
    scores: Mapping[str, CandidateScore] = {}
    token_series: dict[str, dict[float, list[np.ndarray]]] = {}
    request = ForecastRequest(
        name="replay",
        policy=replace(policy, horizon_s=0),
        pod=pod,
        cold_start=cold_start,
        bounds=Bounds(0),
        events=events,
    )
    periods = tape_periods(policy, cold_start)
    recorded = tuple(sorted({0.5, policy.quantile, *quantiles}))
    n = len(replay)
    every = max(1, round(cadence.reconcile_every_s / step_s))
    moments = list(replay.index)
    positions = np.arange(0, n, every)
    entry = np.empty(len(positions), dtype=int)
    rows: dict[tuple[int, pd.Timestamp], int] = {}
    origins: list[pd.Timestamp] = []
    series: dict[float, list[np.ndarray]] = {q: [] for q in recorded}
    means: list[np.ndarray] = []
    clamps: list[tuple[Clamp, ...]] = []
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    fits: list[tuple[pd.Timestamp, str]] = []
    model, trained_at, attempted_at, failed = None, None, None, False
    level: ev.HolidayLevel | None = None
    for r, i in enumerate(positions):
        now = moments[i]
        since = math.inf if attempted_at is None else (now - attempted_at).total_seconds()
        if since >= cadence.retrain_every_s or (failed and since >= policy.step_s):
            attempted_at = now
            try:
                window = training_window(history, now, policy.train_days)
                if reselect or not fits:
                    selection = choose_and_fit(window, request, seed=seed)
                    fitted, kind, scores = selection.model, selection.kind, selection.scores
                else:
                    kind = fits[-1][1]
                    masked = known_events.training_history(window, events)
                    fitted = registry.make_forecaster(kind).fit(masked, seed=seed)
            except ForecastError:
                failed = True  # too little history yet, or a failed fit: keep the last model
            else:
                model, trained_at, failed = fitted, window.index[-1] + model_step, False
                level = known_events.holiday_level(window, events)
                fits.append((now, kind))
                if token_bins is not None:
                    token = token_kind(kind, scores)
                    fitter = token_fitter(request, now, token, seed=seed)
                    token_models = fit_token_models(token_bins, token, fit=fitter)
        if model is None or trained_at is None:
            entry[r] = NO_MODEL
        elif (now - trained_at).total_seconds() > policy.max_forecast_age_s:
            entry[r] = TOO_OLD
        else:
            key = (len(fits), now.floor(bin_freq))
            if key not in rows:
                predicted = model.predict(key[1], periods, recorded)
                ratio = None
                if events:
                    before = predicted
                    predicted, effects = known_events.apply_events(
                        model, predicted, events, step_s=policy.step_s, holiday_level=level
                    )
                    lows.append(effects.min_pods)
                    highs.append(effects.max_pods)
                    ratio = rate_ratio(predicted, before) if effects.any else None
                rows[key] = len(origins)
                origins.append(key[1])
                for q in recorded:
                    series[q].append(predicted.quantile(q))
                means.append(predicted.mean)
                clamps.append(tuple(predicted.clamps))
                if token_bins is not None:
                    _record_tokens(token_series, token_models, key[1], periods, recorded, ratio)
            entry[r] = rows[key]
        if progress is not None:
            progress(min(int(i) + every, n), n)

    def stack(values: list[np.ndarray]) -> np.ndarray:
        return np.vstack(values) if values else np.empty((0, periods))

    return ForecastTape(
        index=replay.index,
        reconciles=positions,
        entry=entry,
        origins=pd.DatetimeIndex(origins, tz="UTC") if origins else pd.DatetimeIndex([], tz="UTC"),
        rates={q: stack(v) for q, v in series.items()},
        mean=stack(means),
        clamps=tuple(clamps),
        fits=tuple(fits),
        policy=policy,
        cold_start=cold_start,
        min_pods=_limits(lows, periods),
        max_pods=_limits(highs, periods),
        tokens={c: {q: stack(v) for q, v in per.items()} for c, per in token_series.items()},
    )


def _limits(rows: list[np.ndarray], periods: int) -> np.ndarray | None:
    """The stacked floor limits of the recorded forecasts, or None when no point has one."""
    if not rows or all(np.isnan(r).all() for r in rows):
        return None
    return np.vstack(rows).reshape(len(rows), periods)


def _record_tokens(
    out: dict[str, dict[float, list[np.ndarray]]],
    models: TokenModels,
    origin: pd.Timestamp,
    periods: int,
    quantiles: tuple[float, ...],
    ratio: np.ndarray | None = None,
) -> None:
    """One row of each token series' forecasts (NaN where that series has no model), scaled by the
    known events' ``ratio`` on the rate as the daemon scales them (:func:`~predictor.runtime.demand.
    follow_rate`)."""
    for column in TOKEN_COLUMNS:
        model = models.of(column)
        predicted = None if model is None else follow_rate(model.predict(origin, periods, quantiles), ratio)
        per = out.setdefault(column, {q: [] for q in quantiles})
        for q in quantiles:
            per[q].append(np.full(periods, np.nan) if predicted is None else predicted.quantile(q))


def replay_floor(
    tape: ForecastTape,
    floor: FloorPolicy,
    *,
    pod: PodModel,
    bounds: Bounds,
    work: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> PredictiveRun:
    """The planner's floor on every replayed step of ``tape`` under ``floor``.

    ``floor`` may differ from the tape's policy in quantile (one recorded on the tape), buffer,
    floor utilisation and window sizing; its lead time and step rules must fit in the tape's
    forecasts. The first reconcile starts from the baseline, nothing raised yet. ``work`` (per
    row and point, at ``floor``'s quantile and at the median) sizes the floor on a role's
    token-aware work instead of the rates (see :class:`~predictor.planning.Demand`).
    """
    cold, step_s = tape.cold_start, tape.policy.step_s
    if not any(abs(q - floor.quantile) < 1e-9 for q in tape.rates):
        raise PlanningError(f"quantile {floor.quantile} was not recorded on the tape ({tape.quantiles})")
    quantile = next(q for q in tape.rates if abs(q - floor.quantile) < 1e-9)
    need_points = planner.window_width(cold, floor, step_s) + planner.hold_steps(cold, floor.rules, step_s)
    if need_points > tape.periods:
        raise PlanningError(
            f"the tape's forecasts reach {tape.periods} steps; this policy needs {need_points}"
        )
    bounds = bounds.capped(floor.cap)
    rates = tape.rates[quantile]
    median = tape.rates.get(0.5)
    series = planner.stacked_needs(
        rates,
        median,
        floor.quantile,
        pod,
        policy=floor,
        cold_start=cold,
        step_s=step_s,
        min_pods=tape.min_pods,
        max_pods=tape.max_pods,
        work=None if work is None else work[0],
        work_median=None if work is None else work[1],
    )
    pods0, hold0, rate0 = series.pods[:, 0], series.hold_pods[:, 0], series.rate[:, 0]
    peak_pods0 = series.peak_pods[:, 0]
    limited0 = series.limited[:, 0] if series.limited is not None else None
    peak_at = list(tape.origins + pd.to_timedelta(series.peak_at[:, 0] * step_s, unit="s"))
    label = quantile_label(floor.quantile)
    base = planner.context(planner.Demand(tape.origins, rates[:, 0], floor.quantile), floor, cold, bounds)
    contexts = {
        row: replace(base, notes="".join(f"; {c.describe()}" for c in clamps if c.series == label))
        for row, clamps in enumerate(tape.clamps)
        if any(c.series == label for c in clamps)
    }

    n = len(tape.index)
    out = np.full(n, float(bounds.baseline))
    state = FloorState(bounds.baseline)
    changes: list[PlannedChange] = []
    moments = list(tape.index[tape.reconciles]) if len(tape.reconciles) else []
    ends = [*tape.reconciles[1:].tolist(), n]
    # The pods each row asks for, clamped as the planner clamps them: a reconcile whose target is
    # the floor in force (and within the bounds) changes nothing, so the planner is not asked.
    with np.errstate(invalid="ignore"):
        targets = np.where(np.isnan(pods0), -1, np.clip(np.minimum(pods0, bounds.upper + 1), 0, None))
    target_of = [bounds.clamp(int(t)) if t >= 0 else -1 for t in targets.tolist()]
    upper = bounds.upper
    for r, (pos, end) in enumerate(zip(tape.reconciles.tolist(), ends, strict=True)):
        row = int(tape.entry[r])
        if row == TOO_OLD:
            state = step_back(state, bounds, floor.rules, moments[r])
        elif row >= 0:
            target = target_of[row]
            if not ((target == state.floor or target < 0) and bounds.baseline <= state.floor <= upper):
                need = steps.Need(
                    float(pods0[row]),
                    float(hold0[row]),
                    float(rate0[row]),
                    peak_at[row],
                    int(peak_pods0[row]),
                    bool(limited0[row]) if limited0 is not None else False,
                )
                change = steps.decide(need, state, moments[r], moments[r], contexts.get(row, base))
                if change is not None:
                    changes.append(change)
                    state = steps.apply(state, change)
        out[pos:end] = state.floor
    forecast, forecast_mean = _one_lead_ahead(tape, rates)
    return PredictiveRun(out, forecast, forecast_mean, tape.fits, tuple(changes))


def _one_lead_ahead(tape: ForecastTape, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What each reconcile's forecast said about the moment one lead time ahead, per replay step."""
    n = len(tape.index)
    forecast, forecast_mean = np.full(n, np.nan), np.full(n, np.nan)
    if not len(tape.reconciles):
        return forecast, forecast_mean
    times = tape.index.as_unit("ns").asi8  # integer nanoseconds: Timestamps are slow in a loop
    lead_ns = round(tape.cold_start.lead_time_s(tape.policy.floor.margin_s) * 1e9)
    step_ns = round(tape.policy.step_s * 1e9)
    origins = tape.origins.as_unit("ns").asi8
    starts = tape.reconciles
    ends = np.append(starts[1:], n)
    ahead = np.searchsorted(times, times[starts] + lead_ns)
    for r in np.flatnonzero((tape.entry >= 0) & (ahead < n)).tolist():
        row, at = int(tape.entry[r]), int(ahead[r])
        k = (int(times[at]) - int(origins[row])) // step_ns
        if 0 <= k < tape.periods:
            until = at + int(ends[r] - starts[r])
            forecast[at:until] = rates[row, k]
            forecast_mean[at:until] = tape.mean[row, k]
    return forecast, forecast_mean


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
    events: tuple[ev.Event, ...] = (),
) -> PredictiveRun:
    """The floor over ``load[start:]`` under ``policy``: record the forecasts, then replay the floor."""
    tape = record_forecasts(
        load,
        start,
        pod=pod,
        cold_start=cold_start,
        policy=policy,
        cadence=cadence,
        progress=progress,
        seed=seed,
        events=events,
    )
    return replay_floor(tape, policy.floor, pod=pod, bounds=bounds)
