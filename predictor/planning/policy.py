"""The floor policy: every knob that turns a forecast into a floor, in one value (pure).

A :class:`FloorPolicy` is built once from the configuration (or the command-line flags) and drives
the daemon's planner, ``predictor forecast`` and the replay of ``predictor backtest`` alike, so
that what the backtest measures is what the daemon does. It holds no defaults of its own: the
shipped defaults live in the configuration (``PolicySettings``) and nowhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from predictor.errors import PlanningError

WindowSizing = Literal["max", "pooled"]


@dataclass(frozen=True)
class StepRules:
    """How fast the floor may come down, seconds and pods.

    ``scale_down_window_s`` is KEDA's (the HPA's) scale-down stabilisation window: a floor is not
    lowered when the need comes back above the lowered floor within a cold start plus this window,
    because the pods given back would have to be started cold again.
    """

    cooldown_s: float
    max_step_down_pods: int
    step_down_interval_s: float
    scale_down_window_s: float


@dataclass(frozen=True)
class FloorPolicy:
    """How a forecast becomes a floor.

    ``quantile`` is the forecast quantile that sizes the floor (0.9 = p90). ``utilization`` is
    the target utilisation of a pod that KEDA scales on, (0, 1]; ``floor_utilization`` the share
    of a pod's capacity the floor is sized at, (0, 1]: the floor's job is that Ready capacity
    covers the demand quantile when the pods arrive, while KEDA keeps adding its own headroom
    above the floor as load arrives. ``buffer`` is the spike buffer as a fraction of the demand,
    applied before rounding (``ceil(pods_exact × (1 + buffer))``), so that rounding cannot double a
    small floor. ``margin_s`` is added to the cold start to make the lead time (seconds).
    ``window`` says how the lead-time window's demand is sized: ``max`` of the per-point
    quantiles, or the quantile of the ``pooled`` demand over the window. ``rules`` say how the
    floor comes down; ``cap`` is an upper limit below maxReplicaCount (None = none).
    """

    quantile: float
    utilization: float
    floor_utilization: float
    buffer: float
    margin_s: float
    rules: StepRules
    cap: int | None = None
    window: WindowSizing = "max"

    def __post_init__(self) -> None:
        if not 0 < self.quantile < 1:
            raise PlanningError(f"the sizing quantile must be strictly between 0 and 1, got {self.quantile}")
        if not 0 < self.utilization <= 1:
            raise PlanningError(f"utilization must be in (0, 1], got {self.utilization}")
        if not 0 < self.floor_utilization <= 1:
            raise PlanningError(f"floor_utilization must be in (0, 1], got {self.floor_utilization}")
        if self.buffer < 0 or self.margin_s < 0:
            raise PlanningError(f"buffer and margin_s must be >= 0, got {self.buffer}, {self.margin_s}")
        if self.cap is not None and self.cap < 1:
            raise PlanningError(f"the cap must be >= 1 pod, got {self.cap}")
        if self.window not in ("max", "pooled"):
            raise PlanningError(f"window must be 'max' or 'pooled', got {self.window!r}")
        if self.rules.scale_down_window_s < 0:
            raise PlanningError(f"scale_down_window_s must be >= 0, got {self.rules.scale_down_window_s}")

    def to_dict(self) -> dict[str, object]:
        """Every setting that shapes the floor, flat and JSON-ready (for summaries and logs)."""
        flat = {k: v for k, v in asdict(self).items() if k != "rules"}
        return {**flat, **asdict(self.rules)}

    def describe(self) -> str:
        """One compact line: ``p90 at 100 % of a pod + 20 % buffer, lead margin 120 s, ...``."""
        r = self.rules
        cap = "" if self.cap is None else f", cap {self.cap}"
        window = "" if self.window == "max" else f", {self.window} window"
        return (
            f"p{self.quantile * 100:g} at {self.floor_utilization:.0%} of a pod + {self.buffer:.0%} buffer"
            f"{window}; KEDA at {self.utilization:.0%}; lower after {r.cooldown_s:g} s, "
            f"≤{r.max_step_down_pods} pods per {r.step_down_interval_s:g} s, "
            f"scale-down window {r.scale_down_window_s:g} s; margin {self.margin_s:g} s{cap}"
        )
