"""``harmonic``: our fast model. Fourier regression in log space plus a recent-level correction.

1. **Seasonal curve.** ``log(y + c)`` is regressed (weighted least squares favouring recent
   days, :data:`RECENCY_HALFLIFE_DAILY_S` / :data:`RECENCY_HALFLIFE_WEEKLY_S`; gaps skipped) on daily
   Fourier terms (``fourier.DAILY_HARMONICS``) and, with two weeks of history or more, weekly terms
   (``fourier.WEEKLY_HARMONICS``, skipping multiples of 7, which are daily terms again). Weekly terms
   up to order 20 resolve about 8 hours of the week, so a weekend can have its own level and
   shape wherever it falls in UTC. Under two weeks, Saturday and Sunday (of the data's clock,
   from the daily trough to the next) get their own level and shape instead
   (``fourier.WEEKEND_HARMONICS``), once both weekend and weekday days were seen, so a weekday is
   not forecast from a curve pulled down by a weekend. Log space makes the pattern
   multiplicative, like traffic.
2. **Recent level.** Traffic runs above or below its usual curve for hours (a launch, an
   outage elsewhere) or days (a busy week, a weekday after a weekend). The residual is
   smoothed by exponentially weighted means of several half-lives
   (:data:`LEVEL_HALFLIVES_S`); for each horizon step ``h`` up to :data:`MAX_LEVEL_HORIZON_S`,
   the history itself says which smoother predicts the residual ``h`` steps later best and by
   which factor ``beta(h)`` in [0, 1] (least squares, computed for all ``h`` at once by FFT).
   The forecast adds ``beta(h)`` times that smoother's value at the end of training, so the
   correction fades with the horizon as fast as the data says; past a day it stays constant.
3. **Quantiles.** The curve is refitted without the last :data:`HOLDOUT_DAYS` days, and the
   forecast (with the level correction) is replayed from every step of that holdout; the log
   residuals, bucketed by horizon (:data:`HORIZON_EDGES_S`), give calibrated quantiles.

Fit plus predict of 28 days at 5-minute steps takes ~30 ms on one core. The regression is
solved through FFTs (:func:`fourier.fit_curve`), not matrix products, so it stays that fast when
OpenBLAS threads fight over busy cores (which made a plain ``X'WX`` ~70x slower here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from predictor.forecasting.base import DAY_S, WEEK_S, Forecaster
from predictor.forecasting.models import common, fourier
from predictor.forecasting.quantiles import ResidualQuantiles

LEVEL_HALFLIVES_S = (1_800, 7_200, 21_600)
MAX_LEVEL_HORIZON_S = DAY_S
HOLDOUT_DAYS = 7.0
#: Half-life of the regression weights: with under two weeks of history the curve mixes
#: weekdays and weekends, so recent days must count most (one day: it lowered the day-ahead
#: MASE on the 7-day Azure trace from 1.76 to 1.34); with weekly terms, two weeks.
RECENCY_HALFLIFE_DAILY_S = DAY_S
RECENCY_HALFLIFE_WEEKLY_S = 2 * WEEK_S
#: Daily harmonics of the weekend's own shape under two weeks of history. On short windows of
#: the Azure trace, the weekend's own level alone (0) took the day-ahead MASE from 1.27 to 0.92,
#: its own shape to 0.44.
HORIZON_EDGES_S = (0.0, 900.0, 3_600.0, 3 * 3_600.0, 6 * 3_600.0, 12 * 3_600.0)


def _smoothed(e: np.ndarray, step_s: int) -> np.ndarray:
    """EWMAs of the residual, one row per :data:`LEVEL_HALFLIVES_S`; gaps skipped (last value held)."""
    frame = pd.Series(e)
    return np.stack(
        [
            frame.ewm(halflife=halflife / step_s, ignore_na=True).mean().ffill().fillna(0.0).to_numpy()
            for halflife in LEVEL_HALFLIVES_S
        ]
    )


def _lagged_dots(a: np.ndarray, b: np.ndarray, max_steps: int) -> np.ndarray:
    """``out[h] = sum_t a[t] * b[t + 1 + h]`` for ``h < max_steps``, by FFT (O(n log n))."""
    size = 1 << int(2 * len(a) - 1).bit_length()
    full = np.fft.irfft(np.conj(np.fft.rfft(a, size)) * np.fft.rfft(b, size), size)
    return full[1 : max_steps + 1]


def _level_correction(e: np.ndarray, smooth: np.ndarray, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per horizon ``h``, the smoother and factor that best predict ``e[t + 1 + h]`` from time ``t``.

    For each smoother ``s`` the least-squares factor ``beta = sum(s e') / sum(s^2)`` is clipped
    to [0, 1]; the smoother with the largest reduction of the squared error wins. Returns
    ``(choice, beta)``, both of length ``max_steps``.
    """
    valid = ~np.isnan(e)
    e0 = np.where(valid, e, 0.0)
    gains, betas = [], []
    for s in smooth:
        cross = _lagged_dots(s, e0, max_steps)
        power = _lagged_dots(s * s, valid.astype(float), max_steps)
        beta = np.clip(np.divide(cross, power, out=np.zeros(max_steps), where=power > 1e-12), 0.0, 1.0)
        gains.append(2 * beta * cross - beta * beta * power)
        betas.append(beta)
    choice = np.argmax(np.stack(gains), axis=0)
    return choice, np.stack(betas)[choice, np.arange(max_steps)]


