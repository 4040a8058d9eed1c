"""A protocol-faithful fake Kubernetes API server for tests (stdlib ``http.server``, threaded).

The real ``kubernetes`` Python client and the real ``kubectl`` talk to it over plain HTTP on
``127.0.0.1:<free port>``. No API server can be installed on the test machines (DESIGN.md, "Test
infrastructure"), so this one answers the way a v1.32 API server does for what predictor uses:

- **discovery**: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>[/<version>]``. Aggregated
  discovery is not offered: kubectl asks for it with a fallback to ``application/json`` and gets the
  legacy lists. ``/openapi/*`` answers 404, which kubectl tolerates for what the tests run.
- **resources**: ``keda.sh/v1alpha1`` scaledobjects (short name ``so``, a status subresource), core ``v1``
  namespaces, pods and events, ``apps/v1`` deployments and ``coordination.k8s.io/v1`` leases.
- **verbs**: get, list (``labelSelector`` with ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``; ``fieldSelector``
  with ``=``/``==``/``!=`` on any dotted path), watch (``watch=true``; events as JSON lines until
  ``timeoutSeconds``), create, update, patch, delete. PATCH is chosen by Content-Type: merge-patch needs
  an object (RFC 7386, ``null`` deletes), json-patch needs a list (add, remove, replace, test, move,
  copy), strategic-merge-patch is 415 on a custom resource (treated as a merge patch on built-in
  kinds, a simplification), apply-patch is 415.
- **metadata**: one monotonic resourceVersion across the server; a write carrying a stale
  ``metadata.resourceVersion`` gets 409 Conflict; an update of a custom resource without one gets
  422, as on a real server; ``generation`` bumps when anything but metadata and status changes; ``uid``
  and ``creationTimestamp`` are set on create; a write that changes nothing keeps the resourceVersion.
- **KEDA validation** of ScaledObjects as the v2.20 CRD declares it: the structural schema (types,
  int32 bounds, ``minimum``, ``required``, ``minItems``) and the CEL rule minReplicaCount <= maxReplicaCount
  (max defaults to 100), rejected with 422 Invalid and the API server's message format. Pass
  ``crd=`` (the CRD file) to validate against the real schema instead of the built-in copy.
- **errors** as ``Status`` objects (kind Status, status Failure, message, reason, details, code).
- **fault injection** (:class:`Faults`) and a **request log** (:class:`RequestRecord`) holding the
  Kubernetes verb and the resource with its group, from which RBAC rules can be derived.

Not modelled: authentication and RBAC (see faults), pagination (``limit`` is ignored, no ``continue``),
set-based label selectors, 410 Gone for old watch resourceVersions, finalizers, owner references and
garbage collection, server-side apply, admission beyond the namespace having to exist on create.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Resource:
    """``custom`` marks a CRD: no strategic merge; updates need a resourceVersion."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    custom: bool = False
    status_subresource: bool = False
    # Extra table columns for `kubectl get`: (name, type, json path), shown between Name and Age.
    columns: tuple[tuple[str, str, str], ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The name RBAC and error messages use: ``scaledobjects.keda.sh``, ``pods``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()


SCALEDOBJECTS = Resource(
    "keda.sh",
    "v1alpha1",
    "scaledobjects",
    "ScaledObject",
    short_names=("so",),
    custom=True,
    status_subresource=True,
    columns=(  # the CRD's additionalPrinterColumns
        ("ScaleTargetKind", "string", ".status.scaleTargetKind"),
        ("ScaleTargetName", "string", ".spec.scaleTargetRef.name"),
        ("Min", "integer", ".spec.minReplicaCount"),
        ("Max", "integer", ".spec.maxReplicaCount"),
        ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        ("Active", "string", '.status.conditions[?(@.type=="Active")].status'),
        ("Fallback", "string", '.status.conditions[?(@.type=="Fallback")].status'),
        ("Paused", "string", '.status.conditions[?(@.type=="Paused")].status'),
        ("Triggers", "string", ".status.triggersTypes"),
        ("Authentications", "string", ".status.authenticationsTypes"),
    ),
)
RESOURCES = (
    Resource("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",)),
    Resource("", "v1", "pods", "Pod", short_names=("po",), status_subresource=True),
    Resource("", "v1", "events", "Event", short_names=("ev",)),
    Resource("apps", "v1", "deployments", "Deployment", short_names=("deploy",), status_subresource=True),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    SCALEDOBJECTS,
)

