"""Known events in the one forecasting path that the daemon, the replay and the CLI share.

- :func:`training_history` leaves the past event windows and holidays out of a training
  history (NaN: missing, not zero), so they do not bend the seasonal curve;
- :func:`holiday_level` measures the history's past holidays against usual days (a future
  holiday is forecast at that level, or like its fallback weekday when the history has none);
- :func:`apply_events` puts the rate effects on a forecast after its plausibility clamp, and
  gives the planner the floor limits and the sentences that name the events in its reasons.

The effects, and how overlapping ones combine, are those of :mod:`predictor.events.effects`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from predictor import events as ev
from predictor.forecasting.base import FittedModel, Forecast
from predictor.planning import Demand

#: How far before a forecast's start windows are resolved (a window that began earlier still counts).
_LOOKBACK = pd.Timedelta(days=2)


@dataclass(frozen=True)
class EventEffects:
    """What the events did to one forecast, point by point (same index as the forecast).

    ``names`` are the active event names per point ("" where none); ``min_pods`` / ``max_pods``
    the floor limits (NaN where none); ``notes`` one sentence per window that changed something;
    ``event_notes`` ``(start, end, sentence)`` per window, for the planner's reasons.
    """

    windows: tuple[ev.ActiveWindow, ...]
    names: tuple[str, ...]
    notes: tuple[str, ...]
    min_pods: np.ndarray
    max_pods: np.ndarray
    event_notes: tuple[tuple[pd.Timestamp, pd.Timestamp, str], ...]
    holiday_level: ev.HolidayLevel | None = None

    @property
    def any(self) -> bool:
        return bool(self.windows)


def _span(series: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    step = pd.Timedelta(series.index.freq) if series.index.freq is not None else pd.Timedelta(0)
    return series.index[0], series.index[-1] + step


def training_history(history: pd.Series, events: Sequence[ev.Event]) -> pd.Series:
    """``history`` with the windows of ``events`` that are left out of training masked to NaN."""
    if not events or len(history) == 0:
        return history
    masked, _ = ev.exclude_from_training(history, ev.windows(events, *_span(history)))
    return masked


def holiday_level(history: pd.Series, events: Sequence[ev.Event]) -> ev.HolidayLevel | None:
    """The history's holiday level (None when no holiday calendar is configured)."""
    calendars = [e for e in events if e.holiday]
    if not calendars or len(history) == 0:
        return None
    return ev.learn_holiday_level(history, ev.windows(calendars, *_span(history)))


def apply_events(
    model: FittedModel,
    forecast: Forecast,
    events: Sequence[ev.Event],
    *,
    step_s: int,
    holiday_level: ev.HolidayLevel | None = None,
) -> tuple[Forecast, EventEffects]:
    """``forecast`` with the events' rate effects applied (after its clamp), and what they did.

    A ``like`` window (and a holiday with no learned level) is forecast by ``model`` at the same
    local time on the weekday it looks like.
    """
    index = forecast.index
    step = pd.Timedelta(seconds=step_s)
    found = tuple(ev.windows(events, index[0] - _LOOKBACK, index[-1] + step)) if events else ()
    n = len(index)
    if not found:
        empty = np.full(n, np.nan)
        return forecast, EventEffects((), ("",) * n, (), empty, empty.copy(), (), holiday_level)
    quantiles = tuple(forecast.quantiles)
    mean, bands, rate_notes = ev.adjust_forecast(
        index,
        forecast.mean,
        forecast.quantiles,
        found,
        ev.like_from_model(model, quantiles, step_s),
        holiday_level=holiday_level,
    )
    low, high, floor_notes = ev.floor_limits(index, found)
    adjusted = replace(forecast, mean=mean, quantiles=bands)
    reference = index[0]
    notes = tuple(
        (w.start, w.end, _sentence(w, reference, holiday_level)) for w in found if w.end > reference
    )
    return adjusted, EventEffects(
        windows=found,
        names=tuple(ev.active_names(index, found)),
        notes=(*rate_notes, *floor_notes),
        min_pods=low,
        max_pods=high,
        event_notes=notes,
        holiday_level=holiday_level,
    )


def with_limits(demand: Demand, effects: EventEffects | None) -> Demand:
    """The planner's demand with the events' floor limits and reason sentences."""
    if effects is None or not effects.any:
        return demand
    return replace(
        demand,
        min_pods=effects.min_pods if not np.isnan(effects.min_pods).all() else None,
        max_pods=effects.max_pods if not np.isnan(effects.max_pods).all() else None,
        event_notes=effects.event_notes,
    )


def _sentence(w: ev.ActiveWindow, reference: pd.Timestamp, level: ev.HolidayLevel | None) -> str:
    learned = w.holiday and level is not None and level.ratio is not None
    return w.describe(reference, effect=level.describe() if learned and level is not None else None)
