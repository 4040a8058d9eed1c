"""Scoring and fitting the ``ensemble`` candidate of ``auto`` from the candidates' backtests.

The model itself is :class:`~predictor.forecasting.ensemble.EnsembleModel`; this module
derives its weights from the rolling-origin backtest and scores it there without any extra
fit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from predictor.errors import ForecastError
from predictor.forecasting import backtest
from predictor.forecasting.base import FittedModel, Forecaster
from predictor.forecasting.ensemble import EnsembleModel
from predictor.forecasting.models.common import OFFSET_FRACTION, LogSpaceModel


def backtest_combination(
    results: Mapping[str, backtest.BacktestResult], history: pd.Series, window: backtest.Window, power: float
) -> tuple[backtest.BacktestResult, dict[str, float]] | None:
    """The combination's backtest, from its members' fold forecasts (no extra fit), and its weights.

    Members: every backtested candidate with a finite, positive error. Weights are
    ``mae ** -power`` normalised, ``mae`` being each member's ranking error over the scored
    lead times, the same at every lead time. ``None`` under two members.

    Two refinements were measured and dropped (``bench/forecast_accuracy.py``, 10 traces, 3
    day-ahead and 24 lead-time origins each, geomean MASE day-ahead / 15 min / 1 h): weights per
    lead-time bucket, each origin scored with the other origins' weights, gave 0.516 / 0.468 /
    0.594 against 0.511 / 0.450 / 0.576 for one weight per member: six origins are too few to
    weigh each bucket, and the out-of-sample score made the combination lose to noise.
    """
    usable = {k: r for k, r in sorted(results.items()) if np.isfinite(r.mae) and r.mae > 0 and r.folds}
    if len(usable) < 2:
        return None
    weights = {k: r.mae**-power for k, r in usable.items()}
    total = sum(weights.values())
    weights = {k: w / total for k, w in weights.items()}
    offset = log_offset(history)
    folds = []
    for i, first in enumerate(next(iter(usable.values())).folds):
        mean = sum(w * np.log(usable[k].folds[i].mean + offset) for k, w in weights.items())
        upper = sum(w * np.log(usable[k].folds[i].upper + offset) for k, w in weights.items())
        folds.append(backtest.Fold(first.origin, np.exp(mean) - offset, np.exp(upper) - offset, first.actual))
    fit_s = sum(r.fit_s for r in usable.values())
    return backtest.score(folds, history, window, fit_s=fit_s), weights


def fit_combination(
    results: Mapping[str, backtest.BacktestResult],
    forecasters: Mapping[str, Forecaster],
    history: pd.Series,
    seed: int,
    window: backtest.Window,
    power: float,
) -> FittedModel:
    """Refit every member on the whole history and combine them with the backtest's weights.

    ``results`` are the candidates' backtests (an ``ensemble`` entry among them is ignored).
    """
    members_only = {k: r for k, r in results.items() if k != EnsembleModel.kind}
    combined = backtest_combination(members_only, history, window, power)
    if combined is None:
        raise ForecastError("the ensemble has fewer than two members")
    members = []
    for kind, weight in combined[1].items():
        model = forecasters[kind].fit(history, seed=seed)
        if not isinstance(model, LogSpaceModel):
            raise ForecastError(f"{kind} is not a log-space model and cannot be combined")
        members.append((kind, model, weight))
    first = members[0][1]
    return EnsembleModel(
        members=members,
        end=first.end,
        step_s=first.step_s,
        offset=log_offset(history),
        # The heaviest member's own band; ``auto`` then widens it by the ensemble's backtest. (The
        # widest band of all members made the day-ahead p90 far too wide: seasonal naive's.)
        residuals=max(members, key=lambda m: m[2])[1].residuals,
        bound=first.plausibility_bound(),
    )


def log_offset(history: pd.Series) -> float:
    """The models' log offset for this history (see :mod:`predictor.forecasting.models.common`)."""
    return max(OFFSET_FRACTION * float(np.nanmean(history.to_numpy(dtype=float))), 1e-9)
