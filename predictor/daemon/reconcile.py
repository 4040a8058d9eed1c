"""One reconcile of one target: read the ScaledObject, plan the floor, apply it per the mode.

Safety, in order: a paused ScaledObject is left alone; the floor stays within the baseline (the
user's minReplicaCount, see :func:`~predictor.actuation.scaledobject.effective_baseline`) and
maxReplicaCount; without a usable model the floor is held as it stands (only a forecast lowers
it), and once the last model behind it is older than ``max_forecast_age_s`` it steps back to the
baseline in bounded steps; only the leader writes, and it checks again right before every write
(inside the adapter's 409 loop too); an Event that cannot be written never fails a patch that
landed.

The planner's memory (last raise, last lower, the floor in force in metric and dry-run modes, the
age of the model behind it) is read from the object's annotations, which the leader writes with
every change, so a restarted daemon or a new leader plans exactly as the old one would; the
target's local memory (saved in the state directory) fills what the object lacks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

from predictor.actuation import scaledobject as so
from predictor.actuation.cluster import Cluster
from predictor.actuation.scaledobject import FloorChange, FloorMemory, ScaledObjectView
from predictor.config.coldstart import ColdStartSettings
from predictor.daemon import cold_start as learned_cold_start
from predictor.daemon import known_events
from predictor.daemon.metrics import DaemonMetrics
from predictor.daemon.state import TargetState
from predictor.errors import ActuationError
from predictor.forecasting.base import quantile_label
from predictor.planning import Bounds, FloorState
from predictor.runtime.forecast import predict_and_plan
from predictor.runtime.targets import request_from_policy

log = logging.getLogger("predictor.reconcile")


@dataclass(frozen=True)
class Decision:
    """The outcome of one reconcile of one target, as `predictor run --once` and `status` show it."""

    target: str
    mode: str
    state: str
    model: str | None
    baseline: int | None
    current: int | None
    floor: int | None
    action: str  # raise | lower | hold | would raise | would lower | skipped | failed
    reason: str
    next_change: str | None = None
    clamps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Wanted:
    floor: int
    reason: str
    event: str | None  # PrewarmRaised | PrewarmLowered | FallbackToBaseline (None: holding)
    summary: str | None
    model_trained_at: pd.Timestamp | None = None  # of the model behind a forecast-based floor
    mean_now: float | None = None  # req/s forecast for the current bin
    quantile_now: float | None = None


def reconcile_target(
    rt: TargetState,
    now: pd.Timestamp,
    *,
    cluster: Cluster | None,
    metrics: DaemonMetrics,
    may_write: Callable[[], bool],
) -> Decision:
    """Reconcile ``rt`` as of ``now`` (see the module docstring). Raises our own errors only;
    ScaledObjectGone when the object does not exist."""
    view = cluster.scaled_objects.get(rt.ref) if cluster is not None else None
    if view is not None:
        _follow_the_object(rt, view)
    if view is not None and view.paused:
        if rt.state != "paused":  # once per pause, not every cycle
            log.info("KEDA is paused: leaving the ScaledObject alone", extra={"target": rt.name})
        rt.state = "paused"
        metrics.set_state(rt.name, "paused")
        return Decision(
            rt.name, rt.mode, "paused", _kind(rt), None, view.min_replicas, None, "skipped", "KEDA is paused"
        )
    memory = _memory(rt, view)
    if rt.mode != "dry-run":
        rt.memory = memory  # the shared record, kept locally too (it covers hand-removed annotations)
    cap = rt.policy.floor.cap
    if view is not None:
        remembered = rt.memory if rt.mode == "patch" else None
        bounds = Bounds(so.effective_baseline(view, remembered), view.max_replicas, cap)
        applied = view.min_replicas
    else:
        bounds = Bounds(rt.settings.offline_min_replicas, rt.settings.offline_max_replicas, cap)
        applied = bounds.baseline
    rt.bounds = bounds  # self-tuning replays within them
    if rt.mode == "patch":
        current = applied
    else:
        current = memory.recommended if memory.recommended is not None else bounds.baseline
    _adopt_recorded_cold_start(rt, memory)
    wanted = _plan(rt, now, bounds, current, memory)
    known_events.announce(rt, now, cluster=cluster, view=view, metrics=metrics, may_write=may_write)
    _export(rt, metrics, bounds, applied, wanted)
    next_change = rt.plan.next_change() if rt.plan is not None else None
    when = f"{next_change.at:%a %H:%M} {next_change.from_pods}→{next_change.to_pods}" if next_change else None
    decision = Decision(
        rt.name,
        rt.mode,
        rt.state,
        _kind(rt),
        bounds.baseline,
        current,
        wanted.floor,
        "hold",
        wanted.reason,
        when,
        tuple(c.describe() for c in rt.clamps),
    )
    if rt.mode == "patch" and view is not None:
        _keep_the_books(rt, view, cluster, may_write)
    if wanted.floor == current:
        if rt.mode != "patch":
            rt.memory = replace(rt.memory, recommended=current, baseline=bounds.baseline)
        return decision
    direction = "raise" if wanted.floor > current else "lower"
    after = _memory_after(memory, direction, now, wanted)
    if rt.mode == "patch":
        if not may_write():
            return replace(decision, action="hold", reason=f"follower: the leader applies ({wanted.reason})")
        assert cluster is not None and view is not None  # patch needs a cluster (the settings refuse offline)
        decide = _decide(rt, wanted, now, cap, after)
        result = cluster.scaled_objects.patch_min_replicas(rt.ref, decide, may_write=may_write)
        if not result.patched:  # paused, changed by someone else, or leadership ended
            log.info("not patched (%s): %s", result.outcome, wanted.reason, extra={"target": rt.name})
            return replace(decision, action="hold", reason=f"{result.outcome}: {wanted.reason}")
        applied = result.after.min_replicas
        rt.memory = replace(
            after, baseline=so.effective_baseline(result.after, rt.memory), applied=applied, recommended=None
        )
        _event(rt, cluster, metrics, result.after, wanted, now)
        metrics.of(metrics.floor_applied, rt.name).set(applied)
        decision = replace(decision, floor=applied, action=direction)
    elif rt.mode == "metric":
        if not may_write():  # a follower publishes what the leader's record says, as the leader would
            return replace(decision, action="hold", reason=f"follower: the leader decides ({wanted.reason})")
        rt.memory = replace(after, recommended=wanted.floor, baseline=bounds.baseline)
        if cluster is not None:
            _record_recommendation(rt, cluster, metrics, wanted, now, may_write)
        decision = replace(decision, action=direction)
    else:
        rt.memory = replace(after, recommended=wanted.floor, baseline=bounds.baseline)
        decision = replace(decision, action=f"would {direction}")
    metrics.of(metrics.changes, rt.name, direction, rt.mode).inc()
    log.info(
        "%s %s → %s: %s",
        decision.action,
        current,
        wanted.floor,
        wanted.reason,
        extra={
            "target": rt.name,
            "event": wanted.event,
            "mode": rt.mode,
            "from": current,
            "to": wanted.floor,
        },
    )
    return decision


def _plan(rt: TargetState, now: pd.Timestamp, bounds: Bounds, current: int, memory: FloorMemory) -> Wanted:
    """The floor wanted now: from the forecast when the model is usable and fresh; held as it stands
    without a usable model; a step back to the baseline once the last model is too old."""
    limit_s = rt.policy.max_forecast_age_s
    problem = rt.model_problem()
    rt.clamps = ()
    if problem is not None:
        rt.plan = None
        behind = memory.model_trained_at or memory.updated_at  # the forecast behind the floor
        age_s = (now - pd.Timestamp(behind)).total_seconds() if behind is not None else None
        if age_s is not None and age_s > limit_s and current > bounds.baseline:
            rt.state = "fallback"
            why = f"{problem}; the forecast behind the floor is {age_s / 3600:.1f} h old"
            return _fallback(rt, now, bounds, current, memory, why)
        rt.state = "no-model"
        held = bounds.clamp(current)
        reason = f"{_retrain_note(rt)}{problem}: holding the floor at {held}; only a forecast lowers it"
        return Wanted(held, reason, None if held == current else "PrewarmLowered", None)
    artifact = rt.artifact
    assert artifact is not None  # model_problem says so
    age_s = (now - artifact.trained_at).total_seconds()
    if age_s > limit_s:
        rt.state, rt.plan = "fallback", None
        return _fallback(rt, now, bounds, current, memory, f"the model is {age_s / 3600:.1f} h old")
    rt.state = "stale" if rt.retrain.failures else "healthy"
    request = request_from_policy(
        rt.name,
        rt.policy,
        pod=rt.pod,
        cold_start=rt.cold_start,
        bounds=bounds,
        events=rt.events,
        tokens=rt.tokens,
    )
    state = FloorState(current, _ts(memory.last_raise_at), _ts(memory.last_lower_at))
    forecast, plan = predict_and_plan(
        artifact.model,
        request,
        now,
        state,
        holiday_level=rt.holiday_level,
        token_models=rt.token_models,
    )
    rt.plan, rt.clamps = plan, tuple(forecast.clamps)
    reason = plan.change_now.reason if plan.change_now else f"holding at {plan.floor_now}"
    if rt.settings.policy.size_with_observed_capacity and rt.capacity_note:
        reason += f"; sized with {rt.capacity_note}"
    if rt.clamps:
        reason += "; " + "; ".join(c.describe() for c in rt.clamps)
    peak = forecast.quantile(request.quantile).max()
    summary = (
        f"{quantile_label(request.quantile)} peaks at {peak:,.0f} req/s in the next "
        f"{request.horizon_s / 3600:g} h; model {artifact.kind}"
    )
    event = "PrewarmRaised" if plan.floor_now > current else "PrewarmLowered"
    quantile_now = float(forecast.quantile(request.quantile)[0])
    return Wanted(
        plan.floor_now, reason, event, summary, artifact.trained_at, float(forecast.mean[0]), quantile_now
    )


def _fallback(
    rt: TargetState, now: pd.Timestamp, bounds: Bounds, current: int, memory: FloorMemory, why: str
) -> Wanted:
    """Step the floor back to the baseline in bounded steps, so KEDA alone takes over."""
    rules = rt.policy.floor.rules
    last_lower = _ts(memory.last_lower_at)
    due = last_lower is None or (now - last_lower).total_seconds() >= rules.step_down_interval_s
    floor = max(bounds.baseline, current - rules.max_step_down_pods) if due else current
    floor = bounds.clamp(floor)
    limit_h = rt.policy.max_forecast_age_s / 3600
    reason = f"{why} (limit {limit_h:g} h): stepping back to the baseline {bounds.baseline}"
    reason += "; KEDA scales reactively"
    return Wanted(floor, reason, "FallbackToBaseline", None)


def _retrain_note(rt: TargetState) -> str:
    timer = rt.retrain
    if timer.failures and timer.last_error:
        return f"retrain failed ({timer.failures}×): {timer.last_error}; "
    return ""


def _memory(rt: TargetState, view: ScaledObjectView | None) -> FloorMemory:
    """The planner's memory: the object's record (patch and metric modes write it) over ours."""
    if view is None or rt.mode == "dry-run":
        return rt.memory
    return view.memory.or_else(rt.memory)


def _follow_the_object(rt: TargetState, view: ScaledObjectView) -> None:
    """A ScaledObject recreated under the same name is a new object: its own annotations, no memory."""
    if rt.uid is not None and view.uid and view.uid != rt.uid:
        log.info("a new ScaledObject under this name: starting afresh", extra={"target": rt.name})
        rt.memory = FloorMemory()
    if rt.gone:
        log.info("the ScaledObject is back", extra={"target": rt.name})
        rt.gone = False
    rt.uid = view.uid or rt.uid


def _adopt_recorded_cold_start(rt: TargetState, memory: FloorMemory) -> None:
    """A learned cold start recorded on the object by another replica (or before a restart) is
    used until this replica has seen more start-ups itself."""
    cold: ColdStartSettings = rt.settings.cold_start
    if not cold.learn or memory.cold_start_s is None or memory.cold_start_samples is None:
        return
    if rt.cold_start.source == "learned" and rt.cold_start.samples >= memory.cold_start_samples:
        return
    adopted = learned_cold_start.from_record(
        memory.cold_start_s, memory.cold_start_samples, rt.configured_cold_start, cold
    )
    if adopted.source == "learned":
        rt.cold_start = adopted


def _memory_after(memory: FloorMemory, direction: str, now: pd.Timestamp, wanted: Wanted) -> FloorMemory:
    """The memory once the change is made: when it was raised or lowered, and on which model."""
    moment = now.to_pydatetime(warn=False)
    if direction == "raise":
        memory = replace(memory, last_raise_at=moment, updated_at=moment)
    else:
        memory = replace(memory, last_lower_at=moment, updated_at=moment)
    if wanted.model_trained_at is not None:
        memory = replace(memory, model_trained_at=wanted.model_trained_at.to_pydatetime(warn=False))
    return memory


def _decide(
    rt: TargetState, wanted: Wanted, now: pd.Timestamp, cap: int | None, memory: FloorMemory
) -> Callable[[ScaledObjectView], FloorChange | None]:
    """Re-clamp the wanted floor on the object as just read (the baseline or max may have changed)."""

    def decide(view: ScaledObjectView) -> FloorChange | None:
        baseline = so.effective_baseline(view, rt.memory)
        floor = Bounds(baseline, view.max_replicas, cap).clamp(wanted.floor)
        if floor == view.min_replicas:
            return None
        at = now.to_pydatetime(warn=False)
        return FloorChange(floor, wanted.reason, at, wanted.summary, baseline=baseline, memory=memory)

    return decide


def _keep_the_books(
    rt: TargetState, view: ScaledObjectView, cluster: Cluster | None, may_write: Callable[[], bool]
) -> None:
    """Write back bookkeeping the object lost, so its baseline never ratchets up: a baseline or
    applied annotation removed by hand (from our memory), and a floor pulled down to a lowered
    maxReplicaCount (recorded as applied, so lifting the cap later is not taken for a new baseline)."""
    memory = view.memory.or_else(rt.memory)
    if memory.baseline is None or cluster is None:
        return
    fixes: dict[str, str | None] = {}
    last_written = memory.applied if memory.applied is not None else memory.baseline
    capped = so.capped_by_max(view, last_written)
    if view.min_replicas != last_written and not capped:
        return  # someone else set minReplicaCount: the next patch records it as the baseline
    if capped:
        fixes[so.APPLIED_ANNOTATION] = str(view.min_replicas)
        log.info(
            "maxReplicaCount %d caps the floor %d: recorded, the baseline stays %d",
            view.max_replicas,
            last_written,
            memory.baseline,
            extra={"target": rt.name},
        )
    if view.baseline is None:
        fixes[so.BASELINE_ANNOTATION] = str(memory.baseline)
    if view.applied is None and memory.applied is not None and view.min_replicas == memory.applied:
        fixes[so.APPLIED_ANNOTATION] = str(memory.applied)
    if not fixes or not may_write():
        return
    cluster.scaled_objects.annotate(rt.ref, lambda _: fixes, may_write=may_write)
    applied = fixes.get(so.APPLIED_ANNOTATION)
    rt.memory = replace(
        rt.memory, baseline=memory.baseline, applied=int(applied) if applied else memory.applied
    )


def _record_recommendation(
    rt: TargetState,
    cluster: Cluster,
    metrics: DaemonMetrics,
    wanted: Wanted,
    now: pd.Timestamp,
    may_write: Callable[[], bool],
) -> None:
    """Metric mode: the published floor and the memory go to predictor's annotations (never the spec).
    Best-effort: the metric is what KEDA reads, and it is published whatever happens here."""
    change = FloorChange(
        wanted.floor, wanted.reason, now.to_pydatetime(warn=False), wanted.summary, memory=rt.memory
    )
    try:
        cluster.scaled_objects.record_recommendation(rt.ref, lambda _: change, may_write=may_write)
    except ActuationError as error:
        metrics.of(metrics.errors, rt.name, "actuation").inc()
        log.warning("cannot record the floor on the ScaledObject: %s", error, extra={"target": rt.name})


def _event(
    rt: TargetState,
    cluster: Cluster,
    metrics: DaemonMetrics,
    view: ScaledObjectView,
    wanted: Wanted,
    now: pd.Timestamp,
) -> None:
    """Best-effort: the patch landed whatever happens to its Event."""
    at = now.to_pydatetime(warn=False)
    try:
        cluster.scaled_objects.emit_event(view, wanted.event or "PrewarmLowered", wanted.reason, at=at)
    except ActuationError as error:
        metrics.of(metrics.errors, rt.name, "event").inc()
        log.warning("the floor changed but its Event failed: %s", error, extra={"target": rt.name})


def _export(rt: TargetState, metrics: DaemonMetrics, bounds: Bounds, applied: int, wanted: Wanted) -> None:
    metrics.of(metrics.baseline, rt.name).set(bounds.baseline)
    metrics.of(metrics.floor_applied, rt.name).set(applied)
    metrics.of(metrics.floor_recommended, rt.name).set(wanted.floor)
    metrics.of(metrics.forecast_clamped, rt.name).set(1.0 if rt.clamps else 0.0)
    if wanted.mean_now is not None and wanted.quantile_now is not None:
        metrics.of(metrics.forecast_mean, rt.name).set(wanted.mean_now)
        label = quantile_label(rt.policy.quantile)
        metrics.of(metrics.forecast_quantile, rt.name, label).set(wanted.quantile_now)
    if rt.mode == "metric":  # every cycle: KEDA reads it whether or not it just changed
        metrics.published(rt.name, rt.ref.namespace, rt.ref.name).set(wanted.floor)
    metrics.set_state(rt.name, rt.state)


def _ts(moment: datetime | None) -> pd.Timestamp | None:
    return None if moment is None else pd.Timestamp(moment).tz_convert("UTC")


def _kind(rt: TargetState) -> str | None:
    return rt.artifact.kind if rt.artifact is not None else None
