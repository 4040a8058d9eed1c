"""The daemon's Prometheus metrics, on a registry passed in (tests give their own).

Per target (label ``target``): the forecast (mean and the sizing quantile, req/s), the
recommended floor, the applied floor, the baseline, the lead time, the chosen model and its
backtest score, the live forecast error, the state, the training duration, and errors by kind.
``predictor_recommended_min_replicas`` (labels ``namespace``, ``scaledobject``) is the metric a
KEDA trigger or ``scalingModifiers`` formula reads in ``metric`` mode.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

STATES = ("healthy", "stale", "fallback", "paused", "gone")


class DaemonMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        t = ["target"]
        self.forecast_mean = Gauge(
            "predictor_forecast_mean_rps", "Forecast mean request rate now, req/s.", t, registry=registry
        )
        self.forecast_quantile = Gauge(
            "predictor_forecast_quantile_rps",
            "Forecast of the sizing quantile now, req/s.",
            [*t, "quantile"],
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
        self.model_age = Gauge(
            "predictor_model_age_seconds", "Age of the model in use, seconds.", t, registry=registry
        )
        self.errors = Counter(
            "predictor_errors",
            "Errors by kind (source, forecast, actuation, ...).",
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
        self.leader = Gauge("predictor_is_leader", "1 while this replica holds the Lease.", registry=registry)
        self.reconcile_duration = Gauge(
            "predictor_reconcile_duration_seconds",
            "Duration of the last reconcile cycle, seconds.",
            registry=registry,
        )
        self.last_reconcile = Gauge(
            "predictor_last_reconcile_timestamp_seconds",
            "Unix time of the last reconcile cycle.",
            registry=registry,
        )

    def set_state(self, target: str, state: str) -> None:
        for candidate in STATES:
            self.state.labels(target, candidate).set(1.0 if candidate == state else 0.0)

    def set_model(self, target: str, kind: str, scores: dict[str, float]) -> None:
        for name in scores:
            self.model.labels(target, name).set(1.0 if name == kind else 0.0)
        if kind not in scores:
            self.model.labels(target, kind).set(1.0)
        for name, mase in scores.items():
            self.model_mase.labels(target, name).set(mase)
