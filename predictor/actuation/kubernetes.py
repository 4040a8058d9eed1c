"""The Kubernetes adapter: the only module that imports the ``kubernetes`` client.

:class:`KubernetesClient` reads and patches KEDA ScaledObjects, writes Events on them and reads pod
start-ups for the learned cold start, and reads and writes the leader-election Lease
(:mod:`predictor.actuation.lease`). It builds its own ``ApiClient`` and never touches the client's
global default configuration. Every failure leaves as an :class:`~predictor.errors.ActuationError`
(subclasses in :mod:`predictor.actuation.errors`); the client's ``ApiException`` and urllib3's errors
are chained, never raised:

- 404 on a ScaledObject -> :class:`ScaledObjectGone` (the daemon drops the target);
- 403 -> :class:`ActuationForbidden`, naming the verb and the resource the RBAC lacks;
- 422 and 400 -> :class:`ActuationRejected` with the server's message;
- 409 -> re-read, decide again and retry (``conflict_retries`` times), then :class:`ActuationConflict`;
- 5xx, 429, timeouts and connection errors -> retried ``retries`` times with exponential backoff,
  then :class:`ActuationUnavailable` (give up for this cycle).

A retried PATCH is safe: it carries the resourceVersion it was decided on, so if the first attempt
did land, the retry gets 409 and the decision is made again on the stored object.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from predictor.actuation import lease, pods
from predictor.actuation import scaledobject as so
from predictor.actuation.errors import ActuationConflict, ActuationUnavailable, api_error
from predictor.actuation.lease import LEASES, LeaseRecord
from predictor.actuation.pods import PodSelector
from predictor.actuation.scaledobject import FloorChange, PatchResult, ScaledObjectRef, ScaledObjectView
from predictor.config.settings import KubernetesSettings
from predictor.errors import ActuationError

Decide = Callable[[ScaledObjectView], FloorChange | None]
# A step of an update: the merge patch to send (None = send nothing), its outcome, the change.
_Step = tuple[dict[str, Any] | None, so.Outcome, FloorChange | None]
_Build = Callable[[ScaledObjectView], _Step]
_SCALEDOBJECTS = f"{so.KEDA_PLURAL}.{so.KEDA_GROUP}"
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_EVENT_MESSAGE = 1_024  # characters; events.k8s.io caps a note at 1 kB, so stay within it


class KubernetesClient:
    """Reads and changes ScaledObjects through one API connection. Use as a context manager or :meth:`close`.

    ``host`` (e.g. a test server's URL) skips credential loading. Each request times out after
    ``settings.request_timeout_s`` seconds; ``retries`` more attempts follow a 5xx/429/timeout, and
    ``conflict_retries`` re-reads follow a 409, waiting ``backoff_s`` doubled each time (at most
    ``max_backoff_s``) seconds. ``instance`` names this replica in Events (e.g. the pod name).
    """

    def __init__(
        self,
        settings: KubernetesSettings,
        *,
        host: str | None = None,
        retries: int = 3,
        conflict_retries: int = 5,
        backoff_s: float = 0.2,
        max_backoff_s: float = 2.0,
        instance: str = "predictor",
    ) -> None:
        self.settings = settings
        self._timeout_s = settings.request_timeout_s
        self._retries, self._conflict_retries = retries, conflict_retries
        self._backoff_s, self._max_backoff_s = backoff_s, max_backoff_s
        self._instance = instance
        self._api = kubernetes.client.ApiClient(configuration=_configuration(settings, host))
        self._custom = kubernetes.client.CustomObjectsApi(self._api)
        self._core = kubernetes.client.CoreV1Api(self._api)
        self._apps = kubernetes.client.AppsV1Api(self._api)
        self._coordination = kubernetes.client.CoordinationV1Api(_MicroTimeApiClient(self._api.configuration))

    def __enter__(self) -> KubernetesClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._api.close()
        self._coordination.api_client.close()

    # Reading.

    def get(self, ref: ScaledObjectRef) -> ScaledObjectView:
        """The ScaledObject now; ScaledObjectGone if it does not exist."""
        obj = self._scaledobjects("get", ref, ref.name)
        return ScaledObjectView.from_dict(obj)

    def list_opted_in(
        self, namespaces: Iterable[str] | None = None, label: str | None = None
    ) -> list[ScaledObjectView]:
        """ScaledObjects labelled ``label=true`` in ``namespaces`` (defaults: the settings), sorted by ref."""
        selector = f"{label or self.settings.discovery_label}=true"
        found = []
        for namespace in namespaces if namespaces is not None else self.settings.namespaces:
            listed = self._scaledobjects("list", ScaledObjectRef(namespace, ""), label_selector=selector)
            found += [ScaledObjectView.from_dict(item) for item in listed.get("items", [])]
        return sorted(found, key=lambda view: view.ref)

    # Changing.

    def patch_min_replicas(self, ref: ScaledObjectRef, decide: Decide) -> PatchResult:
        """Read the object, ask ``decide`` for a change (None = nothing to do) and write it as one merge
        patch of spec.minReplicaCount and predictor's annotations, guarded by the resourceVersion read.

        On 409 the object is read again and ``decide`` called again. A paused object is never patched
        (outcome ``paused``, ``decide`` not called). A floor below the baseline or above maxReplicaCount
        raises UnsafeFloor before anything is sent.
        """

        def build(view: ScaledObjectView) -> _Step:
            if view.paused:
                return None, "paused", None
            change = decide(view)
            if change is None:
                return None, "unchanged", None
            return so.floor_patch(view, change), "patched", change

        return self._update(ref, build)

    def restore_baseline(self, ref: ScaledObjectRef) -> PatchResult:
        """Set minReplicaCount back to the baseline and remove every ``predictor.io/`` annotation (for
        ``predictor release``). Outcome ``unmanaged`` when predictor never wrote to it, ``paused``
        when KEDA is paused (left alone: unpause it first)."""

        def build(view: ScaledObjectView) -> _Step:
            if view.paused:
                return None, "paused", None
            if not view.managed:
                return None, "unmanaged", None
            return so.release_patch(view), "patched", None

        return self._update(ref, build)

    def remove_annotations(self, ref: ScaledObjectRef, keys: Iterable[str]) -> PatchResult:
        """Remove the annotations ``keys`` that are present (outcome ``unchanged`` if none is)."""
        wanted = list(keys)

        def build(view: ScaledObjectView) -> _Step:
            present = [key for key in wanted if key in view.annotations]
            if not present:
                return None, "unchanged", None
            return so.annotations_removal_patch(view, present), "patched", None

        return self._update(ref, build)

    def emit_event(
        self,
        view: ScaledObjectView,
        reason: str,
        message: str,
        *,
        type: str = "Normal",
        at: datetime | None = None,
    ) -> None:
        """Record a core/v1 Event on the ScaledObject (``kubectl describe so`` lists it).

        ``reason`` is CamelCase (PrewarmRaised, PrewarmLowered, FallbackToBaseline); ``type`` is
        Normal or Warning; ``at`` defaults to now (UTC).
        """
        stamp = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
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
            "reportingInstance": self._instance,
        }
        create = self._core.create_namespaced_event
        self._call("create", "events", view.ref, create, view.ref.namespace, body, raw=True)

    # Pods, for the learned cold start.

    def scale_target_selector(self, view: ScaledObjectView) -> PodSelector:
        """The label selector of the scale target's pods: an apps/v1 Deployment's matchLabels.

        Other kinds, and selectors with matchExpressions, give ``selector=None`` and the reason.
        """
        target, namespace = view.scale_target, view.ref.namespace
        if (target.api_version, target.kind) != ("apps/v1", "Deployment"):
            why = f"scale target {target.kind} ({target.api_version}) is not an apps/v1 Deployment"
            return PodSelector(namespace, None, f"{why}; only Deployments are read")
        where = ScaledObjectRef(namespace, target.name)
        read = self._apps.read_namespaced_deployment
        deployment = self._call("get", "deployments.apps", where, read, target.name, namespace, raw=True)
        return pods.deployment_selector(deployment)

    def pod_startup_durations(self, namespace: str, selector: str) -> list[float]:
        """Seconds from creation to Ready of the Running, Ready pods matching ``selector`` (see
        :func:`predictor.actuation.pods.startup_durations`)."""
        where = ScaledObjectRef(namespace, "")
        listing = self._core.list_namespaced_pod
        listed = self._call("list", "pods", where, listing, namespace, label_selector=selector, raw=True)
        return pods.startup_durations(listed.get("items", []))

    # The leader-election Lease. 409 on create or update means another replica wrote first.

    def get_lease(self, namespace: str, name: str) -> LeaseRecord | None:
        """The Lease ``namespace/name``, or None if it does not exist yet."""
        read, where = self._coordination.read_namespaced_lease, ScaledObjectRef(namespace, name)
        try:
            return LeaseRecord.from_dict(self._call("get", LEASES, where, read, name, namespace, raw=True))
        except ActuationError as error:
            if isinstance(error.__cause__, ApiException) and error.__cause__.status == 404:
                return None
            raise

    def create_lease(self, namespace: str, name: str, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease holding ``record``; ActuationConflict if it exists already."""
        body = lease.lease_body(namespace, name, record)
        create = self._coordination.create_namespaced_lease
        return self._write_lease("create", namespace, name, create, namespace, body)

    def update_lease(
        self, namespace: str, name: str, record: LeaseRecord, resource_version: str
    ) -> LeaseRecord:
        """Replace the Lease's spec with ``record`` if it is still at ``resource_version``, else
        ActuationConflict (not retried: the caller must read the Lease again and decide again)."""
        body = lease.lease_body(namespace, name, record, resource_version)
        replace = self._coordination.replace_namespaced_lease
        return self._write_lease("update", namespace, name, replace, name, namespace, body)

    def _write_lease(
        self, verb: str, namespace: str, name: str, method: Callable[..., Any], *args: Any
    ) -> LeaseRecord:
        try:
            stored = self._call(verb, LEASES, ScaledObjectRef(namespace, name), method, *args, raw=True)
        except ActuationConflict as error:  # the "on every retry" wording does not apply: none was made
            cause = error.__cause__
            why = _server_message(cause) if isinstance(cause, ApiException) else str(error)
            raise ActuationConflict(
                f"{verb} {LEASES} {namespace}/{name}: another replica wrote first: {why}"
            ) from cause
        return LeaseRecord.from_dict(stored)

    # Plumbing.

    def _update(self, ref: ScaledObjectRef, build: _Build) -> PatchResult:
        """Read, build a merge patch from the view, send it; on 409 start over (bounded, with backoff)."""
        for attempt in range(1, self._conflict_retries + 2):
            view = self.get(ref)
            body, outcome, change = build(view)
            if body is None:
                return PatchResult(ref, outcome, view, view, change, attempt)
            try:
                stored = self._scaledobjects("patch", ref, ref.name, body)
            except ActuationConflict:
                if attempt > self._conflict_retries:
                    raise
                time.sleep(self._backoff(attempt))
                continue
            return PatchResult(ref, outcome, view, ScaledObjectView.from_dict(stored), change, attempt)
        raise AssertionError("unreachable: the loop returns or raises")

    def _scaledobjects(self, verb: str, ref: ScaledObjectRef, *args: Any, **kwargs: Any) -> Any:
        """``_call`` of the CustomObjectsApi method for ``verb`` on ScaledObjects in ``ref.namespace``."""
        method = getattr(self._custom, f"{verb}_namespaced_custom_object")
        prefix = (so.KEDA_GROUP, so.KEDA_VERSION, ref.namespace, so.KEDA_PLURAL)
        return self._call(verb, _SCALEDOBJECTS, ref, method, *prefix, *args, **kwargs)

    def _call(
        self,
        verb: str,
        resource: str,
        ref: ScaledObjectRef,
        method: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """One API call with the request timeout, retried on 5xx/429/timeouts, errors mapped.

        ``raw=True`` decodes the JSON body instead of the client's typed models (dicts everywhere).
        """
        raw = kwargs.pop("raw", False)
        if raw:  # the typed models would only be turned back into dicts
            kwargs["_preload_content"] = False
        for attempt in range(1, self._retries + 2):
            try:
                answer = method(*args, _request_timeout=self._timeout_s, **kwargs)
                if kwargs.get("_preload_content") is False:
                    return json.loads(answer.data or b"null")
                return answer
            except ApiException as error:
                if error.status not in _RETRYABLE_STATUS or attempt > self._retries:
                    message = _server_message(error)
                    raise api_error(error.status, message, verb, resource, ref.namespace, ref.name) from error
            except (urllib3.exceptions.HTTPError, OSError) as error:
                if attempt > self._retries:
                    raise ActuationUnavailable(
                        f"{verb} {resource} {ref}: no answer from the API server after "
                        f"{attempt} attempts ({type(error).__name__}: {error})"
                    ) from error
            time.sleep(self._backoff(attempt))
        raise AssertionError("unreachable: the loop returns or raises")

    def _backoff(self, attempt: int) -> float:
        return min(self._backoff_s * 2 ** (attempt - 1), self._max_backoff_s)


class _MicroTimeApiClient(kubernetes.client.ApiClient):
    """Writes datetimes with exactly six fractional digits. The client turns a Lease's times into
    datetimes and back with ``isoformat()``, which drops the fraction when it is zero; the API server
    parses MicroTime with a fixed six-digit layout and would answer 400 to such a renew."""

    def sanitize_for_serialization(self, obj: Any) -> Any:
        if isinstance(obj, datetime):
            return obj.isoformat(timespec="microseconds")
        return super().sanitize_for_serialization(obj)


def _configuration(settings: KubernetesSettings, host: str | None) -> kubernetes.client.Configuration:
    """A fresh client configuration (never the global default) from ``host`` or the credentials."""
    config = kubernetes.client.Configuration()
    try:
        if host is not None:
            config.host = host
        elif settings.mode == "in-cluster" or (settings.mode == "auto" and _in_cluster()):
            kubernetes.config.load_incluster_config(client_configuration=config)
        else:
            path = str(settings.kubeconfig_path) if settings.kubeconfig_path else None
            kubernetes.config.load_kube_config(
                config_file=path, context=settings.context, client_configuration=config, persist_config=False
            )
    except (kubernetes.config.ConfigException, OSError, ValueError, TypeError) as error:
        raise ActuationError(f"cannot load Kubernetes credentials (mode {settings.mode}): {error}") from error
    config.retries = False  # urllib3 would retry reads on its own; _call retries every verb, bounded
    return config


def _in_cluster() -> bool:
    token = Path(kubernetes.config.incluster_config.SERVICE_TOKEN_FILENAME)
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and token.exists()


def _server_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "")["message"])
    except (ValueError, KeyError, TypeError):
        return str(error.body or error.reason or "no message")
