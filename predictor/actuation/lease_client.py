"""The leader-election Lease through the API: read, create, replace (see :mod:`predictor.daemon.leader`).

409 on a create or an update means another replica wrote first; it is never retried here (the
elector reads the Lease again at its next tick and decides again).
"""

from __future__ import annotations

from typing import Any

from predictor.actuation import lease
from predictor.actuation.errors import ActuationConflict, NotFound
from predictor.actuation.kubernetes import KubernetesClient, segment
from predictor.actuation.lease import LEASES, LeaseRecord


class LeaseClient:
    """Leases over one :class:`KubernetesClient` connection (give it its own, with ``retries=0``, so
    a tick fails well within the lease duration)."""

    def __init__(self, api: KubernetesClient) -> None:
        self.api = api

    def get_lease(self, namespace: str, name: str) -> LeaseRecord | None:
        """The Lease ``namespace/name``, or None if it does not exist yet."""
        try:
            obj = self.api.request(
                "GET", _path(namespace, name), verb="get", resource=LEASES, namespace=namespace, name=name
            )
        except NotFound:
            return None
        return LeaseRecord.from_dict(obj)

    def create_lease(self, namespace: str, name: str, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease holding ``record``; ActuationConflict if it exists already."""
        body = lease.lease_body(namespace, name, record)
        return self._write("POST", "create", namespace, name, _path(namespace), body)

    def update_lease(
        self, namespace: str, name: str, record: LeaseRecord, resource_version: str
    ) -> LeaseRecord:
        """Replace the Lease's spec with ``record`` if it is still at ``resource_version``, else
        ActuationConflict."""
        body = lease.lease_body(namespace, name, record, resource_version)
        return self._write("PUT", "update", namespace, name, _path(namespace, name), body)

    def _write(
        self, method: str, verb: str, namespace: str, name: str, path: str, body: dict[str, Any]
    ) -> LeaseRecord:
        try:
            stored = self.api.request(
                method, path, verb=verb, resource=LEASES, namespace=namespace, name=name, body=body
            )
        except ActuationConflict as error:
            raise ActuationConflict(
                f"{verb} {LEASES} {namespace}/{name}: another replica wrote first: {error}"
            ) from error.__cause__
        return LeaseRecord.from_dict(stored)


def _path(namespace: str, name: str = "") -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{segment(namespace)}/leases"
    return f"{base}/{segment(name)}" if name else base
