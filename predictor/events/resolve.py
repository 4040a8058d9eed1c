"""Resolve events to their windows in UTC over a span of time, and ask which are active when.

Every event is evaluated in its own IANA time zone, so a recurring 09:00 Europe/Berlin event
stays at 09:00 local across the March and October switches, and a holiday lasts from local
midnight to the next local midnight (23 or 25 hours on a switch day). Occurrences of one event
that overlap each other merge into one window: an event is either active or not, so its effect
never counts twice. Pure: ``start`` and ``end`` are passed in, never read from a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from predictor.events import calendars
from predictor.events.model import ActiveWindow, Event, HolidayDates, OneOff, Recurring, masks_training

CUSTOM_HOLIDAY = "custom holiday"


def windows(events: Sequence[Event], start: pd.Timestamp, end: pd.Timestamp) -> list[ActiveWindow]:
    """Every window of ``events`` that overlaps ``[start, end)``, sorted by start (then list order).

    ``start`` and ``end`` are tz-aware; the windows are in UTC and are not cut to the span.
    """
    start, end = _utc(start), _utc(end)
    found: list[ActiveWindow] = []
    for order, event in enumerate(events):
        for first, last, name in _occurrences(event, start, end):
            found.append(
                ActiveWindow(
                    name=name,
                    event=event.name,
                    effect=event.effect,
                    start=first,
                    end=last,
                    timezone=event.timezone,
                    order=order,
                    holiday=event.holiday,
                    recurring=event.recurring,
                    masks_training=masks_training(event),
                )
            )
    return sorted(found, key=lambda w: (w.start, w.order))


def active_at(active: Iterable[ActiveWindow], t: pd.Timestamp) -> list[ActiveWindow]:
    """The windows that cover the instant ``t``, in list order of their events."""
    t = _utc(t)
    return sorted((w for w in active if w.covers(t)), key=lambda w: w.order)


@dataclass(frozen=True)
class Transition:
    """A window that started or ended between two moments (for logs and Kubernetes Events)."""

    kind: Literal["started", "ended"]
    window: ActiveWindow

    def describe(self, reference: pd.Timestamp | None = None) -> str:
        """``launch-day started: ×2.5 from 09:00 to 12:00``."""
        w = self.window
        return f"{w.label} {self.kind}: {w.effect.describe()} {w.span(reference)}"


def transitions(active: Iterable[ActiveWindow], since: pd.Timestamp, until: pd.Timestamp) -> list[Transition]:
    """The windows that started or ended in ``(since, until]``, in time order.

    Call it each cycle with the previous and the current ``now`` to announce each change once.
    """
    since, until = _utc(since), _utc(until)
    found = []
    for w in active:
        if since < w.start <= until:
            found.append((w.start, 0, Transition("started", w)))
        if since < w.end <= until:
            found.append((w.end, 1, Transition("ended", w)))
    return [t for _, _, t in sorted(found, key=lambda item: (item[0], item[1], item[2].window.order))]


def _occurrences(
    event: Event, start: pd.Timestamp, end: pd.Timestamp
) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
    when = event.when
    if isinstance(when, OneOff):
        return [(when.start, when.end, event.name)] if when.start < end and when.end > start else []
    if isinstance(when, Recurring):
        length = pd.Timedelta(seconds=when.duration_s)
        starts = when.cron.starts(start - length, end, event.timezone)
        spans = [(s, s + length) for s in starts if s + length > start]
        return [(a, b, event.name) for a, b in _merged(spans)]
    return _holidays(when, event.timezone, start, end)


def _merged(spans: list[tuple[pd.Timestamp, pd.Timestamp]]) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    merged: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def holiday_days(when: HolidayDates, first: dt.date, last: dt.date) -> dict[dt.date, str]:
    """The holidays of the calendar from ``first`` to ``last`` (inclusive), by date, with their names."""
    days: dict[dt.date, str] = {}
    if when.country is not None:
        for year in range(first.year, last.year + 1):
            for day, name in calendars.public_holidays(when.country, when.subdivision, year):
                if first <= day <= last:
                    days[day] = name
    for day in when.custom:
        if first <= day <= last:
            days.setdefault(day, CUSTOM_HOLIDAY)
    return dict(sorted(days.items()))


def _holidays(
    when: HolidayDates, timezone: str, start: pd.Timestamp, end: pd.Timestamp
) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
    first = start.tz_convert(timezone).date()
    last = end.tz_convert(timezone).date()
    found = []
    for day, name in holiday_days(when, first, last).items():
        midnight = pd.Timestamp(day).tz_localize(timezone, nonexistent="shift_forward", ambiguous=True)
        following = pd.Timestamp(day + dt.timedelta(days=1)).tz_localize(
            timezone, nonexistent="shift_forward", ambiguous=True
        )
        a, b = midnight.tz_convert("UTC"), following.tz_convert("UTC")
        if a < end and b > start:
            found.append((a, b, name))
    return found


def _utc(t: pd.Timestamp) -> pd.Timestamp:
    t = pd.Timestamp(t)
    if t.tz is None:
        raise ValueError(f"{t} has no time zone; pass tz-aware instants")
    return t.tz_convert("UTC")
