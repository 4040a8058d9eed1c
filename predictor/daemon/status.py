"""The daemon's last decisions on disk (``state_dir/status.json``), for `predictor status`.

Written atomically after every reconcile cycle, so a reader never sees half a file. Per target:
the last decision, its state, origin (config or discovered), last error, model and the end of its
data, what the model was trained on that the config no longer asks for, the next retrain and the
failures in a row, the cold start in use, any clamp of the last forecast, the sizing policy in
force with self-tuning's choice and schedule, the last capacity check (configured against
observed, the OFF flag, what sizing uses), and the known events active now and upcoming within a
week.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from predictor.daemon import known_events
from predictor.daemon.persist import write_atomically
from predictor.daemon.reconcile import Decision
from predictor.daemon.state import TargetState

STATUS_FILE = "status.json"


def decision_json(d: Decision) -> dict[str, Any]:
    """One decision as JSON: ``floor`` is the floor in force when the cycle began, ``planned`` the
    floor after it (applied in patch mode, published in metric mode, logged in dry-run)."""
    return {
        "target": d.target,
        "mode": d.mode,
        "state": d.state,
        "model": d.model,
        "baseline": d.baseline,
        "floor": d.current,
        "planned": d.floor,
        "action": d.action,
        "reason": d.reason,
        "next_change": d.next_change,
        "clamps": list(d.clamps),
    }


def target_status(
    rt: TargetState, decision: Decision | None, now: pd.Timestamp | None = None
) -> dict[str, Any]:
    """What the status file says about one target (``events``: active and upcoming, as of ``now``)."""
    timer = rt.retrain
    return {
        **(decision_json(decision) if decision is not None else {"target": rt.name}),
        "state": rt.state,
        "origin": rt.origin,
        "last_error": rt.last_error,
        "trained_at": rt.artifact.trained_at.isoformat() if rt.artifact is not None else None,
        "stale_inputs": rt.stale_inputs(),
        "next_retrain_at": timer.due_at.isoformat() if timer.due_at is not None else None,
        "retrain_failures": timer.failures,
        "cold_start_s": rt.cold_start.seconds,
        "cold_start_source": rt.cold_start.source,
        "cold_start_detail": rt.cold_start.detail,
        "clamps": [c.describe() for c in rt.clamps],
        **({"events": known_events.status_of(rt, now)} if now is not None and rt.events else {}),
        "fit_note": rt.fit_note,
        "policy": policy_status(rt),
        "tuning": tuning_status(rt),
        "capacity": capacity_status(rt),
    }


def policy_status(rt: TargetState) -> dict[str, Any]:
    """The quantile and buffer sizing the floor now, and where they come from."""
    return {
        "quantile": rt.policy.quantile,
        "buffer": rt.policy.floor.buffer,
        "source": "tuned" if rt.tuned is not None else "configured",
    }


def tuning_status(rt: TargetState) -> dict[str, Any]:
    timer = rt.tune_job
    return {
        "enabled": rt.tuning.enabled,
        "choice": rt.tuned.to_json() if rt.tuned is not None else None,
        "note": rt.tune_note,
        "next_tune_at": timer.due_at.isoformat() if timer.due_at is not None else None,
        "failures": timer.failures,
        "last_error": timer.last_error,
    }


def capacity_status(rt: TargetState) -> dict[str, Any] | None:
    if rt.capacity is None and rt.capacity_note is None:
        return None
    check = rt.capacity
    return {
        "off": rt.capacity_off,
        "check": check.to_dict() if check is not None else None,
        "sizing": rt.capacity_note,
    }


def status_payload(
    now: pd.Timestamp, decisions: list[Decision], targets: list[TargetState]
) -> dict[str, Any]:
    """The status document (the file's content, and what /status serves)."""
    by_name = {d.target: d for d in decisions}
    return {
        "written_at": now.isoformat(),
        "targets": {rt.name: target_status(rt, by_name.get(rt.name), now) for rt in targets},
    }


def write_status(state_dir: Path, payload: dict[str, Any]) -> None:
    write_atomically(state_dir / STATUS_FILE, status_json(payload))


def status_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, default=str)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The last status the daemon wrote, or None if there is none (or it cannot be read)."""
    try:
        found = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
