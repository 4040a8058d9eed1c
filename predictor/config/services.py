"""A disaggregated service declared once: one set of load signals, one target per serving role.

::

    services:
      - name: qwen
        query: sum(rate(dynamo_frontend_requests_total[5m]))
        prompt_tokens_query: sum(rate(dynamo_frontend_input_sequence_tokens_sum[5m]))
        output_tokens_query: sum(rate(dynamo_frontend_output_sequence_tokens_sum[5m]))
        policy: {model: auto}                  # shared by both roles
        roles:
          prefill: {scaled_object: inference/qwen-prefill, capacity: {profile: qwen3-32b-h100-tp2-prefill}}
          decode: {scaled_object: inference/qwen-decode, capacity: {profile: qwen3-32b-h100-tp2-decode}}

expands into the targets ``qwen-prefill`` and ``qwen-decode`` (or each role's ``name``): the
service's signals, the role, ``service: qwen``, and the policy of the file's top level, then the
service's, then the role's. Both targets read the same series, so the daemon can forecast once
and plan each role with its own sizing, cold start, bounds and policy. The settings that shape
the forecast (:data:`FORECAST_FIELDS`) are therefore the service's alone.

Every problem is reported at the key the user wrote (``services[0].roles.decode.capacity``),
never at the expanded target.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from predictor.config.coldstart import ColdStartSettings
from predictor.config.errors import describe_validation_error, key_path
from predictor.config.groups import FROZEN, PolicySettings
from predictor.config.targets import (
    SyntheticHistorySettings,
    TargetCapacity,
    TargetSettings,
    apply_profile,
    as_dict,
)

ROLE_NAMES = ("prefill", "decode")
# Policy settings that shape the forecast itself; one forecast serves both roles.
FORECAST_FIELDS = ("model", "model_step_s", "history_window_days")
# What a service shares with its role targets: the load signals.
SIGNAL_FIELDS = (
    "query",
    "prompt_tokens_query",
    "output_tokens_query",
    "history_file",
    "history_value_column",
    "history_counts",
    "history_prompt_tokens_column",
    "history_output_tokens_column",
    "history_synthetic",
)
_ROLE_FIELDS = ("scaled_object", "capacity", "cold_start", "offline_min_replicas", "offline_max_replicas")


def _target_field(name: str) -> Any:
    """The field of :class:`TargetSettings` itself (type, default, description): one home for both."""
    return copy.copy(TargetSettings.model_fields[name])


class ServiceRole(BaseModel):
    """One role of a disaggregated service: its ScaledObject, pod, cold start, bounds and policy."""

    model_config = FROZEN

    name: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$",
        description="Name of the role's target; default <service>-<role>.",
    )
    scaled_object: str = _target_field("scaled_object")
    capacity: TargetCapacity = _target_field("capacity")
    cold_start: ColdStartSettings = _target_field("cold_start")
    policy: PolicySettings = Field(
        default_factory=PolicySettings,
        description="Overrides of the service's policy for this role, except the forecast settings.",
    )
    offline_min_replicas: int = _target_field("offline_min_replicas")
    offline_max_replicas: int = _target_field("offline_max_replicas")


class ServiceRoles(BaseModel):
    """The two roles of a prefill/decode-disaggregated service."""

    model_config = FROZEN

    prefill: ServiceRole = Field(description="The prefill role, sized on prompt tokens/s.")
    decode: ServiceRole = Field(description="The decode role, sized on concurrent sequences.")


class ServiceSettings(BaseModel):
    """A disaggregated service: one set of load signals, one ScaledObject per role."""

    model_config = FROZEN

    name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$",
        description="Unique name of the service; its role targets are <name>-prefill and <name>-decode.",
    )
    query: str | None = _target_field("query")
    prompt_tokens_query: str | None = _target_field("prompt_tokens_query")
    output_tokens_query: str | None = _target_field("output_tokens_query")
    history_file: Path | None = _target_field("history_file")
    history_value_column: str | None = _target_field("history_value_column")
    history_counts: bool = _target_field("history_counts")
    history_prompt_tokens_column: str | None = _target_field("history_prompt_tokens_column")
    history_output_tokens_column: str | None = _target_field("history_output_tokens_column")
    history_synthetic: SyntheticHistorySettings | None = _target_field("history_synthetic")
    policy: PolicySettings = Field(
        default_factory=PolicySettings,
        description="Policy shared by both roles (over the top-level policy); the forecast settings "
        "model, model_step_s and history_window_days are set here only.",
    )
    roles: ServiceRoles = Field(description="The prefill and decode roles.")

    def role_items(self) -> list[tuple[str, ServiceRole]]:
        return [(name, getattr(self.roles, name)) for name in ROLE_NAMES]

    def target_dicts(self) -> list[dict[str, Any]]:
        """The role targets as raw settings, one per role, in the order prefill, decode."""
        signals = {k: v for k, v in self.model_dump(include=set(SIGNAL_FIELDS)).items() if v is not None}
        out = []
        for role_name, role in self.role_items():
            dumped = role.model_dump(include=set(_ROLE_FIELDS), exclude_none=True)
            dumped["capacity"] = role.capacity.model_dump(exclude_none=True)
            dumped["cold_start"] = role.cold_start.model_dump(exclude_unset=True)
            out.append(
                {
                    "name": role.name or f"{self.name}-{role_name}",
                    "role": role_name,
                    "service": self.name,
                    **signals,
                    **dumped,
                    "policy": role.policy.model_dump(),
                }
            )
        return out

    def targets(self) -> list[TargetSettings]:
        """The role targets, validated: what the daemon manages for this service."""
        return [TargetSettings.model_validate(t) for t in self.target_dicts()]

    @model_validator(mode="after")
    def _roles_are_targets(self) -> ServiceSettings:
        for role_name, role in self.role_items():
            for field in FORECAST_FIELDS:
                if getattr(role.policy, field) != getattr(self.policy, field):
                    raise PydanticCustomError(
                        "service_forecast",
                        "set it in the service's policy: both roles share one forecast",
                        {"field": f"roles.{role_name}.policy.{field}"},
                    )
        for role_name, target in zip(ROLE_NAMES, self.target_dicts(), strict=True):
            try:
                TargetSettings.model_validate(target)
            except ValidationError as e:
                where, _, problem = describe_validation_error(e, TargetSettings)[0].partition(": ")
                shared = where.split(".")[0].split("[")[0] in SIGNAL_FIELDS
                field = where if shared else f"roles.{role_name}.{where}"
                raise PydanticCustomError(
                    "service_role", "{problem}", {"problem": problem, "field": field}
                ) from e
        return self


def _resolve_role(
    role: dict[str, Any], where: tuple[str | int, ...], policy: dict[str, Any], profiles_dir: Path | None
) -> dict[str, Any]:
    """Fill what a role leaves out from its profile, and its policy from the service's."""
    role_name = where[-1]
    written = "role" in role  # not a key of a role: left for validation to name
    try:
        resolved = apply_profile(dict(role), 0, profiles_dir)
    except PydanticCustomError as e:
        raise PydanticCustomError(
            "profile", "{problem}", {"problem": e.message(), "path": (*where, "capacity", "profile")}
        ) from e
    profile_role = resolved["role"] if written else resolved.pop("role", role_name)
    if not written and profile_role in ROLE_NAMES and profile_role != role_name:
        name = resolved["capacity"]["profile"]
        raise PydanticCustomError(
            "profile_role",
            "'{name}' is a {profile_role} profile; the {role_name} role needs a {role_name} profile",
            {
                "name": name,
                "profile_role": profile_role,
                "role_name": role_name,
                "path": (*where, "capacity", "profile"),
            },
        )
    if isinstance(resolved.get("policy", {}), dict):
        resolved["policy"] = {**policy, **resolved.get("policy", {})}
    return resolved


