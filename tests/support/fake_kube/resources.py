"""The resources the fake serves, and how a request path maps to a resource, namespace, name and verb."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    # The scale subresource (autoscaling/v1 Scale): where its selector comes from, a dotted path to
    # a selector string (a CRD's labelSelectorPath) or "spec.selector" (a LabelSelector object, as
    # the apps/v1 workloads have). None: no scale subresource.
    scale_selector: str | None = None

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
    Resource(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        status_subresource=True,
        scale_selector="spec.selector",
    ),
    Resource(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        short_names=("sts",),
        status_subresource=True,
        scale_selector="spec.selector",
    ),
    # The CRDs' scale subresources as LeaderWorkerSet (leaderworkerset.x-k8s.io) and RBG
    # (workloads.x-k8s.io) declare them: labelSelectorPath .status.hpaPodSelector and .status.selector.
    Resource(
        "leaderworkerset.x-k8s.io",
        "v1",
        "leaderworkersets",
        "LeaderWorkerSet",
        short_names=("lws",),
        custom=True,
        status_subresource=True,
        scale_selector="status.hpaPodSelector",
    ),
    Resource(
        "workloads.x-k8s.io",
        "v1alpha1",
        "rolebasedgroupscalingadapters",
        "RoleBasedGroupScalingAdapter",
        short_names=("rbgsa",),
        custom=True,
        status_subresource=True,
        scale_selector="status.selector",
    ),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    SCALEDOBJECTS,
)


def resource_for(api_version: str, kind: str) -> Resource:
    for resource in RESOURCES:
        if resource.api_version == api_version and resource.kind == kind:
            return resource
    raise ValueError(f"the fake API server does not serve {api_version} {kind}")


@dataclass
class Route:
    resource: Resource
    namespace: str
    name: str
    subresource: str
    verb: str
    query: dict[str, str] = field(default_factory=dict)


def parse_route(method: str, path: str, query: dict[str, str]) -> Route | None:
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
    if subresource and not (
        (subresource == "status" and resource.status_subresource)
        or (subresource == "scale" and resource.scale_selector)
    ):
        return None
    watching = query.get("watch") in ("true", "1")
    verb = {
        "GET": "get" if name else ("watch" if watching else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }.get(method, method.lower())
    return Route(resource, namespace, name, subresource, verb, query)
