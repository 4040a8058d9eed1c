"""Quantiles calibrated on a rolling-origin backtest: conformal residuals by lead time.

``auto`` backtests every candidate at rolling origins anyway, and each origin forecasts a day
ahead (:data:`~predictor.forecasting.selection.SelectionSettings.calibration_horizon_s`). The
chosen model's errors there are out of sample, at the lead times that matter, on this
target's own history. So its residual table is widened by them: the log residuals
``log((actual + c) / (forecast + c))`` of every origin, bucketed by lead time
(:data:`CALIBRATION_EDGES_S`), pooled over origins (split conformal prediction by horizon),
and per bucket and level the wider of that and the model's own table is kept.

Why this method (design note, measured with ``bench/forecast_accuracy.py`` on the ten
development traces, see ``bench/RESULTS.md``): the models' own tables come from one held-out
tail (or, for Prophet, in-sample residuals), which is one regime and often the weekend; the
backtest residuals span six origins 27 h apart. In a development run (3 day-ahead and 24
lead-time origins per trace), calibrating on them alone lowered the geomean pinball loss at 0.9
of ``auto`` from 0.202 to 0.191 day-ahead and from 0.228 to 0.204 one hour ahead, at the same
MASE, but its p90 covered only 0.76-0.84 at 15 min-1 h on 6 of 10 traces: six origins give few
residuals at short lead times, where the models' own tables (harmonic replays every step of a
week) are richer. Hence the union. Per time of day buckets were not used: six origins give too
few residuals per hour of the day.
"""

from __future__ import annotations

import numpy as np

from predictor.forecasting import backtest
from predictor.forecasting.base import FittedModel
from predictor.forecasting.models.common import LogSpaceModel
from predictor.forecasting.quantiles import ResidualQuantiles, log_residuals

#: Lead-time buckets (seconds) of the backtest calibration; each has its own residual quantiles.
CALIBRATION_EDGES_S: tuple[float, ...] = (0.0, 900.0, 3_600.0, 3 * 3_600.0, 6 * 3_600.0, 12 * 3_600.0)
#: Fewer backtest residuals than this and the model keeps its own quantile table.
MIN_CALIBRATION_RESIDUALS = 200


def calibrate(model: FittedModel, result: backtest.BacktestResult) -> str | None:
    """Widen ``model``'s residual table by its backtest's out-of-sample log residuals.

    Conformal by horizon: the residuals ``log((actual + c) / (forecast + c))`` of every origin,
    bucketed by lead time (:data:`CALIBRATION_EDGES_S`), pooled over origins; the model keeps,
    per bucket and level, the wider of that and its own table
    (:meth:`ResidualQuantiles.widest`). Needs a log-space model and at least
    :data:`MIN_CALIBRATION_RESIDUALS` residuals; returns what was done, or ``None`` (the model
    keeps its own table).
    """
    if not isinstance(model, LogSpaceModel) or not result.folds:
        return None
    step_s = model.step_s
    residuals, horizons = [], []
    for fold in result.folds:
        residuals.append(log_residuals(fold.actual, fold.mean, model.offset))
        horizons.append(np.arange(len(fold.actual)) * float(step_s))
    r, h = np.concatenate(residuals), np.concatenate(horizons)
    ok = np.isfinite(r)
    if ok.sum() < MIN_CALIBRATION_RESIDUALS:
        return None
    backtested = ResidualQuantiles.from_residuals(r[ok], h[ok], CALIBRATION_EDGES_S)
    model.residuals = ResidualQuantiles.widest([model.residuals, backtested], CALIBRATION_EDGES_S)
    return f"backtest residuals ({int(ok.sum())} over {len(result.folds)} origins, by lead time) and its own"
