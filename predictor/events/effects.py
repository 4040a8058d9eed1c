"""The effects of active windows on a forecast and on the floor, as pure functions on arrays.

How overlapping effects combine at one point (the same rules everywhere; config load rejects
only the overlaps that contradict each other, see :mod:`predictor.events.checks`):

1. **The day it looks like.** A ``like`` window replaces the forecast by the forecast of the
   same local time on the nearest given weekday (at most three days away). A holiday replaces
   it by the learned holiday level (its factor times the forecast) or, with no past holiday in
   the history, by ``like`` its fallback weekday. An explicit ``like`` event beats a holiday;
   between two ``like`` events the one listed first wins (the target's own events come before
   the top-level ones).
2. ``multiply`` factors multiply (two overlapping ×1.5 windows give ×2.25).
3. ``add_rps`` amounts add up, after the factors; the result never goes below 0 req/s.
4. Floors: the highest ``min_floor`` and the lowest ``max_floor`` apply. Where a ``min_floor``
   is above a ``max_floor``, the ``min_floor`` wins (missing capacity costs more than spare).

A point of the index is the bin that starts at its label and lasts one step; it is inside a
window when the bin overlaps the window (:mod:`predictor.events.points`).
Quantiles stay non-decreasing in the quantile; missing values (NaN) stay missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from predictor.errors import ForecastError
from predictor.events.model import WEEKDAYS, ActiveWindow
from predictor.events.points import inside
from predictor.events.resolve import active_at
from predictor.events.training import HolidayLevel

#: ``like_provider(times)`` -> ``(mean, {quantile: values})`` at ``times`` (a UTC DatetimeIndex),
#: arrays of ``len(times)``; the caller forecasts the shifted times with its model.
LikeProvider = Callable[[pd.DatetimeIndex], tuple[np.ndarray, Mapping[float, np.ndarray]]]


def adjust_forecast(
    index: pd.DatetimeIndex,
    mean: np.ndarray,
    quantiles: Mapping[float, np.ndarray],
    windows: Sequence[ActiveWindow],
    like_provider: LikeProvider | None = None,
    *,
    holiday_level: HolidayLevel | None = None,
) -> tuple[np.ndarray, dict[float, np.ndarray], tuple[str, ...]]:
    """The forecast with the rate effects of ``windows`` applied (see the module docstring).

    ``mean`` and each quantile array have ``len(index)`` values in req/s (NaN = missing); the
    inputs are not changed. ``like_provider`` forecasts other times (needed only when a ``like``
    window, or a holiday with no learned level, covers the index); ``holiday_level`` is what
    :func:`~predictor.events.training.learn_holiday_level` found in the training history.
    Returns the new mean, the new quantiles and one sentence per window that changed something,
    e.g. ``launch-day: ×2.5 from 09:00 to 12:00``.
    """
    n = len(index)
    mean = np.array(mean, dtype=float, copy=True)
    bands = {float(q): np.array(v, dtype=float, copy=True) for q, v in quantiles.items()}
    if any(len(v) != n for v in (mean, *bands.values())):
        raise ForecastError("adjust_forecast: the mean and every quantile need one value per index point")
    reference = index[0] if n else None
    notes: list[str] = []
    owner: list[ActiveWindow | None] = [None] * n
    substitutes = [w for w in windows if w.effect.kind in ("like", "holiday")]
    for w in sorted(substitutes, key=lambda w: (w.effect.kind == "holiday", w.order, w.start)):
        covered = inside(index, w)
        if not covered.any():
            continue
        taken = covered & np.array([o is not None for o in owner], dtype=bool)
        free = covered & ~taken
        words = None
        if free.any():
            if w.effect.kind == "holiday" and holiday_level is not None and holiday_level.ratio is not None:
                words = holiday_level.describe()
                mean[free] *= holiday_level.ratio
                for values in bands.values():
                    values[free] *= holiday_level.ratio
            else:
                _substitute(index, free, w, like_provider, mean, bands)
                if w.effect.kind == "holiday":
                    words = f"{w.effect.describe()} (no past holiday in the history)"
            for i in np.flatnonzero(free):
                owner[i] = w
        note = w.describe(reference, effect=words)
        if taken.any():
            winners = sorted(
                {o.name for i in np.flatnonzero(taken) if (o := owner[i]) is not None and o is not w}
            )
            verb = "applies" if len(winners) == 1 else "apply"
            note += f"; overlaps {', '.join(winners)}, which {verb} there"
        notes.append(note)

    factor = np.ones(n)
    added = np.zeros(n)
    for w in windows:
        if w.effect.kind not in ("multiply", "add_rps"):
            continue
        covered = inside(index, w)
        if not covered.any():
            continue
        if w.effect.kind == "multiply":
            factor[covered] *= w.effect.value
        else:
            added[covered] += w.effect.value
        notes.append(w.describe(reference))
    mean = np.maximum(mean * factor + added, 0.0)
    levels = sorted(bands)
    if levels:
        stacked = np.maximum(np.stack([bands[q] for q in levels]) * factor + added, 0.0)
        # Non-crossing without inventing values: a missing quantile stays missing.
        ordered = np.where(np.isnan(stacked), np.nan, np.fmax.accumulate(stacked, axis=0))
        bands = {q: ordered[k] for k, q in enumerate(levels)}
    return mean, bands, tuple(notes)


def floor_limits(
    index: pd.DatetimeIndex, windows: Sequence[ActiveWindow]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Per point of ``index``: the ``min_floor`` and ``max_floor`` in pods (NaN where none applies).

    The highest ``min_floor`` and the lowest ``max_floor`` apply; where a ``min_floor`` is above
    the ``max_floor``, the ``max_floor`` is dropped (NaN). The notes say each window once, e.g.
    ``launch-day: at least 14 pods from 09:00 to 12:00``.
    """
    n = len(index)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    reference = index[0] if n else None
    notes: list[str] = []
    for w in windows:
        if w.effect.kind not in ("min_floor", "max_floor"):
            continue
        covered = inside(index, w)
        if not covered.any():
            continue
        values = np.where(covered, float(w.effect.value), np.nan)
        if w.effect.kind == "min_floor":
            low = np.fmax(low, values)
        else:
            high = np.fmin(high, values)
        notes.append(w.describe(reference))
    clash = low > high  # False wherever either is NaN
    if clash.any():
        first = int(np.flatnonzero(clash)[0])
        notes.append(
            f"at {index[first]:%a %H:%M} UTC and {int(clash.sum()) - 1} more points the minimum of "
            f"{low[first]:.0f} pods is above the maximum of {high[first]:.0f}: the minimum wins"
        )
        high[clash] = np.nan
    return low, high, tuple(notes)


