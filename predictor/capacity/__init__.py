"""Capacity: turn a request rate into a pod count (pure; no I/O, no clock)."""

from predictor.capacity.formula import (
    ROLES,
    CapacityParams,
    PodModel,
    Role,
    Sizing,
    ceil_pods,
    pod_model,
    pod_model_for_peak,
    pods_for_rates,
    size,
)
from predictor.capacity.thresholds import QueueThresholds, queue_thresholds

__all__ = [
    "ROLES",
    "CapacityParams",
    "PodModel",
    "QueueThresholds",
    "Role",
    "Sizing",
    "ceil_pods",
    "pod_model",
    "pod_model_for_peak",
    "pods_for_rates",
    "queue_thresholds",
    "size",
]
