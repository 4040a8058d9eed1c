"""Scoring and fitting the ``ensemble`` candidate of ``auto`` from the candidates' backtests.

The model itself is :class:`~predictor.forecasting.ensemble.EnsembleModel`; this module
derives its weights from the rolling-origin backtest and scores it there without any extra
fit (each origin's combination uses the other origins' weights, so the score is out of
sample).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from predictor.errors import ForecastError
from predictor.forecasting import backtest
from predictor.forecasting.base import FittedModel, Forecaster
from predictor.forecasting.calibration import CALIBRATION_EDGES_S, MIN_BUCKET_ERRORS
from predictor.forecasting.ensemble import EnsembleModel
from predictor.forecasting.models.common import OFFSET_FRACTION, LogSpaceModel


def backtest_combination(
    results: Mapping[str, backtest.BacktestResult], history: pd.Series, window: backtest.Window, power: float
) -> tuple[backtest.BacktestResult, dict[str, np.ndarray]] | None:
    """The combination's backtest, from its members' fold forecasts (no extra fit), and its weights.

    Members: every backtested candidate with a finite, positive error. Weights per lead-time
    bucket (:data:`CALIBRATION_EDGES_S`) are ``mae ** -power`` normalised; each origin is
    combined with the weights of the *other* origins (so the score is out of sample), and the
    returned weights use every origin. ``None`` under two members.
    """
    usable = {k: r for k, r in sorted(results.items()) if np.isfinite(r.mae) and r.mae > 0 and r.folds}
    if len(usable) < 2:
        return None
    step_s = backtest.step_seconds(history)
    kinds = list(usable)
    first = usable[kinds[0]]
    lead = np.arange(len(first.folds[0].mean))
    bucket = np.searchsorted(np.asarray(CALIBRATION_EDGES_S) / step_s, lead, side="right") - 1
    n_buckets = len(CALIBRATION_EDGES_S)
    # errors[m, f, lead]: absolute error of member m at origin f
    errors = np.stack(
        [np.stack([np.abs(fold.actual - fold.mean) for fold in usable[k].folds]) for k in kinds]
    )

    def weights_from(origins: np.ndarray) -> np.ndarray:
        """[member, bucket] weights from the errors at ``origins``."""
        part = errors[:, origins, :]
        pooled = np.nanmean(part.reshape(len(kinds), -1), axis=1)
        mae = np.empty((len(kinds), n_buckets))
        for b in range(n_buckets):
            cell = part[:, :, bucket == b].reshape(len(kinds), -1)
            counts = np.sum(~np.isnan(cell), axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a bucket with no actual: NaN
                mean = np.nanmean(cell, axis=1) if cell.shape[1] else pooled
            mae[:, b] = np.where(counts >= MIN_BUCKET_ERRORS, mean, pooled)
        mae = np.maximum(np.nan_to_num(mae, nan=np.inf), 1e-12 * max(float(np.nanmax(pooled)), 1e-12))
        w = mae**-power
        return w / w.sum(axis=0)

    offset = _offset(history)
    n_folds = len(first.folds)
    folds = []
    for f, fold in enumerate(first.folds):
        others = np.array([g for g in range(n_folds) if g != f] or [f])
        w = weights_from(others)[:, bucket]  # [member, lead]
        mean = sum(w[m] * np.log(usable[k].folds[f].mean + offset) for m, k in enumerate(kinds))
        upper = sum(w[m] * np.log(usable[k].folds[f].upper + offset) for m, k in enumerate(kinds))
        folds.append(backtest.Fold(fold.origin, np.exp(mean) - offset, np.exp(upper) - offset, fold.actual))
    fit_s = sum(r.fit_s for r in usable.values())
    final = weights_from(np.arange(n_folds))
    return backtest.score(folds, history, window, fit_s=fit_s), {k: final[m] for m, k in enumerate(kinds)}


def _offset(history: pd.Series) -> float:
    """The models' log offset for this history (see :mod:`predictor.forecasting.models.common`)."""
    return max(OFFSET_FRACTION * float(np.nanmean(history.to_numpy(dtype=float))), 1e-9)


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
        edges_s=CALIBRATION_EDGES_S,
        end=first.end,
        step_s=first.step_s,
        offset=_offset(history),
        residuals=first.residuals,
        bound=first.plausibility_bound(),
    )
