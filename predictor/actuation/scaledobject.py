"""A KEDA ScaledObject as predictor sees it, and the patches predictor sends (pure: no client, no clock).

predictor keeps its bookkeeping in annotations under ``predictor.io/`` on the ScaledObject itself,
the way kube-downscaler records the value it replaced, so every change can be explained and undone:

- ``predictor.io/baseline``: the user's own minReplicaCount, recorded when predictor first manages the
  object. If someone else (a person, a GitOps sync) changes minReplicaCount later, their value becomes
  the new baseline: see :func:`effective_baseline`.
- ``predictor.io/applied``: the floor predictor last wrote; ``predictor.io/reason``: why, one line;
  ``predictor.io/updated-at``: when (UTC, ISO 8601); ``predictor.io/forecast``: a one-line forecast summary.

Every patch is a JSON merge patch (RFC 7386) that carries ``metadata.resourceVersion``, so the API server
answers 409 Conflict if the object changed after it was read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from predictor.actuation.errors import UnsafeFloor
from predictor.errors import ActuationError, ConfigError
from predictor.planning.planner import KEDA_DEFAULT_MAX_REPLICAS

KEDA_GROUP = "keda.sh"
KEDA_VERSION = "v1alpha1"
KEDA_PLURAL = "scaledobjects"
KEDA_KIND = "ScaledObject"
KEDA_DEFAULT_MIN_REPLICAS = 0
# KEDA's defaults for an unset spec.scaleTargetRef.apiVersion and kind.
DEFAULT_TARGET_API_VERSION = "apps/v1"
DEFAULT_TARGET_KIND = "Deployment"

PAUSED_ANNOTATION = "autoscaling.keda.sh/paused"
PAUSED_REPLICAS_ANNOTATION = "autoscaling.keda.sh/paused-replicas"

ANNOTATION_PREFIX = "predictor.io/"
BASELINE_ANNOTATION = ANNOTATION_PREFIX + "baseline"
APPLIED_ANNOTATION = ANNOTATION_PREFIX + "applied"
REASON_ANNOTATION = ANNOTATION_PREFIX + "reason"
UPDATED_AT_ANNOTATION = ANNOTATION_PREFIX + "updated-at"
FORECAST_ANNOTATION = ANNOTATION_PREFIX + "forecast"
OWN_ANNOTATIONS = (
    BASELINE_ANNOTATION,
    APPLIED_ANNOTATION,
    REASON_ANNOTATION,
    UPDATED_AT_ANNOTATION,
    FORECAST_ANNOTATION,
)
_MAX_TEXT = 1_024  # characters kept of a reason or forecast summary: annotations are not logs


@dataclass(frozen=True, order=True)
class ScaledObjectRef:
    """Where a ScaledObject lives. ``str(ref)`` is ``namespace/name``."""

    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ScaledObjectRef:
        """``"inference/vllm"`` -> ``ScaledObjectRef("inference", "vllm")``; ConfigError otherwise."""
        namespace, _, name = text.partition("/")
        if not namespace or not name or "/" in name:
            raise ConfigError(f"a ScaledObject is named as namespace/name, got {text!r}")
        return cls(namespace, name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ScaleTarget:
    """``spec.scaleTargetRef`` with KEDA's defaults filled in (apps/v1 Deployment)."""

    api_version: str
    kind: str
    name: str


