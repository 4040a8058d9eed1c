"""The step rules of the floor (pure): how the floor moves towards what the forecast needs.

The need is clamped to the bounds (never below the baseline, never above maxReplicaCount or the
cap; the baseline wins if the two cross); the floor is raised at once; it is lowered only once
the cooldown since the last raise has passed, no more often than the step-down interval, by at
most ``max_step_down_pods`` at a time, and never below what the need comes back to within a cold
start plus KEDA's scale-down window. Where the need is unknown the floor holds. Every change
carries a sentence a person can read. What a moment needs is sized in :mod:`.planner`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from predictor.errors import PlanningError
from predictor.planning.policy import StepRules

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
class Need:
    """What the forecast asks of the floor at one moment (pods NaN = unknown).

    ``pods`` is the most pods needed within the lead-time window; ``hold_pods`` the most needed
    within the hold window after it (a cold start plus KEDA's scale-down window), which the floor
    is not lowered below; ``rate``/``peak_at``/``peak_pods`` say where the window peaks.
    """

    pods: float
    hold_pods: float
    rate: float
    peak_at: pd.Timestamp | None
    peak_pods: int
    limited: bool = False  # an event's min_floor, not the forecast, sets peak_pods


def clock(t: pd.Timestamp, now: pd.Timestamp) -> str:
    return f"{t:%H:%M}" if t.date() == now.date() else f"{t:%a %H:%M}"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


@dataclass(frozen=True)
class Context:
    """What every reason of one plan shares (made by :func:`predictor.planning.planner.context`)."""

    label: str
    cold: str
    lead_s: float
    hold_s: float
    notes: str
    bounds: Bounds
    rules: StepRules
    events: tuple[tuple[pd.Timestamp, pd.Timestamp, str], ...] = ()

    def events_at(self, t: pd.Timestamp | None) -> str:
        """The sentences of the event windows covering ``t``, each followed by "; " ('' if none)."""
        if t is None:
            return ""
        return "".join(f"{text}; " for start, end, text in self.events if start <= t < end)


def decide(
    need: Need, state: FloorState, t: pd.Timestamp, now: pd.Timestamp, ctx: Context
) -> PlannedChange | None:
    """The floor change at ``t`` given what the forecast needs there and the planner's memory."""
    bounds, rules, floor = ctx.bounds, ctx.rules, state.floor
    raw = need.pods
    known = not math.isnan(raw)
    target = bounds.clamp(_pods(raw, bounds)) if known else bounds.clamp(floor)
    if target > floor:
        if known and raw >= target and need.peak_at is not None:
            capped = f"; capped at {bounds.upper}" if raw > bounds.upper else ""
            asks = "; the events ask for" if need.limited else " needs"
            reason = (
                f"{ctx.events_at(need.peak_at)}{ctx.label} forecast {need.rate:,.0f} req/s at "
                f"{clock(need.peak_at, now)}{asks} {need.peak_pods} pods; {ctx.cold}; raising "
                f"{floor} → {target} at {clock(t, now)}{capped}{ctx.notes}"
            )
        else:
            reason = f"the baseline is {bounds.baseline}; raising {floor} → {target} at {clock(t, now)}"
        return PlannedChange(t, "raise", floor, target, reason)
    if floor > bounds.upper:
        # Safety beats the step rules: a floor above the bound comes down at once.
        reason = f"the upper bound is {bounds.upper}; lowering {floor} → {bounds.upper} at {clock(t, now)}"
        return PlannedChange(t, "lower", floor, bounds.upper, reason)
    if not (known and target < floor and _may_lower(t, state, rules)):
        return None
    back = bounds.clamp(_pods(need.hold_pods, bounds)) if not math.isnan(need.hold_pods) else target
    lowest = max(target, back)
    if lowest >= floor:
        return None  # the need comes back before the pods given back could be Ready again
    lowered = max(lowest, floor - rules.max_step_down_pods)
    since = (
        ""
        if state.last_raise_at is None
        else f"{minutes((t - state.last_raise_at).total_seconds())} since the last raise; "
    )
    floor_note = f" (the baseline is {bounds.baseline})" if raw < bounds.baseline else ""
    steps = f" (at most {rules.max_step_down_pods} per step)" if lowered > lowest else ""
    until = clock(t + pd.Timedelta(seconds=ctx.lead_s), now)
    if back > target:
        coming = (
            f"{ctx.label} forecast needs {target} pods until {until} and {back} again within "
            f"{minutes(ctx.hold_s)} (a cold start + KEDA's scale-down window); "
        )
    else:
        coming = f"{ctx.label} forecast needs at most {_pods(raw, bounds)} pods until {until}{floor_note}; "
    reason = (
        f"{ctx.events_at(t)}{coming}{since}lowering {floor} → {lowered} at {clock(t, now)}{steps}{ctx.notes}"
    )
    return PlannedChange(t, "lower", floor, lowered, reason)


def _pods(value: float, bounds: Bounds) -> int:
    """A known pod need as an int; an absurd one (even infinite) counts as one above the bound."""
    return int(min(value, bounds.upper + 1))


def apply(state: FloorState, change: PlannedChange | None) -> FloorState:
    """The planner's memory after ``change`` (None = no change)."""
    if change is None:
        return state
    if change.kind == "raise":
        return FloorState(change.to_pods, change.at, state.last_lower_at)
    return FloorState(change.to_pods, state.last_raise_at, change.at)


def step_back(state: FloorState, bounds: Bounds, rules: StepRules, now: pd.Timestamp) -> FloorState:
    """Without a usable forecast (the model is past its age limit): one bounded step to the baseline.

    At most ``max_step_down_pods`` per ``step_down_interval_s``; a floor above the upper bound
    comes down to it at once. Returns the state after this reconcile.
    """
    floor = state.floor
    due = (
        state.last_lower_at is None
        or (now - state.last_lower_at).total_seconds() >= rules.step_down_interval_s
    )
    if floor > bounds.upper:
        lowered = bounds.upper
    elif floor > bounds.baseline and due:
        lowered = max(bounds.baseline, floor - rules.max_step_down_pods)
    elif floor < bounds.baseline:
        return FloorState(bounds.baseline, now, state.last_lower_at)
    else:
        return state
    return FloorState(lowered, state.last_raise_at, now)


def _may_lower(t: pd.Timestamp, state: FloorState, rules: StepRules) -> bool:
    last_raise, last_lower = state.last_raise_at, state.last_lower_at
    cooled = last_raise is None or (t - last_raise).total_seconds() >= rules.cooldown_s
    spaced = last_lower is None or (t - last_lower).total_seconds() >= rules.step_down_interval_s
    return cooled and spaced
