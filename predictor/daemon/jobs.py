"""The daemon's jobs, without the scheduling: what each job does to the targets.

- :meth:`Daemon.restore`: at start, load every stored model and target memory, and schedule
  each target's first retrain (at once for a model that is missing, stale or trained on other
  inputs; else when its age calls for it, never a full interval after start);
- :meth:`Daemon.discover`: opted-in ScaledObjects, both ways (:mod:`predictor.daemon.discovery`);
- :meth:`Daemon.retrain_due`: retrain the targets whose retrain is due, one at a time, each
  bounded in time (:mod:`predictor.daemon.retrain`); a failure is retried with capped backoff;
- :meth:`Daemon.reconcile_all`: one reconcile cycle over every target, all with the same ``now``;
- :meth:`Daemon.observe_all`: the live forecast error, the pod start-ups of the targets that
  learn their cold start, and the capacity per pod, configured against observed, of the targets
  with ``pod_metrics_selector`` (:mod:`predictor.runtime.capacity_check`).

- :meth:`Daemon.tune_due`: self-tune the targets whose tuning is due, one at a time, each bounded
  in time (:mod:`predictor.daemon.tune_jobs`, :mod:`predictor.daemon.tune`); a failure keeps the
  policy in force and backs off;

Per-target jobs keep their timing in the target's :class:`~predictor.daemon.state.JobTimer`s
(``rt.jobs``): ``retrain`` and ``tune``.

Every job runs each target inside one catch-all (:meth:`Daemon._guard`): an error of one target,
ours or not, is logged through the JSON logger, counted in ``predictor_errors_total`` and
recorded as the target's last error, and the job goes on with the next target. ``now`` is read
from the clock once per cycle (once per retrain, when it starts) and passed down. ``stop``
(SIGTERM) ends every job between targets and abandons a running retrain.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pandas as pd

from predictor.actuation import pods as pod_startups
from predictor.actuation import scaledobject as so
from predictor.actuation.cluster import Cluster
from predictor.actuation.errors import ScaledObjectGone
from predictor.config import Settings
from predictor.config.events import events_for
from predictor.daemon import cold_start, discovery, persist, retrain
from predictor.daemon import status as status_file
from predictor.daemon.capacity_jobs import CapacityJobs
from predictor.daemon.clock import Clock
from predictor.daemon.metrics import DaemonMetrics
from predictor.daemon.reconcile import Decision, reconcile_target
from predictor.daemon.retrain import Trained
from predictor.daemon.state import TargetState, TargetTable, TunedChoice
from predictor.daemon.tune_jobs import TuneJobs
from predictor.errors import ActuationError, ConfigError, ForecastError, PredictorError, SourceError
from predictor.forecasting.store import ModelStore, TrainingInputs
from predictor.runtime.targets import source_for, token_sources_for

log = logging.getLogger("predictor.daemon")


def _budget_note(trained: Trained) -> str | None:
    """One line when the fit time budget dropped candidates, else None."""
    if not trained.skipped:
        return None
    budget = f"{trained.budget_s:.1f} s" if trained.budget_s is not None else "its"
    dropped = ", ".join(sorted(trained.skipped))
    why = next(iter(trained.skipped.values()))
    return f"fit time budget ({budget} of retrain_timeout_s): skipped {dropped} ({why})"


def error_kind(error: BaseException) -> str:
    """A short label for the errors metric."""
    for kind, types in (
        ("source", SourceError),
        ("forecast", ForecastError),
        ("actuation", ActuationError),
        ("config", ConfigError),
    ):
        if isinstance(error, types):
            return kind
    return "internal"


class Daemon(TuneJobs, CapacityJobs):
    """All managed targets, and the jobs run on them (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        cluster: Cluster | None,
        store: ModelStore,
        metrics: DaemonMetrics,
        clock: Clock,
        is_leader: Callable[[], bool] = lambda: True,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
        read_only: bool = False,
    ) -> None:
        self.settings = settings
        self.cluster = cluster
        self.store = store
        self.files = persist.TargetFiles(settings.state_dir)
        self.metrics = metrics
        self.clock = clock
        self.is_leader = is_leader
        self.stop = stop or threading.Event()
        self.read_only = read_only  # `predictor status`: nothing is written, not even to state_dir
        self.targets = TargetTable(
            [
                TargetState.create(
                    t,
                    source_for(settings, t),
                    events=tuple(events_for(settings, t)),
                    demand=token_sources_for(settings, t),
                )
                for t in settings.targets
            ]
        )
        self._rng = rng or random.Random()
        self._service_fits: dict[str, tuple[pd.Timestamp, TrainingInputs, Trained]] = {}
        self._invalid: dict[str, str] = {}  # opted-in objects whose declaration is invalid, said once
        self._saved: dict[str, str] = {}  # what was last written to each target's memory file
        self._started = time.monotonic()
        self._last_progress: float | None = None  # the end of the last reconcile cycle
        self._restored = False
        self._status = "{}"  # the last cycle's status document, JSON
        self._count_targets()

    # Start-up.

    def restore(self) -> int:
        """Load every target's stored model and memory, and schedule its first retrain; returns the
        number of models loaded. A restarted daemon forecasts before Prometheus answers."""
        now = self.clock.now()
        loaded = 0
        for rt in self.targets.snapshot():
            with self._guard(rt, "restore", "cannot restore the target"):
                loaded += self._restore(rt, now)
        self._restored = True
        return loaded

    def _restore(self, rt: TargetState, now: pd.Timestamp) -> int:
        try:
            saved = self.files.load(rt.name)
        except ValueError as e:
            log.warning("ignoring the target's memory file: %s", e, extra={"target": rt.name})
            saved = None
        if saved is not None:
            rt.uid, rt.memory, rt.startups = saved.uid, saved.memory, saved.startups
            self._restore_tuned(rt, saved.tuned, now)
            self._saved[rt.name] = str(saved.to_json())
            if rt.settings.cold_start.learn:
                rt.cold_start = cold_start.learned(
                    rt.startups, rt.settings.cold_start, rt.configured_cold_start
                )
        try:
            rt.artifact = self.store.load(rt.name)
        finally:
            self._schedule_first_retrain(rt, now)
        self._publish_lead_time(rt)
        self._publish_policy(rt)
        if rt.artifact is None:
            return 0
        if rt.tuning.enabled and rt.tune_job.due_at is None and rt.model_problem() is None:
            rt.tune_job.due_at = now  # a usable model is there: tune now, not after the next retrain
        self._publish_model(rt, now)
        log.info(
            "loaded model %s trained on data up to %s",
            rt.artifact.kind,
            rt.artifact.trained_at,
            extra={"target": rt.name},
        )
        return 1

    def _restore_tuned(self, rt: TargetState, choice: TunedChoice | None, now: pd.Timestamp) -> None:
        """Put a stored tuning back in force and schedule the next one when it is due."""
        if choice is None:
            return
        if not rt.apply_tuned(choice):
            why = "self-tuning is off" if not rt.tuning.enabled else "it is no longer a candidate"
            log.info("not using the stored tuning %s: %s", choice.label, why, extra={"target": rt.name})
            return
        rt.tune_job.due_at = max(now, choice.tuned_at + pd.Timedelta(seconds=rt.tuning.interval_s))
        log.info(
            "sizing with the stored tuning %s from %s",
            choice.label,
            choice.tuned_at,
            extra={"target": rt.name},
        )

    def _schedule_first_retrain(self, rt: TargetState, now: pd.Timestamp) -> None:
        stale = rt.stale_inputs() if rt.artifact is not None else []
        no_tokens = rt.tokens is not None and rt.token_models is None  # token models live in memory
        if rt.artifact is None or rt.model_problem() or stale or no_tokens:
            if stale:
                log.info(
                    "the stored model is stale: %s; retraining first",
                    "; ".join(stale),
                    extra={"target": rt.name},
                )
            rt.retrain.due_at = now
            return
        rt.retrain.due_at = max(now, self._next_retrain(rt.artifact.trained_at))

    def _next_retrain(self, data_end: pd.Timestamp) -> pd.Timestamp:
        """When a model whose data ends at ``data_end`` is retrained: the interval plus a jitter
        drawn afresh each time, so delays never add up."""
        schedule = self.settings.schedule
        jitter_s = self._rng.uniform(0, schedule.retrain_jitter_s)
        return data_end + pd.Timedelta(seconds=schedule.retrain_interval_s + jitter_s)

    # Discovery.

    def discover(self) -> discovery.Comparison:
        """Reconcile the discovered targets with the opted-in ScaledObjects (see :mod:`.discovery`)."""
        if self.cluster is None or not self.settings.kubernetes.namespaces:
            return discovery.Comparison()
        try:
            views = self.cluster.scaled_objects.list_opted_in()
        except PredictorError as e:  # a failed listing is no opt-out: nothing changes
            self.metrics.of(self.metrics.errors, "(discovery)", error_kind(e)).inc()
            log.warning("cannot list opted-in ScaledObjects: %s", e, extra={"kind": error_kind(e)})
            return discovery.Comparison()
        managed = self.targets.snapshot()
        found = discovery.compare(
            views,
            self.settings,
            discovered={rt.name: rt.settings for rt in managed if rt.origin == "discovered"},
            configured_objects={str(rt.ref) for rt in managed if rt.origin == "config"},
        )
        for ref, problem in found.invalid.items():
            if self._invalid.get(ref) != problem:  # say it once, not every pass
                log.warning("not managing it: %s", problem, extra={"scaled_object": ref})
        self._invalid = found.invalid
        now = self.clock.now()
        for name in found.removed:
            rt = self.targets.get(name)
            if rt is not None:
                with self._guard(rt, "discover", "cannot hand the ScaledObject back"):
                    self._opted_out(rt)
        for name, target in found.changed.items():
            rt = self.targets.get(name)
            if rt is not None:
                with self._guard(rt, "discover", "cannot apply the changed declaration"):
                    self._redeclared(rt, target, now)
        for name, target in found.added.items():
            rt = TargetState.create(
                target,
                source_for(self.settings, target),
                "discovered",
                events=tuple(events_for(self.settings, target)),
                demand=token_sources_for(self.settings, target),
            )
            with self._guard(rt, "discover", "cannot restore the discovered target"):
                self._restore(rt, now)
            self.targets.put(rt)
            log.info("discovered", extra={"target": name, "scaled_object": str(rt.ref), "mode": rt.mode})
        self._count_targets()
        return found

    def _opted_out(self, rt: TargetState) -> None:
        """No longer opted in (or deleted): hand the object back if we patched it, and forget it."""
        self.targets.remove(rt.name)
        self.metrics.forget(rt.name)
        self.files.delete(rt.name)
        self._saved.pop(rt.name, None)
        log.info("no longer opted in: not managing it any more", extra={"target": rt.name})
        if rt.mode == "patch":
            self._hand_back(rt)

    def _redeclared(self, rt: TargetState, target: discovery.TargetSettings, now: pd.Timestamp) -> None:
        before = rt.mode
        fresh = rt.reconfigured(
            target,
            source_for(self.settings, target),
            events=tuple(events_for(self.settings, target)),
            demand=token_sources_for(self.settings, target),
        )
        if fresh.model_problem() or fresh.stale_inputs():
            fresh.retrain.due_at = now
        if fresh.mode != before:
            self.metrics.forget(rt.name)  # series of the old mode (e.g. the metric-mode floor)
        self.targets.put(fresh)
        log.info(
            "the declaration changed",
            extra={"target": rt.name, "mode": fresh.mode, "inputs": fresh.stale_inputs() or None},
        )
        if before == "patch" and fresh.mode != "patch":
            self._hand_back(fresh)
            fresh.memory = so.FloorMemory()

    def _hand_back(self, rt: TargetState) -> None:
        """Restore the baseline and remove predictor's annotations: the leader's job."""
        if self.cluster is None or not self.is_leader():
            return
        try:
            result = self.cluster.scaled_objects.restore_baseline(
                rt.ref, remembered=rt.memory, may_write=self.is_leader
            )
        except ScaledObjectGone:
            return  # deleted: nothing to hand back
        log.info(
            "handed back: %s", result.outcome, extra={"target": rt.name, "floor": result.after.min_replicas}
        )

    # Retraining.

    def retrain_due(self) -> list[str]:
        """Retrain, one at a time, every target whose retrain is due; returns their names."""
        ran = []
        for rt in self.targets.snapshot():
            if self.stop.is_set():
                break
            if rt.gone or not rt.retrain.is_due(self.clock.now()):
                continue
            self.retrain(rt.name)
            ran.append(rt.name)
        return ran

    def retrain_all(self) -> int:
        """Retrain every target now (``predictor run --once``, tests); returns how many succeeded."""
        return sum(self.retrain(rt.name) for rt in self.targets.snapshot() if not self.stop.is_set())

    def retrain(self, name: str) -> bool:
        """Retrain one target; on failure the old model stays and a retry is scheduled."""
        rt = self.targets.get(name)
        if rt is None or rt.gone:
            return False
        now = self.clock.now()
        schedule = self.settings.schedule
        shared = self._service_fit(rt, now)
        if shared is not None:  # a sibling role of the same service was just fitted: one forecast
            self._trained(rt, now, shared, 0.0)
            return True
        started = time.monotonic()
        deadline = started + schedule.retrain_timeout_s
        try:
            trained = retrain.run_exclusive(
                rt.retrain,
                lambda: retrain.train(rt, now, deadline=deadline, timeout_s=schedule.retrain_timeout_s),
                noun="retrain",
                timeout_s=schedule.retrain_timeout_s,
                stop=self.stop,
                what=rt.name,
            )
        except Exception as e:  # the catch-all of this job: any error of this target, or abandoned
            self._retrain_failed(rt, now, e)
            return False
        self._trained(rt, now, trained, time.monotonic() - started)
        if rt.settings.service is not None:
            self._service_fits[rt.settings.service] = (now, rt.inputs, trained)
        return True

    def _service_fit(self, rt: TargetState, now: pd.Timestamp) -> Trained | None:
        """The fit of another role of ``rt``'s service made in this retrain round (within half a
        retrain interval, on the same inputs), which ``rt`` shares; ``None`` if there is none."""
        service = rt.settings.service
        found = None if service is None else self._service_fits.get(service)
        if found is None:
            return None
        at, inputs, trained = found
        fresh = 0 <= (now - at).total_seconds() < self.settings.schedule.retrain_interval_s / 2
        return trained if fresh and inputs == rt.inputs else None

    def _trained(self, rt: TargetState, now: pd.Timestamp, trained: Trained, seconds: float) -> None:
        artifact = trained.artifact
        try:
            self.store.save(rt.name, artifact)
        except ForecastError as e:  # the model still serves from memory
            self._failed(rt, e, "cannot store the model", "retrain")
        rt.artifact = artifact
        rt.holiday_level = trained.holiday_level
        rt.token_models = trained.token_models
        rt.fit_note = _budget_note(trained)
        if rt.fit_note:
            log.info(rt.fit_note, extra={"target": rt.name})
        next_at = self._next_retrain(artifact.trained_at)
        if next_at <= now:  # the history lags by more than an interval: retraining at once would not help
            lag_h = (now - artifact.trained_at).total_seconds() / 3600
            why = f"the newest data is {lag_h:.1f} h old"
            wait_s = rt.retrain.failed(
                now,
                why,
                first_s=self.settings.schedule.retrain_retry_s,
                max_s=self.settings.schedule.retrain_retry_max_s,
            )
            log.warning("trained, but %s; next try in %.0f s", why, wait_s, extra={"target": rt.name})
        else:
            rt.retrain.succeeded(next_at)
        if rt.tuning.enabled and rt.tune_job.due_at is None:
            rt.tune_job.due_at = now  # the first tuning, once there is a model
        self.metrics.of(self.metrics.training_duration, rt.name).set(seconds)
        self.metrics.of(self.metrics.retrain_failures, rt.name).set(rt.retrain.failures)
        self._publish_model(rt, now)
        log.info(
            "trained %s on %d points in %.2f s; next retrain at %s",
            artifact.kind,
            trained.points,
            seconds,
            rt.retrain.due_at,
            extra={"target": rt.name, "model": artifact.kind, "fallback": trained.fallback_reason},
        )

    def _retrain_failed(self, rt: TargetState, now: pd.Timestamp, error: BaseException) -> None:
        schedule = self.settings.schedule
        wait_s = rt.retrain.failed(
            now, str(error), first_s=schedule.retrain_retry_s, max_s=schedule.retrain_retry_max_s
        )
        self.metrics.of(self.metrics.retrain_failures, rt.name).set(rt.retrain.failures)
        what = "forecasting from the last model" if rt.artifact is not None else "no model yet"
        self._failed(rt, error, f"retrain failed ({what}); retrying in {wait_s:.0f} s", "retrain")

    # Shared by the jobs.

    def _object_event(self, rt: TargetState, now: pd.Timestamp, reason: str, message: str) -> None:
        """An Event on the target's object: best-effort, by the leader, in patch and metric modes."""
        if self.cluster is None or rt.mode == "dry-run" or self.read_only or not self.is_leader():
            return
        try:
            view = self.cluster.scaled_objects.get(rt.ref)
            self.cluster.scaled_objects.emit_event(view, reason, message, at=now.to_pydatetime(warn=False))
        except PredictorError as error:
            self.metrics.of(self.metrics.errors, rt.name, "event").inc()
            log.warning("cannot record the %s Event: %s", reason, error, extra={"target": rt.name})

    # Reconciling.

    def reconcile_all(self, *, write_status: bool = True) -> list[Decision]:
        """One reconcile cycle over every target, all with the same ``now``; then the status file."""
        now = self.clock.now()
        started = time.perf_counter()
        decisions = []
        for rt in self.targets.snapshot():
            if self.stop.is_set():
                break
            decisions.append(self._reconcile(rt, now))
            if rt.artifact is not None:
                age_s = (now - rt.artifact.trained_at).total_seconds()
                self.metrics.of(self.metrics.model_age, rt.name).set(age_s)
            self._save(rt)
        self.metrics.reconcile_duration.set(time.perf_counter() - started)
        self._last_progress = time.monotonic()
        self.metrics.last_reconcile.set(now.timestamp())
        payload = status_file.status_payload(now, decisions, self.targets.snapshot())
        self._status = status_file.status_json(payload)
        if write_status and not self.read_only:
            try:
                status_file.write_status(self.settings.state_dir, payload)
            except OSError as e:
                log.warning("cannot write the status file: %s", e)
        return decisions

    def status_document(self) -> str:
        """The last reconcile cycle's status as JSON (what /status serves); ``{}`` before the first."""
        return self._status

    def _reconcile(self, rt: TargetState, now: pd.Timestamp) -> Decision:
        try:
            return reconcile_target(
                rt, now, cluster=self.cluster, metrics=self.metrics, may_write=self.is_leader
            )
        except ScaledObjectGone as e:
            if not rt.gone:  # counted and logged once; read again every cycle, in case it comes back
                self._failed(rt, e, "the ScaledObject is gone; waiting for it to come back", "reconcile")
            rt.gone, rt.state, rt.plan = True, "gone", None
            self.metrics.set_state(rt.name, "gone")
            return Decision(rt.name, rt.mode, "gone", None, None, None, None, "skipped", str(e))
        except Exception as e:  # one target's failure, ours or not, never stops the cycle
            self._failed(rt, e, "reconcile failed", "reconcile")
            return Decision(rt.name, rt.mode, rt.state, None, None, None, None, "failed", str(e))

    # Observing.

    def observe_all(self) -> None:
        """The live forecast error of every target, and the pod start-ups of those that learn
        their cold start."""
        now = self.clock.now()
        for rt in self.targets.snapshot():
            if self.stop.is_set():
                break
            if rt.gone:
                continue
            with self._guard(rt, "observe", "cannot read the latest actuals"):
                self._observe_error(rt, now)
            if rt.settings.cold_start.learn and self.cluster is not None:
                with self._guard(rt, "observe", "cannot read pod start-ups"):
                    self._observe_startups(rt)
            if rt.settings.pod_metrics_selector:
                with self._guard(rt, "observe", "cannot check the capacity per pod"):
                    self._check_capacity(rt, now)
            self._save(rt)

    def _observe_error(self, rt: TargetState, now: pd.Timestamp) -> None:
        if rt.artifact is None or rt.model_problem():
            return
        step = pd.Timedelta(seconds=rt.artifact.step_s)
        end = now.floor(step)
        actual = rt.source.fetch(end - 3 * step, end, rt.artifact.step_s).dropna()
        if actual.empty:  # missing, not zero: nothing to compare
            return
        at = actual.index[-1]
        forecast = float(rt.artifact.model.predict(at, 1, (0.5,)).mean[0])
        if forecast > 0:
            self.metrics.of(self.metrics.live_error, rt.name).set(
                (float(actual.iloc[-1]) - forecast) / forecast
            )

    def _observe_startups(self, rt: TargetState) -> None:
        assert self.cluster is not None
        cold = rt.settings.cold_start
        view = self.cluster.scaled_objects.get(rt.ref)
        selector = self.cluster.workloads.scale_target_selector(view)
        if selector.selector is None:
            log.info("cannot learn the cold start: %s", selector.reason, extra={"target": rt.name})
            return
        listed = self.cluster.workloads.list_pods(selector.namespace, selector.selector)
        readiness = pod_startups.pod_readiness(listed, selector.group_label)
        for rejected in rt.startups.observe(readiness, max_s=cold.learn_max_s):
            log.info("a start-up not counted: %s", rejected, extra={"target": rt.name})
        ours = cold_start.learned(rt.startups, cold, rt.configured_cold_start)
        if ours.source == "learned" or rt.cold_start.source != "learned":
            rt.cold_start = ours
        self._publish_lead_time(rt)
        if rt.cold_start.source != "learned":
            return
        seconds, samples = rt.cold_start.seconds, rt.cold_start.samples
        rt.memory = replace(rt.memory, cold_start_s=seconds, cold_start_samples=samples)
        if rt.mode in ("patch", "metric") and self.is_leader():  # recorded for a restart or a new leader
            text = so.cold_start_annotation(seconds, samples)
            self.cluster.scaled_objects.annotate(
                rt.ref, lambda _: {so.COLD_START_LEARNED_ANNOTATION: text}, may_write=self.is_leader
            )

    # Probes.

    def alive(self) -> tuple[bool, dict[str, object]]:
        """Alive while reconcile cycles keep completing: a wedged loop fails the liveness probe."""
        since = time.monotonic() - (self._last_progress or self._started)
        limit = self.settings.schedule.liveness_timeout_s
        return since <= limit, {"seconds_since_last_reconcile": round(since, 1), "limit_s": limit}

    def ready(self) -> tuple[bool, dict[str, object]]:
        """Ready once the daemon can act: its state restored and a first reconcile cycle done.
        A target without a model never holds the pod back (see its state and ``predictor status``)."""
        waiting = sorted(rt.name for rt in self.targets.snapshot() if rt.model_problem() and not rt.gone)
        ready = self._restored and self._last_progress is not None
        return ready, {"targets": len(self.targets), "without_model": waiting}

    # Shared.

    @contextlib.contextmanager
    def _guard(self, rt: TargetState, job: str, what: str) -> Iterator[None]:
        """The one catch-all per target per job: log, count, remember; never let it stop the job."""
        try:
            yield
        except Exception as e:
            self._failed(rt, e, what, job)

    def _failed(self, rt: TargetState, error: BaseException, what: str, job: str) -> None:
        kind = error_kind(error)
        rt.last_error = f"{what}: {error}"
        self.metrics.of(self.metrics.errors, rt.name, kind).inc()
        unexpected = not isinstance(error, PredictorError)
        log.warning(
            "%s: %s",
            what,
            error,
            exc_info=error if unexpected else None,
            extra={"target": rt.name, "kind": kind, "job": job},
        )

    def _save(self, rt: TargetState) -> None:
        """Write the target's memory file when its memory or start-ups changed."""
        saved = persist.SavedTarget(rt.uid, rt.memory, rt.startups, rt.tuned)
        text = str(saved.to_json())
        if self.read_only or self._saved.get(rt.name) == text or rt.name not in self.targets:
            return
        try:
            self.files.save(rt.name, saved)
        except OSError as e:
            log.warning("cannot write the target's memory file: %s", e, extra={"target": rt.name})
            return
        self._saved[rt.name] = text

    def _count_targets(self) -> None:
        snapshot = self.targets.snapshot()
        for origin in ("config", "discovered"):
            self.metrics.targets.labels(origin).set(sum(rt.origin == origin for rt in snapshot))

    def _publish_lead_time(self, rt: TargetState) -> None:
        """One lead-time series per target, labelled with where the cold start came from."""
        for source in ("configured", "learned"):
            if source != rt.cold_start.source:
                self.metrics.drop(self.metrics.lead_time, rt.name, source)
        lead = rt.cold_start.lead_time_s(rt.policy.floor.margin_s)
        self.metrics.of(self.metrics.lead_time, rt.name, rt.cold_start.source).set(lead)

    def _publish_model(self, rt: TargetState, now: pd.Timestamp) -> None:
        assert rt.artifact is not None
        self.metrics.set_model(rt.name, rt.artifact.kind, dict(rt.artifact.scores))
        age_s = (now - rt.artifact.trained_at).total_seconds()
        self.metrics.of(self.metrics.model_age, rt.name).set(age_s)
        self._publish_lead_time(rt)