def notes_at(
    windows: Sequence[ActiveWindow],
    t: pd.Timestamp,
    reference: pd.Timestamp | None = None,
    *,
    holiday_level: HolidayLevel | None = None,
) -> list[str]:
    """One sentence per window active at ``t`` (for a planner's reason, a status line, a log).

    ``reference`` is the moment the sentence is read at (its local day shows the clock only);
    a holiday says its learned level when there is one, e.g.
    ``Christmas Day (holiday): 0.42× a usual day (learned from 3 past holidays) on Fri 25 Dec``.
    """
    found = []
    for w in active_at(windows, t):
        learned = w.holiday and holiday_level is not None and holiday_level.ratio is not None
        words = holiday_level.describe() if learned and holiday_level is not None else None
        found.append(w.describe(reference, effect=words))
    return found


def active_names(index: pd.DatetimeIndex, windows: Sequence[ActiveWindow]) -> list[str]:
    """Per point, the names of the windows covering it, joined by ", " ("" where none does)."""
    names: list[list[str]] = [[] for _ in range(len(index))]
    for w in sorted(windows, key=lambda w: w.order):
        for i in np.flatnonzero(inside(index, w)):
            if w.name not in names[i]:
                names[i].append(w.name)
    return [", ".join(found) for found in names]


def shift_to_weekday(times: pd.DatetimeIndex, weekday: int, timezone: str) -> pd.DatetimeIndex:
    """Each instant moved to the same local time on the nearest ``weekday`` (Monday = 0), in UTC.

    "Nearest" is at most three days back or ahead, so trend and level stay as close as possible.
    """
    local = times.tz_convert(timezone)
    days = (weekday - local.weekday.to_numpy()) % 7
    days = np.where(days > 3, days - 7, days)
    naive = local.tz_localize(None) + pd.to_timedelta(days, unit="D")
    moved = naive.tz_localize(
        timezone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward"
    )
    return moved.tz_convert("UTC")


class _Predicts(Protocol):
    def predict(self, start: pd.Timestamp, periods: int, quantiles: Sequence[float]) -> Any: ...


def like_from_model(model: _Predicts, quantiles: Sequence[float], step_s: int) -> LikeProvider:
    """A ``like_provider`` that forecasts the asked times with a fitted model.

    ``model.predict(start, periods, quantiles)`` must return an object with ``mean`` and
    ``quantile(q)`` (a :class:`~predictor.forecasting.base.Forecast`). The times are floored to
    the model's ``step_s`` grid and forecast in one call.
    """
    step = pd.Timedelta(seconds=step_s)

    def provide(times: pd.DatetimeIndex) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        aligned = times.floor(step)
        first = aligned.min()
        positions = ((aligned - first) // step).to_numpy().astype(np.int64)
        forecast = model.predict(first, int(positions.max()) + 1, quantiles)
        return (
            np.asarray(forecast.mean)[positions],
            {float(q): np.asarray(forecast.quantile(q))[positions] for q in quantiles},
        )

    return provide


def _substitute(
    index: pd.DatetimeIndex,
    where: np.ndarray,
    window: ActiveWindow,
    like_provider: LikeProvider | None,
    mean: np.ndarray,
    bands: dict[float, np.ndarray],
) -> None:
    if like_provider is None:
        raise ForecastError(
            f"{window.name}: forecasting the window {window.effect.describe()} needs a like_provider"
        )
    shifted = shift_to_weekday(index[where], window.effect.weekday, window.timezone)
    like_mean, like_bands = like_provider(shifted)
    like_mean = np.asarray(like_mean, dtype=float)
    found = {float(q): np.asarray(v, dtype=float) for q, v in like_bands.items()}
    missing = [q for q in bands if q not in found]
    if missing or len(like_mean) != len(shifted) or any(len(found[q]) != len(shifted) for q in bands):
        raise ForecastError(
            f"{window.name}: the like_provider must return the mean and quantiles {sorted(bands)} "
            f"for each of the {len(shifted)} times asked"
        )
    for values in (like_mean, *(found[q] for q in bands)):
        if np.isinf(values).any() or (values < 0).any():
            raise ForecastError(
                f"{window.name}: the forecast of the {WEEKDAYS[window.effect.weekday]} has negative "
                "or infinite values"
            )
    mean[where] = like_mean
    for q, values in bands.items():
        values[where] = found[q]
