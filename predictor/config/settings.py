"""The typed, frozen settings of predictor. Every field carries its unit in its name.

Values come from one YAML file and from the environment (``PREDICTOR_`` prefix, ``__`` between
nested keys, e.g. ``PREDICTOR_POLICY__UTILIZATION_TARGET=0.6``); the environment wins.
Per-target ``policy`` keys override the top-level ``policy`` defaults, and a target's
``capacity.profile`` supplies any capacity and cold-start number the target leaves out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from predictor.capacity import CapacityParams, Role
from predictor.capacity.formula import missing_fields
from predictor.config.coldstart import ColdStartSettings
from predictor.config.errors import describe_validation_error
from predictor.config.profiles import load_profile
from predictor.errors import ConfigError

_FROZEN = ConfigDict(frozen=True, extra="forbid")

ModelChoice = Literal[
    "auto", "seasonal_naive", "seasonal_naive_weekly", "holt_winters", "mstl", "prophet", "harmonic"
]
ActuationMode = Literal["patch", "metric", "dry-run"]


class PrometheusSettings(BaseModel):
    """Where the request-rate history is read from."""

    model_config = _FROZEN

    url: str = Field("http://localhost:9090", description="Base URL of the Prometheus HTTP API.")
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

    model_config = _FROZEN

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
    """How often the daemon retrains models and reconciles floors."""

    model_config = _FROZEN

    retrain_interval_s: int = Field(
        21_600, ge=60, description="Interval between retrains of one target, seconds."
    )
    retrain_jitter_s: int = Field(300, ge=0, description="Random delay added to each retrain, seconds.")
    reconcile_interval_s: float = Field(60, ge=1, description="Interval between reconcile cycles, seconds.")
    discovery_interval_s: float = Field(
        300,
        ge=1,
        description="Interval between looks for opted-in ScaledObjects in kubernetes.namespaces, s.",
    )
    observe_interval_s: float = Field(
        300,
        ge=1,
        description="Interval between reads of the latest actuals for the live forecast error, seconds.",
    )


class PolicySettings(BaseModel):
    """How forecasts become floors. Top-level values are defaults; a target may override any."""

    model_config = _FROZEN

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
    utilization_target: float = Field(0.7, gt=0, le=1, description="Target utilisation of a pod, (0, 1].")
    spike_buffer: float = Field(
        0.2, ge=0, le=5, description="Extra pods as a fraction: ceil(pods * (1 + buffer))."
    )
    cooldown_s: int = Field(
        1_800, ge=0, description="Wait after the last raise before the floor may go down, seconds."
    )
    max_step_down_pods: int = Field(2, ge=1, description="Largest single lowering of the floor, pods.")
    step_down_interval_s: int = Field(300, ge=0, description="Minimum time between two lowerings, seconds.")
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
    actuation_mode: ActuationMode = Field(
        "dry-run", description="patch the ScaledObject, publish a metric, or dry-run (log only; the default)."
    )


class ServerSettings(BaseModel):
    """The daemon's HTTP endpoints (/metrics, /healthz, /readyz) and its logs."""

    model_config = _FROZEN

    listen_address: str = Field("0.0.0.0", description="Address the HTTP server binds.")
    port: int = Field(8080, ge=0, le=65_535, description="Port of the HTTP server; 0 picks a free one.")
    log_format: Literal["json", "text"] = Field("json", description="Structured JSON logs, or readable text.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level logged."
    )


class SyntheticHistorySettings(BaseModel):
    """The built-in synthetic LLM trace as a target's history (demos, no data needed)."""

    model_config = _FROZEN

    seed: int = Field(0, description="Seed of the trace.")
    base_rps: float = Field(6.0, gt=0, description="Night-time request rate, req/s.")
    peak_rps: float = Field(120.0, gt=0, description="Weekday peak request rate, req/s.")


class TargetCapacity(CapacityParams):
    """A target's capacity: a serving profile by name, plus any field overridden."""

    profile: str | None = Field(None, description="Serving profile in models/ (file name without .yaml).")


class TargetSettings(BaseModel):
    """One ScaledObject whose floor predictor manages."""

    model_config = _FROZEN

    name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$", description="Unique name of the target (metrics, CLI)."
    )
    scaled_object: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="The KEDA ScaledObject as namespace/name.",
    )
    query: str | None = Field(None, description="PromQL returning the request rate of the target in req/s.")
    history_file: Path | None = Field(
        None, description="CSV or Parquet history instead of a query (offline use, demos)."
    )
    history_value_column: str | None = Field(
        None, description="Value column of history_file; default is the first column after the timestamp."
    )
    history_counts: bool = Field(
        False, description="history_file holds request counts per bin instead of req/s."
    )
    history_synthetic: SyntheticHistorySettings | None = Field(
        None, description="Use the built-in synthetic trace as history instead of a query or a file."
    )
    role: Role = Field("aggregated", description="aggregated, prefill or decode (disaggregated serving).")
    capacity: TargetCapacity = Field(description="Capacity of one pod: a profile plus overrides.")
    cold_start: ColdStartSettings = Field(
        default_factory=ColdStartSettings,
        description="Cold start of one pod; default is the profile's stages.",
    )
    policy: PolicySettings = Field(default_factory=PolicySettings, description="Per-target policy overrides.")
    offline_min_replicas: int = Field(
        1, ge=0, description="The baseline assumed when kubernetes.mode is offline (no ScaledObject to read)."
    )
    offline_max_replicas: int = Field(
        100, ge=1, description="The maxReplicaCount assumed when kubernetes.mode is offline."
    )

    @model_validator(mode="after")
    def _complete(self) -> TargetSettings:
        given = [self.query is not None, self.history_file is not None, self.history_synthetic is not None]
        if sum(given) != 1:
            problem = (
                "set one of query (PromQL), history_file or history_synthetic"
                if not any(given)
                else "set only one of query, history_file and history_synthetic"
            )
            raise PydanticCustomError("target_load", problem, {"field": "query"})
        missing = missing_fields(self.capacity, self.role)
        if missing:
            raise PydanticCustomError(
                "target_capacity",
                "role '{role}' needs {missing}: name a profile or set them",
                {"role": self.role, "missing": ", ".join(missing), "field": "capacity"},
            )
        if self.cold_start.configured_s is None:
            raise PydanticCustomError(
                "target_cold_start",
                "no cold start: set total_s or stages_s, or name a profile that has stages",
                {"field": "cold_start"},
            )
        return self


