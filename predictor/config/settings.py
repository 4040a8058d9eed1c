"""The typed, frozen settings of predictor. Every field carries its unit in its name.

Values come from one YAML file and from the environment (``PREDICTOR_`` prefix, ``__`` between
nested keys, e.g. ``PREDICTOR_POLICY__UTILIZATION_TARGET=0.6``); the environment wins.
Per-target ``policy`` keys override the top-level ``policy`` defaults, and a target's
``capacity.profile`` supplies any capacity and cold-start number the target leaves out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from predictor.config.events import EventSettings, HolidaySettings, check_event_lists
from predictor.config.groups import (
    ActuationMode,
    KubernetesSettings,
    ModelChoice,
    PolicySettings,
    PrometheusSettings,
    ScheduleSettings,
    ServerSettings,
)
from predictor.config.services import ServiceSettings, check_service_groups, resolve_services
from predictor.config.targets import (
    SyntheticHistorySettings,
    TargetCapacity,
    TargetSettings,
    apply_profile,
    as_dict,
    check_unique,
)

__all__ = [
    "ActuationMode",
    "KubernetesSettings",
    "ModelChoice",
    "PolicySettings",
    "PrometheusSettings",
    "ScheduleSettings",
    "ServerSettings",
    "ServiceSettings",
    "Settings",
    "SyntheticHistorySettings",
    "TargetCapacity",
    "TargetSettings",
]


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
    events: list[EventSettings] = Field(
        default_factory=list, description="Known events of every target (launches, batches, campaigns)."
    )
    holidays: HolidaySettings | None = Field(None, description="Holiday calendar of every target.")
    services: list[ServiceSettings] = Field(
        default_factory=list,
        description="Disaggregated services declared once; each adds one target per role to targets.",
    )

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

    @model_validator(mode="after")
    def _events_agree(self) -> Settings:
        check_event_lists(self.events, self.targets)
        return self

    @model_validator(mode="after")
    def _age_limit_covers_a_retrain(self) -> Settings:
        """Every model must be retrained before it ages out: the age limit must exceed the retrain
        interval, its largest jitter and the longest a retrain may take."""
        gap = self.schedule.longest_retrain_gap_s
        policies: list[tuple[tuple[str | int, ...], PolicySettings]] = [
            (("policy", "max_forecast_age_s"), self.policy)
        ]
        policies += [
            (("targets", i, "policy", "max_forecast_age_s"), t.policy) for i, t in enumerate(self.targets)
        ]
        for path, policy in policies:
            if policy.max_forecast_age_s <= gap:
                s = self.schedule
                raise PydanticCustomError(
                    "age_limit_too_short",
                    "{age} s must exceed schedule.retrain_interval_s + retrain_jitter_s + "
                    "retrain_timeout_s ({interval} + {jitter} + {timeout} = {gap} s), or models age "
                    "out before they are retrained; raise it or retrain more often",
                    {
                        "age": policy.max_forecast_age_s,
                        "interval": s.retrain_interval_s,
                        "jitter": s.retrain_jitter_s,
                        "timeout": s.retrain_timeout_s,
                        "gap": gap,
                        "path": path,
                    },
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _resolve_targets(cls, data: Any) -> Any:
        data = resolve_services(data)
        if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
            return data
        defaults = as_dict(data.get("policy"))
        profiles_dir = data.get("profiles_dir")
        resolved = []
        for index, target in enumerate(data["targets"]):
            if isinstance(target, dict):
                target = apply_profile(dict(target), index, Path(profiles_dir) if profiles_dir else None)
                if isinstance(target.get("policy", {}), dict):
                    target["policy"] = {**defaults, **target.get("policy", {})}
            resolved.append(target)
        check_unique(resolved)
        return {**data, "targets": resolved}

    @model_validator(mode="after")
    def _services_share_a_forecast(self) -> Settings:
        check_service_groups(self.targets)
        return self
