"""Targets: one managed ScaledObject each, with its load, capacity, cold start and policy.

A target's ``capacity.profile`` supplies any capacity and cold-start number the target leaves
out; its ``policy`` keys override the top-level policy. :func:`resolve_target` applies both to a
target found outside the file (an opted-in ScaledObject) exactly as the file's targets get them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from predictor.capacity import CapacityParams, Role
from predictor.capacity.formula import missing_fields
from predictor.config.coldstart import ColdStartSettings
from predictor.config.demand import SyntheticTokenSettings, check_token_signals
from predictor.config.errors import describe_validation_error
from predictor.config.events import EventSettings, HolidaySettings
from predictor.config.groups import FROZEN, PolicySettings
from predictor.config.profiles import load_profile
from predictor.errors import ConfigError


class SyntheticHistorySettings(BaseModel):
    """The built-in synthetic LLM trace as a target's history (demos, no data needed)."""

    model_config = FROZEN

    seed: int = Field(0, description="Seed of the trace.")
    base_rps: float = Field(6.0, gt=0, description="Night-time request rate, req/s.")
    peak_rps: float = Field(120.0, gt=0, description="Weekday peak request rate, req/s.")
    tokens: SyntheticTokenSettings | None = Field(
        None, description="Also generate prompt and output tokens/s, prompts longer in working hours."
    )


class TargetCapacity(CapacityParams):
    """A target's capacity: a serving profile by name, plus any field overridden."""

    profile: str | None = Field(None, description="Serving profile in models/ (file name without .yaml).")


class TargetSettings(BaseModel):
    """One ScaledObject whose floor predictor manages."""

    model_config = FROZEN

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
    prompt_tokens_query: str | None = Field(
        None, description="PromQL returning the prompt tokens/s of the target (with query); optional."
    )
    output_tokens_query: str | None = Field(
        None, description="PromQL returning the output tokens/s of the target (with query); optional."
    )
    history_prompt_tokens_column: str | None = Field(
        None, description="Column of history_file holding prompt tokens/s (counts with history_counts)."
    )
    history_output_tokens_column: str | None = Field(
        None, description="Column of history_file holding output tokens/s (counts with history_counts)."
    )
    service: str | None = Field(
        None,
        description="The disaggregated service this target is a role of; set by services:. Targets of "
        "one service share one forecast.",
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
    events: list[EventSettings] = Field(
        default_factory=list, description="Known events of this target, before the top-level ones."
    )
    holidays: HolidaySettings | None = Field(
        None, description="Holiday calendar of this target; replaces the top-level one ({} = none)."
    )
    pod_metrics_selector: str | None = Field(
        None,
        description="PromQL label matchers of the target's vLLM pods, e.g. "
        'namespace="inference",model_name="llama-3-70b": observed capacity reads their per-pod metrics.',
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

    @model_validator(mode="after")
    def _token_signals(self) -> TargetSettings:
        check_token_signals(self)
        return self


def as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    return dict(value) if isinstance(value, dict) else {}


def apply_profile(target: dict[str, Any], index: int, profiles_dir: Path | None) -> dict[str, Any]:
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


def check_unique(targets: list[Any]) -> None:
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


def resolve_target(
    raw: dict[str, Any], *, policy: PolicySettings, profiles_dir: Path | None, source: str
) -> TargetSettings:
    """Validate one target found outside the file (e.g. on a ScaledObject), as the file's targets are.

    The profile fills what ``raw`` leaves out and the top-level policy is the default; ``source``
    names where ``raw`` came from in the error message.
    """
    target = dict(raw)
    try:
        target = apply_profile(target, 0, profiles_dir)
        target["policy"] = {**policy.model_dump(), **as_dict(target.get("policy"))}
        return TargetSettings.model_validate(target)
    except ValidationError as e:
        lines = describe_validation_error(e, TargetSettings)
        raise ConfigError("; ".join(f"{source}: {line}" for line in lines)) from e
    except PydanticCustomError as e:
        raise ConfigError(f"{source}: {e.message()}") from e
