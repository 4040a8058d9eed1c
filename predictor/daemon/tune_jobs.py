"""The daemon's ``tune`` job: self-tune each target when due (see :mod:`predictor.daemon.tune` for
what one tuning does, and :class:`~predictor.daemon.jobs.Daemon` for the rest of the jobs).

A mixin of :class:`~predictor.daemon.jobs.Daemon`: it runs on the daemon's targets, clock,
metrics and cluster, and reports failures through the daemon's one catch-all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pandas as pd

from predictor.actuation import scaledobject as so
from predictor.actuation.cluster import Cluster
from predictor.config import Settings
from predictor.daemon import retrain, tune
from predictor.daemon.clock import Clock
from predictor.daemon.metrics import DaemonMetrics
from predictor.daemon.state import TargetState, TargetTable
from predictor.forecasting.base import quantile_label
from predictor.planning import Bounds
from predictor.simulation.tuning import TuningResult

log = logging.getLogger("predictor.daemon")


class TuneJobs:
    """Self-tuning, per target, as one of the daemon's jobs."""

    settings: Settings
    cluster: Cluster | None
    metrics: DaemonMetrics
    clock: Clock
    targets: TargetTable
    stop: threading.Event
    is_leader: Callable[[], bool]

    def _failed(self, rt: TargetState, error: BaseException, what: str, job: str) -> None:
        raise NotImplementedError

    def _save(self, rt: TargetState) -> None:
        raise NotImplementedError

    def _object_event(self, rt: TargetState, now: pd.Timestamp, reason: str, message: str) -> None:
        raise NotImplementedError

    def tune_due(self) -> list[str]:
        """Self-tune, one at a time, every target whose tuning is due; returns their names."""
        ran = []
        for rt in self.targets.snapshot():
            if self.stop.is_set():
                break
            if rt.gone or not rt.tuning.enabled or not rt.tune_job.is_due(self.clock.now()):
                continue
            self.tune(rt.name)
            ran.append(rt.name)
        return ran

    def tune(self, name: str) -> bool:
        """Self-tune one target; on failure the policy in force stays and a retry is scheduled."""
        rt = self.targets.get(name)
        if rt is None or rt.gone:
            return False
        now = self.clock.now()
        started = time.monotonic()
        try:
            if rt.bounds is None:  # tuned before its first reconcile: read the object's bounds now
                rt.bounds = self._bounds_of(rt)
            result = retrain.run_exclusive(
                rt.tune_job,
                lambda: tune.tune_target(rt, now, settings=self.settings),
                noun="tuning",
                timeout_s=self.settings.schedule.tune_timeout_s,
                stop=self.stop,
                what=rt.name,
                job="self-tuning",
                limit="tune_timeout_s",
            )
        except Exception as e:  # the catch-all of this job: any error of this target, or abandoned
            self._tune_failed(rt, now, e)
            return False
        self._tuned(rt, now, result, time.monotonic() - started)
        return True

    def _bounds_of(self, rt: TargetState) -> Bounds | None:
        """The baseline and maxReplicaCount as a reconcile reads them off the object (None offline)."""
        if self.cluster is None:
            return None
        view = self.cluster.scaled_objects.get(rt.ref)
        remembered = rt.memory if rt.mode == "patch" else None
        return Bounds(so.effective_baseline(view, remembered), view.max_replicas, rt.policy.floor.cap)

    def _tuned(self, rt: TargetState, now: pd.Timestamp, result: TuningResult, seconds: float) -> None:
        timer = rt.tune_job
        self.metrics.of(self.metrics.tune_duration, rt.name).set(seconds)
        self.metrics.of(self.metrics.tune_failures, rt.name).set(0)
        choice = tune.choice_of(result, now)
        if choice is None:  # too little history: the policy in force stays; history grows
            timer.succeeded(now + pd.Timedelta(seconds=self.settings.schedule.retrain_interval_s))
            rt.tune_note = result.reason
            log.info("%s; sizing with %s", result.reason, tune.policy_label(rt), extra={"target": rt.name})
            return
        before = tune.policy_label(rt)
        old_quantile = rt.policy.quantile
        rt.apply_tuned(choice)
        rt.tune_note = None
        timer.succeeded(now + pd.Timedelta(seconds=rt.tuning.interval_s))
        self.metrics.of(self.metrics.tune_last_success, rt.name).set(now.timestamp())
        if abs(old_quantile - rt.policy.quantile) > 1e-9:  # the forecast series under the old label goes
            self.metrics.drop(self.metrics.forecast_quantile, rt.name, quantile_label(old_quantile))
        self._publish_policy(rt)
        after = tune.policy_label(rt)
        changed = before != after
        log.info(
            "self-tuned in %.1f s: %s%s",
            seconds,
            choice.reason,
            f" (was {before})" if changed else " (unchanged)",
            extra={"target": rt.name, "quantile": choice.quantile, "buffer": choice.buffer},
        )
        if changed:
            self._policy_event(rt, now, f"sizing with {after}, was {before}: {choice.reason}")
        self._save(rt)

    def _tune_failed(self, rt: TargetState, now: pd.Timestamp, error: BaseException) -> None:
        schedule = self.settings.schedule
        wait_s = rt.tune_job.failed(
            now, str(error), first_s=schedule.retrain_retry_s, max_s=schedule.retrain_retry_max_s
        )
        self.metrics.of(self.metrics.tune_failures, rt.name).set(rt.tune_job.failures)
        what = f"self-tuning failed (keeping {tune.policy_label(rt)}); retrying in {wait_s:.0f} s"
        self._failed(rt, error, what, "tune")

    def _policy_event(self, rt: TargetState, now: pd.Timestamp, message: str) -> None:
        """A PolicyTuned Event on the object: best-effort, by the leader, in patch and metric modes."""
        self._object_event(rt, now, "PolicyTuned", message)

    def _publish_policy(self, rt: TargetState) -> None:
        """The sizing quantile and buffer in force, labelled with where they come from."""
        source = "tuned" if rt.tuned is not None else "configured"
        for gauge in (self.metrics.tuned_quantile, self.metrics.tuned_buffer):
            self.metrics.drop(gauge, rt.name, "configured" if source == "tuned" else "tuned")
        self.metrics.of(self.metrics.tuned_quantile, rt.name, source).set(rt.policy.quantile)
        self.metrics.of(self.metrics.tuned_buffer, rt.name, source).set(rt.policy.floor.buffer)
