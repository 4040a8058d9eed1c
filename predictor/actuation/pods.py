"""Start-ups of a scale target's pods, from API objects as dicts (pure: no client, no clock).

They feed the learned cold start: pod creation -> first Ready. The pods are found by the label
selector that the scale target's ``/scale`` subresource exposes, which is what KEDA's HPA uses
for any kind: a Deployment's or StatefulSet's ``spec.selector``; a LeaderWorkerSet's
``status.hpaPodSelector`` (``leaderworkerset.sigs.k8s.io/name=<name>,...worker-index=0``: its
leader pods); a RoleBasedGroupScalingAdapter's ``status.selector`` (the pods of its role).

A LeaderWorkerSet scales in whole groups, and a group serves only once all its pods are Ready
(with ``startupPolicy: LeaderReady`` the workers are created only after the leader is Ready).
So for one, every pod of the set is read (``leaderworkerset.sigs.k8s.io/name=<name>``) and a
start-up is a group: from the creation of its first pod to the first Ready of its last one,
grouped by ``leaderworkerset.sigs.k8s.io/group-index`` and the leader pod's uid.

Ready's ``lastTransitionTime`` resets on every readiness flap and container restart, so it only
bounds the first Ready from above. A pod is a clean start-up only when nothing says it flapped:
no container restarted, and the time is within the configured maximum (a pod that took longer
is taken for a flap, not a start-up). The daemon keeps the earliest Ready time it has seen per
pod, so a flap after it first saw the pod Ready changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
LWS_GROUP_LABEL = "leaderworkerset.sigs.k8s.io/group-index"
LWS_WORKER_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
LWS_KIND = ("leaderworkerset.x-k8s.io", "LeaderWorkerSet")


@dataclass(frozen=True)
class PodSelector:
    """The pods of a scale target: a label selector (``a=b,c=d``), or None and the reason why not.

    ``group_label`` names the label that groups pods into one unit of scale (a LeaderWorkerSet's
    group index); None when every pod is its own unit.
    """

    namespace: str
    selector: str | None
    reason: str
    group_label: str | None = None


@dataclass(frozen=True)
class PodReady:
    """One pod as the learned cold start reads it: ``ready_at`` is its Ready condition's last
    transition to True (None while not Ready), ``clean`` is False with ``why`` when its readiness
    history cannot be trusted (a container restarted)."""

    uid: str
    group: str
    created: datetime
    ready_at: datetime | None
    clean: bool
    why: str = ""


def selector_from_scale(
    scale: Mapping[str, Any], *, namespace: str, group: str, kind: str, name: str
) -> PodSelector:
    """The pods of a scale target from its ``/scale`` answer (an autoscaling/v1 Scale)."""
    selector = str(((scale.get("status") or {}).get("selector")) or "").strip()
    what = f"{kind} {namespace}/{name}"
    if not selector:
        return PodSelector(namespace, None, f"{what} exposes no pod selector on its scale subresource yet")
    if (group, kind) == LWS_KIND:
        return PodSelector(
            namespace,
            f"{LWS_NAME_LABEL}={name}",
            f"every pod of {what}, one start-up per group",
            group_label=LWS_GROUP_LABEL,
        )
    return PodSelector(namespace, selector, f"the scale selector of {what}")


def pod_readiness(pods: Iterable[Mapping[str, Any]], group_label: str | None = None) -> list[PodReady]:
    """Each pod that has started (phase Running), with its Ready time and whether it is clean."""
    read = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        created = _parse_time(meta.get("creationTimestamp"))
        if status.get("phase") != "Running" or created is None:
            continue
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
        ready_at = None
        if ready is not None and ready.get("status") == "True":
            ready_at = _parse_time(ready.get("lastTransitionTime"))
        restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
        uid = str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
        labels = meta.get("labels") or {}
        group = uid
        if group_label is not None and group_label in labels:
            group = f"{labels.get(LWS_NAME_LABEL, '')}#{labels[group_label]}"
        why = f"{restarts} container restart{'s' if restarts != 1 else ''}" if restarts else ""
        read.append(PodReady(uid, group, created, ready_at, clean=not restarts, why=why))
    return read


def startup_durations(pods: Iterable[Mapping[str, Any]]) -> list[float]:
    """Seconds from creation to Ready of the clean, Ready pods, in the order given (each pod its
    own start-up; the daemon adds the per-pod memory and the groups, see
    :mod:`predictor.daemon.cold_start`)."""
    return [
        (p.ready_at - p.created).total_seconds()
        for p in pod_readiness(pods)
        if p.clean and p.ready_at is not None and p.ready_at >= p.created
    ]


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
