"""Forecast accuracy metrics: WAPE, MASE against daily seasonal naive, quantile coverage.

All functions are pure. A NaN actual is a bin with no data: it is skipped, never counted as
zero traffic. Forecasts must be finite where the actual is present. When nothing is left to
score (every actual missing) or a denominator is zero, the result is NaN, never a made-up 0.
Errors in the inputs (shape mismatch, a non-finite forecast) raise
:class:`~predictor.errors.ForecastError`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from predictor.errors import ForecastError

ArrayLike = npt.ArrayLike


def _paired(actual: ArrayLike, predicted: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The (actual, predicted) pairs whose actual is present, as float arrays."""
    a = np.asarray(actual, dtype=float).ravel()
    p = np.asarray(predicted, dtype=float).ravel()
    if a.shape != p.shape:
        raise ForecastError(f"actual and forecast differ in length ({a.size} != {p.size})")
    present = ~np.isnan(a)
    if not np.all(np.isfinite(p[present])):
        raise ForecastError("the forecast has non-finite values where the actual is present")
    return a[present], p[present]


def absolute_errors(actual: ArrayLike, predicted: ArrayLike) -> np.ndarray:
    """|actual - predicted| for every bin whose actual is present (same unit as the inputs)."""
    a, p = _paired(actual, predicted)
    return np.abs(a - p)


def wape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Weighted absolute percentage error: sum|a - p| / sum|a| (a ratio, 0 is perfect).

    NaN when no actual is present or the present actuals sum to zero.
    """
    a, p = _paired(actual, predicted)
    total = float(np.sum(np.abs(a)))
    if a.size == 0 or total == 0.0:
        return float("nan")
    return float(np.sum(np.abs(a - p))) / total


def naive_scale(training: ArrayLike, season_steps: int) -> float:
    """MASE denominator: mean |y[t] - y[t - season_steps]| over the training series (same unit as y).

    Pairs where either value is NaN are skipped. NaN when no pair is left; 0.0 for a series
    that repeats exactly (MASE is then undefined and :func:`mase` returns NaN).
    """
    if season_steps < 1:
        raise ForecastError(f"season_steps must be >= 1, got {season_steps}")
    y = np.asarray(training, dtype=float).ravel()
    if y.size <= season_steps:
        return float("nan")
    diffs = np.abs(y[season_steps:] - y[:-season_steps])
    diffs = diffs[~np.isnan(diffs)]
    return float(np.mean(diffs)) if diffs.size else float("nan")


def mase(actual: ArrayLike, predicted: ArrayLike, *, scale: float) -> float:
    """Mean absolute scaled error: mean|a - p| / ``scale`` (1.0 = as good as in-sample naive).

    ``scale`` comes from :func:`naive_scale` on the training series with a one-day season, so
    MASE < 1 means the forecast beats what seasonal naive (daily) did in-sample. NaN when no
    actual is present or the scale is zero or NaN.
    """
    errors = absolute_errors(actual, predicted)
    if errors.size == 0 or not np.isfinite(scale) or scale <= 0.0:
        return float("nan")
    return float(np.mean(errors)) / scale


def coverage(actual: ArrayLike, upper: ArrayLike) -> float:
    """Share of present actuals at or below ``upper`` (0..1); a calibrated p90 gives about 0.9.

    NaN when no actual is present.
    """
    a, u = _paired(actual, upper)
    if a.size == 0:
        return float("nan")
    return float(np.mean(a <= u))


def season_steps(period_s: int, step_s: int) -> int:
    """Steps in a season (one day at 300 s -> 288); the period must be a whole number of steps."""
    if step_s <= 0 or period_s % step_s:
        raise ForecastError(f"a season of {period_s} s is not a whole number of {step_s} s steps")
    return period_s // step_s
