"""What every forecaster family shares: checking a history, and a log-space fitted model.

Every family models ``z = log(y + c)``, with ``y`` the rate in req/s and ``c`` an offset of
:data:`OFFSET_FRACTION` of the mean rate (so idle periods stay finite and errors are relative).
A family's fitted model only supplies the log-space centre for any future step; the shared
:class:`LogSpaceModel` turns it into the mean and calibrated quantiles and checks the
:class:`~predictor.forecasting.base.Forecast` invariants. The reported ``mean`` is the point
forecast ``exp(centre) - c``: a log-space mean, close to the median, which is what absolute-error
scores (WAPE, MASE) reward; the arithmetic mean of multiplicative errors is dominated by bursts.

Bad histories fail with a clear :class:`ForecastError`: not a tz-aware regular series, empty,
all missing, all zero, negative or infinite values, a step that does not divide a day, or less
observed span than the family needs. A constant history is fine: it forecasts the constant.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from predictor.errors import ForecastError
from predictor.forecasting import bounds, robust
from predictor.forecasting.base import DAY_S, DEFAULT_QUANTILES, WEEK_S, FittedModel, Forecast
from predictor.forecasting.quantiles import ResidualQuantiles

OFFSET_FRACTION = 0.1
#: A history needs at least this share of its bins observed.
MIN_OBSERVED_FRACTION = 0.5


@dataclass(frozen=True)
class Prepared:
    """A checked history: ``values`` (req/s, NaN gaps) on a regular grid from ``start``."""

    values: np.ndarray
    start: pd.Timestamp
    step_s: int
    offset: float
    bound: bounds.PlausibilityBound

    @property
    def end(self) -> pd.Timestamp:
        """The first step after the training data: horizon 0 of a forecast."""
        return self.start + pd.Timedelta(seconds=self.step_s * len(self.values))

    @property
    def index(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=len(self.values), freq=f"{self.step_s}s")

    @property
    def log_values(self) -> np.ndarray:
        return np.log(self.values + self.offset)

    def head(self, n: int) -> Prepared:
        """The first ``n`` steps (for held-out calibration), same offset."""
        return Prepared(self.values[:n], self.start, self.step_s, self.offset, self.bound)


def prepare(history: pd.Series, *, kind: str, min_history_s: int, clip_spikes: bool = True) -> Prepared:
    """Check ``history`` (see :mod:`predictor.sources.base`) and, by default, clip flash crowds."""
    if not isinstance(history, pd.Series) or not isinstance(history.index, pd.DatetimeIndex):
        raise ForecastError(f"{kind}: history must be a pandas Series with a DatetimeIndex")
    if history.index.tz is None:
        raise ForecastError(f"{kind}: history index must be tz-aware (UTC)")
    if len(history) == 0:
        raise ForecastError(f"{kind}: history is empty")
    values = pd.to_numeric(history, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    observed = ~np.isnan(values)
    if not observed.any():
        raise ForecastError(f"{kind}: history has no observed values (all NaN)")
    if np.isinf(values).any():
        raise ForecastError(f"{kind}: history has infinite values")
    if (values[observed] < 0).any():
        raise ForecastError(
            f"{kind}: history has {(values[observed] < 0).sum()} negative rates; clean counter resets first"
        )
    if not (values[observed] > 0).any():
        raise ForecastError(f"{kind}: history is all zero; refusing to forecast zero traffic")
    step_s = _step_s(history.index, kind)
    first, last = np.flatnonzero(observed)[[0, -1]]
    values = values[first:]  # trailing gaps stay: the data really ends at the index end
    start = history.index[first].tz_convert("UTC")
    span_s = (last - first + 1) * step_s
    if span_s < min_history_s:
        raise ForecastError(
            f"{kind}: needs {min_history_s / DAY_S:g} days of history, got {span_s / DAY_S:.2f}"
        )
    if np.mean(~np.isnan(values)) < MIN_OBSERVED_FRACTION:
        raise ForecastError(f"{kind}: over half of the history is missing")
    bound = bounds.from_history(values, step_s)  # before clipping: never tighter than what happened
    if clip_spikes:
        values = robust.clip_flash_crowds(values, step_s=step_s, start=start)
    offset = max(OFFSET_FRACTION * float(np.nanmean(values)), 1e-9)
    return Prepared(values, pd.Timestamp(start), step_s, offset, bound)


def _step_s(index: pd.DatetimeIndex, kind: str) -> int:
    if len(index) < 2:
        raise ForecastError(f"{kind}: history has a single point")
    deltas = np.diff(index.as_unit("s").asi8)
    if (deltas != deltas[0]).any() or deltas[0] <= 0:
        raise ForecastError(f"{kind}: history must be sorted and regular (resample it first)")
    step_s = int(deltas[0])
    if DAY_S % step_s:
        raise ForecastError(f"{kind}: the step ({step_s} s) must divide a day")
    return step_s


def seconds_of(index: pd.DatetimeIndex) -> np.ndarray:
    """Unix seconds of each label (int64)."""
    return index.as_unit("s").asi8


def fill_gaps(z: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN (edges held); for models that cannot skip missing values."""
    ok = ~np.isnan(z)
    if ok.all():
        return z
    x = np.arange(len(z))
    return np.interp(x, x[ok], z[ok])


