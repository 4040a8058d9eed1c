"""One reconcile of one target: read the ScaledObject, plan the floor, apply it per the mode.

Safety, in order: a paused ScaledObject is left alone; the floor stays within the baseline
(the user's minReplicaCount, re-read on every change) and maxReplicaCount; without a model
newer than ``max_forecast_age_s`` the floor steps back to the baseline; only the leader
patches; a 409 re-reads and decides again (in the adapter).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from predictor.actuation.kubernetes import KubernetesClient
from predictor.actuation.scaledobject import FloorChange, ScaledObjectView, effective_baseline
from predictor.daemon.metrics import DaemonMetrics
from predictor.daemon.target import Decision, TargetRuntime
from predictor.forecasting.base import quantile_label
from predictor.planning import Bounds, FloorState
from predictor.runtime.forecast import predict_and_plan
from predictor.runtime.targets import request_from_policy

log = logging.getLogger("predictor.reconcile")


@dataclass(frozen=True)
class Wanted:
    floor: int
    reason: str
    event: str  # PrewarmRaised | PrewarmLowered | FallbackToBaseline
    summary: str | None
    mean_now: float | None = None  # req/s forecast for the current bin
    quantile_now: float | None = None


def reconcile_target(
    rt: TargetRuntime,
    now: pd.Timestamp,
    *,
    cluster: KubernetesClient | None,
    metrics: DaemonMetrics,
    is_leader: Callable[[], bool],
) -> Decision:
    """Reconcile ``rt`` as of ``now`` (see the module docstring). Raises our own errors only."""
    cap = rt.policy.floor.cap
    view = cluster.get(rt.ref) if cluster is not None else None
    if view is not None and view.paused:
        if rt.state != "paused":  # once per pause, not every cycle
            log.info("KEDA is paused: leaving the ScaledObject alone", extra={"target": rt.name})
        rt.state = "paused"
        metrics.set_state(rt.name, "paused")
        return Decision(
            rt.name, rt.mode, "paused", _kind(rt), None, view.min_replicas, None, "skipped", "KEDA is paused"
        )
    if view is not None:
        bounds = Bounds(effective_baseline(view), view.max_replicas, cap)
        applied = view.min_replicas
    else:
        bounds = Bounds(rt.settings.offline_min_replicas, rt.settings.offline_max_replicas, cap)
        applied = bounds.baseline
    current = (
        applied
        if rt.mode == "patch"
        else (rt.virtual_floor if rt.virtual_floor is not None else bounds.baseline)
    )
    wanted = _plan(rt, now, bounds, current)
    metrics.baseline.labels(rt.name).set(bounds.baseline)
    metrics.floor_applied.labels(rt.name).set(applied)
    metrics.floor_recommended.labels(rt.name).set(wanted.floor)
    if wanted.mean_now is not None and wanted.quantile_now is not None:
        metrics.forecast_mean.labels(rt.name).set(wanted.mean_now)
        label = quantile_label(rt.policy.quantile)
        metrics.forecast_quantile.labels(rt.name, label).set(wanted.quantile_now)
    if rt.mode == "metric":  # every cycle: KEDA reads it whether or not it just changed
        metrics.recommended_min_replicas.labels(rt.ref.namespace, rt.ref.name).set(wanted.floor)
    metrics.set_state(rt.name, rt.state)
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
    )
    if wanted.floor == current:
        return decision
    direction = "raise" if wanted.floor > current else "lower"
    if rt.mode == "patch":
        if not is_leader():
            return _with(decision, action="hold", reason=f"follower: the leader applies ({wanted.reason})")
        assert cluster is not None  # patch needs a cluster (the settings refuse patch offline)
        result = cluster.patch_min_replicas(rt.ref, lambda v: _change(v, wanted, now, cap))
        if not result.patched:  # paused or changed by someone else since it was read
            log.info("not patched (%s): %s", result.outcome, wanted.reason, extra={"target": rt.name})
            return _with(decision, action="hold", reason=f"{result.outcome}: {wanted.reason}")
        cluster.emit_event(result.after, wanted.event, wanted.reason)
        applied = result.after.min_replicas
        metrics.floor_applied.labels(rt.name).set(applied)
        decision = _with(decision, floor=applied, action=direction)
    else:
        rt.virtual_floor = wanted.floor
        decision = _with(decision, action=direction if rt.mode == "metric" else f"would {direction}")
    if direction == "raise":
        rt.last_raise_at = now
    else:
        rt.last_lower_at = now
    metrics.changes.labels(rt.name, direction, rt.mode).inc()
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


def _plan(rt: TargetRuntime, now: pd.Timestamp, bounds: Bounds, current: int) -> Wanted:
    """The floor wanted now: from the forecast when the model is fresh, else a step back to the baseline."""
    artifact = rt.artifact
    age_s = (now - artifact.trained_at).total_seconds() if artifact is not None else None
    if artifact is None or age_s is None or age_s > rt.policy.max_forecast_age_s:
        rt.state, rt.plan = "fallback", None
        return _fallback(
            rt,
            now,
            bounds,
            current,
            "no model yet" if age_s is None else f"the model is {age_s / 3600:.1f} h old",
        )
    rt.state = "stale" if rt.retrain_failed else "healthy"
    request = request_from_policy(rt.name, rt.policy, pod=rt.pod, cold_start=rt.cold_start, bounds=bounds)
    state = FloorState(current, rt.last_raise_at, rt.last_lower_at)
    forecast, plan = predict_and_plan(artifact.model, request, now, state)
    rt.plan = plan
    reason = plan.change_now.reason if plan.change_now else f"holding at {plan.floor_now}"
    peak = forecast.quantile(request.quantile).max()
    summary = (
        f"{quantile_label(request.quantile)} peaks at {peak:,.0f} req/s in the next "
        f"{request.horizon_s / 3600:g} h; model {artifact.kind}"
    )
    event = "PrewarmRaised" if plan.floor_now > current else "PrewarmLowered"
    quantile_now = float(forecast.quantile(request.quantile)[0])
    return Wanted(plan.floor_now, reason, event, summary, float(forecast.mean[0]), quantile_now)


def _fallback(rt: TargetRuntime, now: pd.Timestamp, bounds: Bounds, current: int, why: str) -> Wanted:
    """Step the floor back to the baseline in bounded steps, so KEDA alone takes over."""
    rules = rt.policy.floor.rules
    due = rt.last_lower_at is None or (now - rt.last_lower_at).total_seconds() >= rules.step_down_interval_s
    floor = max(bounds.baseline, current - rules.max_step_down_pods) if due else current
    floor = bounds.clamp(floor)
    limit_h = rt.policy.max_forecast_age_s / 3600
    reason = f"{why} (limit {limit_h:g} h): stepping back to the baseline {bounds.baseline}"
    reason += "; KEDA scales reactively"
    return Wanted(floor, reason, "FallbackToBaseline", None)


def _change(view: ScaledObjectView, wanted: Wanted, now: pd.Timestamp, cap: int | None) -> FloorChange | None:
    """Re-clamp the wanted floor on the object as just read (the baseline or max may have changed)."""
    bounds = Bounds(effective_baseline(view), view.max_replicas, cap)
    floor = bounds.clamp(wanted.floor)
    if floor == view.min_replicas:
        return None
    return FloorChange(floor, wanted.reason, now.to_pydatetime(warn=False), wanted.summary)


def _kind(rt: TargetRuntime) -> str | None:
    return rt.artifact.kind if rt.artifact is not None else None


def _with(decision: Decision, **changes: Any) -> Decision:
    return replace(decision, **changes)
