"""The pre-warm planner (pure): forecast quantiles -> the floor now and the planned floor timeline.

Sizing. A pod asked for at ``t`` is Ready at ``t + L`` (the lead time), so the floor at ``t`` must
cover what the forecast's upper quantile asks for anywhere in ``[t, t + L]``. The floor is sized
for no shortfall, not for KEDA's utilisation target: ``ceil(rate × D × (1 + buffer) / (C ×
floor_utilization))`` pods, with ``floor_utilization`` near 1, while KEDA keeps adding its own
headroom above the floor as load arrives. The buffer scales the demand before rounding, so a
small floor is never doubled by it (``predictor plan`` shows the capacity formula's
``ceil(ceil(x) × (1 + b))``, which can differ from the floor's ``ceil(x × (1 + b))`` by one pod).

Step rules (:mod:`.steps`). The need is clamped to the bounds (never below the baseline, never above
maxReplicaCount or the cap; the baseline wins if the two cross); the floor is raised at once; it
is lowered only once the cooldown since the last raise has passed, no more often than the
step-down interval, by at most ``max_step_down_pods`` at a time, and never below what the need
comes back to within a cold start plus KEDA's scale-down window (those pods would be started
cold again minutes later). Where the forecast is missing the floor holds: missing is never zero.
Every change carries a sentence a person can read, including any clamp of the forecast.

Floor limits of known events. ``Demand.min_pods`` / ``Demand.max_pods`` (pods per point, NaN
where no event applies) bound what each point asks for before the lead-time window is taken, so
a ``min_floor`` from 09:00 raises the floor one lead time before 09:00, exactly like a forecast
peak, and the floor comes down after it by the step rules. A ``min_floor`` counts even where the
forecast is missing (the operator's number is known); a ``max_floor`` only lowers a known need.
The reasons name the events that cover the moment they are about (``Demand.event_notes``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from predictor.capacity import PodModel, pods_for_rates
from predictor.capacity.demand import pods_for_work
from predictor.errors import PlanningError
from predictor.planning.leadtime import ColdStart
from predictor.planning.policy import FloorPolicy, StepRules
from predictor.planning.steps import Bounds, Context, FloorState, Need, PlannedChange, apply, decide, minutes


@dataclass(frozen=True)
class Plan:
    """The floor now and its planned timeline over the horizon (index in UTC, one point per step).

    ``need`` is the pods the forecast asks for within each point's lead-time window (NaN where
    the forecast is missing), before bounds and step rules; ``floor`` is the planned floor.
    ``clamps`` describe the cuts of the sizing quantile to its plausibility bound (empty if none).
    """

    now: pd.Timestamp
    index: pd.DatetimeIndex
    need: np.ndarray
    floor: np.ndarray
    changes: tuple[PlannedChange, ...]
    state: FloorState
    lead_time_s: float
    clamps: tuple[str, ...] = ()

    @property
    def floor_now(self) -> int:
        return int(self.floor[0])

    @property
    def change_now(self) -> PlannedChange | None:
        """The change to apply at this reconcile, if any."""
        return next((c for c in self.changes if c.at == self.now), None)

    def next_change(self) -> PlannedChange | None:
        """The first change planned after now."""
        return next((c for c in self.changes if c.at > self.now), None)

    def next_raise(self) -> PlannedChange | None:
        """When pre-warming starts next: the first raise planned after now."""
        return next((c for c in self.changes if c.kind == "raise" and c.at > self.now), None)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"need": self.need, "floor": self.floor}, index=self.index)


@dataclass(frozen=True)
class Demand:
    """The forecast side of the plan: one quantile of the request rate, req/s, NaN = missing.

    ``median`` (the p50, same index) is needed only to size a ``pooled`` window; ``clamps`` are
    one-line descriptions of the forecast's cuts to its plausibility bound, carried into reasons.
    ``min_pods`` / ``max_pods`` are the known events' floor limits per point (pods, NaN = none);
    ``event_notes`` are ``(start, end, sentence)`` per event window, named in the reasons of the
    changes whose moment the window covers.

    Token-aware sizing gives ``work`` too: at each point the pods that would be busy at full
    utilisation (:func:`~predictor.capacity.demand.size_role` at u = 1), which the floor is then
    sized on instead of ``rate × D / C`` (``work_median`` for a ``pooled`` window); ``rates`` stay
    the request rate that reasons quote. ``notes`` are sentences carried into every reason.
    """

    index: pd.DatetimeIndex
    rates: np.ndarray
    quantile: float
    median: np.ndarray | None = None
    clamps: tuple[str, ...] = ()
    min_pods: np.ndarray | None = None
    max_pods: np.ndarray | None = None
    event_notes: tuple[tuple[pd.Timestamp, pd.Timestamp, str], ...] = ()
    work: np.ndarray | None = None
    work_median: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"p{self.quantile * 100:g}"


def limit_pods(required: np.ndarray, min_pods: np.ndarray | None, max_pods: np.ndarray | None) -> np.ndarray:
    """Pods per point within the events' limits: at least ``min_pods`` (even where ``required`` is
    missing), at most ``max_pods`` (only where ``required`` is known); NaN limits do nothing."""
    out = np.asarray(required, dtype=float)
    if max_pods is not None:
        with np.errstate(invalid="ignore"):
            out = np.where(np.isnan(max_pods) | np.isnan(out), out, np.minimum(out, max_pods))
    if min_pods is not None:
        out = np.fmax(out, min_pods)
    return out


def floor_pods(rates: np.ndarray, model: PodModel, policy: FloorPolicy) -> np.ndarray:
    """Pods the floor needs per rate: ``ceil(rate × D × (1 + buffer) / (C × floor_utilization))``.

    NaN (missing) rates stay NaN. The buffer scales the demand before rounding.
    """
    scaled = np.asarray(rates, dtype=float) * (1.0 + policy.buffer)
    return pods_for_rates(scaled, model, utilization=policy.floor_utilization)


def hold_steps(cold_start: ColdStart, rules: StepRules, step_s: float) -> int:
    """Points after a moment in which a returning need blocks a lowering."""
    return math.ceil((cold_start.seconds + rules.scale_down_window_s) / step_s)


def window_width(cold_start: ColdStart, policy: FloorPolicy, step_s: float) -> int:
    """Points in one lead-time window ``[t, t + L]``."""
    return math.ceil(cold_start.lead_time_s(policy.margin_s) / step_s) + 1


def _forward_max(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Max over each forward window of ``width`` points along the last axis, and where it is.

    NaN-aware: a window with no value gives NaN. Works on one forecast or a stack of them.
    """
    windows = np.lib.stride_tricks.sliding_window_view(values, width, axis=-1)
    filled = np.where(np.isnan(windows), -np.inf, windows)
    where = filled.argmax(axis=-1)
    peak = filled.max(axis=-1)
    peak[np.isneginf(peak)] = np.nan
    return peak, where + np.arange(peak.shape[-1])