# The parts of KEDA v2.20's ScaledObject schema that validation checks (see ``crd=`` for the real file).
KEDA_SCALEDOBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount)"
                    " ? self.maxReplicaCount : 100)",
                    "message": "minReplicaCount must be less than or equal to maxReplicaCount",
                }
            ],
            "properties": {
                "cooldownPeriod": {"type": "integer", "format": "int32", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "format": "int32", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "format": "int32", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "format": "int32", "minimum": 1},
                "minReplicaCount": {"type": "integer", "format": "int32", "minimum": 0},
                "pollingInterval": {"type": "integer", "format": "int32", "minimum": 1},
                "scaleTargetRef": {"type": "object", "required": ["name"]},
                "triggers": {"type": "array", "minItems": 1, "items": {"type": "object"}},
            },
        }
    },
}
# The CEL rules the fake can evaluate, by their exact text in the CRD.
_CEL_RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    KEDA_SCALEDOBJECT_SCHEMA["properties"]["spec"]["x-kubernetes-validations"][0]["rule"]: lambda spec: (
        "minReplicaCount" not in spec
        or not isinstance(spec["minReplicaCount"], int)
        or spec["minReplicaCount"] <= spec.get("maxReplicaCount", 100)
    ),
}


class ApiError(Exception):
    """Answered to the client as a Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


@dataclass
class Fault:
    """An injected failure: match by method, verb and path fragment; answer ``status`` after ``delay_s``."""

    method: str | None = None
    path_contains: str = ""
    verb: str | None = None
    status: int | None = None
    delay_s: float = 0.0
    times: int | None = 1  # None = every matching request
    message: str | None = None
    hits: int = 0


class Faults:
    """The faults of one server (thread-safe). :meth:`add` returns the fault; tests can read ``hits``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        *,
        method: str | None = None,
        path_contains: str = "",
        verb: str | None = None,
        status: int | None = None,
        delay_s: float = 0.0,
        times: int | None = 1,
        message: str | None = None,
    ) -> Fault:
        """Fail the next ``times`` matching requests (``None`` = all) with ``status``, after ``delay_s`` s.

        With only ``delay_s``, the request is delayed and then served normally (to cause client timeouts).
        """
        fault = Fault(method and method.upper(), path_contains, verb, status, delay_s, times, message)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, verb: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (
                    (fault.method is None or fault.method == method)
                    and (fault.verb is None or fault.verb == verb)
                    and fault.path_contains in path
                    and (fault.times is None or fault.hits < fault.times)
                ):
                    fault.hits += 1
                    return fault
        return None


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it. ``verb`` is the Kubernetes verb (get, list, watch, create,
    update, patch, delete); ``group`` and ``resource`` are the RBAC names (``keda.sh``, ``scaledobjects``;
    the core group is ``""``)."""

    method: str
    path: str
    query: dict[str, str]
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    content_type: str
    status: int
    body: Any = None

    @property
    def qualified(self) -> str:
        """``scaledobjects.keda.sh``, ``pods``, ``scaledobjects.keda.sh/status``: empty for discovery."""
        base = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{base}/{self.subresource}" if self.subresource else base


@dataclass
class _Route:
    resource: Resource
    namespace: str
    name: str
    subresource: str
    verb: str
    query: dict[str, str] = field(default_factory=dict)


class FakeKube:
    """A running fake API server. ``url`` is its base URL; :meth:`stop` ends it (also on ``with`` exit)."""

    def __init__(self, *, crd: Path | None = None) -> None:
        self.faults = Faults()
        self.requests: list[RequestRecord] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._history: list[tuple[int, str, dict[str, Any]]] = []  # (resourceVersion, event type, object)
        self._rv = 1000
        self._stopping = False
        self._schemas = {SCALEDOBJECTS.qualified: _crd_schema(crd) if crd else KEDA_SCALEDOBJECT_SCHEMA}
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.daemon_threads = True
        self._http.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="fake-kube", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> FakeKube:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._changed.notify_all()
        self._http.shutdown()
        self._http.server_close()

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """A kubeconfig (context ``fake``) for kubectl and the Python client; JSON is valid YAML."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
            ],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        return path

    # Direct access for tests: no validation, no faults, no request log.

    def put_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as is (status kept, no validation), creating its namespace; returns the copy."""
        resource = _resource_for(obj.get("apiVersion", ""), obj.get("kind", ""))
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

    def requests_for(self, verb: str | None = None, resource: str | None = None) -> list[RequestRecord]:
        """Logged requests, filtered by Kubernetes verb and plural resource name."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (verb is None or r.verb == verb) and (resource is None or r.resource == resource)
            ]

    def permissions(self) -> set[tuple[str, str, str]]:
        """(API group, resource, verb) of every resource request so far, e.g. ``("keda.sh",
        "scaledobjects", "patch")`` or ``("keda.sh", "scaledobjects/status", "update")``: the RBAC rules
        a client needs. Discovery requests are left out (every authenticated user may make them)."""
        with self._lock:
            return {
                (r.group, f"{r.resource}/{r.subresource}" if r.subresource else r.resource, r.verb)
                for r in self.requests
                if r.resource
            }

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

    def _existing(self, route: _Route) -> dict[str, Any]:
        found = self._objects.get(self._key(route.resource, route.namespace, route.name))
        if found is None:
            raise _not_found(route.resource, route.name)
        return found

    def api_get(self, route: _Route) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._existing(route))

    def api_list(self, route: _Route) -> dict[str, Any]:
        match = _matcher(route)
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

    def api_watch(self, route: _Route) -> Iterator[dict[str, Any]]:
        """Events after ``resourceVersion`` (or ADDED for every current object first) until the timeout."""
        match = _matcher(route)
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

    def api_create(self, route: _Route, body: Any) -> dict[str, Any]:
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
                raise _invalid(
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
                    _details(RESOURCES[0], route.namespace),
                )
            if self._key(resource, route.namespace, meta["name"]) in self._objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource.qualified} "{meta["name"]}" already exists',
                    _details(resource, meta["name"]),
                )
            self._validate(resource, obj)
            return copy.deepcopy(self._store(resource, obj, "ADDED"))

    def api_update(self, route: _Route, body: Any) -> dict[str, Any]:
        obj = _object_body(body, route.resource)
        with self._lock:
            current = self._existing(route)
            sent_rv = obj.get("metadata", {}).get("resourceVersion")
            if not sent_rv and route.resource.custom:
                raise _invalid(
                    route.resource,
                    route.name,
                    [("metadata.resourceVersion", "Invalid value: 0x0", "must be specified for an update")],
                )
            return self._write(route, current, obj)

    def api_patch(self, route: _Route, body: Any, content_type: str) -> dict[str, Any]:
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
                raise _unsupported_media(content_type)
            return self._write(route, current, patched)

    def api_delete(self, route: _Route) -> dict[str, Any]:
        with self._lock:
            obj = self._existing(route)
            del self._objects[self._key(route.resource, route.namespace, route.name)]
            self._record(obj, "DELETED")
            return copy.deepcopy(obj)

    def _write(self, route: _Route, current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        resource = route.resource
        meta = new.setdefault("metadata", {})
        sent_rv = meta.get("resourceVersion")
        if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.qualified} "{route.name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                _details(resource, route.name),
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
        errors = _schema_errors(obj, schema, "")
        if not errors:
            errors = _cel_errors(obj, schema, "")
        if errors:
            raise _invalid(resource, obj["metadata"].get("name", ""), errors)


