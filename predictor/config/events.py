"""Known events and holiday calendars in the configuration, top level or per target.

An event has a ``name``, a window and one effect, in a named IANA ``timezone`` (default UTC):

- a one-off window: ``start`` and ``end`` (or ``start`` and ``duration_s``), ISO times with an
  offset, or local times in ``timezone``; a date alone is local midnight;
- or a recurring one: a five-field ``cron`` expression in ``timezone`` plus ``duration_s``;
- one effect: ``multiply`` (factor >= 0 on the forecast), ``add_rps`` (req/s added; may be
  negative, the forecast never goes below 0), ``min_floor`` / ``max_floor`` (pods), or ``like``
  (a weekday: forecast the window as that weekday).

``holidays`` names a public calendar (``country``, ``subdivision``) plus ``custom`` dates; each
holiday is forecast like the history's typical holiday, or ``like`` a Sunday (by default) when
the history holds none. A target's ``events`` come before the top-level ones (they win a
conflict); a target's ``holidays`` replace the top-level calendar (``holidays: {}`` = none).
How overlapping effects combine, and which overlaps are errors: :mod:`predictor.events.effects`
and :mod:`predictor.events.checks`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from predictor import events as ev
from predictor.config.errors import key_path
from predictor.config.groups import FROZEN
from predictor.events import calendars, checks

if TYPE_CHECKING:
    from predictor.config.settings import Settings
    from predictor.config.targets import TargetSettings

EFFECTS = ("multiply", "add_rps", "min_floor", "max_floor", "like")
HOLIDAYS_EVENT = "holidays"


class EventSettings(BaseModel):
    """One known event: a window (one-off or recurring) in a time zone, and one effect on it."""

    model_config = FROZEN

    name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$",
        description="Name shown in reasons, tables and metrics (lower case, digits, - _ .).",
    )
    start: dt.datetime | None = Field(
        None, description="One-off window: start, ISO time with an offset or local in timezone."
    )
    end: dt.datetime | None = Field(None, description="One-off window: end (exclusive); or give duration_s.")
    cron: str | None = Field(
        None,
        description="Recurring window: five-field cron expression in timezone (minute hour dom month dow).",
    )
    duration_s: float | None = Field(
        None, gt=0, description="Length of each window, seconds (recurring; or one-off instead of end)."
    )
    timezone: str = Field("UTC", description="IANA time zone of start/end without an offset and of cron.")
    multiply: float | None = Field(None, ge=0, description="Effect: factor on the forecast (2.5 = ×2.5).")
    add_rps: float | None = Field(None, description="Effect: req/s added to the forecast (may be negative).")
    min_floor: int | None = Field(None, ge=0, description="Effect: the floor is at least this many pods.")
    max_floor: int | None = Field(None, ge=0, description="Effect: the floor is at most this many pods.")
    like: str | None = Field(None, description="Effect: forecast the window as this weekday (e.g. sunday).")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return ev.check_timezone(value)

    @field_validator("like")
    @classmethod
    def _weekday(cls, value: str | None) -> str | None:
        return None if value is None else ev.WEEKDAYS[ev.parse_weekday(value)]

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ev.parse_cron(value)
            except ev.CronSyntaxError as e:
                raise ValueError(f"{value!r}: {e}") from None
        return value

    @model_validator(mode="after")
    def _complete(self) -> EventSettings:
        given = [name for name in EFFECTS if getattr(self, name) is not None]
        if len(given) != 1:
            got = f" (got {' and '.join(given)})" if given else ""
            raise PydanticCustomError(
                "value_error",
                "set exactly one effect: {effects}{got}",
                {"effects": ", ".join(EFFECTS), "got": got},
            )
        if self.cron is not None:
            if self.start is not None or self.end is not None:
                raise PydanticCustomError(
                    "value_error",
                    "set either cron (recurring) or start and end (one-off), not both",
                    {"field": "cron"},
                )
            if self.duration_s is None:
                raise PydanticCustomError(
                    "value_error", "a recurring event needs duration_s", {"field": "duration_s"}
                )
            problem = checks.check_recurring(self.to_event())
            if problem is not None:
                raise PydanticCustomError("value_error", "{problem}", {"problem": problem, "field": "cron"})
            return self
        if self.start is None:
            raise PydanticCustomError(
                "value_error",
                "set a window: start with end or duration_s (one-off), or cron with duration_s (recurring)",
                {"field": "start"},
            )
        if (self.end is None) == (self.duration_s is None):
            raise PydanticCustomError(
                "value_error", "a one-off event needs end or duration_s (one of them)", {"field": "end"}
            )
        start, end = self.window_utc()
        if end <= start:
            raise PydanticCustomError(
                "value_error",
                "the window ends ({end}) before or when it starts ({start})",
                {"end": _local(end, self.timezone), "start": _local(start, self.timezone), "field": "end"},
            )
        return self

    def window_utc(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The one-off window as UTC instants (start, end)."""
        assert self.start is not None
        start = self._instant(self.start)
        if self.end is not None:
            return start, self._instant(self.end)
        return start, start + pd.Timedelta(seconds=float(self.duration_s or 0))

    def _instant(self, moment: dt.datetime) -> pd.Timestamp:
        ts = pd.Timestamp(moment)
        if ts.tz is None:
            ts = ts.tz_localize(self.timezone, nonexistent="shift_forward", ambiguous=True)
        return ts.tz_convert("UTC")

    def effect(self) -> ev.Effect:
        """The event's one effect, as the pure core reads it."""
        if self.multiply is not None:
            return ev.Effect("multiply", float(self.multiply))
        if self.add_rps is not None:
            return ev.Effect("add_rps", float(self.add_rps))
        if self.min_floor is not None:
            return ev.Effect("min_floor", float(self.min_floor))
        if self.max_floor is not None:
            return ev.Effect("max_floor", float(self.max_floor))
        return ev.Effect("like", float(ev.parse_weekday(str(self.like))))

    def to_event(self) -> ev.Event:
        """The event as the pure core reads it (:class:`predictor.events.Event`)."""
        when: ev.OneOff | ev.Recurring
        if self.cron is not None:
            when = ev.Recurring(ev.parse_cron(self.cron), float(self.duration_s or 0))
        else:
            when = ev.OneOff(*self.window_utc())
        return ev.Event(self.name, when, self.effect(), self.timezone)