def _limit_window(
    need: np.ndarray, min_pods: np.ndarray | None, max_pods: np.ndarray | None, width: int
) -> np.ndarray:
    """A pooled window's need within the events' limits: at most the window's highest
    ``max_floor`` (no cap if any point of it has none), at least its highest ``min_floor``."""
    if max_pods is not None:
        cap = _forward_max(np.where(np.isnan(max_pods), np.inf, max_pods), width)[0]
        need = np.where(np.isnan(need), need, np.minimum(need, cap))
    if min_pods is not None:
        need = np.fmax(need, _forward_max(min_pods, width)[0])
    return need


def _hold_max(need: np.ndarray, steps: int) -> np.ndarray:
    """Max of ``need`` over ``[i, i + steps]`` along the last axis, truncated at the end."""
    padded = np.concatenate([need, np.full((*need.shape[:-1], steps), np.nan)], axis=-1)
    return _forward_max(padded, steps + 1)[0]


def _pooled_rates(q: np.ndarray, median: np.ndarray, level: float, width: int) -> np.ndarray:
    """The ``level`` quantile of the demand pooled over each forward window (log-normal per point).

    Each point's distribution is log-normal through its median and its ``level`` quantile; the
    pooled quantile solves ``mean_i F_i(x) = level`` by bisection (it lies between the window's
    smallest and largest per-point quantile). Missing points are left out.
    """
    qw = np.lib.stride_tricks.sliding_window_view(q, width, axis=-1)
    mw = np.lib.stride_tricks.sliding_window_view(median, width, axis=-1)
    known = ~np.isnan(qw)
    z = float(special.ndtri(level))
    spread = (mw > 0) & (qw > mw)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.where(spread, np.log(qw / mw) / z, 1.0)
        mu = np.where(spread, np.log(mw), 0.0)
    empty = ~known.any(axis=-1)
    lo = np.where(empty, 0.0, np.min(np.where(known, qw, np.inf), axis=-1))
    hi = np.where(empty, 0.0, np.max(np.where(known, qw, -np.inf), axis=-1))
    count = np.maximum(known.sum(axis=-1), 1)
    for _ in range(40):
        mid = (lo + hi) / 2
        x = mid[..., None]
        with np.errstate(divide="ignore", invalid="ignore"):
            smooth = special.ndtr((np.log(x) - mu) / sigma)
        cdf = np.where(spread, smooth, (x >= qw).astype(float))
        below = np.where(known, cdf, 0.0).sum(axis=-1) / count < level
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.where(empty, np.nan, hi)


