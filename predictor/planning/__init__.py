"""Planning (pure): turn forecast quantiles and pod sizing into a floor timeline."""

from predictor.planning.leadtime import ColdStart, configured_cold_start, learn_cold_start
from predictor.planning.planner import (
    Bounds,
    Demand,
    FloorState,
    Plan,
    PlannedChange,
    floor_pods,
    plan_floor,
    step_back,
)
from predictor.planning.policy import FloorPolicy, StepRules

__all__ = [
    "Bounds",
    "ColdStart",
    "Demand",
    "FloorPolicy",
    "FloorState",
    "Plan",
    "PlannedChange",
    "StepRules",
    "configured_cold_start",
    "floor_pods",
    "learn_cold_start",
    "plan_floor",
    "step_back",
]
