"""Pod start-up times and scale-target selectors, from API objects as dicts (pure: no client, no clock).

They feed the learned cold start: creation -> Ready of the scale target's pods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PodSelector:
    """The pods of a scale target: a label selector (``a=b,c=d``), or None and the reason why not."""

    namespace: str
    selector: str | None
    reason: str


def deployment_selector(deployment: Mapping[str, Any]) -> PodSelector:
    """The selector of an apps/v1 Deployment from its ``spec.selector.matchLabels``.

    A selector with matchExpressions gives ``selector=None``: the labels alone would select too much.
    """
    meta = deployment.get("metadata") or {}
    where = f"{meta.get('namespace')}/{meta.get('name')}"
    selector = (deployment.get("spec") or {}).get("selector") or {}
    labels = selector.get("matchLabels") or {}
    if selector.get("matchExpressions") or not labels:
        return PodSelector(
            meta.get("namespace", ""), None, f"Deployment {where} has no plain matchLabels selector"
        )
    text = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    return PodSelector(meta.get("namespace", ""), text, f"matchLabels of Deployment {where}")


def startup_durations(pods: Iterable[Mapping[str, Any]]) -> list[float]:
    """Seconds from creation to Ready of the pods that are Running and Ready, in the order given.

    Ready is the Ready condition's lastTransitionTime, so a pod that flapped counts from its last
    transition: a learned cold start errs long, which is the safe side.
    """
    durations = []
    for pod in pods:
        status = pod.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
        created = (pod.get("metadata") or {}).get("creationTimestamp")
        if status.get("phase") != "Running" or not ready or ready.get("status") != "True" or not created:
            continue
        if not ready.get("lastTransitionTime"):
            continue
        seconds = (_parse_time(ready["lastTransitionTime"]) - _parse_time(created)).total_seconds()
        if seconds >= 0:
            durations.append(seconds)
    return durations


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
