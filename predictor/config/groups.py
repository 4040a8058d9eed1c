"""The setting groups of the configuration file: Prometheus, Kubernetes, schedule, server, policy.

Every field carries its unit in its name; all models are frozen and reject unknown keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError

from predictor.config.calibration import Objectives

FROZEN = ConfigDict(frozen=True, extra="forbid")  # every settings model: immutable, no unknown keys

ModelChoice = Literal[
    "auto", "seasonal_naive", "seasonal_naive_weekly", "holt_winters", "mstl", "prophet", "harmonic"
]
ActuationMode = Literal["patch", "metric", "dry-run"]
Quantile = Annotated[float, Field(ge=0.5, lt=1)]
Buffer = Annotated[float, Field(ge=0, le=5)]


class PrometheusSettings(BaseModel):
    """Where the request-rate history is read from."""

    model_config = FROZEN

    url: str = Field(
        "http://localhost:9090",
        description="Base URL of the Prometheus HTTP API; a password in it (user:pass@) is masked "
        "wherever it is shown.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra HTTP headers sent with every query, e.g. {X-Scope-OrgID: tenant} for "
        "Mimir, Cortex or Thanos; credential-bearing values are masked in `config show`.",
    )
    bearer_token_file: Path | None = Field(
        None, description="File holding a bearer token sent as 'Authorization: Bearer'."
    )
    basic_auth_username: str | None = Field(None, description="Username for HTTP basic auth.")
    basic_auth_password: SecretStr | None = Field(
        None, description="Password for HTTP basic auth (masked in `config show`)."
    )
    ca_bundle_file: Path | None = Field(
        None, description="CA bundle used to verify the server's TLS certificate."
    )
    insecure_skip_verify: bool = Field(False, description="Skip TLS verification (testing only).")
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one HTTP request, seconds.")
    retries: int = Field(2, ge=0, le=10, description="Retries of a failed request before the read fails.")
    max_points_per_query: int = Field(
        11_000,
        ge=100,
        le=11_000,
        description="Points per range query; longer ranges are split (server max 11,000).",
    )


class KubernetesSettings(BaseModel):
    """How predictor reaches the Kubernetes API, and which namespaces it watches."""

    model_config = FROZEN

    mode: Literal["auto", "in-cluster", "kubeconfig", "offline"] = Field(
        "auto",
        description="Credentials: in-cluster service account, a kubeconfig, auto (in-cluster if present), "
        "or offline (no cluster: dry-run or metric only, bounds from each target's offline_* settings).",
    )
    kubeconfig_path: Path | None = Field(
        None, description="Kubeconfig file; default is $KUBECONFIG or ~/.kube/config."
    )
    context: str | None = Field(None, description="Kubeconfig context; default is the current context.")
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces watched for opt-in ScaledObjects; empty = none."
    )
    discovery_label: str = Field(
        "predictor.io/enabled", description="Label (value 'true') that opts a ScaledObject in to discovery."
    )
    request_timeout_s: float = Field(10.0, gt=0, description="Timeout of one API request, seconds.")
    leader_election: bool = Field(True, description="Elect a leader on a Lease so several replicas can run.")
    lease_name: str = Field("predictor-leader", description="Name of the coordination.k8s.io Lease.")
    lease_namespace: str | None = Field(
        None, description="Namespace of the Lease; default is predictor's own."
    )
    lease_duration_s: int = Field(
        15, ge=5, description="How long a leader holds the Lease without renewing, seconds."
    )


class ScheduleSettings(BaseModel):
    """How often the daemon retrains models and reconciles floors, and how long work may take.

    A target is retrained ``retrain_interval_s`` plus a random delay of up to ``retrain_jitter_s``
    after the end of the data its model saw (drawn afresh for every retrain, so delays never add
    up); a failed or abandoned retrain is retried after ``retrain_retry_s``, doubling up to
    ``retrain_retry_max_s``. The age limit of a model (``policy.max_forecast_age_s``) must exceed
    ``retrain_interval_s + retrain_jitter_s + retrain_timeout_s``: checked at load.
    """

    model_config = FROZEN

    retrain_interval_s: int = Field(
        10_800, ge=60, description="Interval between retrains of one target, seconds."
    )
    retrain_jitter_s: int = Field(
        300, ge=0, description="Largest random delay added to each retrain, seconds."
    )
    retrain_timeout_s: int = Field(
        900,
        ge=1,
        description="Longest one retrain (history read and fit) may take; past it the retrain is "
        "abandoned, counted as failed and retried, seconds.",
    )
    retrain_retry_s: int = Field(
        60, ge=1, description="Wait before retrying a failed retrain; doubles after each failure, s."
    )
    retrain_retry_max_s: int = Field(
        1_800, ge=1, description="Longest wait between two retries of a failing retrain, seconds."
    )
    tune_timeout_s: int = Field(
        1_800,
        ge=1,
        description="Longest one self-tuning of a target (history read and replays) may take; past it "
        "the tuning is abandoned, the policy in force kept, and it is retried with backoff, seconds.",
    )
    reconcile_interval_s: float = Field(60, ge=1, description="Interval between reconcile cycles, seconds.")
    discovery_interval_s: float = Field(
        300,
        ge=1,
        description="Interval between looks for opted-in ScaledObjects in kubernetes.namespaces, s.",
    )
    observe_interval_s: float = Field(
        300,
        ge=1,
        description="Interval between reads of the latest actuals (live forecast error) and of pod "
        "start-ups (learned cold start), seconds.",
    )
    liveness_timeout_s: float = Field(
        600,
        gt=0,
        description="/healthz fails once no reconcile cycle has completed for this long, seconds.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleSettings:
        if self.retrain_retry_max_s < self.retrain_retry_s:
            raise PydanticCustomError(
                "retry_order",
                "retrain_retry_max_s ({high} s) must be at least retrain_retry_s ({low} s)",
                {
                    "high": self.retrain_retry_max_s,
                    "low": self.retrain_retry_s,
                    "field": "retrain_retry_max_s",
                },
            )
        if self.liveness_timeout_s <= self.reconcile_interval_s:
            raise PydanticCustomError(
                "liveness_too_short",
                "liveness_timeout_s ({live:g} s) must exceed reconcile_interval_s ({every:g} s), or a "
                "healthy daemon would fail its liveness probe between two cycles",
                {
                    "live": self.liveness_timeout_s,
                    "every": self.reconcile_interval_s,
                    "field": "liveness_timeout_s",
                },
            )
        return self

    @property
    def longest_retrain_gap_s(self) -> int:
        """The oldest a model gets before its retrain has run, when every retrain succeeds: the
        interval, the largest jitter and the longest a retrain may take, seconds."""
        return self.retrain_interval_s + self.retrain_jitter_s + self.retrain_timeout_s


class PolicySettings(BaseModel):
    """How forecasts become floors. Top-level values are defaults; a target may override any."""

    model_config = FROZEN

    history_window_days: float = Field(28.0, gt=0, le=400, description="History used to train a model, days.")
    model_step_s: int = Field(
        300, ge=60, le=3_600, description="Resolution of the model and the forecast, seconds."
    )
    model: ModelChoice = Field("auto", description="Forecaster, or auto to choose by backtest per target.")
    forecast_quantile: float = Field(
        0.9, ge=0.5, lt=1, description="Upper quantile of the forecast that sizes the floor (0.9 = p90)."
    )
    horizon_s: int = Field(
        21_600, ge=600, description="How far ahead the forecast and the plan reach, seconds."
    )
    utilization_target: float = Field(
        0.7, gt=0, le=1, description="Target utilisation of a pod that KEDA scales on, (0, 1]."
    )
    floor_utilization: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Share of a pod's capacity the floor is sized at, (0, 1]: the floor makes Ready "
        "capacity cover the forecast quantile; KEDA adds its own headroom above it.",
    )
    spike_buffer: float = Field(
        0.2,
        ge=0,
        le=5,
        description="Extra demand the floor covers, a fraction: ceil(exact pods * (1 + buffer)).",
    )
    floor_window: Literal["max", "pooled"] = Field(
        "max",
        description="Size the lead-time window on the max of the per-point quantiles, or on the "
        "quantile of the demand pooled over the window.",
    )
    cooldown_s: int = Field(
        1_800, ge=0, description="Wait after the last raise before the floor may go down, seconds."
    )
    max_step_down_pods: int = Field(2, ge=1, description="Largest single lowering of the floor, pods.")
    step_down_interval_s: int = Field(300, ge=0, description="Minimum time between two lowerings, seconds.")
    scale_down_window_s: int = Field(
        300,
        ge=0,
        description="KEDA's (the HPA's) scale-down stabilisation window; the floor is not lowered "
        "when the need returns within a cold start plus this window, seconds.",
    )
    lead_time_margin_s: int = Field(
        120,
        ge=0,
        description="Added to the cold start: one reconcile interval, KEDA's polling interval "
        "and the HPA sync period (15 s), seconds.",
    )
    max_replicas_cap: int | None = Field(
        None, ge=1, description="Never set a floor above this, even if maxReplicaCount allows it."
    )
    max_forecast_age_s: int = Field(
        21_600,
        ge=60,
        description="Past this age of the last fitted model, the floor steps back to the baseline, s.",
    )
    objective_shortfall_minutes_per_day: float = Field(
        1.5,
        ge=0,
        description="Objective of self-tuning: shortfall minutes per replayed day that are acceptable "
        "(either this or the share of reactive's below), minutes.",
    )
    objective_shortfall_share: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Objective of self-tuning: acceptable shortfall minutes as a share of what "
        "KEDA alone has on the same replay (0.1 = 10 %).",
    )
    tune: bool = Field(
        True,
        description="Re-tune quantile and buffer per target by replaying its own recent history.",
    )
    tune_history_days: float = Field(
        14.0, gt=0, le=60, description="Recent history replayed by self-tuning, days."
    )
    tune_interval_s: int = Field(86_400, ge=3_600, description="Interval between two tunings, seconds.")
    tune_reselect: bool = Field(
        False,
        description="Self-tuning replays the model choice at every replayed retrain (exact, about 3x "
        "the cost) instead of choosing it once and refitting that model.",
    )
    tune_min_quantile: float = Field(
        0.9, ge=0.5, lt=1, description="Self-tuning never sizes the floor on a lower quantile than this."
    )
    tune_quantiles: tuple[Quantile, ...] = Field(
        (0.7, 0.8, 0.9, 0.95),
        min_length=1,
        description="Quantiles self-tuning tries (those below tune_min_quantile are skipped).",
    )
    tune_buffers: tuple[Buffer, ...] = Field(
        (0.0, 0.1, 0.2, 0.3), min_length=1, description="Spike buffers self-tuning tries, fractions."
    )
    tune_margin: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A candidate meets the objective on the replay only within this share of its "
        "allowance (0.5 = half): the days ahead are not the replayed ones. When none does, the "
        "configured quantile and buffer stay (the least shortfall if the configured quantile is below "
        "tune_min_quantile).",
    )
    actuation_mode: ActuationMode = Field(
        "dry-run", description="patch the ScaledObject, publish a metric, or dry-run (log only; the default)."
    )
    # Capacity from production (vLLM's per-pod metrics); `predictor profiles observe` shows it.
    capacity_slo: Objectives = Field(
        default_factory=dict,
        description="Objectives at which observed capacity is measured, {<metric>_p<percentile>_s: seconds} "
        "with metric ttft, tpot, itl or e2el, e.g. {ttft_p99_s: 0.5}; empty = the calibrated profile's.",
    )
    observed_capacity_window_s: int = Field(
        604_800, ge=3_600, description="Recent window over which capacity per pod is observed, seconds."
    )
    observed_capacity_warmup_s: int = Field(
        900,
        ge=0,
        description="A pod's samples from its first seconds after its vLLM metrics appear are left out: "
        "warming pods under-report capacity, seconds.",
    )
    capacity_mismatch_margin: float = Field(
        0.25,
        ge=0,
        le=10,
        description="Flag the profile when observed capacity per pod differs from the configured one by "
        "more than this fraction (0.25 = 25 %).",
    )
    size_with_observed_capacity: bool = Field(
        False,
        description="Size with the observed capacity per pod instead of the profile's, where production "
        "measured it (opt-in).",
    )


class ServerSettings(BaseModel):
    """The daemon's HTTP endpoints (/metrics, /healthz, /readyz) and its logs."""

    model_config = FROZEN

    listen_address: str = Field("0.0.0.0", description="Address the HTTP server binds.")
    port: int = Field(8080, ge=0, le=65_535, description="Port of the HTTP server; 0 picks a free one.")
    log_format: Literal["json", "text"] = Field("json", description="Structured JSON logs, or readable text.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level logged."
    )
