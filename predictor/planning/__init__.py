"""Planning (pure): turn forecast quantiles and pod sizing into a floor timeline.

:mod:`.planner` sizes what each moment needs and plans the floor; :mod:`.steps` holds the step
rules by which the floor moves; :mod:`.policy` and :mod:`.leadtime` their settings.
"""

from predictor.planning.leadtime import ColdStart, configured_cold_start, learn_cold_start
from predictor.planning.planner import Demand, Plan, floor_pods, plan_floor
from predictor.planning.policy import FloorPolicy, StepRules
from predictor.planning.steps import Bounds, FloorState, PlannedChange, step_back

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
