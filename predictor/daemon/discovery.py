"""Targets declared on the ScaledObjects themselves: opt in by label, configure by annotations.

A ScaledObject in one of ``kubernetes.namespaces`` that carries the label
``kubernetes.discovery_label`` (default ``predictor.io/enabled``) set to ``"true"`` is managed
when its annotations say how:

- ``predictor.io/query``: PromQL returning its request rate in req/s (required);
- ``predictor.io/profile``: a serving profile from ``models/`` (required);
- ``predictor.io/role``: aggregated, prefill or decode (default: the profile's);
- ``predictor.io/cold-start``: seconds, or ``learn`` (default: the profile's stages);
- ``predictor.io/actuation-mode``: patch, metric or dry-run (default: the policy's).

The target is named ``<namespace>.<name>``. A ScaledObject that a configured target already
names is left to that target. Everything else comes from the top-level policy.
"""

from __future__ import annotations

from typing import Any

from predictor.actuation.scaledobject import ScaledObjectView
from predictor.config import Settings, TargetSettings, resolve_target

QUERY_ANNOTATION = "predictor.io/query"
PROFILE_ANNOTATION = "predictor.io/profile"
ROLE_ANNOTATION = "predictor.io/role"
COLD_START_ANNOTATION = "predictor.io/cold-start"
MODE_ANNOTATION = "predictor.io/actuation-mode"


def target_from_view(view: ScaledObjectView, settings: Settings) -> TargetSettings:
    """The target an opted-in ScaledObject declares; ConfigError naming the object if it is incomplete."""
    notes = view.annotations
    raw: dict[str, Any] = {
        "name": f"{view.ref.namespace}.{view.ref.name}",
        "scaled_object": str(view.ref),
        "query": notes.get(QUERY_ANNOTATION),
        "capacity": {"profile": notes.get(PROFILE_ANNOTATION)},
    }
    if ROLE_ANNOTATION in notes:
        raw["role"] = notes[ROLE_ANNOTATION]
    if COLD_START_ANNOTATION in notes:
        value = notes[COLD_START_ANNOTATION].strip()
        raw["cold_start"] = value if value == "learn" else _number(value)
    if MODE_ANNOTATION in notes:
        raw["policy"] = {"actuation_mode": notes[MODE_ANNOTATION]}
    return resolve_target(
        raw,
        policy=settings.policy,
        profiles_dir=settings.profiles_dir,
        source=f"ScaledObject {view.ref} (annotations)",
    )


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # validation names the bad value
