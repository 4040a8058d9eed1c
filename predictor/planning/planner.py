"""The pre-warm planner (pure): forecast quantiles -> the floor now and the planned floor timeline.

For each moment ``t`` the pods needed are those the forecast's upper quantile asks for anywhere
in ``[t, t + L]``: a pod asked for at ``t`` is Ready at ``t + L``. That need is clamped to the
bounds (never below the baseline, never above maxReplicaCount or the cap; the baseline wins if
the two cross) and then smoothed by the step rules: raise at once; lower only once the cooldown
since the last raise has passed, no more often than the step-down interval, and by at most
``max_step_down_pods`` at a time. Where the forecast is missing the floor holds: missing is
never zero. Every change carries a sentence a person can read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from predictor.capacity import PodModel, pods_for_rates
from predictor.errors import PlanningError
from predictor.planning.leadtime import ColdStart
from predictor.planning.policy import FloorPolicy, StepRules

KEDA_DEFAULT_MAX_REPLICAS = 100


@dataclass(frozen=True)
class Bounds:
    """Limits of the floor: the user's baseline (their minReplicaCount), maxReplicaCount, a cap."""

    baseline: int
    max_replicas: int = KEDA_DEFAULT_MAX_REPLICAS
    cap: int | None = None

    def __post_init__(self) -> None:
        if self.baseline < 0 or self.max_replicas < 1 or (self.cap is not None and self.cap < 1):
            raise PlanningError(f"invalid bounds: {self}")

    @property
    def upper(self) -> int:
        """The highest floor allowed; never below the baseline."""
        limit = self.max_replicas if self.cap is None else min(self.max_replicas, self.cap)
        return max(limit, self.baseline)

    def clamp(self, pods: int) -> int:
        return min(max(pods, self.baseline), self.upper)

    def capped(self, cap: int | None) -> Bounds:
        """These bounds with a policy's cap applied too (the tighter cap wins)."""
        if cap is None:
            return self
        return Bounds(self.baseline, self.max_replicas, cap if self.cap is None else min(cap, self.cap))


@dataclass(frozen=True)
class FloorState:
    """What the planner remembers between two reconciles."""

    floor: int
    last_raise_at: pd.Timestamp | None = None
    last_lower_at: pd.Timestamp | None = None


@dataclass(frozen=True)
class PlannedChange:
    """One change of the floor, when it happens, and why."""

    at: pd.Timestamp
    kind: Literal["raise", "lower"]
    from_pods: int
    to_pods: int
    reason: str


@dataclass(frozen=True)
class Plan:
    """The floor now and its planned timeline over the horizon (index in UTC, one point per step).

    ``need`` is the pods the forecast asks for within each point's lead-time window (NaN where
    the forecast is missing), before bounds and step rules; ``floor`` is the planned floor.
    """

    now: pd.Timestamp
    index: pd.DatetimeIndex
    need: np.ndarray
    floor: np.ndarray
    changes: tuple[PlannedChange, ...]
    state: FloorState
    lead_time_s: float

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
    """The forecast side of the plan: one quantile of the request rate, req/s, NaN = missing."""

    index: pd.DatetimeIndex
    rates: np.ndarray
    quantile: float

    @property
    def label(self) -> str:
        return f"p{self.quantile * 100:g}"


