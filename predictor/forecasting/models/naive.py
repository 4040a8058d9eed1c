"""Seasonal naive: tomorrow looks like today (``seasonal_naive``), or like the same day last
week (``seasonal_naive_weekly``).

The forecast at a future step repeats the last observed cycle; a gap in that cycle is taken
from the cycle before (then interpolated). Its residuals ``log(y_t + c) - log(y_{t-P} + c)``
over the last week are exactly its out-of-sample errors at any horizon up to one period, so
they calibrate the quantiles directly. This is the declared fallback of automatic selection:
it needs only one period of history.

``calibration_weekdays`` keeps only the residuals of those weekdays in that week: the errors
seasonal naive made on the kind of day it is used for. ``auto``'s anchor
(:mod:`predictor.forecasting.anchor`) sets it to the weekdays it anchors, so that the jump of
a Monday it does not anchor (from Sunday) does not widen the band of a Wednesday that repeats
Tuesday. With fewer than
:data:`~predictor.forecasting.quantiles.MIN_RESIDUALS` finite residuals left, the whole week's
stand.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from predictor.forecasting.base import DAY_S, WEEK_S, Forecaster
from predictor.forecasting.models import common
from predictor.forecasting.quantiles import MIN_RESIDUALS, ResidualQuantiles

CALIBRATION_S = WEEK_S


class SeasonalNaiveModel(common.LogSpaceModel):
    """The last cycle of ``log(y + c)``, repeated."""

    kind: ClassVar[str] = "seasonal_naive"

    def __init__(self, *, profile: np.ndarray, **common_args: Any):
        super().__init__(**common_args)
        self.profile = np.asarray(profile, dtype=float)

    def centre(self, index: pd.DatetimeIndex, steps_ahead: np.ndarray) -> np.ndarray:
        return self.profile[steps_ahead % len(self.profile)]

    def _params(self) -> dict[str, Any]:
        return {"profile": self.profile.tolist()}

    @classmethod
    def _from_params(cls, params: Mapping[str, Any], **common_args: Any) -> SeasonalNaiveModel:
        return cls(profile=np.asarray(params["profile"], dtype=float), **common_args)


class SeasonalNaiveWeeklyModel(SeasonalNaiveModel):
    kind: ClassVar[str] = "seasonal_naive_weekly"


class SeasonalNaive(Forecaster):
    """Repeat the last day (period 86,400 s)."""

    kind: ClassVar[str] = "seasonal_naive"
    min_history_s: ClassVar[int] = DAY_S
    period_s: ClassVar[int] = DAY_S
    _model: ClassVar[type[SeasonalNaiveModel]] = SeasonalNaiveModel

    def __init__(self, *, clip_spikes: bool = True, calibration_weekdays: Collection[int] | None = None):
        self.clip_spikes = clip_spikes
        self.calibration_weekdays = None if calibration_weekdays is None else frozenset(calibration_weekdays)
        if self.calibration_weekdays is not None and not self.calibration_weekdays <= set(range(7)):
            got = sorted(self.calibration_weekdays)
            raise ValueError(f"calibration weekdays must be 0 (Monday) to 6, got {got}")

    def on_weekdays(self, weekdays: Collection[int]) -> SeasonalNaive:
        """This forecaster, calibrated on the residuals of ``weekdays`` only (0 is Monday)."""
        return type(self)(clip_spikes=self.clip_spikes, calibration_weekdays=weekdays)

    def fit(self, history: pd.Series, *, seed: int = 0) -> SeasonalNaiveModel:
        data = common.prepare(
            history, kind=self.kind, min_history_s=self.min_history_s, clip_spikes=self.clip_spikes
        )
        period = self.period_s // data.step_s
        z = data.log_values
        n = len(z)
        profile = z[n - period :].copy()
        # A gap in the last cycle is filled from the most recent earlier cycle that saw it.
        back = n - 2 * period
        while np.isnan(profile).any() and back >= -period:
            earlier = z[max(back, 0) : back + period]
            earlier = np.concatenate([np.full(period - len(earlier), np.nan), earlier])
            profile = np.where(np.isnan(profile), earlier, profile)
            back -= period
        profile = common.fill_gaps(profile)

        window = min(n - period, CALIBRATION_S // data.step_s)
        residuals = z[n - window :] - z[n - window - period : n - period] if window > 0 else np.array([])
        if self.calibration_weekdays is not None and window > 0:
            first = data.start + pd.Timedelta(seconds=(n - window) * data.step_s)
            at = pd.date_range(first, periods=window, freq=f"{data.step_s}s")
            mine = residuals[np.isin(at.dayofweek, sorted(self.calibration_weekdays))]
            if np.isfinite(mine).sum() >= MIN_RESIDUALS:
                residuals = mine
        return self._model(
            profile=profile,
            end=data.end,
            step_s=data.step_s,
            offset=data.offset,
            bound=data.bound,
            residuals=ResidualQuantiles.from_residuals(residuals, np.zeros(len(residuals))),
        )


class SeasonalNaiveWeekly(SeasonalNaive):
    """Repeat the last week (period 604,800 s)."""

    kind: ClassVar[str] = "seasonal_naive_weekly"
    min_history_s: ClassVar[int] = WEEK_S
    period_s: ClassVar[int] = WEEK_S
    _model: ClassVar[type[SeasonalNaiveModel]] = SeasonalNaiveWeeklyModel
