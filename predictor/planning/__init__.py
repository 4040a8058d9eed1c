"""Planning (pure): turn forecast quantiles and pod sizing into a floor timeline."""

from predictor.planning.leadtime import ColdStart, configured_cold_start, learn_cold_start
from predictor.planning.planner import Bounds, Demand, FloorState, Plan, PlannedChange, plan_floor
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
    "learn_cold_start",
    "plan_floor",
]
