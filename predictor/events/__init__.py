"""Known events: scheduled overrides and holiday calendars, resolved and applied as pure functions.

The operator knows what seasonality cannot: a launch at 09:00 on Thursday, a nightly batch, a
public holiday that looks like a Sunday. An :class:`Event` names a window (one-off, recurring
by cron, or the days of a holiday calendar) in an IANA time zone and one effect on it.

- :func:`windows` resolves events to :class:`ActiveWindow` s in UTC over a span, across DST;
- :func:`adjust_forecast` applies the rate effects to a forecast's mean and quantiles;
- :func:`floor_limits` gives the planner the ``min_floor`` / ``max_floor`` per point;
- :func:`exclude_from_training` masks past windows out of a training history, and
  :func:`learn_holiday_level` measures the history's past holidays against usual days;
- :func:`active_at`, :func:`notes_at`, :func:`active_names` and :func:`transitions` say what
  is active, for reasons, tables, metrics and Kubernetes Events;
- :func:`fingerprint` changes when the events change, so a stored model trained under other
  events is known to be stale.

Pure: no clock (every instant is passed in), no I/O. The ``holidays`` package, which computes
public holidays offline, is imported in :mod:`predictor.events.calendars` only.
"""

from predictor.events.cron import Cron, CronSyntaxError, parse_cron
from predictor.events.effects import (
    LikeProvider,
    active_names,
    adjust_forecast,
    floor_limits,
    like_from_model,
    notes_at,
    shift_to_weekday,
)
from predictor.events.model import (
    WEEKDAYS,
    ActiveWindow,
    Effect,
    Event,
    HolidayDates,
    OneOff,
    Recurring,
    check_timezone,
    fingerprint,
    masks_training,
    parse_weekday,
)
from predictor.events.points import inside
from predictor.events.resolve import Transition, active_at, transitions, windows
from predictor.events.training import HolidayLevel, exclude_from_training, learn_holiday_level

__all__ = [
    "WEEKDAYS",
    "ActiveWindow",
    "Cron",
    "CronSyntaxError",
    "Effect",
    "Event",
    "HolidayDates",
    "HolidayLevel",
    "LikeProvider",
    "OneOff",
    "Recurring",
    "Transition",
    "active_at",
    "active_names",
    "adjust_forecast",
    "check_timezone",
    "exclude_from_training",
    "fingerprint",
    "floor_limits",
    "inside",
    "learn_holiday_level",
    "like_from_model",
    "masks_training",
    "notes_at",
    "parse_cron",
    "parse_weekday",
    "shift_to_weekday",
    "transitions",
    "windows",
]