def start_fake_kube(*, crd: Path | None = None) -> FakeKube:
    """Start a fake API server on 127.0.0.1 with a free port; use it as a context manager."""
    return FakeKube(crd=crd)


def load_crd(path: Path) -> dict[str, Any]:
    """Read a CRD file (YAML)."""
    import yaml  # only needed when a real CRD is used

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads the CRD ~10x faster
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def _crd_schema(path: Path) -> dict[str, Any]:
    crd = load_crd(path)
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema = version["schema"]["openAPIV3Schema"]
    for rule in schema["properties"]["spec"].get("x-kubernetes-validations", []):
        if rule["rule"] not in _CEL_RULES:
            raise ValueError(
                f"the fake cannot evaluate the CEL rule {rule['rule']!r}; teach it in _CEL_RULES"
            )
    return schema


# Validation.


def _schema_errors(value: Any, schema: dict[str, Any], path: str) -> list[tuple[str, str, str]]:
    """(field, what, detail) for every structural violation, the way the API server words them."""
    kind = schema.get("type")
    shown = json.dumps(value) if not isinstance(value, dict | list) else f'"{type(value).__name__}"'
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return [(path, f"Invalid value: {shown}", f"{path} in body must be of type integer: {shown}")]
    if kind == "object" and not isinstance(value, dict):
        return [(path, f"Invalid value: {shown}", f"{path} in body must be of type object: {shown}")]
    if kind == "array" and not isinstance(value, list):
        return [(path, f"Invalid value: {shown}", f"{path} in body must be of type array: {shown}")]
    if kind == "string" and not isinstance(value, str):
        return [(path, f"Invalid value: {shown}", f"{path} in body must be of type string: {shown}")]
    errors = []
    if kind == "integer":
        if schema.get("format") == "int32" and not -(2**31) <= value <= INT32_MAX:
            errors.append((path, f"Invalid value: {value}", f"{path} in body must be of type int32: {value}"))
        elif "minimum" in schema and value < schema["minimum"]:
            errors.append(
                (
                    path,
                    f"Invalid value: {value}",
                    f"{path} in body should be greater than or equal to {schema['minimum']}",
                )
            )
    if kind == "array":
        if len(value) < schema.get("minItems", 0):
            errors.append(
                (
                    path,
                    f"Invalid value: {len(value)}",
                    f"{path} in body should have at least {schema['minItems']} items",
                )
            )
        for index, item in enumerate(value):
            errors += _schema_errors(item, schema.get("items", {}), f"{path}[{index}]")
    if kind == "object":
        for name in schema.get("required", []):
            if name not in value:
                errors.append((_join(path, name), "Required value", ""))
        for name, sub in schema.get("properties", {}).items():
            if name in value and name != "metadata":
                errors += _schema_errors(value[name], sub, _join(path, name))
    return errors


