"""Checks of event definitions that need the calendar: run once, when the configuration loads.

- A recurring event must fire at all (``0 0 31 2 *`` never does) and, when it changes the
  forecast, cover at most :data:`MAX_RATE_COVERAGE` of the time: its past windows are left
  out of training, and a change that lasts most of the time is the usual traffic, which the
  model learns from the history.
- Two events of one target contradict each other when two ``like`` windows with different
  weekdays overlap, or a ``min_floor`` overlaps a lower ``max_floor``. Every other overlap
  combines by the rules of :mod:`predictor.events.effects`. One-off windows are checked exactly;
  two recurring events over the reference year :data:`REFERENCE_YEAR` (an overlap outside it is
  still resolved by those rules, with a note).

Pure: the reference span is fixed, not read from a clock.
"""

from __future__ import annotations

import pandas as pd

from predictor.events.model import RATE_EFFECTS, Event, OneOff, Recurring
from predictor.events.resolve import windows

MAX_RATE_COVERAGE = 0.5
REFERENCE_YEAR = 2025
#: 28 years hold every combination of month, day of month and weekday (leap days included).
_CYCLE = (pd.Timestamp("2001-01-01"), pd.Timestamp("2028-12-31"))


def check_recurring(event: Event) -> str | None:
    """The problem with a recurring event's schedule, or None."""
    if not isinstance(event.when, Recurring):
        return None
    cron = event.when.cron
    if len(cron.matching_days(*_CYCLE)) == 0:
        return f"cron {cron.expression!r} never fires (no such day)"
    if event.effect.kind not in RATE_EFFECTS:
        return None
    start, end = _reference_span()
    found = windows([event], start, end)
    covered = sum((min(w.end, end) - max(w.start, start)).total_seconds() for w in found)
    share = covered / (end - start).total_seconds()
    if share > MAX_RATE_COVERAGE:
        return (
            f"cron {cron.expression!r} with duration_s {event.when.duration_s:g} covers {share:.0%} of the "
            f"time; an event that changes the forecast may cover at most {MAX_RATE_COVERAGE:.0%} "
            "(lasting traffic is learned from the history)"
        )
    return None


def conflict(first: Event, second: Event) -> str | None:
    """Why ``second`` contradicts ``first`` (one sentence naming ``first``), or None if they agree."""
    kinds = {first.effect.kind, second.effect.kind}
    if kinds == {"like"}:
        if first.effect.weekday == second.effect.weekday:
            return None
        words = "two like windows with different weekdays cannot overlap"
    elif kinds == {"min_floor", "max_floor"}:
        low, high = (first, second) if first.effect.kind == "min_floor" else (second, first)
        if low.effect.value <= high.effect.value:
            return None
        words = "a min_floor above a max_floor cannot overlap it"
    else:
        return None
    start, end = _span(first, second)
    overlap = _first_overlap(first, second, start, end)
    if overlap is None:
        return None
    recurring = first.recurring and second.recurring
    at = f"{overlap:%a %H:%M} UTC (e.g. {overlap:%Y-%m-%d})" if recurring else f"{overlap:%Y-%m-%d %H:%M} UTC"
    return f"{second.effect.describe()} overlaps {first.name!r} ({first.effect.describe()}) at {at}; {words}"


def _span(a: Event, b: Event) -> tuple[pd.Timestamp, pd.Timestamp]:
    one_offs = [e.when for e in (a, b) if isinstance(e.when, OneOff)]
    if one_offs:
        return min(w.start for w in one_offs), max(w.end for w in one_offs)
    return _reference_span()


def _first_overlap(a: Event, b: Event, start: pd.Timestamp, end: pd.Timestamp) -> pd.Timestamp | None:
    left, right = windows([a], start, end), windows([b], start, end)
    i = j = 0
    while i < len(left) and j < len(right):
        x, y = left[i], right[j]
        if x.start < y.end and y.start < x.end:
            return max(x.start, y.start)
        if x.end <= y.end:
            i += 1
        else:
            j += 1
    return None


def _reference_span() -> tuple[pd.Timestamp, pd.Timestamp]:
    return (
        pd.Timestamp(f"{REFERENCE_YEAR}-01-01", tz="UTC"),
        pd.Timestamp(f"{REFERENCE_YEAR + 1}-01-01", tz="UTC"),
    )
