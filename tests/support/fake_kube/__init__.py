"""A protocol-faithful fake Kubernetes API server for tests (stdlib ``http.server``, threaded).

The real ``kubernetes`` Python client and the real ``kubectl`` talk to it over plain HTTP on
``127.0.0.1:<free port>``. No API server can be installed on the test machines (DESIGN.md, "Test
infrastructure"), so this one answers the way a v1.32 API server does for what predictor uses:

- **discovery**: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>[/<version>]``. Aggregated
  discovery is not offered: kubectl asks for it with a fallback to ``application/json`` and gets the
  legacy lists. ``/openapi/*`` answers 404, which kubectl tolerates for what the tests run.
- **resources**: ``keda.sh/v1alpha1`` scaledobjects (short name ``so``, a status subresource), core ``v1``
  namespaces, pods and events, ``apps/v1`` deployments and statefulsets, ``coordination.k8s.io/v1``
  leases, and the scale targets of multi-pod serving: ``leaderworkerset.x-k8s.io/v1`` leaderworkersets
  and ``workloads.x-k8s.io/v1alpha1`` rolebasedgroupscalingadapters. The workloads serve a ``scale``
  subresource (GET, autoscaling/v1 Scale) whose ``status.selector`` is serialized from
  ``spec.selector`` (apps/v1) or read at the CRD's labelSelectorPath (``.status.hpaPodSelector``,
  ``.status.selector``), as a real API server does.
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

Modules: :mod:`.resources` (what is served, path routing), :mod:`.store` (objects, resourceVersion,
generation, watch history, verbs), :mod:`.patches`, :mod:`.validation` (KEDA's CRD rules),
:mod:`.selectors`, :mod:`.discovery` (discovery and ``kubectl get`` tables), :mod:`.faults` (fault
injection, request log), :mod:`.errors` (Status answers) and :mod:`.server` (:class:`FakeKube`, HTTP).
"""

from tests.support.fake_kube.errors import ApiError
from tests.support.fake_kube.faults import Fault, Faults, RequestRecord
from tests.support.fake_kube.patches import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    json_patch,
    merge_patch,
)
from tests.support.fake_kube.resources import RESOURCES, SCALEDOBJECTS, Resource
from tests.support.fake_kube.server import JSON, FakeKube, start_fake_kube
from tests.support.fake_kube.store import Store
from tests.support.fake_kube.validation import INT32_MAX, KEDA_SCALEDOBJECT_SCHEMA, load_crd

__all__ = [
    "APPLY_PATCH",
    "INT32_MAX",
    "JSON",
    "JSON_PATCH",
    "KEDA_SCALEDOBJECT_SCHEMA",
    "MERGE_PATCH",
    "RESOURCES",
    "SCALEDOBJECTS",
    "STRATEGIC_PATCH",
    "ApiError",
    "FakeKube",
    "Fault",
    "Faults",
    "RequestRecord",
    "Resource",
    "Store",
    "json_patch",
    "load_crd",
    "merge_patch",
    "start_fake_kube",
]