class Settings(BaseSettings):
    """Everything predictor reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="PREDICTOR_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    state_dir: Path = Field(
        Path("predictor-state"), description="Where fitted models and their metadata are kept."
    )
    profiles_dir: Path | None = Field(
        None, description="Extra folder of serving profiles, searched before the bundled models/."
    )
    targets: list[TargetSettings] = Field(default_factory=list, description="The ScaledObjects to manage.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (passed as init values).
        return env_settings, init_settings

    @model_validator(mode="after")
    def _offline_is_dry_run(self) -> Settings:
        if self.kubernetes.mode != "offline":
            return self
        for index, target in enumerate(self.targets):
            if target.policy.actuation_mode == "patch":
                raise PydanticCustomError(
                    "offline_patch",
                    "actuation_mode patch needs a cluster; kubernetes.mode is offline",
                    {"path": ("targets", index, "policy", "actuation_mode")},
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _resolve_targets(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
            return data
        defaults = _as_dict(data.get("policy"))
        profiles_dir = data.get("profiles_dir")
        resolved = []
        for index, target in enumerate(data["targets"]):
            if isinstance(target, dict):
                target = _apply_profile(dict(target), index, Path(profiles_dir) if profiles_dir else None)
                if isinstance(target.get("policy", {}), dict):
                    target["policy"] = {**defaults, **target.get("policy", {})}
            resolved.append(target)
        _check_unique(resolved)
        return {**data, "targets": resolved}


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    return dict(value) if isinstance(value, dict) else {}


def _apply_profile(target: dict[str, Any], index: int, profiles_dir: Path | None) -> dict[str, Any]:
    """Fill the capacity, role and cold start a target leaves out from its serving profile."""
    capacity = target.get("capacity")
    if not isinstance(capacity, dict) or not capacity.get("profile"):
        return target
    try:
        profile = load_profile(str(capacity["profile"]), profiles_dir)
    except ConfigError as e:
        raise PydanticCustomError(
            "profile", "{problem}", {"problem": str(e), "path": ("targets", index, "capacity", "profile")}
        ) from e
    target["capacity"] = {**profile.capacity.model_dump(exclude_unset=True), **capacity}
    target.setdefault("role", profile.role)
    cold = target.get("cold_start")
    profile_cold = profile.cold_start.model_dump(exclude_unset=True)
    if cold is None:
        target["cold_start"] = profile_cold
    elif cold == "learn":
        target["cold_start"] = {**profile_cold, "learn": True}
    elif isinstance(cold, dict) and "total_s" not in cold and "stages_s" not in cold:
        target["cold_start"] = {**profile_cold, **cold}
    return target


def _check_unique(targets: list[Any]) -> None:
    seen_names: dict[str, int] = {}
    seen_objects: dict[str, int] = {}
    for index, target in enumerate(targets):
        if not isinstance(target, dict):
            continue
        for key, seen in (("name", seen_names), ("scaled_object", seen_objects)):
            value = target.get(key)
            if isinstance(value, str) and value in seen:
                raise PydanticCustomError(
                    "duplicate",
                    "'{value}' is already used by targets[{first}]; each target needs its own",
                    {"value": value, "first": seen[value], "path": ("targets", index, key)},
                )
            if isinstance(value, str):
                seen[value] = index


def resolve_target(raw: dict[str, Any], settings: Settings, *, source: str) -> TargetSettings:
    """Validate one target found outside the file (e.g. on a ScaledObject), as the file's targets are.

    The profile fills what ``raw`` leaves out and the top-level policy is the default; ``source``
    names where ``raw`` came from in the error message.
    """
    target = dict(raw)
    try:
        target = _apply_profile(target, 0, settings.profiles_dir)
        target["policy"] = {**settings.policy.model_dump(), **_as_dict(target.get("policy"))}
        return TargetSettings.model_validate(target)
    except ValidationError as e:
        lines = describe_validation_error(e, TargetSettings)
        raise ConfigError("; ".join(f"{source}: {line}" for line in lines)) from e
    except PydanticCustomError as e:
        raise ConfigError(f"{source}: {e.message()}") from e
