"""Scale targets and their pods through the API, for the learned cold start.

The pods of any scale target are found the way the HPA finds them: by the label selector of the
target's ``/scale`` subresource (see :mod:`predictor.actuation.pods`). That needs ``get`` on
``<resource>/scale`` of the kinds in use and ``list`` on pods.
"""

from __future__ import annotations

from typing import Any

from predictor.actuation import pods
from predictor.actuation.kubernetes import KubernetesClient, segment
from predictor.actuation.pods import PodSelector
from predictor.actuation.scaledobject import ScaledObjectView

# The plural of the scale-target kinds predictor knows; any other kind is tried as
# lowercase kind + "s", the convention every kind here follows.
PLURALS = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "ReplicaSet": "replicasets",
    "LeaderWorkerSet": "leaderworkersets",
    "RoleBasedGroupScalingAdapter": "rolebasedgroupscalingadapters",
}


class WorkloadClient:
    """Scale targets and pods over one :class:`KubernetesClient` connection."""

    def __init__(self, api: KubernetesClient) -> None:
        self.api = api

    def scale_target_selector(self, view: ScaledObjectView) -> PodSelector:
        """The pods of the ScaledObject's scale target, from its scale subresource."""
        target, namespace = view.scale_target, view.ref.namespace
        group, _, version = target.api_version.rpartition("/")
        plural = PLURALS.get(target.kind, target.kind.lower() + "s")
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        path = f"{prefix}/namespaces/{segment(namespace)}/{plural}/{segment(target.name)}/scale"
        resource = f"{plural}.{group}/scale" if group else f"{plural}/scale"
        scale = self.api.request(
            "GET", path, verb="get", resource=resource, namespace=namespace, name=target.name
        )
        return pods.selector_from_scale(
            scale, namespace=namespace, group=group, kind=target.kind, name=target.name
        )

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The pods matching ``selector`` in ``namespace``, as the API returns them."""
        listed = self.api.request(
            "GET",
            f"/api/v1/namespaces/{segment(namespace)}/pods",
            verb="list",
            resource="pods",
            namespace=namespace,
            query={"labelSelector": selector},
        )
        return list(listed.get("items") or [])