class HolidaySettings(BaseModel):
    """A holiday calendar: a country's public holidays plus custom dates, each day like a holiday."""

    model_config = FROZEN

    country: str | None = Field(
        None,
        description="ISO 3166-1 code of the public holidays (US, DE, GB, ...); null = custom dates only.",
    )
    subdivision: str | None = Field(
        None, description="State or province code within the country (e.g. CA); null = national holidays."
    )
    custom: list[dt.date] = Field(default_factory=list, description="Extra holiday dates (YYYY-MM-DD).")
    timezone: str = Field("UTC", description="IANA time zone in which each holiday starts and ends.")
    like: str = Field(
        "sunday", description="With no past holiday in the history, forecast a holiday as this weekday."
    )

    @field_validator("country", "subdivision")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return None if value is None else str(value).strip().upper()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return ev.check_timezone(value)

    @field_validator("like")
    @classmethod
    def _weekday(cls, value: str) -> str:
        return ev.WEEKDAYS[ev.parse_weekday(value)]

    @model_validator(mode="after")
    def _known(self) -> HolidaySettings:
        if self.country is None:
            if self.subdivision is not None:
                raise PydanticCustomError(
                    "value_error", "a subdivision needs a country", {"field": "subdivision"}
                )
            return self
        try:
            calendars.check_calendar(self.country, self.subdivision)
        except ValueError as e:
            field = "country" if "unknown country" in str(e) else "subdivision"
            raise PydanticCustomError("value_error", "{problem}", {"problem": str(e), "field": field}) from e
        return self

    @property
    def empty(self) -> bool:
        return self.country is None and not self.custom

    def to_event(self) -> ev.Event:
        """The calendar as one event whose windows are its holidays."""
        return ev.Event(
            HOLIDAYS_EVENT,
            ev.HolidayDates(self.country, self.subdivision, tuple(sorted(set(self.custom)))),
            ev.Effect("holiday", float(ev.parse_weekday(self.like))),
            self.timezone,
        )


class EventsFile(BaseModel):
    """A file of known events alone (``predictor backtest --events FILE``): ``events`` and ``holidays``."""

    model_config = FROZEN

    events: list[EventSettings] = Field(default_factory=list, description="Known events (keys as above).")
    holidays: HolidaySettings | None = Field(None, description="A holiday calendar (keys as above).")

    @model_validator(mode="after")
    def _agree(self) -> EventsFile:
        check_event_lists(self.events, [])
        return self

    def to_events(self) -> list[ev.Event]:
        """The events, then the calendar (as :func:`events_for` orders them)."""
        found = [e.to_event() for e in self.events]
        if self.holidays is not None and not self.holidays.empty:
            found.append(self.holidays.to_event())
        return found


def events_for(settings: Settings, target: TargetSettings) -> list[ev.Event]:
    """The events that apply to ``target``: its own, then the top-level ones, then its holidays.

    The target's ``holidays`` replace the top-level calendar; an empty calendar adds nothing.
    """
    holidays = target.holidays if target.holidays is not None else settings.holidays
    found = [e.to_event() for e in (*target.events, *settings.events)]
    if holidays is not None and not holidays.empty:
        found.append(holidays.to_event())
    return found


def check_event_lists(top: list[EventSettings], targets: list[Any]) -> None:
    """Event names unique per target, and no contradicting overlaps (see :mod:`predictor.events.checks`).

    ``targets`` are the validated targets (each with ``events``). Raises a PydanticCustomError
    whose path names the event to fix: the later one of a list, or the target's own when a
    target's event clashes with a top-level one.
    """
    top_events = [e.to_event() for e in top]
    _check_pairs([("events", k) for k in range(len(top))], top_events, top_events, same_list=True)
    for t, target in enumerate(targets):
        own = [e.to_event() for e in target.events]
        paths = [("targets", t, "events", k) for k in range(len(own))]
        _check_pairs(paths, own, own, same_list=True)
        _check_pairs(
            paths, own, top_events, same_list=False, other_paths=[("events", k) for k in range(len(top))]
        )


def _check_pairs(
    paths: Sequence[tuple[str | int, ...]],
    mine: list[ev.Event],
    others: list[ev.Event],
    *,
    same_list: bool,
    other_paths: Sequence[tuple[str | int, ...]] | None = None,
) -> None:
    other_paths = other_paths if other_paths is not None else paths
    for k, event in enumerate(mine):
        for m, other in enumerate(others[:k] if same_list else others):
            if other.name == event.name:
                raise PydanticCustomError(
                    "value_error",
                    "event name {name} is already used by {first}",
                    {
                        "name": repr(event.name),
                        "first": key_path(other_paths[m]),
                        "path": (*paths[k], "name"),
                    },
                )
            problem = checks.conflict(other, event)
            if problem is not None:
                raise PydanticCustomError(
                    "value_error",
                    "{problem} ({other})",
                    {"problem": problem, "other": key_path(other_paths[m]), "path": paths[k]},
                )


def _local(moment: pd.Timestamp, timezone: str) -> str:
    return f"{moment.tz_convert(timezone):%Y-%m-%d %H:%M %Z}"
