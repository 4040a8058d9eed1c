"""A KEDA ScaledObject as predictor sees it, and the patches predictor sends (pure: no client, no clock).

predictor keeps its bookkeeping on the ScaledObject itself, in a closed set of its own annotations
(:data:`OWN_ANNOTATIONS`), the way kube-downscaler records the value it replaced, so every change can
be explained and undone, and a restarted daemon or a new leader continues where the last one stopped:

- ``predictor.io/baseline``: the user's own minReplicaCount, recorded when predictor first patches the
  object. If someone else (a person, a GitOps sync) changes minReplicaCount later, their value becomes
  the new baseline; see :func:`effective_baseline` for the two exceptions.
- ``predictor.io/applied``: the floor predictor last wrote to spec.minReplicaCount (patch mode).
- ``predictor.io/recommended``: the floor predictor last published (metric mode; the spec is untouched).
- ``predictor.io/reason``: why, one line; ``predictor.io/updated-at``: when (UTC, ISO 8601);
  ``predictor.io/forecast``: a one-line forecast summary.
- ``predictor.io/last-raise-at``, ``predictor.io/last-lower-at``: the planner's cooldown memory.
- ``predictor.io/model-trained-at``: the end of the data of the model behind the last change, so a
  daemon without a model knows how long the floor may be held.
- ``predictor.io/learned-cold-start``: the learned cold start, ``"842s from 12 start-ups"``.

The annotations a user writes to declare an opted-in target (:data:`DECLARATION_ANNOTATIONS`) are not
predictor's: ``predictor release`` never removes them.

Every patch is a JSON merge patch (RFC 7386) that carries ``metadata.resourceVersion``, so the API server
answers 409 Conflict if the object changed after it was read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from predictor.actuation.errors import UnsafeFloor
from predictor.errors import ActuationError, ConfigError
from predictor.planning.steps import KEDA_DEFAULT_MAX_REPLICAS

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
RECOMMENDED_ANNOTATION = ANNOTATION_PREFIX + "recommended"
REASON_ANNOTATION = ANNOTATION_PREFIX + "reason"
UPDATED_AT_ANNOTATION = ANNOTATION_PREFIX + "updated-at"
FORECAST_ANNOTATION = ANNOTATION_PREFIX + "forecast"
LAST_RAISE_ANNOTATION = ANNOTATION_PREFIX + "last-raise-at"
LAST_LOWER_ANNOTATION = ANNOTATION_PREFIX + "last-lower-at"
MODEL_TRAINED_ANNOTATION = ANNOTATION_PREFIX + "model-trained-at"
COLD_START_LEARNED_ANNOTATION = ANNOTATION_PREFIX + "learned-cold-start"
OWN_ANNOTATIONS = (
    BASELINE_ANNOTATION,
    APPLIED_ANNOTATION,
    RECOMMENDED_ANNOTATION,
    REASON_ANNOTATION,
    UPDATED_AT_ANNOTATION,
    FORECAST_ANNOTATION,
    LAST_RAISE_ANNOTATION,
    LAST_LOWER_ANNOTATION,
    MODEL_TRAINED_ANNOTATION,
    COLD_START_LEARNED_ANNOTATION,
)
# What a user writes on an opted-in ScaledObject (see predictor.daemon.discovery): never removed.
QUERY_ANNOTATION = ANNOTATION_PREFIX + "query"
PROFILE_ANNOTATION = ANNOTATION_PREFIX + "profile"
ROLE_ANNOTATION = ANNOTATION_PREFIX + "role"
COLD_START_ANNOTATION = ANNOTATION_PREFIX + "cold-start"
MODE_ANNOTATION = ANNOTATION_PREFIX + "actuation-mode"
DECLARATION_ANNOTATIONS = (
    QUERY_ANNOTATION,
    PROFILE_ANNOTATION,
    ROLE_ANNOTATION,
    COLD_START_ANNOTATION,
    MODE_ANNOTATION,
)
_MAX_TEXT = 1_024  # characters kept of a reason or forecast summary: annotations are not logs
_STAMP = "%Y-%m-%dT%H:%M:%SZ"
_COLD_START = re.compile(r"^(\d+(?:\.\d+)?)s from (\d+) start-ups?$")


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
class FloorMemory:
    """The planner's memory: what predictor recorded about a floor, on the object or in the state
    directory. Every field is None when unknown. Times are tz-aware UTC; ``updated_at`` is the last
    change; ``cold_start_s`` is the learned cold start in seconds, from ``cold_start_samples``
    observed start-ups."""

    baseline: int | None = None
    applied: int | None = None
    recommended: int | None = None
    last_raise_at: datetime | None = None
    last_lower_at: datetime | None = None
    model_trained_at: datetime | None = None
    updated_at: datetime | None = None
    cold_start_s: float | None = None
    cold_start_samples: int | None = None

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str]) -> FloorMemory:
        """Read predictor's annotations; one that cannot be read counts as absent."""
        cold = _COLD_START.match(annotations.get(COLD_START_LEARNED_ANNOTATION, "").strip())
        return cls(
            baseline=_int_or_none(annotations.get(BASELINE_ANNOTATION)),
            applied=_int_or_none(annotations.get(APPLIED_ANNOTATION)),
            recommended=_int_or_none(annotations.get(RECOMMENDED_ANNOTATION)),
            last_raise_at=_time_or_none(annotations.get(LAST_RAISE_ANNOTATION)),
            last_lower_at=_time_or_none(annotations.get(LAST_LOWER_ANNOTATION)),
            model_trained_at=_time_or_none(annotations.get(MODEL_TRAINED_ANNOTATION)),
            updated_at=_time_or_none(annotations.get(UPDATED_AT_ANNOTATION)),
            cold_start_s=float(cold.group(1)) if cold else None,
            cold_start_samples=int(cold.group(2)) if cold else None,
        )

    def or_else(self, fallback: FloorMemory | None) -> FloorMemory:
        """This memory, each unknown field filled from ``fallback``."""
        if fallback is None:
            return self
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        filled = {k: v if v is not None else getattr(fallback, k) for k, v in values.items()}
        return FloorMemory(**filled)