class LogSpaceModel(FittedModel):
    """A fitted model that predicts a log-space centre ``mu``; quantiles come from residuals.

    Subclasses set ``kind`` and implement :meth:`centre`, :meth:`_params` and
    :meth:`_from_params`; the base class does the rest of the contract, including the
    plausibility bound (:mod:`predictor.forecasting.bounds`) on every prediction. ``bound`` is
    ``None`` only for a model loaded from a state written before bounds existed; it then gets
    the documented fallback on first use.
    """

    kind: ClassVar[str]

    def __init__(
        self,
        *,
        end: pd.Timestamp,
        step_s: int,
        offset: float,
        residuals: ResidualQuantiles,
        bound: bounds.PlausibilityBound | None = None,
    ):
        self.end = end
        self.step_s = step_s
        self.offset = offset
        self.residuals = residuals
        self.bound = bound

    @abstractmethod
    def centre(self, index: pd.DatetimeIndex, steps_ahead: np.ndarray) -> np.ndarray:
        """``log(y + c)`` at each label; ``steps_ahead`` counts from ``end`` (0 = first unseen step)."""

    @abstractmethod
    def _params(self) -> dict[str, Any]:
        """The family's own parameters, JSON types only."""

    @classmethod
    @abstractmethod
    def _from_params(cls, params: Mapping[str, Any], **common: Any) -> LogSpaceModel:
        """Rebuild from :meth:`_params` output and the shared fields."""

    def predict(
        self, start: pd.Timestamp, periods: int, quantiles: Sequence[float] = DEFAULT_QUANTILES
    ) -> Forecast:
        if periods <= 0:
            raise ForecastError(f"{self.kind}: periods must be positive, got {periods}")
        start = pd.Timestamp(start)
        if start.tz is None:
            raise ForecastError(f"{self.kind}: forecast start must be tz-aware")
        offset_s = (start - self.end).total_seconds()
        if offset_s % self.step_s:
            raise ForecastError(f"{self.kind}: start {start} is not on the model's {self.step_s} s grid")
        index = pd.date_range(start.tz_convert("UTC"), periods=periods, freq=f"{self.step_s}s")
        steps_ahead = np.arange(periods) + int(offset_s // self.step_s)
        mu = self.centre(index, steps_ahead)
        if not np.isfinite(mu).all():
            raise ForecastError(f"{self.kind}: the model produced non-finite values")
        horizon_s = steps_ahead * float(self.step_s)
        base = np.exp(mu)
        mean = np.maximum(base - self.offset, 0.0)
        levels = sorted(float(q) for q in quantiles)
        raw: dict[float, np.ndarray] = {}
        if levels:
            with np.errstate(over="ignore"):  # an overflow is inf, which the bound cuts
                stacked = np.stack([base * np.exp(self.band_residual(q, index, horizon_s)) for q in levels])
            bands = np.maximum(np.maximum.accumulate(stacked, axis=0) - self.offset, 0.0)
            raw = dict(zip(levels, bands, strict=True))
        mean, cut, clamps = bounds.apply(mean, raw, self.plausibility_bound(), self.offset, index)
        return Forecast(index, mean, cut, self.kind, clamps)

    def band_residual(self, q: float, index: pd.DatetimeIndex, horizon_s: np.ndarray) -> np.ndarray:
        """The log residual of quantile ``q`` at each label (from the residual table by lead time)."""
        return self.residuals.residual(q, horizon_s)

    def plausibility_bound(self) -> bounds.PlausibilityBound:
        """The model's bound; for an old stored model without one, the documented fallback."""
        if self.bound is None:
            week = pd.date_range(self.end, periods=WEEK_S // self.step_s, freq=f"{self.step_s}s")
            steps = np.arange(len(week))
            with np.errstate(all="ignore"):
                weekly_mean = np.exp(self.centre(week, steps)) - self.offset
            self.bound = bounds.fallback(weekly_mean, self.offset)
        return self.bound

    def to_state(self) -> dict[str, Any]:
        return {
            "end": self.end.isoformat(),
            "step_s": self.step_s,
            "offset": self.offset,
            "residuals": self.residuals.to_state(),
            "bound": self.plausibility_bound().to_state(),
            "params": self._params(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LogSpaceModel:
        try:
            common = {
                "end": pd.Timestamp(state["end"]).tz_convert("UTC"),
                "step_s": int(state["step_s"]),
                "offset": float(state["offset"]),
                "residuals": ResidualQuantiles.from_state(state["residuals"]),
                # States written before bounds existed have none: the fallback on first use.
                "bound": bounds.PlausibilityBound.from_state(state["bound"]) if "bound" in state else None,
            }
            return cls._from_params(state["params"], **common)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ForecastError(f"{cls.kind}: invalid model state: {e}") from e


def holdout_steps(n: int, step_s: int, min_history_s: int, *, days: float = 2.0) -> int:
    """Steps held out for calibration: ``days`` if the rest still fits the model, else fewer (maybe 0)."""
    wanted = round(days * DAY_S / step_s)
    spare = n - int(np.ceil(min_history_s / step_s))
    return int(max(0, min(wanted, spare)))


#: Residuals with no horizon structure: one bucket for every horizon.
_NO_RESIDUALS = ResidualQuantiles.from_residuals(np.array([]), np.array([]))


def fit_calibrated(
    data: Prepared,
    build: Callable[[Prepared, ResidualQuantiles], LogSpaceModel],
    *,
    min_history_s: int,
    holdout: bool = True,
) -> LogSpaceModel:
    """Fit with ``build`` and calibrate its quantiles on a held-out tail.

    ``build(data, residuals)`` fits one model. With ``holdout`` and enough history, a first model
    is fitted without the last two days and its forecast of them gives the residuals (every
    horizon in one bucket); the returned model is then fitted on all of ``data``. Otherwise
    (too little history, or a slow family) the in-sample residuals of the final model are used,
    which is slightly optimistic.
    """
    n = len(data.values)
    hold = holdout_steps(n, data.step_s, min_history_s) if holdout else 0
    z = data.log_values
    if hold:
        head = data.head(n - hold)
        early = build(head, _NO_RESIDUALS)
        centre = early.centre(data.index[n - hold :], np.arange(hold))
        model = build(data, _NO_RESIDUALS)
        residuals = z[n - hold :] - centre
    else:
        model = build(data, _NO_RESIDUALS)
        residuals = z - model.centre(data.index, np.arange(n) - n)
    model.residuals = ResidualQuantiles.from_residuals(residuals, np.zeros(len(residuals)))
    return model
