"""ScaledObjects through the API: read, list the opted-in, change the floor and predictor's
annotations, and record Events on them (``kubectl describe so`` lists those).

Every change is read, decide, send: one merge patch guarded by the resourceVersion read. On 409
the object is read again and the decision made again (``conflict_retries`` times, with backoff),
then :class:`ActuationConflict`. ``may_write`` is asked right before every write, inside that loop
too: a replica that stopped leading while it retried sends nothing (outcome ``not-leader``).
A paused object is never changed (outcome ``paused``, the decision not even asked for).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from predictor.actuation import scaledobject as so
from predictor.actuation.errors import ActuationConflict
from predictor.actuation.kubernetes import MERGE_PATCH, KubernetesClient, segment
from predictor.actuation.scaledobject import (
    FloorChange,
    FloorMemory,
    PatchResult,
    ScaledObjectRef,
    ScaledObjectView,
)

Decide = Callable[[ScaledObjectView], FloorChange | None]
MayWrite = Callable[[], bool]
# A step of an update: the merge patch to send (None = send nothing), its outcome, the change.
Step = tuple[dict[str, Any] | None, so.Outcome, FloorChange | None]
Build = Callable[[ScaledObjectView], Step]
RESOURCE = f"{so.KEDA_PLURAL}.{so.KEDA_GROUP}"
_MAX_EVENT_MESSAGE = 1_024  # characters; events.k8s.io caps a note at 1 kB, so stay within it


def _always() -> bool:
    return True


class ScaledObjectClient:
    """KEDA ScaledObjects over one :class:`KubernetesClient` connection."""

    def __init__(self, api: KubernetesClient) -> None:
        self.api = api

    # Reading.

    def get(self, ref: ScaledObjectRef) -> ScaledObjectView:
        """The ScaledObject now; ScaledObjectGone if it does not exist."""
        obj = self.api.request(
            "GET",
            _path(ref.namespace, ref.name),
            verb="get",
            resource=RESOURCE,
            namespace=ref.namespace,
            name=ref.name,
        )
        return ScaledObjectView.from_dict(obj)

    def list_opted_in(
        self, namespaces: Iterable[str] | None = None, label: str | None = None
    ) -> list[ScaledObjectView]:
        """ScaledObjects labelled ``label=true`` in ``namespaces`` (defaults: the settings), sorted by ref."""
        settings = self.api.settings
        selector = f"{label or settings.discovery_label}=true"
        found = []
        for namespace in namespaces if namespaces is not None else settings.namespaces:
            listed = self.api.request(
                "GET",
                _path(namespace),
                verb="list",
                resource=RESOURCE,
                namespace=namespace,
                query={"labelSelector": selector},
            )
            found += [ScaledObjectView.from_dict(item) for item in listed.get("items", [])]
        return sorted(found, key=lambda view: view.ref)

    # Changing.

    def patch_min_replicas(
        self, ref: ScaledObjectRef, decide: Decide, *, may_write: MayWrite = _always
    ) -> PatchResult:
        """Read the object, ask ``decide`` for a change (None = nothing to do) and write it as one merge
        patch of spec.minReplicaCount and predictor's annotations. A floor below the baseline or above
        maxReplicaCount raises UnsafeFloor before anything is sent."""

        def build(view: ScaledObjectView) -> Step:
            if view.paused:
                return None, "paused", None
            change = decide(view)
            if change is None:
                return None, "unchanged", None
            return so.floor_patch(view, change), "patched", change

        return self._update(ref, build, may_write)

    def record_recommendation(
        self, ref: ScaledObjectRef, decide: Decide, *, may_write: MayWrite = _always
    ) -> PatchResult:
        """Like :meth:`patch_min_replicas`, but the floor is only recorded in predictor's annotations
        (metric mode): spec.minReplicaCount is never touched."""

        def build(view: ScaledObjectView) -> Step:
            if view.paused:
                return None, "paused", None
            change = decide(view)
            if change is None:
                return None, "unchanged", None
            return so.recommendation_patch(view, change), "patched", change

        return self._update(ref, build, may_write)

    def annotate(
        self,
        ref: ScaledObjectRef,
        wanted: Callable[[ScaledObjectView], Mapping[str, str | None]],
        *,
        may_write: MayWrite = _always,
    ) -> PatchResult:
        """Set (``None``: remove) the annotations ``wanted(view)`` asks for that differ on the object
        as read (outcome ``unchanged`` if none does). Used for predictor's own bookkeeping only."""

        def build(view: ScaledObjectView) -> Step:
            if view.paused:
                return None, "paused", None
            changes = {k: v for k, v in wanted(view).items() if view.annotations.get(k) != v}
            if not changes:
                return None, "unchanged", None
            return so.annotations_patch(view, changes), "patched", None

        return self._update(ref, build, may_write)

    def remove_annotations(self, ref: ScaledObjectRef, keys: Iterable[str]) -> PatchResult:
        """Remove the annotations ``keys`` that are present (outcome ``unchanged`` if none is)."""
        present = list(keys)
        return self.annotate(ref, lambda view: {key: None for key in present if key in view.annotations})

    def restore_baseline(
        self,
        ref: ScaledObjectRef,
        *,
        remembered: FloorMemory | None = None,
        may_write: MayWrite = _always,
    ) -> PatchResult:
        """Set minReplicaCount back to the baseline (if predictor wrote it) and remove predictor's own
        annotations, never the user's declarations (for ``predictor release`` and an opt-out).
        Outcome ``unmanaged`` when predictor never wrote to it, ``paused`` when KEDA is paused (left
        alone: unpause it first). ``remembered`` stands in for hand-removed bookkeeping."""

        def build(view: ScaledObjectView) -> Step:
            if view.paused:
                return None, "paused", None
            if not view.managed:
                return None, "unmanaged", None
            baseline = so.effective_baseline(view, remembered)
            return so.release_patch(view, baseline), "patched", None

        return self._update(ref, build, may_write)

    def emit_event(
        self,
        view: ScaledObjectView,
        reason: str,
        message: str,
        *,
        at: datetime,
        type: str = "Normal",
    ) -> None:
        """Record a core/v1 Event on the ScaledObject (``kubectl describe so`` lists it).

        ``reason`` is CamelCase (PrewarmRaised, PrewarmLowered, FallbackToBaseline); ``type`` is
        Normal or Warning; ``at`` is when it happened (the cycle's now; naive is UTC).
        """
        stamp = so.format_time(at if at.tzinfo else at.replace(tzinfo=UTC))
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{view.ref.name}.", "namespace": view.ref.namespace},
            "involvedObject": {
                "apiVersion": f"{so.KEDA_GROUP}/{so.KEDA_VERSION}",
                "kind": so.KEDA_KIND,
                "name": view.ref.name,
                "namespace": view.ref.namespace,
                "uid": view.uid,
                "resourceVersion": view.resource_version,
            },
            "reason": reason,
            "message": message[:_MAX_EVENT_MESSAGE],
            "type": type,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": "predictor"},
            "reportingComponent": "predictor",
            "reportingInstance": self.api.instance,
        }
        path = f"/api/v1/namespaces/{segment(view.ref.namespace)}/events"
        self.api.request(
            "POST", path, verb="create", resource="events", namespace=view.ref.namespace, body=body
        )

    def _update(self, ref: ScaledObjectRef, build: Build, may_write: MayWrite) -> PatchResult:
        """Read, build a merge patch from the view, send it; on 409 start over (bounded, with backoff)."""
        retries = self.api.conflict_retries
        for attempt in range(1, retries + 2):
            view = self.get(ref)
            body, outcome, change = build(view)
            if body is None:
                return PatchResult(ref, outcome, view, view, change, attempt)
            if not may_write():
                return PatchResult(ref, "not-leader", view, view, change, attempt)
            try:
                stored = self.api.request(
                    "PATCH",
                    _path(ref.namespace, ref.name),
                    verb="patch",
                    resource=RESOURCE,
                    namespace=ref.namespace,
                    name=ref.name,
                    body=body,
                    content_type=MERGE_PATCH,
                )
            except ActuationConflict as error:
                if attempt > retries:
                    raise ActuationConflict(
                        f"patch {RESOURCE} {ref}: the object changed under every one of {attempt} "
                        f"attempts (409 Conflict): {error}"
                    ) from error.__cause__
                self.api.wait_before_retry(attempt)
                continue
            return PatchResult(ref, outcome, view, ScaledObjectView.from_dict(stored), change, attempt)
        raise AssertionError("unreachable: the loop returns or raises")


def _path(namespace: str, name: str = "") -> str:
    base = f"/apis/{so.KEDA_GROUP}/{so.KEDA_VERSION}/namespaces/{segment(namespace)}/{so.KEDA_PLURAL}"
    return f"{base}/{segment(name)}" if name else base
