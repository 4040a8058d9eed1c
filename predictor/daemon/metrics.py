"""The daemon's Prometheus metrics, on a registry passed in (tests give their own).

Per target (label ``target``): the forecast (mean and the sizing quantile, req/s) and whether it
was clamped to its plausibility bound, the recommended floor, the applied floor, the baseline,
the lead time, the chosen model and its backtest score, the live forecast error, the state, the
model's age, the training duration, consecutive retrain failures, and errors by kind; the sizing
quantile and spike buffer in force (self-tuned or configured), the last successful tuning, its
duration and consecutive failures; the capacity per pod configured and observed in production, and
whether the profile is off by more than the margin; and which known events are active
(``predictor_event_active``, label ``event``).
``predictor_recommended_min_replicas`` (labels ``namespace``, ``scaledobject``) is the metric a
KEDA trigger or ``scalingModifiers`` formula reads in ``metric`` mode.

Every per-target series is set through :meth:`DaemonMetrics.of`, which remembers it, so that
:meth:`DaemonMetrics.forget` removes all of a target's series when the target goes (an opt-out,
a deleted ScaledObject): no gauge stays frozen at its last value.
"""

from __future__ import annotations

import threading
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge

# no-model: no usable model yet, the floor is held as it stands (see predictor.daemon.reconcile).
STATES = ("healthy", "stale", "no-model", "fallback", "paused", "gone")
M = TypeVar("M", Gauge, Counter)


class DaemonMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        t = ["target"]
        self._series: dict[str, set[tuple[Gauge | Counter, tuple[str, ...]]]] = {}
        self._lock = threading.Lock()
        self.forecast_mean = Gauge(
            "predictor_forecast_mean_rps", "Forecast mean request rate now, req/s.", t, registry=registry
        )
        self.forecast_quantile = Gauge(
            "predictor_forecast_quantile_rps",
            "Forecast of the sizing quantile now, req/s.",
            [*t, "quantile"],
            registry=registry,
        )
        self.forecast_clamped = Gauge(
            "predictor_forecast_clamped",
            "1 when the last forecast was cut to its plausibility bound (see the target's status).",
            t,
            registry=registry,
        )
        self.floor_recommended = Gauge(
            "predictor_floor_recommended_replicas",
            "Floor the planner recommends now, pods.",
            t,
            registry=registry,
        )
        self.floor_applied = Gauge(
            "predictor_floor_applied_replicas",
            "minReplicaCount in force on the ScaledObject, pods.",
            t,
            registry=registry,
        )
        self.baseline = Gauge(
            "predictor_baseline_replicas", "The user's minReplicaCount, pods.", t, registry=registry
        )
        self.lead_time = Gauge(
            "predictor_lead_time_seconds",
            "Cold start plus margin, seconds.",
            [*t, "source"],
            registry=registry,
        )
        self.model = Gauge(
            "predictor_model_info", "The model in use (value 1).", [*t, "model"], registry=registry
        )
        self.model_mase = Gauge(
            "predictor_model_backtest_mase",
            "Backtest MASE of each candidate at the pre-warm horizons.",
            [*t, "model"],
            registry=registry,
        )
        self.live_error = Gauge(
            "predictor_forecast_error_ratio",
            "(actual - forecast) / forecast for the last complete bin; > 0 means under-forecast.",
            t,
            registry=registry,
        )
        self.state = Gauge(
            "predictor_target_state", "1 for the target's current state.", [*t, "state"], registry=registry
        )
        self.training_duration = Gauge(
            "predictor_training_duration_seconds",
            "Duration of the last retrain, seconds.",
            t,
            registry=registry,
        )
        self.retrain_failures = Gauge(
            "predictor_retrain_consecutive_failures",
            "Retrains of the target that failed in a row (0 after a success).",
            t,
            registry=registry,
        )
        self.model_age = Gauge(
            "predictor_model_age_seconds",
            "Age of the model in use: now minus the end of the data it saw, seconds.",
            t,
            registry=registry,
        )
        self.tuned_quantile = Gauge(
            "predictor_tuned_quantile",
            "Forecast quantile that sizes the floor now (self-tuned, or the configured one).",
            [*t, "source"],
            registry=registry,
        )
        self.tuned_buffer = Gauge(
            "predictor_tuned_buffer",
            "Spike buffer in force now, a fraction (self-tuned, or the configured one).",
            [*t, "source"],
            registry=registry,
        )
        self.tune_last_success = Gauge(
            "predictor_tune_last_success_timestamp_seconds",
            "Unix time (of the daemon's clock) of the last successful self-tuning.",
            t,
            registry=registry,
        )
        self.tune_duration = Gauge(
            "predictor_tune_duration_seconds",
            "Duration of the last self-tuning, seconds.",
            t,
            registry=registry,
        )
        self.tune_failures = Gauge(
            "predictor_tune_consecutive_failures",
            "Self-tunings of the target that failed in a row (0 after a success).",
            t,
            registry=registry,
        )
        self.capacity_configured = Gauge(
            "predictor_capacity_configured_rps_per_pod",
            "Capacity of one pod by the profile, at full use, req/s.",
            t,
            registry=registry,
        )
        self.capacity_observed = Gauge(
            "predictor_capacity_observed_rps_per_pod",
            "Capacity of one pod observed in production at the objectives, req/s (absent: no observation).",
            t,
            registry=registry,
        )
        self.capacity_off = Gauge(
            "predictor_capacity_off",
            "1 when observed capacity per pod differs from the profile's by more than the margin.",
            t,
            registry=registry,
        )
        self.errors = Counter(
            "predictor_errors",
            "Errors by kind (source, forecast, actuation, event, internal).",
            [*t, "kind"],
            registry=registry,
        )
        self.changes = Counter(
            "predictor_floor_changes",
            "Floor changes applied or recommended.",
            [*t, "direction", "mode"],
            registry=registry,
        )
        self.recommended_min_replicas = Gauge(
            "predictor_recommended_min_replicas",
            "The floor for KEDA to read in metric mode, pods.",
            ["namespace", "scaledobject"],
            registry=registry,
        )
        self.event_active = Gauge(
            "predictor_event_active",
            "1 while a window of the known event (or holiday calendar) covers now, else 0.",
            [*t, "event"],
            registry=registry,
        )
        self.leader = Gauge("predictor_is_leader", "1 while this replica holds the Lease.", registry=registry)
        self.targets = Gauge(
            "predictor_targets", "Targets managed, by origin.", ["origin"], registry=registry
        )
        self.reconcile_duration = Gauge(
            "predictor_reconcile_duration_seconds",
            "Duration of the last reconcile cycle, seconds.",
            registry=registry,
        )
        self.last_reconcile = Gauge(
            "predictor_last_reconcile_timestamp_seconds",
            "Unix time (of the daemon's clock) of the last reconcile cycle.",
            registry=registry,
        )

    def of(self, metric: M, target: str, *labels: str) -> M:
        """``metric`` for ``target`` (and any further label values), remembered for :meth:`forget`."""
        with self._lock:
            self._series.setdefault(target, set()).add((metric, (target, *labels)))
        return metric.labels(target, *labels)  # type: ignore[return-value]

    def published(self, target: str, namespace: str, scaled_object: str) -> Gauge:
        """The metric-mode floor of ``target``'s ScaledObject, remembered for :meth:`forget`."""
        with self._lock:
            self._series.setdefault(target, set()).add(
                (self.recommended_min_replicas, (namespace, scaled_object))
            )
        return self.recommended_min_replicas.labels(namespace, scaled_object)  # type: ignore[return-value]

    def drop(self, metric: Gauge | Counter, target: str, *labels: str) -> None:
        """Remove one series (e.g. the lead time under a source no longer in use)."""
        values = (target, *labels)
        with self._lock:
            self._series.get(target, set()).discard((metric, values))
        metric.remove(*values)  # a series never set is no error

    def forget(self, target: str) -> None:
        """Remove every series of ``target``."""
        with self._lock:
            series = self._series.pop(target, set())
        for metric, values in series:
            metric.remove(*values)

    def set_state(self, target: str, state: str) -> None:
        for candidate in STATES:
            self.of(self.state, target, candidate).set(1.0 if candidate == state else 0.0)

    def set_model(self, target: str, kind: str, scores: dict[str, float]) -> None:
        for name in scores:
            self.of(self.model, target, name).set(1.0 if name == kind else 0.0)
        if kind not in scores:
            self.of(self.model, target, kind).set(1.0)
        for name, mase in scores.items():
            self.of(self.model_mase, target, name).set(mase)
