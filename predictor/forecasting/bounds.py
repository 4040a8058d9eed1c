"""Plausibility bounds: the one place where an absurd forecast is cut down and flagged.

Every fitted model's ``predict`` passes its mean and quantiles through :func:`apply` (the shared
:class:`~predictor.forecasting.models.common.LogSpaceModel` does it for every family, Prophet
included). Two documented rules, each recorded as a :class:`~predictor.forecasting.base.Clamp`
when it cuts anything:

1. **Ceiling.** No mean or quantile above ``PEAK_FACTOR × growth × peak``, where ``peak`` is the
   largest observed rate of the training history at the model's step (req/s, before flash
   crowds are clipped: a bound must never be tighter than what already happened) and
   ``growth`` >= 1 widens it only on evidence of growth in the history: the last day's peak
   over the median daily peak, capped at :data:`MAX_GROWTH`.
2. **Band.** No quantile more than :data:`BAND_FACTOR` above the mean:
   ``(q + m) <= BAND_FACTOR × (mean + m)``, with ``m`` the history's mean rate (which the
   models' offset encodes), so a quiet hour, whose mean may be 0, can still have a band of a
   few times the usual level: sparse traffic (a request every few minutes) has p90s many times
   its median at every hour.

Why these numbers. A day-ahead p95 of the calibrated models on the development traces is at
most ~3× the mean in ``(y + c)`` terms on the burstiest trace (Poisson-level counts) and at
most 1.2× the training peak on the seasonal ones; a burst can reach 10× the level, and the
floor has to follow real growth. So 3× the peak and 10× the mean are never reached by a
sane forecast and still stop a blow-up (a p90 of 2×10⁷ req/s on a 1,600 req/s history) long
before it reaches ``maxReplicaCount``.

The bound is part of every fitted model's state. A model stored before bounds existed gets a
fallback derived from itself (:func:`fallback`): its own mean over the week after the end of
training stands in for the history's peak, capped at :data:`FALLBACK_MEAN_MULTIPLE` times the
history's mean rate (which the offset encodes), with no growth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from predictor.errors import ForecastError
from predictor.forecasting.base import DAY_S, Clamp, quantile_label

PEAK_FACTOR = 3.0
MAX_GROWTH = 2.0
BAND_FACTOR = 10.0
#: A fallback peak is at most this many times the history's mean rate (a daily peak is
#: typically 2-10x the mean; 50x leaves room for any real shape).
FALLBACK_MEAN_MULTIPLE = 50.0
#: The offset ``c`` of the models is this share of the history's mean rate.
_OFFSET_SHARE = 0.1


@dataclass(frozen=True)
class PlausibilityBound:
    """The largest believable rate for one model (req/s), and how it was derived.

    ``peak``: the training history's largest observed rate at the model step (or, for a
    fallback, the model's own weekly peak); ``growth`` >= 1; ``source`` is ``history`` or
    ``fallback``.
    """

    peak: float
    growth: float = 1.0
    source: str = "history"

    @property
    def ceiling(self) -> float:
        """No mean or quantile may exceed this (req/s)."""
        return PEAK_FACTOR * self.growth * self.peak

    def rule(self) -> str:
        """The reason people read: ``3× the history's peak (1,600 req/s)``."""
        whose = "the history's peak" if self.source == "history" else "the model's own weekly peak"
        grown = f" × {self.growth:.2f} growth" if self.growth > 1.0 + 1e-9 else ""
        return f"{PEAK_FACTOR:g}× {whose} ({self.peak:,.4g} req/s){grown}"

    def to_state(self) -> dict[str, Any]:
        return {"peak": self.peak, "growth": self.growth, "source": self.source}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PlausibilityBound:
        try:
            bound = cls(float(state["peak"]), float(state["growth"]), str(state["source"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ForecastError(f"invalid plausibility bound in the model state: {e}") from e
        if not (np.isfinite(bound.peak) and bound.peak > 0 and 1.0 <= bound.growth <= MAX_GROWTH):
            raise ForecastError(f"invalid plausibility bound in the model state: {state}")
        return bound


def from_history(values: np.ndarray, step_s: int) -> PlausibilityBound:
    """The bound of a training history (req/s at ``step_s``, NaN gaps; some value > 0)."""
    v = np.asarray(values, dtype=float)
    peak = float(np.nanmax(v))
    per_day = DAY_S // step_s
    days = len(v) // per_day
    growth = 1.0
    if days >= 2:
        tail = v[len(v) - days * per_day :].reshape(days, per_day)
        seen = ~np.isnan(tail).all(axis=1)
        daily = np.nanmax(np.where(np.isnan(tail), -np.inf, tail)[seen], axis=1)
        if len(daily) >= 2 and np.median(daily) > 0:
            growth = float(np.clip(daily[-1] / np.median(daily), 1.0, MAX_GROWTH))
    return PlausibilityBound(peak, growth, "history")


def fallback(weekly_mean: np.ndarray, offset: float) -> PlausibilityBound:
    """The bound of a stored model that has none: its own weekly peak, capped (see module doc)."""
    history_mean = offset / _OFFSET_SHARE
    own = float(np.max(weekly_mean)) if len(weekly_mean) and np.isfinite(weekly_mean).all() else 0.0
    cap = FALLBACK_MEAN_MULTIPLE * history_mean
    peak = min(own, cap) if own > 0 else cap
    return PlausibilityBound(max(peak, 1e-9), 1.0, "fallback")


def apply(
    mean: np.ndarray,
    bands: Mapping[float, np.ndarray],
    bound: PlausibilityBound,
    offset: float,
    index: pd.DatetimeIndex | None = None,
) -> tuple[np.ndarray, dict[float, np.ndarray], tuple[Clamp, ...]]:
    """``mean`` and ``bands`` (quantile -> req/s) cut to the bound, and a Clamp per series cut.

    Bands stay non-decreasing in the quantile (each is cut by the same caps) and never drop
    below zero; the returned arrays are what a caller must use. With ``index`` (the labels of
    the points) each Clamp says when its cuts start and end.
    """
    ceiling = bound.ceiling
    clamps: list[Clamp] = []
    mean, clamp = _cut(
        np.asarray(mean, dtype=float), np.full(len(mean), ceiling), "mean", bound.rule(), index
    )
    clamps += clamp
    level = offset / _OFFSET_SHARE  # the history's mean rate
    band_cap = BAND_FACTOR * (mean + level) - level
    out: dict[float, np.ndarray] = {}
    for q, values in sorted(bands.items()):
        label = quantile_label(q)
        values = np.asarray(values, dtype=float)
        values, clamp = _cut(values, np.full(len(values), ceiling), label, bound.rule(), index)
        clamps += clamp
        rule = f"{BAND_FACTOR:g}× the mean (each plus the history's mean rate, {level:,.4g} req/s)"
        values, clamp = _cut(values, band_cap, label, rule, index)
        clamps += clamp
        out[q] = np.maximum(values, 0.0)
    return mean, out, tuple(clamps)


def _cut(
    values: np.ndarray, cap: np.ndarray, series: str, rule: str, index: pd.DatetimeIndex | None
) -> tuple[np.ndarray, list[Clamp]]:
    over = ~(values <= cap)  # NaN counts as over: it becomes the cap
    if not over.any():
        return values, []
    worst = int(np.argmax(np.where(over, np.nan_to_num(values, nan=np.inf), -np.inf)))
    cut = np.flatnonzero(over)
    first, last = (index[cut[0]], index[cut[-1]]) if index is not None else (None, None)
    clamp = Clamp(series, int(over.sum()), float(values[worst]), float(cap[worst]), rule, first, last)
    return np.where(over, cap, values), [clamp]
