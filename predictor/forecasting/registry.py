"""Every forecaster family by its registry name: one line per plug-in.

The names are the ``model`` values of the configuration. ``make_forecaster`` builds one with
its options; ``fitted_model_class`` finds the class that rebuilds a stored fitted model.
"""

from __future__ import annotations

from typing import Any

from predictor.errors import ForecastError
from predictor.forecasting import anchor, ensemble
from predictor.forecasting.base import FittedModel, Forecaster
from predictor.forecasting.models import harmonic, holt_winters, mstl, naive, prophet_model

FORECASTERS: dict[str, type[Forecaster]] = {
    "holt_winters": holt_winters.HoltWinters,
    "mstl": mstl.MSTL,
    "prophet": prophet_model.Prophet,
    "harmonic": harmonic.Harmonic,
    "seasonal_naive": naive.SeasonalNaive,
    "seasonal_naive_weekly": naive.SeasonalNaiveWeekly,
}

FITTED_MODELS: dict[str, type[FittedModel]] = {
    "holt_winters": holt_winters.HoltWintersModel,
    "mstl": mstl.MSTLModel,
    "prophet": prophet_model.ProphetModel,
    "harmonic": harmonic.HarmonicModel,
    "seasonal_naive": naive.SeasonalNaiveModel,
    "seasonal_naive_weekly": naive.SeasonalNaiveWeeklyModel,
    "ensemble": ensemble.EnsembleModel,  # chosen by ``auto`` only: not a configurable model
    "anchored": anchor.AnchoredModel,  # idem
}


def make_forecaster(kind: str, **options: Any) -> Forecaster:
    """A forecaster of family ``kind`` with keyword ``options``; ForecastError if either is unknown."""
    try:
        cls = FORECASTERS[kind]
    except KeyError:
        raise ForecastError(f"unknown model {kind!r}; known: {', '.join(sorted(FORECASTERS))}") from None
    try:
        return cls(**options)
    except TypeError as e:
        raise ForecastError(f"bad options for model {kind!r}: {e}") from e


def fitted_model_class(kind: str) -> type[FittedModel]:
    """The class whose ``from_state`` loads a fitted model of family ``kind``."""
    try:
        return FITTED_MODELS[kind]
    except KeyError:
        raise ForecastError(
            f"unknown model kind {kind!r}; known: {', '.join(sorted(FITTED_MODELS))}"
        ) from None
