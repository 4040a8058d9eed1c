"""Rolling-origin backtest of one forecaster on one history.

An *origin* is a simulated "now": the model is fitted on the bins before it and forecasts from
it. Only the bins whose lead time (bin start minus origin, seconds) lies between the first and
the last of ``horizons_s`` are scored: anything sooner than the pre-warm lead time is too late
to start a pod. The edges in between split the scored bins into horizon buckets that weigh the
same in the ranking score whatever their number of bins, so the few bins right at the lead
time count as much as the many hours after it.

Pure: no clock (the caller passes ``timer``), no I/O. A NaN actual is skipped, never zero.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from predictor.errors import ForecastError
from predictor.forecasting import metrics
from predictor.forecasting.base import DAY_S, Forecaster


@dataclass(frozen=True)
class Window:
    """Which lead times a backtest scores and where its origins sit (all in seconds)."""

    horizons_s: tuple[int, ...]  # bucket edges: scored lead times are [first, last)
    folds: int
    fold_spacing_s: int
    #: The error of the k-th latest origin weighs ``0.5 ** (k / fold_halflife)``; ``None``: all
    #: origins weigh the same.
    fold_halflife: float | None = None

    def __post_init__(self) -> None:
        edges = self.horizons_s
        if len(edges) < 2 or edges[0] < 0 or any(b <= a for a, b in itertools.pairwise(edges)):
            raise ForecastError(f"horizons_s must be >= 2 increasing lead times from 0 s, got {edges}")
        if self.folds < 1 or self.fold_spacing_s <= 0:
            raise ForecastError(
                f"need folds >= 1 and fold_spacing_s > 0, got {self.folds}, {self.fold_spacing_s}"
            )
        if self.fold_halflife is not None and not self.fold_halflife > 0:
            raise ForecastError(f"fold_halflife must be positive or None, got {self.fold_halflife}")


@dataclass(frozen=True)
class Fold:
    """One origin's forecast: ``mean`` and ``upper`` (the scored quantile) in req/s from the
    origin on, and the ``actual`` (NaN where missing), all of the same length."""

    origin: pd.Timestamp
    mean: np.ndarray
    upper: np.ndarray
    actual: np.ndarray


@dataclass(frozen=True)
class BacktestResult:
    """Pooled scores of one forecaster over every origin (see :mod:`predictor.forecasting.metrics`)."""

    mae: float  # req/s, mean over horizon buckets of each bucket's (origin-weighted) mean absolute error
    mase: float  # ``mae`` over the seasonal naive (one day) scale of the whole history
    wape: float
    coverage: float  # share of actuals <= the scored quantile
    fit_s: float  # mean fit time per origin, seconds
    points: int  # scored bins with an actual
    folds: tuple[Fold, ...] = ()  # every origin's forecast, for combining and calibrating


def step_seconds(history: pd.Series) -> int:
    """The history's step in seconds, from its index ``freq`` (or the first difference)."""
    index = history.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ForecastError("history needs a tz-aware DatetimeIndex (see predictor.sources.base)")
    if index.freq is not None:
        step = pd.Timedelta(index.freq).total_seconds()
    elif len(index) >= 2:
        step = (index[1] - index[0]).total_seconds()
    else:
        raise ForecastError("history has fewer than two bins; its step is unknown")
    if step <= 0 or not float(step).is_integer():
        raise ForecastError(f"history step must be a positive whole number of seconds, got {step}")
    return int(step)


def data_span_s(history: pd.Series, step_s: int) -> int:
    """Seconds from the first present bin to the end of the last bin; 0 when every bin is NaN."""
    present = history.index[history.notna().to_numpy()]
    if len(present) == 0:
        return 0
    return int((history.index[-1] - present[0]).total_seconds()) + step_s


def origins(history: pd.Series, window: Window, *, min_train_s: int) -> list[pd.Timestamp]:
    """Up to ``window.folds`` origins, latest first, each with >= ``min_train_s`` of data before it.

    The latest origin leaves exactly the longest horizon of history after it, so every scored
    bin has an actual (or a NaN gap); earlier ones step back by ``fold_spacing_s``, rounded to
    the step.
    """
    step_s = step_seconds(history)
    present = history.index[history.notna().to_numpy()]
    if len(present) == 0:
        return []
    end = history.index[-1] + pd.Timedelta(seconds=step_s)
    spacing = pd.Timedelta(seconds=math.ceil(window.fold_spacing_s / step_s) * step_s)
    latest = end - pd.Timedelta(seconds=math.ceil(window.horizons_s[-1] / step_s) * step_s)
    found = []
    for k in range(window.folds):
        origin = latest - k * spacing
        if (origin - present[0]).total_seconds() < min_train_s:
            break
        found.append(origin)
    return found