def _clock(t: pd.Timestamp, now: pd.Timestamp) -> str:
    return f"{t:%H:%M}" if t.date() == now.date() else f"{t:%a %H:%M}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _window_need(required: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Max of ``required`` over each forward window of ``width`` points, and where it is (NaN-aware)."""
    windows = np.lib.stride_tricks.sliding_window_view(required, width)
    filled = np.where(np.isnan(windows), -np.inf, windows)
    where = filled.argmax(axis=1)
    need = filled.max(axis=1)
    need[np.isneginf(need)] = np.nan
    return need, where + np.arange(len(need))


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

    ``demand`` must cover ``now`` and at least the lead time after it, on a regular index.
    ``state.floor`` is the floor in force now (e.g. the applied minReplicaCount). ``bounds``
    come from the ScaledObject; the policy's cap tightens them.
    """
    utilization, buffer, margin_s, rules = policy.utilization, policy.buffer, policy.margin_s, policy.rules
    bounds = bounds.capped(policy.cap)
    index = demand.index
    if len(index) < 2 or index.freq is None:
        raise PlanningError("the forecast needs a regular index with a frequency")
    step_s = pd.Timedelta(index.freq).total_seconds()
    start = np.searchsorted(index, now, side="right") - 1
    if start < 0:
        raise PlanningError(f"the forecast starts at {index[0]}, after now ({now})")
    lead_s = cold_start.lead_time_s(margin_s)
    width = math.ceil(lead_s / step_s) + 1
    rates = np.asarray(demand.rates, dtype=float)[start:]
    if len(rates) < width:
        raise PlanningError(
            f"the forecast reaches {_minutes((len(rates) - 1) * step_s)} past now, less than the lead time "
            f"{_minutes(lead_s)}; forecast further ahead"
        )
    required = pods_for_rates(rates, model, utilization=utilization, buffer=buffer)
    need, peak_at = _window_need(required, width)
    times = index[start : start + len(need)]

    floor = state.floor
    last_raise, last_lower = state.last_raise_at, state.last_lower_at
    changes: list[PlannedChange] = []
    floors = np.empty(len(need))
    state_after = state
    cold = f"cold start {_minutes(cold_start.seconds)} + margin {_minutes(margin_s)}"
    moments = list(times)  # plain Timestamps: indexing a DatetimeIndex in the loop is slow
    for i, raw in enumerate(need):
        t = now if i == 0 else moments[i]
        known = not np.isnan(raw)
        target = bounds.clamp(int(raw)) if known else bounds.clamp(floor)
        change: PlannedChange | None = None
        if target > floor:
            if known and raw >= target:
                p = int(peak_at[i])
                capped = f"; capped at {bounds.upper}" if raw > bounds.upper else ""
                reason = (
                    f"{demand.label} forecast {rates[p]:,.0f} req/s at {_clock(index[start + p], now)} needs "
                    f"{int(required[p])} pods; {cold}; raising {floor} → {target} at {_clock(t, now)}{capped}"
                )
            else:
                reason = f"the baseline is {bounds.baseline}; raising {floor} → {target} at {_clock(t, now)}"
            change = PlannedChange(t, "raise", floor, target, reason)
            last_raise = t
        elif floor > bounds.upper:
            # Safety beats the step rules: a floor above the bound comes down at once.
            reason = (
                f"the upper bound is {bounds.upper}; lowering {floor} → {bounds.upper} at {_clock(t, now)}"
            )
            change = PlannedChange(t, "lower", floor, bounds.upper, reason)
            last_lower = t
        elif known and target < floor and _may_lower(t, last_raise, last_lower, rules):
            lowered = max(target, floor - rules.max_step_down_pods)
            since = (
                ""
                if last_raise is None
                else f"{_minutes((t - last_raise).total_seconds())} since the last raise; "
            )
            floor_note = f" (the baseline is {bounds.baseline})" if raw < bounds.baseline else ""
            steps = f" (at most {rules.max_step_down_pods} per step)" if lowered > target else ""
            reason = (
                f"{demand.label} forecast needs at most {int(raw)} pods until "
                f"{_clock(t + pd.Timedelta(seconds=lead_s), now)}{floor_note}; {since}"
                f"lowering {floor} → {lowered} at {_clock(t, now)}{steps}"
            )
            change = PlannedChange(t, "lower", floor, lowered, reason)
            last_lower = t
        if change is not None:
            changes.append(change)
            floor = change.to_pods
        floors[i] = floor
        if i == 0:
            state_after = FloorState(floor, last_raise, last_lower)
    return Plan(
        now=now,
        index=times,
        need=need,
        floor=floors,
        changes=tuple(changes),
        state=state_after,
        lead_time_s=lead_s,
    )


def _may_lower(
    t: pd.Timestamp, last_raise: pd.Timestamp | None, last_lower: pd.Timestamp | None, rules: StepRules
) -> bool:
    cooled = last_raise is None or (t - last_raise).total_seconds() >= rules.cooldown_s
    spaced = last_lower is None or (t - last_lower).total_seconds() >= rules.step_down_interval_s
    return cooled and spaced