def _cel_errors(value: Any, schema: dict[str, Any], path: str) -> list[tuple[str, str, str]]:
    errors = []
    if isinstance(value, dict):
        for rule in schema.get("x-kubernetes-validations", []):
            check = _CEL_RULES.get(rule["rule"])
            if check is not None and not check(value):
                errors.append(
                    (path, 'Invalid value: "object"', rule.get("message", f"failed rule: {rule['rule']}"))
                )
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                errors += _cel_errors(value[name], sub, _join(path, name))
    return errors


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _invalid(resource: Resource, name: str, errors: list[tuple[str, str, str]]) -> ApiError:
    parts = [f"{f}: {what}: {detail}" if detail else f"{f}: {what}" for f, what, detail in errors]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = _details(resource, name)
    details["causes"] = [
        {
            "reason": "FieldValueRequired" if what == "Required value" else "FieldValueInvalid",
            "message": f"{what}: {detail}" if detail else what,
            "field": f,
        }
        for f, what, detail in errors
    ]
    group_kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    return ApiError(422, "Invalid", f'{group_kind} "{name}" is invalid: {joined}', details)


def _details(resource: Resource, name: str) -> dict[str, Any]:
    details = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def _not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource.qualified} "{name}" not found', _details(resource, name))


def _unsupported_media(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}",
    )


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