@dataclass(frozen=True)
class ScaledObjectView:
    """What predictor reads from one ScaledObject, KEDA's defaults applied.

    ``min_replicas`` is spec.minReplicaCount (KEDA's default 0 when unset), ``max_replicas`` is
    spec.maxReplicaCount (default 100); the ``*_set`` flags tell whether the spec holds them.
    ``paused`` is true when KEDA is paused by annotation. ``memory`` is what predictor's own
    annotations say; ``baseline`` and ``applied`` read through to it.
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
    memory: FloorMemory
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
            memory=FloorMemory.from_annotations(annotations),
            annotations=MappingProxyType(annotations),
            labels=MappingProxyType(dict(meta.get("labels") or {})),
        )

    @property
    def baseline(self) -> int | None:
        return self.memory.baseline

    @property
    def applied(self) -> int | None:
        return self.memory.applied

    @property
    def managed(self) -> bool:
        """Whether predictor has written to this object (any of its own annotations)."""
        return any(key in self.annotations for key in OWN_ANNOTATIONS)


@dataclass(frozen=True)
class FloorChange:
    """What the daemon wants written: the floor (pods), the baseline it was planned on, a one-line
    reason, when it decided (the cycle's ``now``; a naive time is taken as UTC), an optional one-line
    forecast summary, and the planner's memory after the change (written with it)."""

    min_replicas: int
    reason: str
    at: datetime
    forecast: str | None = None
    baseline: int | None = None
    memory: FloorMemory = field(default_factory=FloorMemory)


Outcome = Literal["patched", "unchanged", "paused", "unmanaged", "not-leader"]


@dataclass(frozen=True)
class PatchResult:
    """How a change went. ``outcome``: patched; unchanged (nothing to do); paused (KEDA paused, not
    touched); unmanaged (release found none of predictor's annotations); not-leader (leadership ended
    before the write: nothing sent). ``before`` is the view the last decision was made on, ``after``
    the stored object (``before`` when nothing was sent). ``attempts`` counts reads, so 2 means one
    409 Conflict was retried."""

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


def effective_baseline(view: ScaledObjectView, remembered: FloorMemory | None = None) -> int:
    """The user's floor, pods: the recorded baseline, unless minReplicaCount differs from what
    predictor last applied; then someone else changed it, and their value is the new baseline.

    The baseline never ratchets up on predictor's own floor:

    - ``remembered`` (predictor's own memory, e.g. from the state directory) stands in for a
      baseline or applied annotation that someone removed by hand;
    - minReplicaCount forced down to a lowered maxReplicaCount (KEDA's rule min <= max, e.g. an
      incident cap) is the cap at work, not a new baseline: the recorded baseline stays, capped by
      maxReplicaCount while the cap lasts (see :func:`capped_by_max`).
    """
    memory = view.memory.or_else(remembered)
    if memory.baseline is None:
        return view.min_replicas
    last_written = memory.applied if memory.applied is not None else memory.baseline
    if view.min_replicas == last_written:
        return memory.baseline
    if capped_by_max(view, last_written):
        return min(memory.baseline, view.max_replicas)
    return view.min_replicas


def capped_by_max(view: ScaledObjectView, last_written: int | None) -> bool:
    """Whether minReplicaCount was pulled down to maxReplicaCount below the floor predictor wrote:
    what lowering maxReplicaCount under the floor forces (KEDA's rule min <= max)."""
    return (
        last_written is not None
        and view.min_replicas == view.max_replicas
        and view.min_replicas < last_written
    )


def check_floor(view: ScaledObjectView, min_replicas: int, baseline: int | None = None) -> None:
    """Raise UnsafeFloor unless baseline <= min_replicas <= maxReplicaCount (KEDA's CEL rule, and
    ours); ``baseline`` defaults to :func:`effective_baseline` of the view."""
    baseline = effective_baseline(view) if baseline is None else baseline
    if min_replicas < 0 or isinstance(min_replicas, bool):
        raise UnsafeFloor(f"{view.ref}: refusing a negative floor {min_replicas}")
    if min_replicas > view.max_replicas:
        default = "" if view.max_replicas_set else " (KEDA's default, unset)"
        raise UnsafeFloor(
            f"{view.ref}: refusing floor {min_replicas} above maxReplicaCount {view.max_replicas}{default}"
        )
    if min_replicas < min(baseline, view.max_replicas):
        raise UnsafeFloor(f"{view.ref}: refusing floor {min_replicas} below the baseline {baseline}")


def floor_patch(view: ScaledObjectView, change: FloorChange) -> dict[str, Any]:
    """The merge patch that sets spec.minReplicaCount and predictor's annotations, guarded by the
    resourceVersion of ``view``. Raises UnsafeFloor if the floor breaks a safety rule."""
    baseline = effective_baseline(view) if change.baseline is None else change.baseline
    check_floor(view, change.min_replicas, baseline)
    annotations = {
        **record_annotations(change),
        BASELINE_ANNOTATION: str(baseline),
        APPLIED_ANNOTATION: str(change.min_replicas),
    }
    return {
        "metadata": {"resourceVersion": view.resource_version, "annotations": annotations},
        "spec": {"minReplicaCount": change.min_replicas},
    }


def recommendation_patch(view: ScaledObjectView, change: FloorChange) -> dict[str, Any]:
    """The merge patch that records a published floor (metric mode) in predictor's annotations
    only; the spec is never touched."""
    annotations = {**record_annotations(change), RECOMMENDED_ANNOTATION: str(change.min_replicas)}
    return annotations_patch(view, annotations)


def record_annotations(change: FloorChange) -> dict[str, str | None]:
    """Why and when, and the planner's memory after ``change``, as predictor's annotations
    (``None`` removes one: a stale summary would explain the wrong floor)."""
    at = change.at if change.at.tzinfo else change.at.replace(tzinfo=UTC)
    memory = change.memory
    annotations: dict[str, str | None] = {
        REASON_ANNOTATION: _one_line(change.reason),
        UPDATED_AT_ANNOTATION: format_time(at),
        FORECAST_ANNOTATION: _one_line(change.forecast) if change.forecast else None,
    }
    for key, moment in (
        (LAST_RAISE_ANNOTATION, memory.last_raise_at),
        (LAST_LOWER_ANNOTATION, memory.last_lower_at),
        (MODEL_TRAINED_ANNOTATION, memory.model_trained_at),
    ):
        if moment is not None:
            annotations[key] = format_time(moment)
    return annotations


def cold_start_annotation(seconds: float, samples: int) -> str:
    """``842s from 12 start-ups``: the learned cold start as it is recorded on the object."""
    return f"{seconds:.0f}s from {samples} start-up{'' if samples == 1 else 's'}"


def release_patch(view: ScaledObjectView, baseline: int | None = None) -> dict[str, Any]:
    """The merge patch that removes predictor's own annotations (never the user's declarations) and,
    if predictor wrote the spec (patch mode), puts minReplicaCount back to the baseline."""
    body = annotations_patch(view, dict.fromkeys(k for k in OWN_ANNOTATIONS if k in view.annotations))
    if view.baseline is not None or view.applied is not None:
        body["spec"] = {"minReplicaCount": effective_baseline(view) if baseline is None else baseline}
    return body


def annotations_patch(view: ScaledObjectView, annotations: Mapping[str, str | None]) -> dict[str, Any]:
    """The merge patch that sets (or, for ``None``, deletes) ``annotations``, guarded by the
    resourceVersion of ``view``."""
    return {"metadata": {"resourceVersion": view.resource_version, "annotations": dict(annotations)}}


def annotations_removal_patch(view: ScaledObjectView, keys: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The merge patch that deletes ``keys`` (``null`` in a merge patch deletes)."""
    return annotations_patch(view, dict.fromkeys(keys))


def format_time(at: datetime) -> str:
    """``2026-11-18T07:45:00Z``: how predictor writes a time in an annotation (UTC, seconds)."""
    return at.astimezone(UTC).strftime(_STAMP)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_TEXT]


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _time_or_none(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
