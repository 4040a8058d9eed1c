"""The daemon's work without the scheduling: load models, retrain a target, reconcile all targets.

Every method catches and counts a target's failure, logs it and moves on: one failing target
never stops the others. ``now`` is read from the clock once per cycle and passed down.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable

import pandas as pd

from predictor.actuation.errors import ScaledObjectGone
from predictor.actuation.kubernetes import KubernetesClient
from predictor.config import Settings
from predictor.daemon import status as status_file
from predictor.daemon.clock import Clock
from predictor.daemon.discovery import target_from_view
from predictor.daemon.metrics import DaemonMetrics
from predictor.daemon.reconcile import reconcile_target
from predictor.daemon.target import Decision, TargetRuntime
from predictor.errors import ActuationError, ConfigError, ForecastError, PredictorError, SourceError
from predictor.forecasting.store import ModelArtifact, ModelStore
from predictor.planning import Bounds, learn_cold_start
from predictor.runtime.forecast import choose_and_fit, training_window
from predictor.runtime.targets import read_history, request_from_policy, source_for

log = logging.getLogger("predictor.daemon")


def error_kind(error: Exception) -> str:
    """A short label for the errors metric."""
    for kind, types in (("source", SourceError), ("forecast", ForecastError), ("actuation", ActuationError)):
        if isinstance(error, types):
            return kind
    return "internal"


class Daemon:
    """All managed targets, and the three things done to them: retrain, reconcile, observe."""

    def __init__(
        self,
        settings: Settings,
        *,
        cluster: KubernetesClient | None,
        store: ModelStore,
        metrics: DaemonMetrics,
        clock: Clock,
        is_leader: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.cluster = cluster
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.is_leader = is_leader
        self.targets = {t.name: TargetRuntime.create(t, source_for(settings, t)) for t in settings.targets}
        self._discovery_errors: dict[str, str] = {}
        self._last_progress = time.monotonic()  # start, then the end of each reconcile cycle

    def discover(self) -> list[str]:
        """Add the opted-in ScaledObjects of the watched namespaces as targets; returns the new names."""
        if self.cluster is None or not self.settings.kubernetes.namespaces:
            return []
        try:
            views = self.cluster.list_opted_in()
        except PredictorError as e:
            log.warning("cannot list opted-in ScaledObjects: %s", e, extra={"kind": error_kind(e)})
            return []
        managed = {str(rt.ref) for rt in self.targets.values()}
        added = []
        for view in views:
            if str(view.ref) in managed:
                continue
            try:
                target = target_from_view(view, self.settings)
            except ConfigError as e:
                if self._discovery_errors.get(str(view.ref)) != str(e):  # say it once, not every pass
                    log.warning("not managing it: %s", e, extra={"scaled_object": str(view.ref)})
                self._discovery_errors[str(view.ref)] = str(e)
                continue
            self._discovery_errors.pop(str(view.ref), None)
            self.targets[target.name] = TargetRuntime.create(target, source_for(self.settings, target))
            added.append(target.name)
            log.info("discovered", extra={"target": target.name, "scaled_object": str(view.ref)})
        return added

    def load_models(self) -> int:
        """Load every stored model, so a restarted daemon forecasts before Prometheus answers."""
        loaded = 0
        for rt in self.targets.values():
            try:
                rt.artifact = self.store.load(rt.name)
            except ForecastError as e:
                self._failed(rt, e, "cannot load the stored model")
                continue
            if rt.artifact is not None:
                loaded += 1
                self._publish_model(rt, self.clock.now())
                log.info(
                    "loaded model %s trained at %s",
                    rt.artifact.kind,
                    rt.artifact.trained_at,
                    extra={"target": rt.name},
                )
        return loaded

    def retrain(self, name: str) -> None:
        """Read the target's history, choose and fit a model, and store it; failures keep the old model."""
        rt = self.targets[name]
        if rt.gone:
            return
        now = self.clock.now()
        started = time.perf_counter()
        request = request_from_policy(
            rt.name, rt.policy, pod=rt.pod, cold_start=rt.cold_start, bounds=Bounds(0)
        )
        try:
            history = read_history(rt.source, now, request)
            train = training_window(history, now, request.train_days)
            selection = choose_and_fit(train, request)
        except PredictorError as e:
            rt.retrain_failed = True
            self._failed(rt, e, "retrain failed; forecasting from the last model")
            return
        step = pd.Timedelta(seconds=request.step_s)
        scores = {
            k: s.mase for k, s in selection.scores.items() if s.status == "ok" and math.isfinite(s.mase)
        }
        artifact = ModelArtifact(
            kind=selection.kind,
            trained_at=now,
            data_start=train.index[0],
            data_end=train.index[-1] + step,
            step_s=request.step_s,
            model=selection.model,
            scores=scores,
        )
        try:
            self.store.save(rt.name, artifact)
        except ForecastError as e:  # the model still serves from memory
            self._failed(rt, e, "cannot store the model")
        rt.artifact, rt.retrain_failed = artifact, False
        duration = time.perf_counter() - started
        self.metrics.training_duration.labels(rt.name).set(duration)
        self._publish_model(rt, now)
        log.info(
            "trained %s on %d points in %.2f s",
            selection.kind,
            int(train.notna().sum()),
            duration,
            extra={"target": rt.name, "model": selection.kind, "fallback": selection.fallback_reason},
        )
        if rt.settings.cold_start.learn:
            self._learn_cold_start(rt)

    def retrain_all(self) -> None:
        for name in self.targets:
            self.retrain(name)

    def reconcile_all(self, *, write_status: bool = True) -> list[Decision]:
        """One reconcile cycle over every target, all with the same ``now``; then the status file."""
        now = self.clock.now()
        started = time.perf_counter()
        decisions = []
        for rt in list(self.targets.values()):
            if rt.gone:
                continue
            try:
                decisions.append(
                    reconcile_target(
                        rt, now, cluster=self.cluster, metrics=self.metrics, is_leader=self.is_leader
                    )
                )
            except ScaledObjectGone as e:
                rt.gone, rt.state = True, "gone"
                self.metrics.set_state(rt.name, "gone")
                self._failed(rt, e, "the ScaledObject is gone; dropping the target")
                decisions.append(
                    Decision(rt.name, rt.mode, "gone", None, None, None, None, "skipped", str(e))
                )
            except PredictorError as e:
                self._failed(rt, e, "reconcile failed")
                decisions.append(
                    Decision(rt.name, rt.mode, rt.state, None, None, None, None, "failed", str(e))
                )
            if rt.artifact is not None:
                self.metrics.model_age.labels(rt.name).set((now - rt.artifact.trained_at).total_seconds())
        self.metrics.reconcile_duration.set(time.perf_counter() - started)
        self._last_progress = time.monotonic()
        self.metrics.last_reconcile.set(now.timestamp())
        if write_status:
            try:
                status_file.write_status(self.settings.state_dir, now, decisions, self.targets)
            except OSError as e:
                log.warning("cannot write the status file: %s", e)
        return decisions

    def observe_all(self) -> None:
        """The live forecast error: the last complete bin's actual against the model's forecast for it."""
        now = self.clock.now()
        for rt in self.targets.values():
            if rt.gone or rt.artifact is None:
                continue
            step = pd.Timedelta(seconds=rt.artifact.step_s)
            end = now.floor(step)
            try:
                actual = rt.source.fetch(end - 3 * step, end, rt.artifact.step_s).dropna()
                if actual.empty:  # missing, not zero: nothing to compare
                    continue
                at = actual.index[-1]
                forecast = float(rt.artifact.model.predict(at, 1, (0.5,)).mean[0])
            except PredictorError as e:
                self._failed(rt, e, "cannot read the latest actuals")
                continue
            if forecast > 0:
                self.metrics.live_error.labels(rt.name).set((float(actual.iloc[-1]) - forecast) / forecast)

    def alive(self, *, stall_after_s: float) -> tuple[bool, dict[str, object]]:
        """Alive while reconcile cycles keep completing: a wedged scheduler fails the liveness probe."""
        since = time.monotonic() - self._last_progress
        return since <= stall_after_s, {"seconds_since_last_reconcile": round(since, 1)}

    def ready(self) -> tuple[bool, dict[str, object]]:
        """Ready once every live target has a model, loaded or trained."""
        waiting = sorted(rt.name for rt in self.targets.values() if rt.artifact is None and not rt.gone)
        return not waiting, {"waiting_for_model": waiting}

    def _learn_cold_start(self, rt: TargetRuntime) -> None:
        if self.cluster is None:
            return
        cold = rt.settings.cold_start
        try:
            selector = self.cluster.scale_target_selector(self.cluster.get(rt.ref))
            if selector.selector is None:
                log.info("cannot learn the cold start: %s", selector.reason, extra={"target": rt.name})
                return
            observed = self.cluster.pod_startup_durations(selector.namespace, selector.selector)
        except PredictorError as e:
            self._failed(rt, e, "cannot read pod start-ups")
            return
        rt.cold_start = learn_cold_start(
            observed,
            configured=rt.configured_cold_start,
            percentile=cold.learn_percentile,
            min_samples=cold.learn_min_samples,
        )
        self._publish_lead_time(rt)

    def _publish_lead_time(self, rt: TargetRuntime) -> None:
        """One lead-time series per target, labelled with where the cold start came from."""
        for source in ("configured", "learned"):
            if source != rt.cold_start.source:
                with contextlib.suppress(KeyError):  # never published under that source
                    self.metrics.lead_time.remove(rt.name, source)
        self.metrics.lead_time.labels(rt.name, rt.cold_start.source).set(
            rt.cold_start.lead_time_s(rt.policy.floor.margin_s)
        )

    def _publish_model(self, rt: TargetRuntime, now: pd.Timestamp) -> None:
        assert rt.artifact is not None
        self.metrics.set_model(rt.name, rt.artifact.kind, dict(rt.artifact.scores))
        self.metrics.model_age.labels(rt.name).set((now - rt.artifact.trained_at).total_seconds())
        self._publish_lead_time(rt)

    def _failed(self, rt: TargetRuntime, error: Exception, what: str) -> None:
        rt.last_error = f"{what}: {error}"
        self.metrics.errors.labels(rt.name, error_kind(error)).inc()
        log.warning("%s: %s", what, error, extra={"target": rt.name, "kind": error_kind(error)})
