"""What the daemon keeps per target between cycles, and what one reconcile decided."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from predictor.actuation.scaledobject import ScaledObjectRef
from predictor.capacity import PodModel, pod_model
from predictor.config import TargetSettings
from predictor.forecasting.store import ModelArtifact
from predictor.planning import ColdStart, Plan
from predictor.runtime.policy import Policy
from predictor.runtime.targets import cold_start_of, policy_from_settings
from predictor.sources.base import HistorySource


@dataclass
class TargetRuntime:
    """One managed ScaledObject: its settings, its model, and the planner's memory.

    ``virtual_floor`` is the floor predictor would have applied in ``dry-run`` and ``metric``
    modes, where the ScaledObject's own minReplicaCount never changes; the planner's cooldown
    and step rules run on it so that the recommendations evolve as they would in ``patch``.
    """

    settings: TargetSettings
    ref: ScaledObjectRef
    source: HistorySource
    policy: Policy
    pod: PodModel
    configured_cold_start: ColdStart
    cold_start: ColdStart
    artifact: ModelArtifact | None = None
    retrain_failed: bool = False
    last_error: str | None = None
    state: str = "fallback"
    virtual_floor: int | None = None
    last_raise_at: pd.Timestamp | None = None
    last_lower_at: pd.Timestamp | None = None
    plan: Plan | None = None
    gone: bool = False

    @classmethod
    def create(cls, settings: TargetSettings, source: HistorySource) -> TargetRuntime:
        configured = cold_start_of(settings)
        return cls(
            settings=settings,
            ref=ScaledObjectRef.parse(settings.scaled_object),
            source=source,
            policy=policy_from_settings(settings.policy),
            pod=pod_model(settings.capacity, settings.role),
            configured_cold_start=configured,
            cold_start=configured,
        )

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def mode(self) -> str:
        return self.settings.policy.actuation_mode


@dataclass(frozen=True)
class Decision:
    """The outcome of one reconcile of one target, as `predictor run --once` prints it."""

    target: str
    mode: str
    state: str
    model: str | None
    baseline: int | None
    current: int | None
    floor: int | None
    action: str  # raise | lower | hold | would raise | would lower | skipped | failed
    reason: str
    next_change: str | None = None
