"""Latency objectives, e.g. "TTFT p99 ≤ 0.5 s", named as vLLM's load tests and histograms name them.

A metric is one of vLLM's per-request latencies: ``ttft`` (time to first token), ``tpot`` (time per
output token after the first), ``itl`` (inter-token latency) or ``e2el`` (end-to-end latency).
A percentile is in percent (99, 95, 99.9). In configuration an objective is written as one key,
``<metric>_p<percentile>_s`` (``ttft_p99_s: 0.5``), the way ``--slo-ttft-p99 0.5`` reads.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from predictor.errors import CapacityError

SLO_METRICS: dict[str, str] = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2el": "E2E latency"}
_KEY = re.compile(r"^(?P<metric>[a-z0-9]+)_p(?P<percentile>\d+(?:\.\d+)?)_s$")


def percentile_text(percentile: float) -> str:
    """99.0 -> '99', 99.9 -> '99.9': the spelling of vLLM's result keys (``p99_ttft_ms``)."""
    return str(int(percentile)) if float(percentile).is_integer() else f"{percentile:g}"


@dataclass(frozen=True)
class Slo:
    """One objective: the ``percentile`` (percent) of ``metric`` stays at or below ``limit_s`` seconds."""

    metric: str
    percentile: float
    limit_s: float

    def __post_init__(self) -> None:
        if self.metric not in SLO_METRICS:
            raise CapacityError(
                f"unknown latency metric {self.metric!r}; expected one of {', '.join(SLO_METRICS)}"
            )
        if not (math.isfinite(self.percentile) and 0 < self.percentile < 100):
            raise CapacityError(f"a percentile is in (0, 100), got {self.percentile}")
        if not (math.isfinite(self.limit_s) and self.limit_s > 0):
            raise CapacityError(f"{self.key}: the limit must be a finite number of seconds > 0")

    @property
    def quantile(self) -> float:
        """The percentile as a fraction: 0.99 for p99."""
        return self.percentile / 100.0

    @property
    def stat(self) -> str:
        """``p99``, ``p99.9``: the statistic's name in vLLM's result keys."""
        return f"p{percentile_text(self.percentile)}"

    @property
    def key(self) -> str:
        """``ttft_p99_s``: the objective as a configuration key."""
        return f"{self.metric}_{self.stat}_s"

    @property
    def label(self) -> str:
        """``TTFT p99 ≤ 0.5 s``: the objective as a person reads it."""
        return f"{SLO_METRICS[self.metric]} {self.stat} ≤ {self.limit_s:g} s"

    def to_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "percentile": self.percentile, "limit_s": self.limit_s}


def slo_from_key(key: str, limit_s: float) -> Slo:
    """``("ttft_p99_s", 0.5)`` -> ``Slo("ttft", 99, 0.5)``; a CapacityError names a malformed key."""
    match = _KEY.match(key)
    if match is None or match["metric"] not in SLO_METRICS:
        raise CapacityError(
            f"{key!r} is not an objective like ttft_p99_s, tpot_p95_s or e2el_p99.9_s "
            f"(metrics: {', '.join(SLO_METRICS)})"
        )
    return Slo(match["metric"], float(match["percentile"]), float(limit_s))