def _resolve_service(
    service: dict[str, Any], index: int, defaults: dict[str, Any], profiles_dir: Path | None
) -> dict[str, Any]:
    service = dict(service)
    if isinstance(service.get("policy", {}), dict):
        service["policy"] = {**defaults, **service.get("policy", {})}
    policy = service["policy"] if isinstance(service.get("policy"), dict) else defaults
    roles = service.get("roles")
    if isinstance(roles, dict):
        service["roles"] = {
            name: _resolve_role(role, ("services", index, "roles", name), policy, profiles_dir)
            if name in ROLE_NAMES and isinstance(role, dict)
            else role
            for name, role in roles.items()
        }
    return service


def _check_new_targets(new: Iterable[tuple[int, str, bool, dict[str, Any]]], targets: list[Any]) -> None:
    """Role targets may not reuse a name or ScaledObject; the error names the key the user wrote."""
    seen: dict[tuple[str, str], str] = {}
    for index, target in enumerate(targets):
        if isinstance(target, dict):
            for key in ("name", "scaled_object"):
                if isinstance(target.get(key), str):
                    seen.setdefault((key, target[key]), key_path(("targets", index)))
    for index, role_name, name_written, target in new:
        role_path = ("services", index, "roles", role_name)
        for key in ("name", "scaled_object"):
            value = target[key]
            first = seen.get((key, value))
            if first is not None:
                own_key = key == "scaled_object" or name_written
                hint = "" if own_key else f"; set services[{index}].roles.{role_name}.name"
                raise PydanticCustomError(
                    "duplicate",
                    "'{value}' is already used by {first}; each target needs its own{hint}",
                    {
                        "value": value,
                        "first": first,
                        "hint": hint,
                        "path": (*role_path, key) if own_key else ("services", index, "name"),
                    },
                )
            seen[(key, value)] = key_path(role_path)


