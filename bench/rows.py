"""The model rows the forecasting benchmarks compare, and statsforecast's models as references.

``MODELS``: row name -> (registry kind, options). ``prophet_defaults`` is Prophet exactly as the
library ships it, the reference the targets name.

``SF_ROWS``: statsforecast 2.x models as a user would run them on this data, on the raw rate
(req/s, no log), with these season lengths. At 5-minute steps ``AutoTheta(season_length=288)``
takes ~10 s per fit and ``MSTL(season_length=[288, 2016])`` ~32 s on this machine, which would
take the benchmark to many hours; so ``sf_autotheta`` and ``sf_mstl`` fit on hourly means
(seasons 24, and 24 + 168 from two weeks of history; ~0.08 s and ~0.2 s) and each hourly value
stands for its twelve 5-minute bins. ``sf_seasonal_naive`` runs at 5 minutes (season 288). p90
is statsforecast's own upper 80% interval (``level=[80]``, ``hi-80``). Gaps are linearly
interpolated first (statsforecast takes no NaN).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

os.environ.setdefault("NIXTLA_ID_AS_COL", "1")

MODELS: dict[str, tuple[str, dict]] = {
    "seasonal_naive": ("seasonal_naive", {}),
    "seasonal_naive_weekly": ("seasonal_naive_weekly", {}),
    "holt_winters": ("holt_winters", {}),
    "mstl": ("mstl", {}),
    "prophet": ("prophet", {}),
    "prophet_defaults": ("prophet", {"library_defaults": True}),
    "harmonic": ("harmonic", {}),
}
AUTO = "auto"
SF_ROWS = ("sf_autotheta", "sf_mstl", "sf_seasonal_naive")
HOUR_S = 3_600
WEEK_H = 168


def _filled(values: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(values)
    x = np.arange(len(values))
    return np.interp(x, x[ok], values[ok])


def sf_forecast(row: str, train: pd.Series, periods: int, step_s: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, p90) of statsforecast row ``row`` trained on ``train``, for ``periods`` steps after it."""
    from statsforecast.models import MSTL, AutoTheta, SeasonalNaive

    values = train.to_numpy(dtype=float)
    if row == "sf_seasonal_naive":
        out = SeasonalNaive(season_length=86_400 // step_s).forecast(y=_filled(values), h=periods, level=[80])
        return np.maximum(out["mean"], 0.0), np.maximum(out["hi-80"], 0.0)
    per_hour = HOUR_S // step_s
    cut = len(values) - len(values) // per_hour * per_hour  # whole hours that end at the origin
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            hourly = np.nanmean(values[cut:].reshape(-1, per_hour), axis=1)
    hourly = _filled(hourly)
    hours = -(-periods // per_hour)
    if row == "sf_autotheta":
        model = AutoTheta(season_length=24)
    elif row == "sf_mstl":
        seasons = [24, WEEK_H] if len(hourly) >= 2 * WEEK_H else [24]
        model = MSTL(season_length=seasons)
    else:
        raise ValueError(f"unknown statsforecast row {row!r}")
    out = model.forecast(y=hourly, h=hours, level=[80])
    mean = np.repeat(np.asarray(out["mean"], dtype=float), per_hour)[:periods]
    upper = np.repeat(np.asarray(out["hi-80"], dtype=float), per_hour)[:periods]
    return np.maximum(np.nan_to_num(mean), 0.0), np.maximum(np.nan_to_num(upper), 0.0)
