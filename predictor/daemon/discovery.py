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

Each pass compares what is listed with what is managed, both ways (:func:`compare`):

- a new opted-in object is added (its retrain is due at once);
- one that is no longer listed (label removed or set to anything but ``"true"``, or deleted) is
  dropped, with its metric series; if predictor was patching it, it is first handed back: the
  baseline restored and predictor's own annotations removed (never the user's declarations);
- one whose declaration changed is reconfigured in place (model, memory and start-ups kept; a
  model trained on another query or step is retrained first); leaving ``patch`` mode hands the
  object back the same way;
- a declaration that became invalid is reported once and the last valid one is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from predictor.actuation.scaledobject import (
    COLD_START_ANNOTATION,
    MODE_ANNOTATION,
    PROFILE_ANNOTATION,
    QUERY_ANNOTATION,
    ROLE_ANNOTATION,
    ScaledObjectView,
)
from predictor.config import Settings, TargetSettings, resolve_target
from predictor.errors import ConfigError


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


@dataclass
class Comparison:
    """What one discovery pass found against the targets managed (all by target name)."""

    added: dict[str, TargetSettings] = field(default_factory=dict)
    changed: dict[str, TargetSettings] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)  # ScaledObject -> the problem

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def compare(
    views: list[ScaledObjectView],
    settings: Settings,
    *,
    discovered: dict[str, TargetSettings],
    configured_objects: set[str],
) -> Comparison:
    """Compare the opted-in ``views`` with the ``discovered`` targets managed now (name -> settings);
    objects in ``configured_objects`` (``namespace/name``) belong to configured targets."""
    found = Comparison()
    listed: set[str] = set()
    for view in views:
        if str(view.ref) in configured_objects:
            continue
        name = f"{view.ref.namespace}.{view.ref.name}"
        listed.add(name)
        try:
            target = target_from_view(view, settings)
        except ConfigError as e:
            found.invalid[str(view.ref)] = str(e)
            continue
        if name not in discovered:
            found.added[name] = target
        elif target != discovered[name]:
            found.changed[name] = target
    found.removed = sorted(name for name in discovered if name not in listed)
    return found


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # validation names the bad value
