"""What a known event is: a name, when it happens, in which time zone, and its one effect.

Three kinds of "when": a one-off window (:class:`OneOff`, two UTC instants), a recurring one
(:class:`Recurring`, a cron expression evaluated in the event's zone plus a duration), and the
days of a holiday calendar (:class:`HolidayDates`, local midnight to midnight).

Six effects (:class:`Effect`): ``multiply`` the forecast, ``add_rps`` to it, a ``min_floor`` or
``max_floor`` in pods, ``like`` (forecast the window as another weekday), and ``holiday`` (the
effect of every holiday-calendar day: the learned holiday level, or ``like`` a fallback weekday).

:class:`ActiveWindow` is one occurrence of an event resolved to UTC, and says itself in a
sentence. Pure: no clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from predictor.events.cron import Cron

EffectKind = Literal["multiply", "add_rps", "min_floor", "max_floor", "like", "holiday"]
RATE_EFFECTS: frozenset[str] = frozenset({"multiply", "add_rps", "like", "holiday"})
FLOOR_EFFECTS: frozenset[str] = frozenset({"min_floor", "max_floor"})

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekday(text: str) -> int:
    """``"sunday"`` / ``"Sun"`` -> 6 (Monday is 0); ValueError naming the allowed names otherwise."""
    value = str(text).strip().lower()
    for number, name in enumerate(WEEKDAYS):
        if value in (name, name[:3]):
            return number
    raise ValueError(f"{text!r} is not a weekday (use one of {', '.join(WEEKDAYS)})")


def check_timezone(name: str) -> str:
    """``name`` if it is a known IANA time zone (``Europe/Berlin``, ``UTC``); ValueError otherwise."""
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin or UTC)") from None
    return str(name)


@dataclass(frozen=True)
class Effect:
    """What an event does to its window.

    ``value`` is the factor (``multiply``, >= 0), the req/s added (``add_rps``, may be negative;
    the result never goes below 0), the pods (``min_floor``, ``max_floor``), or the weekday
    number, Monday = 0 (``like``, and the fallback weekday of ``holiday``).
    """

    kind: EffectKind
    value: float

    def describe(self) -> str:
        """``×2.5``, ``+40 req/s``, ``at least 14 pods``, ``at most 2 pods``, ``like a Sunday``."""
        if self.kind == "multiply":
            return f"×{self.value:g}"
        if self.kind == "add_rps":
            sign = "+" if self.value >= 0 else "−"
            return f"{sign}{abs(self.value):,.4g} req/s"
        if self.kind == "min_floor":
            return f"at least {self.value:.0f} pod{'s' if self.value != 1 else ''}"
        if self.kind == "max_floor":
            return f"at most {self.value:.0f} pod{'s' if self.value != 1 else ''}"
        return f"like a {WEEKDAYS[int(self.value)].capitalize()}"

    @property
    def weekday(self) -> int:
        """The weekday of a ``like`` or ``holiday`` effect, Monday = 0."""
        return int(self.value)


@dataclass(frozen=True)
class OneOff:
    """A single window ``[start, end)``, both tz-aware UTC instants."""

    start: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True)
class Recurring:
    """A window of ``duration_s`` seconds starting at every firing of ``cron`` in the event's zone."""

    cron: Cron
    duration_s: float


@dataclass(frozen=True)
class HolidayDates:
    """The public holidays of ``country`` (and ``subdivision``), plus ``custom`` dates.

    ``country`` is an ISO 3166-1 code (``US``) or None for custom dates only; each day lasts from
    local midnight to the next local midnight in the event's zone.
    """

    country: str | None = None
    subdivision: str | None = None
    custom: tuple[dt.date, ...] = ()


When = OneOff | Recurring | HolidayDates


@dataclass(frozen=True)
class Event:
    """A known event: ``name``, when it happens (``when``), its ``effect``, and its IANA ``timezone``."""

    name: str
    when: When
    effect: Effect
    timezone: str = "UTC"

    @property
    def recurring(self) -> bool:
        return isinstance(self.when, Recurring)

    @property
    def holiday(self) -> bool:
        return isinstance(self.when, HolidayDates)


