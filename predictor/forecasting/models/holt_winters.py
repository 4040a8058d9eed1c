"""``holt_winters``: additive Holt-Winters (ETS A,N,A) on ``log(y + c)`` via statsmodels.

Log space makes the seasonality multiplicative. It is fitted on the hourly grid of
:mod:`~predictor.forecasting.models.profile` with a weekly period (168 bins) from two weeks of
history, else a daily one (24 bins): at 5-minute resolution a weekly period of 2,016 states is
far too slow to estimate. No trend term: a trend fitted on four weeks of traffic extrapolates
badly, and the smoothed level already follows slow growth. The forecast is the final level plus
the last seasonal cycle; quantiles come from a two-day holdout.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np

from predictor.errors import ForecastError
from predictor.forecasting.base import DAY_S
from predictor.forecasting.models import common, profile
from predictor.forecasting.quantiles import ResidualQuantiles


class HoltWintersModel(profile.ProfileModel):
    kind: ClassVar[str] = "holt_winters"


class HoltWinters(profile.ProfileForecaster):
    """Holt-Winters with estimated smoothing parameters and heuristic initial states."""

    kind: ClassVar[str] = "holt_winters"
    min_history_s: ClassVar[int] = 2 * DAY_S

    def _fit_once(
        self, data: common.Prepared, residuals: ResidualQuantiles, *, weekly: bool
    ) -> HoltWintersModel:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        coarse = profile.coarsen(data, weekly=weekly)
        period = coarse.period
        if len(coarse.values) < 2 * period:  # the heuristic initialisation needs two cycles
            period = DAY_S // coarse.grid_s
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")  # convergence chatter; the result is checked below
                fitted = ExponentialSmoothing(
                    coarse.values,
                    trend=None,
                    seasonal="add",
                    seasonal_periods=period,
                    initialization_method="heuristic",
                ).fit()
        except (ValueError, np.linalg.LinAlgError) as e:
            raise ForecastError(f"holt_winters: statsmodels could not fit: {e}") from e
        # The next full cycle, which is final level + last seasonal states: without a trend the
        # forecast repeats with the period, so one cycle describes every later step.
        cycle = np.asarray(fitted.forecast(period), dtype=float)
        if not np.isfinite(cycle).all():
            raise ForecastError("holt_winters: the fit diverged (non-finite states)")
        return HoltWintersModel(
            level=0.0,
            profile=cycle,
            anchor_s=coarse.end_s,
            grid_s=coarse.grid_s,
            end=data.end,
            step_s=data.step_s,
            offset=data.offset,
            bound=data.bound,
            residuals=residuals,
        )
