"""A replay of KEDA driving the HPA, under a floor (minReplicaCount) that a policy sets.

One step per ``step_s`` (one minute by default). At each step:

1. The HPA's metric is the in-flight demand in pods, ``load / (pod_rps * utilization)``, where
   ``pod_rps`` is what one Ready pod serves at 100 %. A missing load (NaN) means the metric is
   unavailable, and the HPA keeps the current count, as KEDA does on a metric error.
2. Within a 10 % tolerance of the current count nothing changes; otherwise the raw
   recommendation is ``ceil(demand)``.
3. Scale-up is immediate. Scale-down uses the highest recommendation made in the last 300 s
   (the HPA's default scale-down stabilisation window), so a count falls 300 s after the last
   high recommendation.
4. The count is clamped to ``[max(floor, min_replicas), max_replicas]``.
5. New pods become Ready ``cold_start_s`` after they are created. On scale-down, pods that are
   not Ready yet go first, then the most recent.

Costs and outcomes: pod-hours of every allocated pod (starting or Ready); shortfall minutes,
the steps where the load exceeds Ready pods x ``pod_rps``; the unserved fraction of demand;
and the scale events (steps where the count changed). Missing load is never counted as zero:
those steps are left out of shortfall and unserved demand.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from predictor.errors import PlanningError


@dataclass(frozen=True)
class Cluster:
    """The scale target as the HPA sees it. Rates in req/s, durations in seconds."""

    pod_rps: float
    utilization: float
    cold_start_s: float
    min_replicas: int = 1
    max_replicas: int = 100
    tolerance: float = 0.1
    scale_down_window_s: float = 300.0
    step_s: float = 60.0

    def __post_init__(self) -> None:
        if not (
            self.pod_rps > 0 and 0 < self.utilization <= 1 and self.cold_start_s >= 0 and self.step_s > 0
        ):
            raise PlanningError(f"invalid cluster model: {self}")
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise PlanningError(f"need 0 <= min_replicas <= max_replicas, got {self}")


@dataclass(frozen=True)
class Outcome:
    """One policy's replay: per-step series and the totals that compare policies."""

    replicas: np.ndarray
    ready: np.ndarray
    floor: np.ndarray
    pod_hours: float
    shortfall_minutes: float
    unserved_fraction: float
    scale_events: int

    def totals(self) -> dict[str, float | int]:
        return {
            "pod_hours": round(self.pod_hours, 3),
            "shortfall_minutes": round(self.shortfall_minutes, 3),
            "unserved_fraction": round(self.unserved_fraction, 6),
            "scale_events": self.scale_events,
        }


def _recommend(demand: float, current: int, tolerance: float) -> int:
    if current > 0 and abs(demand / current - 1.0) <= tolerance:
        return current
    return max(0, math.ceil(demand - 1e-9))


def simulate(load: np.ndarray, floor: np.ndarray, cluster: Cluster) -> Outcome:
    """Replay ``load`` (req/s per step, NaN = missing) under ``floor`` (pods per step)."""
    load = np.asarray(load, dtype=float)
    floor = np.asarray(floor, dtype=float)
    if load.shape != floor.shape:
        raise PlanningError(f"load and floor differ in length: {load.shape} vs {floor.shape}")
    n = len(load)
    per_pod_target = cluster.pod_rps * cluster.utilization
    window_steps = max(1, round(cluster.scale_down_window_s / cluster.step_s))
    cold_steps = cluster.cold_start_s / cluster.step_s

    replicas = np.zeros(n, dtype=int)
    ready = np.zeros(n, dtype=int)
    floors = np.zeros(n, dtype=int)
    # Pods as the step at which each becomes Ready, in ascending order (a new pod is never Ready
    # before an older one); the replay starts warm.
    first_demand = 0.0 if np.isnan(load[0]) else load[0] / per_pod_target
    start = min(
        max(int(floor[0]), cluster.min_replicas, math.ceil(first_demand - 1e-9)), cluster.max_replicas
    )
    pods: list[float] = [-math.inf] * start
    # The HPA keeps recommendations newer than now - window: the last high one drops out a
    # full window after it was made. They are the metric's, before the floor: lowering the
    # floor lets the count fall at once.
    recent: deque[int] = deque(maxlen=window_steps)
    events = 0
    loads, floor_list = load.tolist(), floor.tolist()  # plain floats: numpy scalars are slow in a loop
    for i in range(n):
        current = len(pods)
        lower = min(max(int(floor_list[i]), cluster.min_replicas), cluster.max_replicas)
        if math.isnan(loads[i]):
            desired = current
        else:
            recent.append(_recommend(loads[i] / per_pod_target, current, cluster.tolerance))
            up, down = recent[-1], max(recent)
            desired = up if up > current else (down if down < current else current)
        target = min(max(desired, lower), cluster.max_replicas)
        if target > current:
            pods.extend([i + cold_steps] * (target - current))
        elif target < current:
            del pods[target:]  # Ready pods first; the newest and the still-starting ones go
        if target != current:
            events += 1
        replicas[i] = len(pods)
        ready[i] = bisect.bisect_right(pods, i)
        floors[i] = lower

    present = ~np.isnan(load)
    capacity = ready * cluster.pod_rps
    missing_rps = np.where(present, np.maximum(0.0, np.nan_to_num(load) - capacity), 0.0)
    total = float(np.nansum(load))
    return Outcome(
        replicas=replicas,
        ready=ready,
        floor=floors,
        pod_hours=float(replicas.sum() * cluster.step_s / 3600.0),
        shortfall_minutes=float(np.count_nonzero(missing_rps > 1e-9) * cluster.step_s / 60.0),
        unserved_fraction=float(missing_rps.sum() / total) if total > 0 else 0.0,
        scale_events=events,
    )
