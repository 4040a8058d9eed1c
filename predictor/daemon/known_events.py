"""Known events in the daemon: what is active now and what starts or ends, for metrics, Events, status.

Each reconcile sets ``predictor_event_active{target,event}`` (1 while a window of the event
covers now, 0 otherwise) and announces every window that started or ended since the previous
reconcile, once: a log line and, when a ScaledObject is there and this replica is the leader, a
Kubernetes Event (``KnownEventStarted`` / ``KnownEventEnded``) on it. Best-effort: an Event that
cannot be written is counted and logged, and the reconcile goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from predictor import events as ev
from predictor.actuation.cluster import Cluster
from predictor.actuation.scaledobject import ScaledObjectView
from predictor.daemon.metrics import DaemonMetrics
from predictor.daemon.state import TargetState
from predictor.errors import ActuationError

log = logging.getLogger("predictor.events")

#: How far ahead status lists upcoming windows.
UPCOMING = pd.Timedelta(days=7)
#: The longest a first reconcile looks back for a window that ended before it (none are announced).
_BACK = pd.Timedelta(days=2)
REASONS = {"started": "KnownEventStarted", "ended": "KnownEventEnded"}


def announce(
    rt: TargetState,
    now: pd.Timestamp,
    *,
    cluster: Cluster | None,
    view: ScaledObjectView | None,
    metrics: DaemonMetrics,
    may_write: Callable[[], bool],
) -> list[ev.Transition]:
    """Set the active-event metric of ``rt`` and announce the transitions since the last reconcile.

    The first reconcile of a process announces nothing that happened before it (it sets the
    metric only), so a restart does not repeat Events.
    """
    if not rt.events:
        return []
    since = rt.events_seen_at if rt.events_seen_at is not None else now
    found = ev.windows(rt.events, min(since, now) - _BACK, now + pd.Timedelta(seconds=1))
    active = {w.event for w in ev.active_at(found, now)}
    for name in dict.fromkeys(e.name for e in rt.events):
        metrics.of(metrics.event_active, rt.name, name).set(1.0 if name in active else 0.0)
    changes = ev.transitions(found, since, now) if since < now else []
    rt.events_seen_at = now
    for change in changes:
        text = change.describe(now)
        log.info("%s", text, extra={"target": rt.name, "event": REASONS[change.kind]})
        if cluster is None or view is None or not may_write():
            continue
        try:
            cluster.scaled_objects.emit_event(
                view, REASONS[change.kind], text, at=now.to_pydatetime(warn=False)
            )
        except ActuationError as error:
            metrics.of(metrics.errors, rt.name, "event").inc()
            log.warning("cannot record the event on the ScaledObject: %s", error, extra={"target": rt.name})
    return changes


def status_of(rt: TargetState, now: pd.Timestamp) -> dict[str, Any]:
    """The known events of ``rt`` for the status file: active now, and upcoming within a week."""
    if not rt.events:
        return {"active": [], "upcoming": []}
    found = ev.windows(rt.events, now - _BACK, now + UPCOMING)
    level = rt.holiday_level

    def one(w: ev.ActiveWindow) -> dict[str, Any]:
        learned = w.holiday and level is not None and level.ratio is not None
        return {
            "name": w.name,
            "event": w.event,
            "start": w.start.isoformat(),
            "end": w.end.isoformat(),
            "text": w.describe(now, effect=level.describe() if learned and level is not None else None),
        }

    return {
        "active": [one(w) for w in ev.active_at(found, now)],
        "upcoming": [one(w) for w in found if w.start > now],
    }