def _fit(
    base: fourier.Grid,
    z: np.ndarray,
    weights: np.ndarray,
    seconds: np.ndarray,
    step_s: int,
    *,
    weekly: bool,
    observed: int | None = None,
) -> tuple[np.ndarray, fourier.Grid, int]:
    """The seasonal curve fitted on ``z[:observed]`` (default all): coefficients, grid, weekend shift.

    Under two weeks the weekend's own terms are added when that data can fit them
    (:func:`fourier.with_weekend`); ``z`` past ``observed`` must be NaN so the check sees only
    the data fitted.
    """
    observed = len(z) if observed is None else observed
    coef = fourier.fit_curve(base, z[:observed], weights)
    if weekly:
        return coef, base, 0
    grid, shift_s = fourier.with_weekend(base, coef, seconds, z, step_s)
    if grid.part.any():
        coef = fourier.fit_curve(grid, z[:observed], weights)
    return coef, grid, shift_s


class HarmonicModel(common.LogSpaceModel):
    """Fourier coefficients (and, under two weeks of history, the weekend's own terms), the
    residual's smoothed levels at the end of training, and per horizon step which level counts
    and by how much (``choice``, ``betas``)."""

    kind: ClassVar[str] = "harmonic"

    def __init__(
        self,
        *,
        coef: np.ndarray,
        weekly: bool,
        levels: np.ndarray,
        choice: np.ndarray,
        betas: np.ndarray,
        weekend_coef: np.ndarray = np.zeros(0),
        weekend_shift_s: int = 0,
        **common_args: Any,
    ):
        super().__init__(**common_args)
        self.coef = np.asarray(coef, dtype=float)
        self.weekly = bool(weekly)
        self.levels = np.asarray(levels, dtype=float)
        self.choice = np.asarray(choice, dtype=np.int64)
        self.betas = np.asarray(betas, dtype=float)
        self.weekend_coef = np.asarray(weekend_coef, dtype=float)
        self.weekend_shift_s = int(weekend_shift_s)

    def correction(self, steps_ahead: np.ndarray) -> np.ndarray:
        """The recent-level term (log space) at each step after the end of training."""
        h = np.clip(steps_ahead, 0, len(self.betas) - 1)
        return self.betas[h] * self.levels[self.choice[h]]

    def centre(self, index: pd.DatetimeIndex, steps_ahead: np.ndarray) -> np.ndarray:
        seconds = common.seconds_of(index)
        mu = fourier.design(seconds, step_s=self.step_s, weekly=self.weekly) @ self.coef
        if len(self.weekend_coef):
            daily = (len(self.weekend_coef) - 1) // 2
            weekend = (
                fourier.design(seconds, step_s=self.step_s, weekly=False, daily=daily) @ self.weekend_coef
            )
            mu = mu + np.where(fourier.is_weekend(seconds, self.weekend_shift_s), weekend, 0.0)
        return mu + self.correction(steps_ahead)

    def _params(self) -> dict[str, Any]:
        return {
            "coef": self.coef.tolist(),
            "weekly": self.weekly,
            "levels": self.levels.tolist(),
            "choice": self.choice.tolist(),
            "betas": self.betas.tolist(),
            "weekend_coef": self.weekend_coef.tolist(),
            "weekend_shift_s": self.weekend_shift_s,
        }

    @classmethod
    def _from_params(cls, params: Mapping[str, Any], **common_args: Any) -> HarmonicModel:
        model = cls(
            coef=np.asarray(params["coef"], dtype=float),
            weekly=bool(params["weekly"]),
            levels=np.asarray(params["levels"], dtype=float),
            choice=np.asarray(params["choice"], dtype=np.int64),
            betas=np.asarray(params["betas"], dtype=float),
            # Artifacts written before the weekend terms existed have none: the old model.
            weekend_coef=np.asarray(params.get("weekend_coef", []), dtype=float),
            weekend_shift_s=int(params.get("weekend_shift_s", 0)),
            **common_args,
        )
        if len(model.choice) != len(model.betas) or not (model.choice >= 0).all():
            raise ValueError("choice and betas differ in length")
        if (model.choice >= len(model.levels)).any():
            raise ValueError("choice refers to a missing level")
        if len(model.weekend_coef) and len(model.weekend_coef) % 2 == 0:
            raise ValueError("weekend_coef must be an intercept and sine/cosine pairs")
        return model