def run(
    forecaster: Forecaster,
    history: pd.Series,
    at: Sequence[pd.Timestamp],
    window: Window,
    *,
    quantile: float,
    seed: int,
    timer: Callable[[], float],
    keep_s: int = 0,
) -> BacktestResult:
    """Fit ``forecaster`` at every origin in ``at`` and pool the scores of the scored bins.

    Each origin forecasts up to the longest scored horizon, or ``keep_s`` if that is longer
    (the extra steps are kept in ``folds`` for calibration, not scored). Raises
    :class:`ForecastError` when the forecaster fails at any origin or returns a non-finite or
    negative value, so that candidates are always compared on the same bins.
    """
    if not at:
        raise ForecastError("a backtest needs at least one origin")
    step_s = step_seconds(history)
    periods = max(math.ceil(window.horizons_s[-1] / step_s), math.ceil(keep_s / step_s))
    folds = []
    fit_total = 0.0
    for origin in at:
        train = history.iloc[: history.index.searchsorted(origin)]  # a slice keeps ``freq``
        started = timer()
        fitted = forecaster.fit(train, seed=seed)
        fit_total += timer() - started
        forecast = fitted.predict(origin, periods, (quantile,))
        mean = np.asarray(forecast.mean, dtype=float)
        upper = np.asarray(forecast.quantile(quantile), dtype=float)
        if len(mean) != periods or len(upper) != periods:
            raise ForecastError(f"{forecaster.kind} returned {len(mean)} steps, asked for {periods}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(upper))) or np.any(mean < 0):
            raise ForecastError(f"{forecaster.kind} returned non-finite or negative values")
        index = pd.date_range(origin, periods=periods, freq=f"{step_s}s")
        folds.append(Fold(origin, mean, upper, history.reindex(index).to_numpy(dtype=float)))
    return score(folds, history, window, fit_s=fit_total / len(at))


def score(
    folds: Sequence[Fold], history: pd.Series, window: Window, *, fit_s: float = math.nan
) -> BacktestResult:
    """The pooled scores of fold forecasts over the scored lead times of ``window``.

    The ranking error ``mae`` weighs each origin by its recency (``window.fold_halflife``,
    the latest origin first); WAPE and coverage pool every scored bin alike.
    """
    step_s = step_seconds(history)
    edges = [math.ceil(h / step_s) for h in window.horizons_s]  # in steps from the origin
    first, last = edges[0], edges[-1]
    actual = np.concatenate([f.actual[first:last] for f in folds])
    mean = np.concatenate([f.mean[first:last] for f in folds])
    upper = np.concatenate([f.upper[first:last] for f in folds])
    errors = np.abs(actual - mean)  # NaN where the actual is missing
    lead = np.tile(np.arange(first, last), len(folds))
    weight = np.repeat(_fold_weights(folds, window.fold_halflife), last - first)
    bucket_mae = []
    for lo, hi in itertools.pairwise(edges):
        scored = (lead >= lo) & (lead < hi) & ~np.isnan(errors)
        if scored.any():
            bucket_mae.append(float(np.sum(weight[scored] * errors[scored]) / np.sum(weight[scored])))
    mae = float(np.mean(bucket_mae)) if bucket_mae else math.nan
    scale = metrics.naive_scale(history.to_numpy(dtype=float), metrics.season_steps(DAY_S, step_s))
    return BacktestResult(
        mae=mae,
        mase=mae / scale if np.isfinite(scale) and scale > 0 else math.nan,
        wape=metrics.wape(actual, mean),
        coverage=metrics.coverage(actual, upper),
        fit_s=fit_s,
        points=int(np.sum(~np.isnan(actual))),
        folds=tuple(folds),
    )


def _fold_weights(folds: Sequence[Fold], halflife: float | None) -> np.ndarray:
    """``0.5 ** (k / halflife)`` for the k-th latest origin (all 1 without a half-life)."""
    if halflife is None:
        return np.ones(len(folds))
    rank = np.argsort(np.argsort([-f.origin.value for f in folds], kind="stable"), kind="stable")
    return np.power(0.5, rank / halflife)
