"""``prophet``: Meta's Prophet with daily and weekly seasonality, optional country holidays.

The only module of predictor that imports prophet (lazily: the import costs about a second).
Two ways to run it:

- tuned (default): fitted on hourly means of ``log(y + c)`` (multiplicative seasonality, and
  ~0.3 s instead of ~4 s for four weeks at 5-minute steps), yearly seasonality off (weeks of
  history cannot estimate it), finer daily and weekly Fourier series, a stiffer trend
  (:data:`CHANGEPOINT_PRIOR_SCALE`), and no sampling of Prophet's own intervals
  (``uncertainty_samples=0``), which is the slow part of ``predict``;
- ``library_defaults=True``: ``Prophet()`` exactly as the library ships it, on the raw rate.
  The benchmark compares against this. Prophet's interval is then not computed either: its
  one 80% band does not give p90/p95.

Each fit's CmdStan output goes to a temporary directory that is removed when the fit ends, so
no file is left in the temporary folder. Either way the quantiles come from the in-sample log
residuals at the history's own step (one fit only: a default Prophet fit of four weeks at
5-minute steps takes ~2 s). The fitted model is stored with ``prophet.serialize.model_to_json``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from predictor.errors import ForecastError
from predictor.forecasting.base import DAY_S, WEEK_S, Forecaster
from predictor.forecasting.models import common, profile
from predictor.forecasting.quantiles import ResidualQuantiles

#: Stiffer trend than Prophet's 0.05: on a few days of hourly points the default bends the
#: trend at the last changepoints and extrapolates it (day-ahead MASE 3.3 on the 7-day Azure
#: trace, 1.8 with 0.01; no loss on the longer traces).
CHANGEPOINT_PRIOR_SCALE = 0.01


def _prophet_api() -> Any:
    """Import prophet with its and cmdstanpy's chatter silenced."""
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # "Importing plotly failed"
    import cmdstanpy.utils
    import prophet
    import prophet.serialize

    # cmdstanpy sets its logger to DEBUG with an INFO handler on its first use, after any level
    # set here; using it once now makes that happen first.
    cmdstanpy.utils.get_logger()
    for name in ("cmdstanpy", "prophet"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return prophet


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide prophet's deprecation warnings about pandas (its code, not ours)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _frame(index: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"ds": index.tz_convert("UTC").tz_localize(None)})


class ProphetModel(common.LogSpaceModel):
    """A fitted Prophet and whether it models ``log(y + c)`` or the raw rate."""

    kind: ClassVar[str] = "prophet"

    def __init__(self, *, prophet_json: str, log_space: bool, model: Any = None, **common_args: Any):
        super().__init__(**common_args)
        self.prophet_json = prophet_json
        self.log_space = bool(log_space)
        if model is None:  # loading: rebuild the Prophet object from its JSON
            try:
                with _quiet():
                    model = _prophet_api().serialize.model_from_json(prophet_json)
            except (ValueError, KeyError, TypeError) as e:
                raise ForecastError(f"prophet: cannot load the stored model: {e}") from e
        self._model = model

    def centre(self, index: pd.DatetimeIndex, steps_ahead: np.ndarray) -> np.ndarray:
        try:
            with _quiet():
                yhat = self._model.predict(_frame(index))["yhat"].to_numpy(dtype=float)
        except (ValueError, KeyError) as e:
            raise ForecastError(f"prophet: predict failed: {e}") from e
        return yhat if self.log_space else np.log(np.maximum(yhat, 0.0) + self.offset)

    def _params(self) -> dict[str, Any]:
        return {"prophet_json": self.prophet_json, "log_space": self.log_space}

    @classmethod
    def _from_params(cls, params: Mapping[str, Any], **common_args: Any) -> ProphetModel:
        return cls(
            prophet_json=str(params["prophet_json"]), log_space=bool(params["log_space"]), **common_args
        )


class Prophet(Forecaster):
    """Prophet; ``holidays_country`` is a country code such as ``"US"`` or ``"DE"``."""

    kind: ClassVar[str] = "prophet"
    min_history_s: ClassVar[int] = 2 * DAY_S

    def __init__(
        self, *, holidays_country: str | None = None, library_defaults: bool = False, clip_spikes: bool = True
    ):
        self.holidays_country = holidays_country
        self.library_defaults = library_defaults
        self.clip_spikes = clip_spikes and not library_defaults

    def fit(self, history: pd.Series, *, seed: int = 0) -> ProphetModel:
        data = common.prepare(
            history, kind=self.kind, min_history_s=self.min_history_s, clip_spikes=self.clip_spikes
        )
        api = _prophet_api()
        if self.library_defaults:
            model = api.Prophet()
            observed = ~np.isnan(data.values)
            frame = _frame(data.index[observed]).assign(y=data.values[observed])
        else:
            weekly = len(data.values) * data.step_s >= 2 * WEEK_S
            model = api.Prophet(
                yearly_seasonality=False,
                weekly_seasonality=5 if weekly else False,
                daily_seasonality=10,
                changepoint_prior_scale=CHANGEPOINT_PRIOR_SCALE,
                uncertainty_samples=0,
            )
            # Hourly means, stamped at the middle of their hour: Prophet's cost grows with the
            # rows (~4 s for 8,064 five-minute rows, ~0.3 s hourly) and its Fourier terms are
            # continuous in time, so it still predicts every 5-minute step.
            coarse = profile.coarsen(data, fill=False)
            observed = ~np.isnan(coarse.values)
            frame = _frame(coarse.centres[observed]).assign(y=coarse.values[observed])
        if self.holidays_country:
            try:
                model.add_country_holidays(country_name=self.holidays_country)
            except (AttributeError, KeyError, ValueError, NotImplementedError) as e:
                raise ForecastError(f"prophet: unknown holidays country {self.holidays_country!r}") from e
        try:
            # CmdStan writes its CSV and console output per fit; in a directory of our own that
            # goes when the fit is done, /tmp does not fill up over a daemon's life.
            with _quiet(), tempfile.TemporaryDirectory(prefix="predictor-prophet-") as output_dir:
                model.fit(frame, seed=seed, output_dir=output_dir)
        except (RuntimeError, ValueError) as e:
            raise ForecastError(f"prophet: fit failed: {e}") from e
        model.uncertainty_samples = 0  # our quantiles replace its intervals; sampling is slow
        fitted = ProphetModel(
            prophet_json=api.serialize.model_to_json(model),
            log_space=not self.library_defaults,
            model=model,
            end=data.end,
            step_s=data.step_s,
            offset=data.offset,
            bound=data.bound,
            residuals=ResidualQuantiles.from_residuals(np.array([]), np.array([])),
        )
        n = len(data.values)
        centre = fitted.centre(data.index, np.arange(n) - n)
        residuals = data.log_values - centre
        fitted.residuals = ResidualQuantiles.from_residuals(residuals, np.zeros(len(residuals)))
        return fitted