def fingerprint(events: Sequence[Event]) -> str:
    """A stable hash of ``events`` (hex): a stored model trained under other events is stale.

    It changes whenever a window, a zone or an effect changes, so the training mask changes.
    """

    def when(event: Event) -> object:
        w = event.when
        if isinstance(w, OneOff):
            return ["one-off", w.start.isoformat(), w.end.isoformat()]
        if isinstance(w, Recurring):
            return ["recurring", w.cron.expression, w.duration_s]
        return ["holidays", w.country, w.subdivision, [d.isoformat() for d in w.custom]]

    canonical = [[e.name, when(e), e.effect.kind, e.effect.value, e.timezone] for e in events]
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]


def masks_training(event: Event) -> bool:
    """Whether the event's past windows are left out of training.

    Holidays and one-off events are unusual traffic; a recurring ``multiply``, ``add_rps`` or
    ``like`` is defined relative to the usual traffic, so its past windows are left out too (or
    its effect would count twice). A recurring ``min_floor`` or ``max_floor`` is a schedule of
    the floor, not a change of traffic: its windows stay in training.
    """
    return not (event.recurring and event.effect.kind in FLOOR_EFFECTS)


@dataclass(frozen=True)
class ActiveWindow:
    """One occurrence of an event: ``[start, end)`` in UTC.

    ``name`` is what people read (the event's name, or the holiday's, e.g. "Christmas Day");
    ``event`` the configured event it comes from; ``order`` its place in the event list (an
    earlier event wins a conflict). ``masks_training`` says whether the window is left out of
    training (see :func:`masks_training`).
    """

    name: str
    event: str
    effect: Effect
    start: pd.Timestamp
    end: pd.Timestamp
    timezone: str = "UTC"
    order: int = 0
    holiday: bool = False
    recurring: bool = False
    masks_training: bool = True

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def covers(self, t: pd.Timestamp) -> bool:
        """Whether the instant ``t`` is inside ``[start, end)``."""
        return bool(self.start <= t < self.end)

    def span(self, reference: pd.Timestamp | None = None) -> str:
        """``from 09:00 to 12:00`` in the event's zone (``CET`` added outside UTC), or ``on Fri 25 Dec``.

        Times on the local day of ``reference`` show the clock only; other days add the weekday
        and the date.
        """
        zone = self.timezone
        start, end = self.start.tz_convert(zone), self.end.tz_convert(zone)
        today = reference.tz_convert(zone).date() if reference is not None else None
        if start == start.normalize() and end == end.normalize():
            last = end - pd.Timedelta(days=1)
            if last.date() <= start.date():
                return f"on {_day(start)}"
            return f"from {_day(start)} to {_day(last)}"
        suffix = "" if zone.upper() in ("UTC", "ETC/UTC") else f" {start.tzname()}"
        end_text = _clock(end, today if start.date() != end.date() else start.date())
        return f"from {_clock(start, today)} to {end_text}{suffix}"

    def describe(self, reference: pd.Timestamp | None = None, effect: str | None = None) -> str:
        """``launch-day: ×2.5 from 09:00 to 12:00``; ``effect`` replaces the effect's own words."""
        return f"{self.label}: {effect or self.effect.describe()} {self.span(reference)}"

    @property
    def label(self) -> str:
        """The name as shown: holidays say that they are one (``Christmas Day (holiday)``)."""
        return f"{self.name} (holiday)" if self.holiday and "holiday" not in self.name.lower() else self.name


def _day(moment: pd.Timestamp) -> str:
    return f"{moment:%a} {moment.day} {moment:%b}"


def _clock(moment: pd.Timestamp, today: dt.date | None) -> str:
    if today is not None and moment.date() == today:
        return f"{moment:%H:%M}"
    return f"{_day(moment)} {moment:%H:%M}"
