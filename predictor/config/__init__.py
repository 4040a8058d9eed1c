"""Configuration: one YAML file, environment overrides, serving profiles from ``models/``."""

from predictor.config.coldstart import ColdStartSettings
from predictor.config.loading import format_settings, load_events, load_settings
from predictor.config.profiles import ServingProfile, list_profiles, load_profile
from predictor.config.settings import (
    KubernetesSettings,
    PolicySettings,
    PrometheusSettings,
    ScheduleSettings,
    ServerSettings,
    ServiceSettings,
    Settings,
    SyntheticHistorySettings,
    TargetCapacity,
    TargetSettings,
)
from predictor.config.targets import resolve_target

__all__ = [
    "ColdStartSettings",
    "KubernetesSettings",
    "PolicySettings",
    "PrometheusSettings",
    "ScheduleSettings",
    "ServerSettings",
    "ServiceSettings",
    "ServingProfile",
    "Settings",
    "SyntheticHistorySettings",
    "TargetCapacity",
    "TargetSettings",
    "format_settings",
    "list_profiles",
    "load_events",
    "load_profile",
    "load_settings",
    "resolve_target",
]
