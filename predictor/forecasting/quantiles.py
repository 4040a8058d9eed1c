"""Calibrated forecast quantiles from empirical multiplicative residuals.

Traffic errors scale with the traffic, so residuals are taken in log space: a residual is
``r = log((y + c) / (f + c))`` where ``f`` is the point forecast and ``c`` a small offset
(req/s) that keeps idle periods finite. A :class:`ResidualQuantiles` table holds, per horizon
bucket, the residual at a fixed grid of levels, and turns a point forecast into any quantile
``(f + c) * exp(r_q) - c``. The residuals come from held-out (or rolling-origin) forecasts at
the horizons that matter, so that about 90% of actuals fall under p90.

Invariants: the table is non-decreasing in the level, so p50 <= p90 <= p95 point by point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from predictor.errors import ForecastError

#: Levels at which residual quantiles are stored; a requested level in between is interpolated.
LEVELS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
    0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99, 0.995,
)  # fmt: skip

#: Below this many residuals in a bucket its quantiles are too noisy; the bucket borrows its
#: nearest neighbour's data instead.
MIN_RESIDUALS = 30


@dataclass(frozen=True)
class ResidualQuantiles:
    """Residual quantiles by horizon.

    ``edges_s[i]`` is the smallest horizon (seconds after the end of training) of bucket ``i``;
    ``edges_s[0] == 0``. ``table[i][j]`` is the residual quantile at ``LEVELS[j]``.

    The point forecast (``mean``) is the model's own centre, not shifted by the residuals: the
    held-out residuals come from a model fitted on less data (e.g. before a weekend ended), and
    their bias is about that model, not the final one.
    """

    edges_s: tuple[float, ...]
    table: tuple[tuple[float, ...], ...]

    @classmethod
    def from_residuals(
        cls, residuals: np.ndarray, horizons_s: np.ndarray, edges_s: Sequence[float] = (0.0,)
    ) -> ResidualQuantiles:
        """Build the table from log residuals observed at the given horizons (seconds).

        Non-finite residuals are ignored. With no usable residual at all the band is a
        conservative +/-50% (documented fallback for constant or tiny histories).
        """
        r = np.asarray(residuals, dtype=float)
        h = np.asarray(horizons_s, dtype=float)
        ok = np.isfinite(r) & np.isfinite(h)
        r, h = r[ok], h[ok]
        edges = np.asarray(edges_s, dtype=float)
        bucket = np.searchsorted(edges, h, side="right") - 1
        groups = [r[bucket == i] for i in range(len(edges))]
        rows = []
        for i, group in enumerate(groups):
            if len(group) < MIN_RESIDUALS:
                group = _borrow(groups, i)
            if len(group) == 0:
                group = np.array([np.log(0.5), 0.0, np.log(1.5)])
            row = np.maximum.accumulate(np.quantile(group, LEVELS))
            rows.append(tuple(float(v) for v in row))
        return cls(tuple(float(e) for e in edges), tuple(rows))

    def residual(self, q: float, horizons_s: np.ndarray) -> np.ndarray:
        """The residual quantile at level ``q`` for each horizon (seconds; negative counts as 0)."""
        if not 0.0 < q < 1.0:
            raise ForecastError(f"quantile must be strictly between 0 and 1, got {q}")
        per_bucket = np.array([np.interp(q, LEVELS, row) for row in self.table])
        return per_bucket[self._bucket(horizons_s)]

    @classmethod
    def widest(cls, tables: Sequence[ResidualQuantiles], edges_s: Sequence[float]) -> ResidualQuantiles:
        """The widest band of ``tables`` in each bucket of ``edges_s``: per level, the largest
        residual at or above the median and the smallest below it (a conservative union)."""
        upper = np.asarray(LEVELS) >= 0.5
        rows = []
        for edge in edges_s:
            at = np.array([[t.residual(q, np.array([edge]))[0] for q in LEVELS] for t in tables])
            row = np.where(upper, at.max(axis=0), at.min(axis=0))
            rows.append(tuple(float(v) for v in np.maximum.accumulate(row)))
        return cls(tuple(float(e) for e in edges_s), tuple(rows))

    def _bucket(self, horizons_s: np.ndarray) -> np.ndarray:
        h = np.maximum(np.asarray(horizons_s, dtype=float), 0.0)
        return np.searchsorted(np.asarray(self.edges_s), h, side="right") - 1

    def to_state(self) -> dict[str, Any]:
        return {
            "levels": list(LEVELS),
            "edges_s": list(self.edges_s),
            "table": [list(row) for row in self.table],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ResidualQuantiles:
        try:
            if tuple(state["levels"]) != LEVELS:
                raise ForecastError("stored quantile levels differ from this version's grid")
            table = tuple(tuple(float(v) for v in row) for row in state["table"])
            edges = tuple(float(e) for e in state["edges_s"])
        except (KeyError, TypeError, ValueError) as e:
            raise ForecastError(f"invalid quantile state: {e}") from e
        if len(table) != len(edges) or any(len(row) != len(LEVELS) for row in table):
            raise ForecastError("invalid quantile state: inconsistent table shape")
        return cls(edges, table)


def _borrow(groups: list[np.ndarray], i: int) -> np.ndarray:
    """Pool bucket ``i`` with its neighbours, nearest first, until there are enough residuals."""
    pooled = groups[i]
    for distance in range(1, len(groups)):
        for j in (i - distance, i + distance):
            if 0 <= j < len(groups):
                pooled = np.concatenate([pooled, groups[j]])
        if len(pooled) >= MIN_RESIDUALS:
            break
    return pooled


def log_residuals(actual: np.ndarray, predicted: np.ndarray, offset: float) -> np.ndarray:
    """``log((actual + c) / (predicted + c))``; NaN where either is missing."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(np.asarray(actual) + offset) - np.log(np.maximum(np.asarray(predicted), 0.0) + offset)
