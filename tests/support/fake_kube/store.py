"""The objects, one monotonic resourceVersion, generations, the watch history, and the verbs on them."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from tests.support.fake_kube.errors import ApiError, invalid, not_found, status_details
from tests.support.fake_kube.patches import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    json_patch,
    merge_patch,
    unsupported_media,
)
from tests.support.fake_kube.resources import RESOURCES, Resource, Route, resource_for
from tests.support.fake_kube.selectors import matcher
from tests.support.fake_kube.validation import cel_errors, schema_errors


class Store:
    """The objects of one fake server (thread-safe). ``schemas`` maps a qualified resource name
    (``scaledobjects.keda.sh``) to the OpenAPI schema its writes are validated against."""

    def __init__(self, schemas: dict[str, dict[str, Any]]) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._history: list[tuple[int, str, dict[str, Any]]] = []  # (resourceVersion, event type, object)
        self._rv = 1000
        self._stopping = False
        self._schemas = schemas

    def stop(self) -> None:
        """End every open watch."""
        with self._lock:
            self._stopping = True
            self._changed.notify_all()

    # Direct access for tests: no validation, no faults, no request log.

    def put_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as is (status kept, no validation), creating its namespace; returns the copy."""
        resource = resource_for(obj.get("apiVersion", ""), obj.get("kind", ""))
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        with self._lock:
            if resource.namespaced:
                meta.setdefault("namespace", "default")
                self._ensure_namespace(meta["namespace"])
            old = self._objects.get(self._key(resource, meta.get("namespace", ""), meta["name"]))
            if old is not None:
                meta["uid"] = old["metadata"]["uid"]
                meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
                meta.setdefault("generation", old["metadata"].get("generation", 1))
            return copy.deepcopy(self._store(resource, obj, "MODIFIED" if old else "ADDED"))

    def get_object(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object of ``kind`` (e.g. ``ScaledObject``, ``Event``), or None."""
        resource = next(r for r in RESOURCES if r.kind == kind)
        with self._lock:
            found = self._objects.get(self._key(resource, namespace if resource.namespaced else "", name))
            return copy.deepcopy(found)

    def list_objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        resource = next(r for r in RESOURCES if r.kind == kind)
        with self._lock:
            return [
                copy.deepcopy(o)
                for (key, ns, _), o in sorted(self._objects.items())
                if key == resource.qualified and namespace in (None, ns)
            ]

    def delete_object(self, kind: str, namespace: str, name: str) -> None:
        resource = next(r for r in RESOURCES if r.kind == kind)
        with self._lock:
            obj = self._objects.pop(self._key(resource, namespace, name))
            self._record(obj, "DELETED")

    # Storage.

    @staticmethod
    def _key(resource: Resource, namespace: str, name: str) -> tuple[str, str, str]:
        return (resource.qualified, namespace, name)

    def _ensure_namespace(self, namespace: str) -> None:
        if self._key(RESOURCES[0], "", namespace) not in self._objects:
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            self._store(RESOURCES[0], {**ns, "status": {"phase": "Active"}}, "ADDED")

    def _store(self, resource: Resource, obj: dict[str, Any], event: str) -> dict[str, Any]:
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta.setdefault("generation", 1)
        self._objects[self._key(resource, meta.get("namespace", ""), meta["name"])] = obj
        self._record(obj, event)
        return obj

    def _record(self, obj: dict[str, Any], event: str) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._history.append((self._rv, event, copy.deepcopy(obj)))
        self._changed.notify_all()

    # Verbs (called with the route parsed by the handler).

    def _existing(self, route: Route) -> dict[str, Any]:
        found = self._objects.get(self._key(route.resource, route.namespace, route.name))
        if found is None:
            raise not_found(route.resource, route.name)
        return found

    def api_get(self, route: Route) -> dict[str, Any]:
        with self._lock:
            found = copy.deepcopy(self._existing(route))
        return _scale(route.resource, found) if route.subresource == "scale" else found

    def api_list(self, route: Route) -> dict[str, Any]:
        match = matcher(route)
        with self._lock:
            items = [copy.deepcopy(o) for o in self._current(route.resource) if match(o)]
            rv = str(self._rv)
        return {
            "kind": f"{route.resource.kind}List",
            "apiVersion": route.resource.api_version,
            "metadata": {"resourceVersion": rv},
            "items": items,
        }

    def _current(self, resource: Resource) -> list[dict[str, Any]]:
        return [o for (key, _, _), o in sorted(self._objects.items()) if key == resource.qualified]

    def api_watch(self, route: Route) -> Iterator[dict[str, Any]]:
        """Events after ``resourceVersion`` (or ADDED for every current object first) until the timeout."""
        match = matcher(route)
        timeout_s = float(route.query.get("timeoutSeconds", 1800))
        deadline = time.monotonic() + timeout_s
        since = route.query.get("resourceVersion", "")
        with self._lock:
            if since in ("", "0"):
                initial = [copy.deepcopy(o) for o in self._current(route.resource) if match(o)]
                last = self._rv
            else:
                initial, last = [], int(since)
        for obj in initial:
            yield {"type": "ADDED", "object": obj}
        while True:
            with self._lock:
                fresh = [(rv, kind, obj) for rv, kind, obj in self._history if rv > last]
                while not fresh and not self._stopping and time.monotonic() < deadline:
                    self._changed.wait(timeout=max(0.0, deadline - time.monotonic()))
                    fresh = [(rv, kind, obj) for rv, kind, obj in self._history if rv > last]
            if not fresh:
                return
            for rv, kind, obj in fresh:
                last = rv
                if obj.get("kind") == route.resource.kind and match(obj):
                    yield {"type": kind, "object": copy.deepcopy(obj)}

    def api_create(self, route: Route, body: Any) -> dict[str, Any]:
        resource = route.resource
        obj = _object_body(body, resource)
        meta = obj.setdefault("metadata", {})
        if resource.namespaced:
            if meta.get("namespace", route.namespace) != route.namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            meta["namespace"] = route.namespace
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(
                    resource, "", [("metadata.name", "Required value", "name or generateName is required")]
                )
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        for server_owned in ("uid", "resourceVersion", "creationTimestamp", "generation"):
            meta.pop(server_owned, None)
        if resource.status_subresource and resource.custom:
            obj.pop("status", None)  # a CRD with a status subresource ignores status on create
        with self._lock:
            if resource.namespaced and self._key(RESOURCES[0], "", route.namespace) not in self._objects:
                raise ApiError(
                    404,
                    "NotFound",
                    f'namespaces "{route.namespace}" not found',
                    status_details(RESOURCES[0], route.namespace),
                )
            if self._key(resource, route.namespace, meta["name"]) in self._objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource.qualified} "{meta["name"]}" already exists',
                    status_details(resource, meta["name"]),
                )
            self._validate(resource, obj)
            return copy.deepcopy(self._store(resource, obj, "ADDED"))

    def api_update(self, route: Route, body: Any) -> dict[str, Any]:
        obj = _object_body(body, route.resource)
        with self._lock:
            current = self._existing(route)
            sent_rv = obj.get("metadata", {}).get("resourceVersion")
            if not sent_rv and route.resource.custom:
                raise invalid(
                    route.resource,
                    route.name,
                    [("metadata.resourceVersion", "Invalid value: 0x0", "must be specified for an update")],
                )
            return self._write(route, current, obj)

    def api_patch(self, route: Route, body: Any, content_type: str) -> dict[str, Any]:
        with self._lock:
            current = self._existing(route)
            if content_type == MERGE_PATCH or (content_type == STRATEGIC_PATCH and not route.resource.custom):
                if not isinstance(body, dict):
                    raise ApiError(
                        400,
                        "BadRequest",
                        "json: cannot unmarshal array into Go value of type map[string]interface {}",
                    )
                patched = merge_patch(current, body)
            elif content_type == JSON_PATCH:
                if not isinstance(body, list):
                    raise ApiError(
                        400,
                        "BadRequest",
                        "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
                    )
                patched = json_patch(current, body)
            else:
                raise unsupported_media(content_type)
            return self._write(route, current, patched)

    def api_delete(self, route: Route) -> dict[str, Any]:
        with self._lock:
            obj = self._existing(route)
            del self._objects[self._key(route.resource, route.namespace, route.name)]
            self._record(obj, "DELETED")
            return copy.deepcopy(obj)

    def _write(self, route: Route, current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        resource = route.resource
        meta = new.setdefault("metadata", {})
        sent_rv = meta.get("resourceVersion")
        if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.qualified} "{route.name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                status_details(resource, route.name),
            )
        if meta.get("name", route.name) != route.name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        if route.subresource == "status":
            new = {**copy.deepcopy(current), "status": new.get("status")}
        elif resource.status_subresource and "status" in current:
            new["status"] = copy.deepcopy(current["status"])
        elif resource.status_subresource:
            new.pop("status", None)
        for owned in ("uid", "creationTimestamp", "namespace", "name", "generation"):
            if owned in current["metadata"]:
                new["metadata"][owned] = current["metadata"][owned]
        new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if new == current:
            return copy.deepcopy(current)  # a no-op write keeps the resourceVersion
        if _desired(new) != _desired(current):
            new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        self._validate(resource, new)
        self._objects[self._key(resource, route.namespace, route.name)] = new
        self._record(new, "MODIFIED")
        return copy.deepcopy(new)

    def _validate(self, resource: Resource, obj: dict[str, Any]) -> None:
        schema = self._schemas.get(resource.qualified)
        if schema is None:
            return
        errors = schema_errors(obj, schema, "")
        if not errors:
            errors = cel_errors(obj, schema, "")
        if errors:
            raise invalid(resource, obj["metadata"].get("name", ""), errors)


def _scale(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale of ``obj``, its selector serialized as the API server does."""
    path = resource.scale_selector or ""
    if path == "spec.selector":
        selector = (obj.get("spec") or {}).get("selector") or {}
        terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
        for expression in selector.get("matchExpressions") or []:
            key, op, values = expression["key"], expression["operator"], expression.get("values") or []
            terms.append(
                {"In": f"{key} in ({','.join(values)})", "NotIn": f"{key} notin ({','.join(values)})"}.get(
                    op, key if op == "Exists" else f"!{key}"
                )
            )
        text = ",".join(terms)
    else:
        value: Any = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        text = value if isinstance(value, str) else ""
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": text},
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _desired(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _object_body(body: Any, resource: Resource) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the body of the request is not a JSON object")
    if body.get("kind") not in (None, resource.kind):
        raise ApiError(400, "BadRequest", f"the kind {body.get('kind')} does not match {resource.kind}")
    body.setdefault("apiVersion", resource.api_version)
    body.setdefault("kind", resource.kind)
    return body
