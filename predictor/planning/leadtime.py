"""Lead time: how far ahead a floor must be raised so that pods are Ready when load arrives.

``L = cold_start + margin``. The cold start is configured (a total, or the sum of named stages)
or learned from observed pod start-ups (creation -> Ready), as a high percentile. The margin
covers one reconcile interval, KEDA's polling interval and the HPA sync period.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from predictor.errors import PlanningError


@dataclass(frozen=True)
class ColdStart:
    """The cold start in use, and where it came from."""

    seconds: float
    source: Literal["configured", "learned"]
    samples: int
    detail: str

    def lead_time_s(self, margin_s: float) -> float:
        """Cold start plus the margin, seconds."""
        return self.seconds + margin_s


def configured_cold_start(
    total_s: float | None = None, stages_s: dict[str, float] | None = None
) -> ColdStart:
    """A configured cold start: the total if given, else the sum of the named stages."""
    if total_s is not None:
        seconds, detail = float(total_s), "configured total"
    elif stages_s:
        seconds = float(sum(stages_s.values()))
        detail = f"sum of {len(stages_s)} stages" if len(stages_s) > 1 else f"{next(iter(stages_s))} stage"
    else:
        raise PlanningError("a cold start needs a total or named stages")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise PlanningError(f"cold start must be a finite number of seconds >= 0, got {seconds}")
    return ColdStart(seconds=seconds, source="configured", samples=0, detail=detail)


def learn_cold_start(
    observed_s: Sequence[float],
    *,
    configured: ColdStart,
    percentile: float = 0.95,
    min_samples: int = 5,
) -> ColdStart:
    """The ``percentile`` of observed creation -> Ready durations once there are ``min_samples``.

    Below that many valid samples the configured value is returned, with the count, so a caller
    can show "3 of 5 start-ups seen". Non-finite and negative durations are ignored.
    """
    if not 0 < percentile <= 1:
        raise PlanningError(f"percentile must be in (0, 1], got {percentile}")
    values = np.asarray([v for v in observed_s if math.isfinite(v) and v >= 0], dtype=float)
    if values.size < min_samples:
        return ColdStart(
            seconds=configured.seconds,
            source="configured",
            samples=int(values.size),
            detail=f"{configured.detail}; {values.size} of {min_samples} start-ups observed",
        )
    # "higher" never reports less than an observed start-up at that rank.
    seconds = float(np.quantile(values, percentile, method="higher"))
    return ColdStart(
        seconds=seconds,
        source="learned",
        samples=int(values.size),
        detail=f"p{percentile * 100:g} of {values.size} observed start-ups",
    )