# Patches.


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: Any, operations: list[Any]) -> Any:
    """RFC 6902 JSON patch; a failed ``test`` or a bad path is 422, as on a real server."""
    document = copy.deepcopy(document)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(422, "Invalid", f"invalid JSON patch operation: {json.dumps(op)}")
        kind = op["op"]
        if kind == "test":
            if _pointer_get(document, op["path"]) != op.get("value"):
                raise ApiError(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an error in our request: "
                    f"testing value {op['path']} failed: test failed",
                )
        elif kind == "remove":
            _pointer_remove(document, op["path"])
        elif kind in ("add", "replace"):
            if kind == "replace":
                _pointer_get(document, op["path"])
            document = _pointer_set(
                document, op["path"], copy.deepcopy(op.get("value")), insert=kind == "add"
            )
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_pointer_get(document, op["from"]))
            if kind == "move":
                _pointer_remove(document, op["from"])
            document = _pointer_set(document, op["path"], value, insert=True)
        else:
            raise ApiError(422, "Invalid", f"unexpected kind of JSON patch operation: {kind}")
    return document


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ApiError(422, "Invalid", f"JSON pointer must start with '/': {pointer}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _step(node: Any, token: str, pointer: str) -> Any:
    try:
        return node[int(token)] if isinstance(node, list) else node[token]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ApiError(422, "Invalid", f"the path {pointer!r} does not exist in the document") from None


def _pointer_get(document: Any, pointer: str) -> Any:
    node = document
    for token in _tokens(pointer):
        node = _step(node, token, pointer)
    return node


def _pointer_set(document: Any, pointer: str, value: Any, *, insert: bool) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        return value
    parent = (
        _pointer_get(document, "/" + "/".join(t.replace("~", "~0").replace("/", "~1") for t in tokens[:-1]))
        if len(tokens) > 1
        else document
    )
    last = tokens[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if insert:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, "Invalid", f"the path {pointer!r} does not exist in the document")
    return document


def _pointer_remove(document: Any, pointer: str) -> None:
    tokens = _tokens(pointer)
    parent = _pointer_get(document, "/" + "/".join(tokens[:-1])) if len(tokens) > 1 else document
    _step(parent, tokens[-1], pointer)
    if isinstance(parent, list):
        del parent[int(tokens[-1])]
    else:
        del parent[tokens[-1]]


# Selectors and tables.


def _dotted(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _matcher(route: _Route) -> Callable[[dict[str, Any]], bool]:
    labels = [t.strip() for t in route.query.get("labelSelector", "").split(",") if t.strip()]
    fields = [t.strip() for t in route.query.get("fieldSelector", "").split(",") if t.strip()]
    for term in labels:
        if re.search(r"\s(in|notin)\s|\(", term):
            raise ApiError(
                400, "BadRequest", f"the fake API server supports only equality label selectors: {term}"
            )

    def match(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        if route.resource.namespaced and route.namespace and meta.get("namespace") != route.namespace:
            return False
        have = meta.get("labels") or {}
        for term in labels:
            if not _selected(term, lambda key: have.get(key)):
                return False
        return all(_selected(term, lambda key: _field_text(obj, key)) for term in fields)

    return match


def _field_text(obj: dict[str, Any], key: str) -> str | None:
    value = _dotted(obj, key)
    return None if value is None else str(value)


def _selected(term: str, value_of: Callable[[str], str | None]) -> bool:
    if "!=" in term:
        key, want = term.split("!=", 1)
        return value_of(key.strip()) != want.strip()
    if "=" in term:
        key, want = re.split("==?", term, maxsplit=1)
        return value_of(key.strip()) == want.strip()
    if term.startswith("!"):
        return value_of(term[1:].strip()) is None
    return value_of(term) is not None


def _json_path(obj: Any, path: str) -> Any:
    """The subset of JSONPath printer columns use: ``.a.b`` and ``.a[?(@.k=="v")].b``."""
    for part in re.findall(r'\.[^.\[]+|\[\?\(@\.\w+=="[^"]*"\)\]', path):
        if part.startswith("[") and isinstance(obj, list):
            key, want = re.match(r'\[\?\(@\.(\w+)=="([^"]*)"\)\]', part).groups()  # type: ignore[union-attr]
            obj = next((item for item in obj if isinstance(item, dict) and item.get(key) == want), None)
        elif isinstance(obj, dict):
            obj = obj.get(part[1:])
        else:
            return None
    return obj


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    seconds = int(
        time.time() - datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    )
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _table(resource: Resource, objects: list[dict[str, Any]], rv: str) -> dict[str, Any]:
    """The server-side table ``kubectl get`` asks for (``as=Table``)."""
    columns = [
        ("Name", "string", ".metadata.name"),
        *resource.columns,
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    rows = []
    for obj in objects:
        cells = []
        for _, kind, path in columns:
            value = _json_path(obj, path)
            cells.append(_age(value) if kind == "date" else value)
        partial = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
        rows.append({"cells": cells, "object": partial})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": [
            {
                "name": name,
                "type": "string" if kind == "date" else kind,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": 0,
            }
            for name, kind, _ in columns
        ],
        "rows": rows,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource_for(api_version: str, kind: str) -> Resource:
    for resource in RESOURCES:
        if resource.api_version == api_version and resource.kind == kind:
            return resource
    raise ValueError(f"the fake API server does not serve {api_version} {kind}")


# Discovery.


def _discovery(path: str, url: str) -> dict[str, Any] | None:
    groups: dict[str, list[str]] = {}
    for resource in RESOURCES:
        if resource.group:
            groups.setdefault(resource.group, [])
            if resource.version not in groups[resource.group]:
                groups[resource.group].append(resource.version)
    host = urlsplit(url).netloc
    if path == "/version":
        return {
            "major": "1",
            "minor": "32",
            "gitVersion": "v1.32.0-fake",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2024-12-11T00:00:00Z",
            "goVersion": "go1.23.4",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in groups.items()],
        }
    parts = path.strip("/").split("/")
    if parts[0] == "apis" and len(parts) == 2 and parts[1] in groups:
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(parts[1], groups[parts[1]])}
    if path == "/api/v1" or (parts[0] == "apis" and len(parts) == 3 and parts[2] in groups.get(parts[1], [])):
        group_version = "v1" if path == "/api/v1" else f"{parts[1]}/{parts[2]}"
        served = [r for r in RESOURCES if r.api_version == group_version]
        listed = []
        for r in served:
            verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
            listed.append(
                {
                    "name": r.plural,
                    "singularName": r.singular,
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": verbs,
                    "shortNames": list(r.short_names),
                }
            )
            if r.status_subresource:
                listed.append(
                    {
                        "name": f"{r.plural}/status",
                        "singularName": "",
                        "namespaced": r.namespaced,
                        "kind": r.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": listed,
        }
    return None


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def _route(method: str, path: str, query: dict[str, str]) -> _Route | None:
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
        group, version, rest = "", "v1", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource = next(
        (r for r in RESOURCES if (r.group, r.version, r.plural) == (group, version, rest[0])), None
    )
    if resource is None or len(rest) > 3:
        return None
    if namespace and not resource.namespaced:
        return None
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and not (subresource == "status" and resource.status_subresource):
        return None
    watching = query.get("watch") in ("true", "1")
    verb = {
        "GET": "get" if name else ("watch" if watching else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }.get(method, method.lower())
    return _Route(resource, namespace, name, subresource, verb, query)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read FakeKube.requests
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        fake: FakeKube = self.server.fake  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"  # the Python client asks for /version/
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        raw = self._body()
        route = _route(method, path, query)
        verb = route.verb if route else ("get" if method == "GET" else method.lower())
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        accept = self.headers.get("Accept") or ""
        try:
            fault = fake.faults.take(method, self.path, verb)
            if fault is not None and fault.delay_s:
                time.sleep(fault.delay_s)
            if fault is not None and fault.status is not None:
                raise _fault_error(fault, route, verb)
            if route is None:
                answer = _discovery(path, fake.url) if method == "GET" else None
                if answer is None:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                status = 200
            elif route.verb == "watch":
                status, answer = 200, None
            else:
                status, answer = self._dispatch(fake, route, body, content_type, raw)
                if route.verb in ("list", "get") and "as=Table" in accept:
                    items = answer["items"] if route.verb == "list" else [answer]
                    answer = _table(route.resource, items, answer["metadata"]["resourceVersion"])
        except ApiError as error:
            status, answer = error.code, error.status()
        # Logged before answering, so a test that reads the log after a call always finds it.
        record = RequestRecord(
            method=method,
            path=path,
            query=query,
            verb=verb,
            group=route.resource.group if route else "",
            resource=route.resource.plural if route else "",
            subresource=route.subresource if route else "",
            namespace=route.namespace if route else "",
            name=route.name if route else "",
            content_type=content_type,
            status=status,
            body=body,
        )
        with fake._lock:
            fake.requests.append(record)
        try:
            if route is not None and route.verb == "watch" and status == 200:
                self._stream(fake.api_watch(route))
            else:
                self._send(status, answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (e.g. it timed out)

    def _dispatch(
        self, fake: FakeKube, route: _Route, body: Any, content_type: str, raw: bytes
    ) -> tuple[int, Any]:
        if route.verb == "get":
            return 200, fake.api_get(route)
        if route.verb == "list":
            return 200, fake.api_list(route)
        if route.verb == "create":
            return 201, fake.api_create(route, _parsed(body, raw))
        if route.verb == "update":
            return 200, fake.api_update(route, _parsed(body, raw))
        if route.verb == "patch":
            if content_type not in (MERGE_PATCH, JSON_PATCH) and (
                route.resource.custom or content_type != STRATEGIC_PATCH
            ):
                raise _unsupported_media(content_type)
            return 200, fake.api_patch(route, _parsed(body, raw), content_type)
        if route.verb == "delete":
            return 200, fake.api_delete(route)
        raise ApiError(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: Any) -> int:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return status

    def _stream(self, events: Iterator[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for event in events:
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _parsed(body: Any, raw: bytes) -> Any:
    if raw and isinstance(body, bytes | str):
        raise ApiError(400, "BadRequest", "the body of the request could not be decoded as JSON")
    return body


def _fault_error(fault: Fault, route: _Route | None, verb: str) -> ApiError:
    resource = route.resource if route else None
    what = resource.qualified if resource else "the requested resource"
    name = route.name if route else ""
    reasons = {
        400: "BadRequest",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        410: "Expired",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }
    status = fault.status or 500
    if fault.message:
        message = fault.message
    elif status == 403 and resource is not None:
        where = (
            f' in the namespace "{route.namespace}"' if route and route.namespace else " at the cluster scope"
        )
        message = (
            f'{what} "{name}" is forbidden: User "system:serviceaccount:predictor:predictor" cannot {verb} '
            f'resource "{resource.plural}" in API group "{resource.group}"{where}'
        )
    elif status == 404:
        message = f'{what} "{name}" not found'
    elif status == 409:
        message = (
            f'Operation cannot be fulfilled on {what} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )
    elif status == 422:
        message = f'{resource.kind if resource else "object"} "{name}" is invalid: injected by the test'
    else:
        message = f"injected fault: HTTP {status}"
    details = _details(resource, name) if resource else None
    return ApiError(status, reasons.get(status, "InternalError"), message, details)