@dataclass(frozen=True)
class ScaledObjectView:
    """What predictor reads from one ScaledObject, KEDA's defaults applied.

    ``min_replicas`` is spec.minReplicaCount (KEDA's default 0 when unset), ``max_replicas`` is
    spec.maxReplicaCount (default 100); the ``*_set`` flags tell whether the spec holds them.
    ``paused`` is true when KEDA is paused by annotation.
    ``baseline`` and ``applied`` are predictor's own annotations (None when absent or not an integer).
    """

    ref: ScaledObjectRef
    uid: str
    resource_version: str
    generation: int
    min_replicas: int
    max_replicas: int
    min_replicas_set: bool
    max_replicas_set: bool
    paused: bool
    scale_target: ScaleTarget
    baseline: int | None
    applied: int | None
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> ScaledObjectView:
        """Parse a ScaledObject as the API returns it; ActuationError if it is not one."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        if obj.get("kind") != KEDA_KIND or "name" not in meta or "namespace" not in meta:
            raise ActuationError(f"not a namespaced ScaledObject: {obj.get('kind')} {meta.get('name')}")
        annotations = dict(meta.get("annotations") or {})
        target = spec.get("scaleTargetRef") or {}
        minimum, maximum = spec.get("minReplicaCount"), spec.get("maxReplicaCount")
        for name, value in (("minReplicaCount", minimum), ("maxReplicaCount", maximum)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ActuationError(f"{meta['namespace']}/{meta['name']}: spec.{name} is not an integer")
        return cls(
            ref=ScaledObjectRef(meta["namespace"], meta["name"]),
            uid=meta.get("uid", ""),
            resource_version=meta.get("resourceVersion", ""),
            generation=int(meta.get("generation", 0)),
            min_replicas=KEDA_DEFAULT_MIN_REPLICAS if minimum is None else minimum,
            max_replicas=KEDA_DEFAULT_MAX_REPLICAS if maximum is None else maximum,
            min_replicas_set=minimum is not None,
            max_replicas_set=maximum is not None,
            paused=is_paused(annotations),
            scale_target=ScaleTarget(
                target.get("apiVersion") or DEFAULT_TARGET_API_VERSION,
                target.get("kind") or DEFAULT_TARGET_KIND,
                target.get("name", ""),
            ),
            baseline=_int_or_none(annotations.get(BASELINE_ANNOTATION)),
            applied=_int_or_none(annotations.get(APPLIED_ANNOTATION)),
            annotations=MappingProxyType(annotations),
            labels=MappingProxyType(dict(meta.get("labels") or {})),
        )

    @property
    def managed(self) -> bool:
        """Whether predictor has written to this object (any ``predictor.io/`` annotation)."""
        return any(key.startswith(ANNOTATION_PREFIX) for key in self.annotations)


@dataclass(frozen=True)
class FloorChange:
    """What the daemon wants written: the floor (pods), a one-line reason, when it decided (the cycle's
    ``now``; a naive time is taken as UTC) and an optional one-line forecast summary."""

    min_replicas: int
    reason: str
    at: datetime
    forecast: str | None = None


Outcome = Literal["patched", "unchanged", "paused", "unmanaged"]


@dataclass(frozen=True)
class PatchResult:
    """How a change went. ``outcome``: patched; unchanged (nothing to do); paused (KEDA paused, not
    touched); unmanaged (release found no predictor annotations). ``before`` is the view the last
    decision was made on, ``after`` the stored object (``before`` when nothing was sent). ``attempts``
    counts reads, so 2 means one 409 Conflict was retried."""

    ref: ScaledObjectRef
    outcome: Outcome
    before: ScaledObjectView
    after: ScaledObjectView
    change: FloorChange | None
    attempts: int

    @property
    def patched(self) -> bool:
        return self.outcome == "patched"


def is_paused(annotations: Mapping[str, str]) -> bool:
    """KEDA is paused by ``autoscaling.keda.sh/paused: "true"`` or any ``paused-replicas`` value."""
    return (
        annotations.get(PAUSED_ANNOTATION, "").lower() == "true" or PAUSED_REPLICAS_ANNOTATION in annotations
    )


def effective_baseline(view: ScaledObjectView) -> int:
    """The user's floor, pods. The recorded baseline, unless minReplicaCount differs from what predictor
    last applied: then someone else changed it, and their value is the new baseline."""
    if view.baseline is None:
        return view.min_replicas
    last_written = view.applied if view.applied is not None else view.baseline
    return view.min_replicas if view.min_replicas != last_written else view.baseline


def check_floor(view: ScaledObjectView, min_replicas: int) -> None:
    """Raise UnsafeFloor unless baseline <= min_replicas <= maxReplicaCount (KEDA's CEL rule, and ours)."""
    baseline = effective_baseline(view)
    if min_replicas < 0 or isinstance(min_replicas, bool):
        raise UnsafeFloor(f"{view.ref}: refusing a negative floor {min_replicas}")
    if min_replicas > view.max_replicas:
        default = "" if view.max_replicas_set else " (KEDA's default, unset)"
        raise UnsafeFloor(
            f"{view.ref}: refusing floor {min_replicas} above maxReplicaCount {view.max_replicas}{default}"
        )
    if min_replicas < baseline:
        raise UnsafeFloor(f"{view.ref}: refusing floor {min_replicas} below the baseline {baseline}")


def floor_patch(view: ScaledObjectView, change: FloorChange) -> dict[str, Any]:
    """The merge patch that sets spec.minReplicaCount and predictor's annotations, guarded by the
    resourceVersion of ``view``. Raises UnsafeFloor if the floor breaks a safety rule."""
    check_floor(view, change.min_replicas)
    at = change.at if change.at.tzinfo else change.at.replace(tzinfo=UTC)
    annotations: dict[str, str | None] = {
        BASELINE_ANNOTATION: str(effective_baseline(view)),
        APPLIED_ANNOTATION: str(change.min_replicas),
        REASON_ANNOTATION: _one_line(change.reason),
        UPDATED_AT_ANNOTATION: at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # A stale summary would explain the wrong floor, so it is removed when none is given.
        FORECAST_ANNOTATION: _one_line(change.forecast) if change.forecast else None,
    }
    return {
        "metadata": {"resourceVersion": view.resource_version, "annotations": annotations},
        "spec": {"minReplicaCount": change.min_replicas},
    }


def release_patch(view: ScaledObjectView) -> dict[str, Any]:
    """The merge patch that puts minReplicaCount back to the baseline and removes predictor's annotations."""
    body = annotations_removal_patch(view, [k for k in view.annotations if k.startswith(ANNOTATION_PREFIX)])
    body["spec"] = {"minReplicaCount": effective_baseline(view)}
    return body


def annotations_removal_patch(view: ScaledObjectView, keys: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The merge patch that deletes ``keys`` (``null`` in a merge patch deletes)."""
    removed: dict[str, str | None] = dict.fromkeys(keys)
    return {"metadata": {"resourceVersion": view.resource_version, "annotations": removed}}


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_TEXT]


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
