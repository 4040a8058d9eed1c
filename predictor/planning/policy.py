"""The floor policy: every knob that turns a forecast into a floor, in one value (pure).

A :class:`FloorPolicy` is built once from the configuration (or the command-line flags) and drives
the daemon's planner, ``predictor forecast`` and the replay of ``predictor backtest`` alike, so
that what the backtest measures is what the daemon does. It holds no defaults of its own: the
shipped defaults live in the configuration (``PolicySettings``) and nowhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from predictor.errors import PlanningError


@dataclass(frozen=True)
class StepRules:
    """How fast the floor may come down, seconds and pods."""

    cooldown_s: float
    max_step_down_pods: int
    step_down_interval_s: float


@dataclass(frozen=True)
class FloorPolicy:
    """How a forecast becomes a floor.

    ``quantile`` is the forecast quantile that sizes the floor (0.9 = p90); ``utilization`` the
    target utilisation of a pod in the capacity formula, (0, 1]; ``buffer`` the spike buffer as a
    fraction; ``margin_s`` is added to the cold start to make the lead time (seconds); ``rules``
    say how the floor comes down; ``cap`` is an upper limit below maxReplicaCount (None = none).
    """

    quantile: float
    utilization: float
    buffer: float
    margin_s: float
    rules: StepRules
    cap: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.quantile < 1:
            raise PlanningError(f"the sizing quantile must be strictly between 0 and 1, got {self.quantile}")
        if not 0 < self.utilization <= 1:
            raise PlanningError(f"utilization must be in (0, 1], got {self.utilization}")
        if self.buffer < 0 or self.margin_s < 0:
            raise PlanningError(f"buffer and margin_s must be >= 0, got {self.buffer}, {self.margin_s}")
        if self.cap is not None and self.cap < 1:
            raise PlanningError(f"the cap must be >= 1 pod, got {self.cap}")

    def to_dict(self) -> dict[str, object]:
        """Every setting that shapes the floor, flat and JSON-ready (for summaries and logs)."""
        flat = {k: v for k, v in asdict(self).items() if k != "rules"}
        return {**flat, **asdict(self.rules)}
