"""Shared by the statsmodels families: fit on a coarse grid, forecast a level plus a cycle.

statsmodels' Holt-Winters and MSTL are too slow at 5-minute resolution with a weekly period of
2,016 steps (MSTL took ~57 s, Holt-Winters with estimated initial states ~3.4 s). Traffic
seasonality is smooth at the scale of an hour, so both fit on the mean of ``log(y + c)`` per
:data:`GRID_S` bin (weekly period 168 bins) and forecast ``level + profile``, where the profile is
one period of the seasonal component, read at any 5-minute step by linear interpolation
between bin centres.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd

from predictor.forecasting.base import DAY_S, WEEK_S, Forecaster
from predictor.forecasting.models import common
from predictor.forecasting.quantiles import ResidualQuantiles

GRID_S = 3_600


@dataclass(frozen=True)
class Coarse:
    """``values``: mean log rate per bin, gaps filled; bins end exactly at ``end_s``."""

    values: np.ndarray
    end_s: int
    grid_s: int
    period: int  # bins per seasonal cycle: a week with two weeks of data or more, else a day

    @property
    def centres(self) -> pd.DatetimeIndex:
        """The middle of each bin (UTC)."""
        first = self.end_s - self.grid_s * len(self.values) + self.grid_s // 2
        return pd.to_datetime(first + self.grid_s * np.arange(len(self.values)), unit="s", utc=True)


def coarsen(data: common.Prepared, *, weekly: bool | None = None, fill: bool = True) -> Coarse:
    """Average ``data.log_values`` into bins ending at ``data.end``; fill gaps seasonally (or not)."""
    grid_s = max(GRID_S, data.step_s)
    per_bin = grid_s // data.step_s
    z = data.log_values
    pad = (-len(z)) % per_bin  # bins are aligned to the end, so the last bin is complete
    grid = np.concatenate([np.full(pad, np.nan), z]).reshape(-1, per_bin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing bin is NaN
        values = np.nanmean(grid, axis=1)
    values[np.isnan(grid).sum(axis=1) > per_bin // 2] = np.nan
    if weekly is None:
        weekly = len(z) * data.step_s >= 2 * WEEK_S
    period = (WEEK_S if weekly else DAY_S) // grid_s
    end_s = int(data.end.timestamp())
    return Coarse(_seasonal_fill(values, period) if fill else values, end_s, grid_s, period)


def _seasonal_fill(values: np.ndarray, period: int) -> np.ndarray:
    """Fill a gap with the median of the same slot in other cycles (then interpolate).

    Linear interpolation across a gap of days would flatten the cycle and corrupt the
    seasonal states of the models fitted afterwards.
    """
    if not np.isnan(values).any():
        return values
    pad = (-len(values)) % period
    cycles = np.concatenate([np.full(pad, np.nan), values]).reshape(-1, period)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        slot = np.nanmedian(cycles, axis=0)
    filled = np.where(np.isnan(cycles), slot, cycles).ravel()[pad:]
    return common.fill_gaps(filled)


class ProfileModel(common.LogSpaceModel):
    """``level + profile`` in log space.

    ``profile[k]`` is the bin ``k`` bins after ``anchor_s`` (Unix seconds), modulo its length.
    """

    kind: ClassVar[str]

    def __init__(self, *, level: float, profile: np.ndarray, anchor_s: int, grid_s: int, **common_args: Any):
        super().__init__(**common_args)
        self.level = float(level)
        self.profile = np.asarray(profile, dtype=float)
        self.anchor_s = int(anchor_s)
        self.grid_s = int(grid_s)

    def centre(self, index: pd.DatetimeIndex, steps_ahead: np.ndarray) -> np.ndarray:
        mid = common.seconds_of(index) + self.step_s / 2
        position = (mid - self.anchor_s) / self.grid_s - 0.5  # in bins, relative to bin centres
        below = np.floor(position)
        weight = position - below
        size = len(self.profile)
        i0 = below.astype(np.int64) % size
        return self.level + (1 - weight) * self.profile[i0] + weight * self.profile[(i0 + 1) % size]

    def _params(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "profile": self.profile.tolist(),
            "anchor_s": self.anchor_s,
            "grid_s": self.grid_s,
        }

    @classmethod
    def _from_params(cls, params: Mapping[str, Any], **common_args: Any) -> ProfileModel:
        return cls(
            level=float(params["level"]),
            profile=np.asarray(params["profile"], dtype=float),
            anchor_s=int(params["anchor_s"]),
            grid_s=int(params["grid_s"]),
            **common_args,
        )


class ProfileForecaster(Forecaster):
    """A model fitted on the hourly grid of :func:`coarsen`; subclasses give ``_fit_once``."""

    def __init__(self, *, clip_spikes: bool = True):
        self.clip_spikes = clip_spikes

    def fit(self, history: pd.Series, *, seed: int = 0) -> ProfileModel:
        data = common.prepare(
            history, kind=self.kind, min_history_s=self.min_history_s, clip_spikes=self.clip_spikes
        )
        weekly = coarsen(data).period * GRID_S > DAY_S
        model = common.fit_calibrated(
            data, lambda part, res: self._fit_once(part, res, weekly=weekly), min_history_s=self.min_history_s
        )
        return cast(ProfileModel, model)

    def _fit_once(self, data: common.Prepared, residuals: ResidualQuantiles, *, weekly: bool) -> ProfileModel:
        raise NotImplementedError