def resolve_services(data: Any) -> Any:
    """Expand the valid ``services`` of raw settings into role targets appended to ``targets``.

    Profiles and policies are applied to the roles first, so that validating ``services`` reports
    every problem at its own key. A service that does not validate adds no targets (its problems
    are reported at ``services[i]``); one whose targets are already there (a re-loaded ``config
    show``) adds them once.
    """
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        return data
    defaults = as_dict(data.get("policy"))
    profiles_dir = Path(data["profiles_dir"]) if data.get("profiles_dir") else None
    services = [
        _resolve_service(s, i, defaults, profiles_dir) if isinstance(s, dict) else s
        for i, s in enumerate(data["services"])
    ]
    targets = list(data["targets"]) if isinstance(data.get("targets"), list) else []
    existing = {(t.get("service"), t.get("name")) for t in targets if isinstance(t, dict)}
    new: list[tuple[int, str, bool, dict[str, Any]]] = []
    for index, service in enumerate(services):
        try:
            valid = ServiceSettings.model_validate(service)
        except ValidationError:
            continue
        for (role_name, role), target in zip(valid.role_items(), valid.target_dicts(), strict=True):
            if (valid.name, target["name"]) not in existing:
                new.append((index, role_name, role.name is not None, target))
    _check_new_targets(new, targets)
    targets += [target for *_, target in new]
    if not targets and "targets" not in data:
        return {**data, "services": services}
    return {**data, "services": services, "targets": targets}


def check_service_groups(targets: list[TargetSettings]) -> None:
    """Targets of one ``service`` must read the same signals, forecast alike and hold distinct roles."""
    members: dict[str, list[int]] = {}
    for index, target in enumerate(targets):
        if target.service is None:
            continue
        before = members.setdefault(target.service, [])
        problem = _group_problem(target, before, targets) if before else None
        if problem is not None:
            field, message = problem
            raise PydanticCustomError(
                "service_group",
                "{message}; the targets of one service share one forecast",
                {"message": message, "path": ("targets", index, *field.split("."))},
            )
        before.append(index)


def _group_problem(target: TargetSettings, before: list[int], targets: list[TargetSettings]):
    j = before[0]
    first = targets[j]
    service = target.service
    for field in SIGNAL_FIELDS:
        if getattr(target, field) != getattr(first, field):
            return field, f"differs from targets[{j}] of service '{service}'"
    for field in FORECAST_FIELDS:
        if getattr(target.policy, field) != getattr(first.policy, field):
            return f"policy.{field}", f"differs from targets[{j}] of service '{service}'"
    for k in before:
        if targets[k].role == target.role:
            return "role", f"targets[{k}] is already the {target.role} role of service '{service}'"
    return None