@dataclass(frozen=True)
class NeedSeries:
    """:class:`Need` for every point of a plan, as arrays (see :func:`needs`)."""

    pods: np.ndarray
    hold_pods: np.ndarray
    rate: np.ndarray
    peak_at: np.ndarray  # index (from the plan's start) of the point the window peaks at
    peak_pods: np.ndarray
    limited: np.ndarray | None = None  # per point: an event's min_floor sets peak_pods

    def at(self, i: int, moments: list[pd.Timestamp]) -> Need:
        p = int(self.peak_at[i])
        return Need(
            float(self.pods[i]),
            float(self.hold_pods[i]),
            float(self.rate[i]),
            moments[p],
            int(self.peak_pods[i]),
            bool(self.limited[i]) if self.limited is not None else False,
        )


def needs(
    demand: Demand, model: PodModel, *, policy: FloorPolicy, cold_start: ColdStart, start: int = 0
) -> NeedSeries:
    """What the forecast asks of the floor at each point from ``start`` (see :class:`Need`)."""

    def tail(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.asarray(values, dtype=float)[start:]

    rates = tail(demand.rates)
    assert rates is not None
    return stacked_needs(
        rates,
        tail(demand.median),
        demand.quantile,
        model,
        policy=policy,
        cold_start=cold_start,
        step_s=pd.Timedelta(demand.index.freq).total_seconds(),
        min_pods=tail(demand.min_pods),
        max_pods=tail(demand.max_pods),
        work=tail(demand.work),
        work_median=tail(demand.work_median),
    )


def stacked_needs(
    rates: np.ndarray,
    median: np.ndarray | None,
    quantile: float,
    model: PodModel,
    *,
    policy: FloorPolicy,
    cold_start: ColdStart,
    step_s: float,
    min_pods: np.ndarray | None = None,
    max_pods: np.ndarray | None = None,
    work: np.ndarray | None = None,
    work_median: np.ndarray | None = None,
) -> NeedSeries:
    """:func:`needs` on the last axis of ``rates`` (req/s): one forecast, or a stack of them.

    ``pods[..., i]`` is the most pods the floor needs in the lead-time window of point ``i`` (NaN
    where the whole window is missing); ``hold_pods[..., i]`` the most of ``pods`` within the hold
    window after it. The replay sizes thousands of forecasts at once through this function, so
    that its floors are the planner's to the pod. ``min_pods`` / ``max_pods`` (same shape, NaN =
    none) are the events' floor limits, applied per point before the window (:func:`limit_pods`).
    With ``work`` (see :class:`Demand`) the pods come from it, and ``rates`` only say which request
    rate the peak had.
    """
    width = window_width(cold_start, policy, step_s)
    # Sized on the work when it is given, else on the request rate: one series, its median and
    # the rule that turns it into pods, for the forecast and the pooled window alike.
    series, middle = (rates, median) if work is None else (work, work_median)

    def size(values: np.ndarray) -> np.ndarray:
        if work is None:
            return floor_pods(values, model, policy)
        return pods_for_work(values, utilization=policy.floor_utilization, buffer=policy.buffer)

    forecast_pods = size(series)
    limited = min_pods is not None or max_pods is not None
    required = limit_pods(forecast_pods, min_pods, max_pods) if limited else forecast_pods
    if policy.window == "pooled":
        if middle is None:
            missing = "median forecast" if work is None else "median of the work"
            raise PlanningError(f"a pooled window needs the {missing} too")
        pooled = _pooled_rates(series, middle, quantile, width)
        need = size(pooled)
        peak_at = _forward_max(series, width)[1]
        # A pooled rate is the rate the reasons quote; pooled work is pods, so they quote the
        # request rate where the work peaks.
        rate = pooled if work is None else np.take_along_axis(rates, peak_at, axis=-1)
        if limited:
            need = _limit_window(need, min_pods, max_pods, width)
        peak_pods = np.nan_to_num(need)
    else:
        need, peak_at = _forward_max(required, width)
        rate = np.take_along_axis(rates, peak_at, axis=-1)
        peak_pods = np.nan_to_num(np.take_along_axis(required, peak_at, axis=-1))
    hold = _hold_max(need, hold_steps(cold_start, policy.rules, step_s))
    bound = None
    if limited:
        at_peak = np.take_along_axis(np.nan_to_num(forecast_pods, nan=-1.0), peak_at, axis=-1)
        bound = np.nan_to_num(np.take_along_axis(required, peak_at, axis=-1)) > at_peak
    return NeedSeries(need, hold, rate, peak_at, peak_pods, bound)


def context(demand: Demand, policy: FloorPolicy, cold_start: ColdStart, bounds: Bounds) -> Context:
    """The shared parts of every reason of a plan (``bounds`` already capped)."""
    notes = "".join(f"; {c}" for c in (*demand.notes, *demand.clamps))
    return Context(
        label=demand.label,
        cold=f"cold start {minutes(cold_start.seconds)} + margin {minutes(policy.margin_s)}",
        lead_s=cold_start.lead_time_s(policy.margin_s),
        hold_s=cold_start.seconds + policy.rules.scale_down_window_s,
        notes=notes,
        bounds=bounds,
        rules=policy.rules,
        events=demand.event_notes,
    )


def plan_floor(
    demand: Demand,
    model: PodModel,
    *,
    policy: FloorPolicy,
    cold_start: ColdStart,
    bounds: Bounds,
    state: FloorState,
    now: pd.Timestamp,
) -> Plan:
    """Plan the floor from ``now`` over the forecast (see the module docstring).

    ``demand`` must cover ``now`` and at least the lead time after it, on a regular index (the
    hold window after that is used where the forecast reaches it). ``state.floor`` is the floor in
    force now (e.g. the applied minReplicaCount). ``bounds`` come from the ScaledObject; the
    policy's cap tightens them.
    """
    bounds = bounds.capped(policy.cap)
    index = demand.index
    if len(index) < 2 or index.freq is None:
        raise PlanningError("the forecast needs a regular index with a frequency")
    step_s = pd.Timedelta(index.freq).total_seconds()
    start = int(np.searchsorted(index, now, side="right")) - 1
    if start < 0:
        raise PlanningError(f"the forecast starts at {index[0]}, after now ({now})")
    lead_s = cold_start.lead_time_s(policy.margin_s)
    width = window_width(cold_start, policy, step_s)
    available = len(index) - start
    if available < width:
        raise PlanningError(
            f"the forecast reaches {minutes((available - 1) * step_s)} past now, less than the lead time "
            f"{minutes(lead_s)}; forecast further ahead"
        )
    series = needs(demand, model, policy=policy, cold_start=cold_start, start=start)
    moments = list(index[start:])  # plain Timestamps: indexing a DatetimeIndex in the loop is slow
    ctx = context(demand, policy, cold_start, bounds)
    changes: list[PlannedChange] = []
    floors = np.empty(len(series.pods))
    state_after = state
    for i in range(len(series.pods)):
        change = decide(series.at(i, moments), state, now if i == 0 else moments[i], now, ctx)
        if change is not None:
            changes.append(change)
            state = apply(state, change)
        floors[i] = state.floor
        if i == 0:
            state_after = state
    return Plan(
        now=now,
        index=index[start : start + len(series.pods)],
        need=series.pods,
        floor=floors,
        changes=tuple(changes),
        state=state_after,
        lead_time_s=lead_s,
        clamps=demand.clamps,
    )
