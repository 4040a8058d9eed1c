"""From 1 to 28 days of history, at every edge where a family or a term switches on.

Every model either fits and forecasts within its plausibility bound without needing a cut
(finite, non-negative, non-crossing quantiles), or refuses with a stated reason; ``auto``
always answers and says why it skipped what it skipped.
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pandas as pd
import pytest

from predictor.errors import ForecastError
from predictor.forecasting import registry, selection
from predictor.forecasting.base import DAY_S
from predictor.forecasting.models.common import LogSpaceModel
from predictor.sources.synthetic import synthetic_trace

STEP_S = 600
LENGTHS_DAYS = (1, 2, 3, 7, 13, 14, 15, 28)
KINDS = sorted(registry.FORECASTERS)
QUANTILES = (0.05, 0.5, 0.9, 0.95)


@cache
def trace() -> pd.Series:
    return synthetic_trace(days=28, step_s=STEP_S, base_rps=200, peak_rps=1_500, seed=21)


def history(days: int) -> pd.Series:
    """The last ``days`` of the trace: it ends at Sunday 23:50, so the forecast day is a Monday."""
    return trace().iloc[-days * DAY_S // STEP_S :]


def check(model: LogSpaceModel, days: int) -> None:
    start = history(days).index[-1] + pd.Timedelta(seconds=STEP_S)
    forecast = model.predict(start, DAY_S // STEP_S, QUANTILES)
    bound = model.plausibility_bound()
    peak_cuts = [c.describe() for c in forecast.clamps if "peak" in c.rule]
    assert not peak_cuts, peak_cuts  # within the bound on its own, not only after the cut
    for values in [forecast.mean, *forecast.quantiles.values()]:
        assert np.isfinite(values).all() and (values >= 0).all()
        assert (values <= bound.ceiling).all()
    for low, high in itertools.pairwise(QUANTILES):
        assert (forecast.quantile(low) <= forecast.quantile(high)).all()
    assert forecast.quantile(0.9).max() < 2.0 * float(history(days).max())


@pytest.mark.parametrize("days", LENGTHS_DAYS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_model_fits_within_bounds_or_says_why_not(kind: str, days: int) -> None:
    forecaster = registry.make_forecaster(kind)
    if days * DAY_S < forecaster.min_history_s:
        with pytest.raises(
            ForecastError, match=rf"needs {forecaster.min_history_s / DAY_S:g} days of history"
        ):
            forecaster.fit(history(days))
        return
    model = forecaster.fit(history(days))
    assert isinstance(model, LogSpaceModel)
    check(model, days)


@pytest.mark.parametrize("days", LENGTHS_DAYS)
def test_auto_always_answers_within_bounds_and_states_its_skips(days: int) -> None:
    result = selection.select_model(history(days), seed=0)
    assert isinstance(result.model, LogSpaceModel)
    check(result.model, days)
    for score in result.scores.values():
        if score.status != "ok":
            assert score.error, score
    if days < 2:
        assert result.kind == selection.FALLBACK and "no backtest" in (result.fallback_reason or "")
