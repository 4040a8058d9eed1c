"""Self-tuning in the daemon: the per-target ``tune`` job's work and its bookkeeping.

Every ``policy.tune_interval_s`` per target (the first once the target has a model: after its
first successful fit, or at start when a usable model was loaded), the daemon replays the target's
own recent history under every candidate (quantile, spike buffer) with
:func:`~predictor.simulation.tuning.tune_policy`, exactly as ``predictor backtest --tune`` does:
the configured policy, the target's cold start and pod, the ScaledObject's baseline and
maxReplicaCount as the last reconcile read them, the schedule's retrain and reconcile intervals,
and ``policy.tune_history_days`` plus the training window of history at one-minute steps (the
replay's resolution), read through the target's own source. The chosen quantile and buffer then
size the floor at every reconcile until the next tuning.

It runs in the same worker as the retrains (one fit or replay at a time), bounded by
``schedule.tune_timeout_s``. A failed or abandoned tuning keeps the policy in force (never the
floor dropped), is logged in one line and counted, and is retried with the retrains' backoff.
Too little history to tune is no failure: the configured policy stays, and it is tried again one
retrain interval later. ``policy.tune_reselect`` (default off) replays the model choice at every
replayed retrain: exact, but about 3.3 times the cost (57 s against 17 s of one core per target in
``bench/daemon_tune_cost.py``).

The choice (quantile, buffer, the one-line reason with the replay's figures, when) is kept in the
target's memory file, so a restart sizes with it at once and re-tunes when it is due.
"""

from __future__ import annotations

import pandas as pd

from predictor.config import Settings
from predictor.daemon.state import TargetState, TunedChoice
from predictor.forecasting.base import DAY_S
from predictor.planning import Bounds
from predictor.runtime.targets import cadence_from_schedule
from predictor.simulation.tuning import TuningResult, tune_policy

#: The replay behind self-tuning steps one minute at a time (``predictor backtest`` reads the same).
TUNE_STEP_S = 60


def tune_target(rt: TargetState, now: pd.Timestamp, *, settings: Settings) -> TuningResult:
    """Tune ``rt`` on its own history before ``now`` (see the module docstring). Raises the
    source's errors (SourceError) and the replay's (PlanningError, ForecastError)."""
    policy = rt.configured_policy
    end = now.floor(f"{TUNE_STEP_S}s")
    start = end - pd.Timedelta(seconds=(policy.train_days + rt.tuning.history_days) * DAY_S)
    history = rt.source.fetch(start, end, TUNE_STEP_S)
    return tune_policy(
        history,
        policy,
        cold_start=rt.cold_start,
        pod=rt.pod,
        bounds=bounds_for_tuning(rt),
        tuning=rt.tuning,
        cadence=cadence_from_schedule(settings.schedule),
        now=end,
        reselect=rt.tuning.reselect,
        events=rt.events,
    )


def bounds_for_tuning(rt: TargetState) -> Bounds:
    """The baseline and maxReplicaCount the replay floors within: the object's as last read, else
    the offline ones; the policy's cap applies in the planner, as in the daemon."""
    if rt.bounds is not None:
        return Bounds(rt.bounds.baseline, rt.bounds.max_replicas)
    return Bounds(rt.settings.offline_min_replicas, rt.settings.offline_max_replicas)


def choice_of(result: TuningResult, now: pd.Timestamp) -> TunedChoice | None:
    """The choice to keep from a tuning (None when nothing could be tuned)."""
    if result.chosen is None:
        return None
    chosen = result.chosen
    return TunedChoice(
        quantile=chosen.quantile,
        buffer=chosen.buffer,
        reason=result.reason,
        tuned_at=now,
        pod_hours=round(chosen.pod_hours, 3),
        shortfall_minutes=round(chosen.shortfall_minutes, 3),
    )


def policy_label(rt: TargetState) -> str:
    """The sizing quantile and buffer in force, and where they come from."""
    floor = rt.policy.floor
    source = "self-tuned" if rt.tuned is not None else "configured"
    return f"p{floor.quantile * 100:g} + {floor.buffer:.0%} buffer ({source})"