class Harmonic(Forecaster):
    """Daily (+ weekly from two weeks of history, else weekend) Fourier regression with a level correction."""

    kind: ClassVar[str] = "harmonic"
    min_history_s: ClassVar[int] = 2 * DAY_S

    def __init__(self, *, clip_spikes: bool = True):
        self.clip_spikes = clip_spikes

    def fit(self, history: pd.Series, *, seed: int = 0) -> HarmonicModel:
        data = common.prepare(
            history, kind=self.kind, min_history_s=self.min_history_s, clip_spikes=self.clip_spikes
        )
        n, step_s = len(data.values), data.step_s
        weekly = n * step_s >= 2 * WEEK_S
        period_s = WEEK_S if weekly else DAY_S
        seconds = common.seconds_of(data.index)
        first = int(seconds[0]) - (int(seconds[0]) - fourier.MONDAY_EPOCH_S) % period_s
        freq, is_sin = fourier.terms(step_s=step_s, weekly=weekly)
        slots = ((seconds - first) % period_s) // step_s  # slot 0 is midnight UTC
        no = np.zeros(len(freq), dtype=bool)
        base = fourier.Grid(
            freq if weekly else freq // 7, is_sin, no, period_s // step_s, slots, np.zeros(n, dtype=bool)
        )
        z = data.log_values

        halflife_s = (RECENCY_HALFLIFE_WEEKLY_S if weekly else RECENCY_HALFLIFE_DAILY_S) / step_s
        weights = 0.5 ** (np.arange(n)[::-1] / halflife_s)
        coef, grid, shift_s = _fit(base, z, weights, seconds, step_s, weekly=weekly)
        e = z - fourier.fitted(coef, grid)
        smooth = _smoothed(e, step_s)
        choice, betas = _level_correction(e, smooth, MAX_LEVEL_HORIZON_S // step_s)
        residuals = self._holdout_residuals(base, z, weights, seconds, choice, betas, step_s, weekly)
        return HarmonicModel(
            coef=coef[~grid.part],
            weekly=weekly,
            levels=smooth[:, -1],
            choice=choice,
            betas=betas,
            weekend_coef=coef[grid.part],
            weekend_shift_s=shift_s,
            end=data.end,
            step_s=step_s,
            offset=data.offset,
            bound=data.bound,
            residuals=residuals,
        )

    def _holdout_residuals(
        self,
        base: fourier.Grid,
        z: np.ndarray,
        weights: np.ndarray,
        seconds: np.ndarray,
        choice: np.ndarray,
        betas: np.ndarray,
        step_s: int,
        weekly: bool,
    ) -> ResidualQuantiles:
        """Replay forecasts from the steps of a held-out tail; residuals by horizon.

        The held-out model is built from its own training part alone, exactly as a fit on that
        part would be: weekend terms only if that part holds a whole weekend. (Fitting the full
        model's weekend terms on a part without a whole weekend left them unconstrained: a
        7-day history held out 1.75 days, replayed log residuals of 8-12 and a p90 of 10^4-10^8
        times the mean.) Short horizons are replayed at every step, longer ones sparser: the
        quantiles need a few thousand residuals per bucket, not hundreds of thousands.
        """
        n = len(z)
        hold = min(round(HOLDOUT_DAYS * DAY_S / step_s), n // 4)
        train = n - hold
        head = np.where(np.arange(n) < train, z, np.nan)
        coef, grid, _ = _fit(base, head, weights[hold:], seconds, step_s, weekly=weekly, observed=train)
        e = z - fourier.fitted(coef, grid)
        smooth = _smoothed(e, step_s)
        hour = 3_600 // step_s
        errors, horizons = [], []
        for h in range(hold):
            if (h >= hour and h % 3) or (h * step_s >= DAY_S and h % 12):
                continue
            # Origins o in the holdout; forecast step o + h from the level at o - 1.
            origins = np.arange(train, n - h, 1 if h < hour else 3)
            k = min(h, len(betas) - 1)
            errors.append(e[origins + h] - betas[k] * smooth[choice[k], origins - 1])
            horizons.append(np.full(len(origins), h * step_s))
        return ResidualQuantiles.from_residuals(
            np.concatenate(errors) if errors else np.array([]),
            np.concatenate(horizons) if horizons else np.array([]),
            HORIZON_EDGES_S,
        )
