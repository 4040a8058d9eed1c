"""Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in a time zone.

The syntax is the classic one: ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, lists
``a,b``, month names ``jan``-``dec`` and weekday names ``sun``-``sat`` (``0`` and ``7`` are both
Sunday), and the macros ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``,
``@midnight`` and ``@hourly``. As in Vixie cron, when both the day of the month and the day of the
week are restricted, a day matches if either does.

Times are wall-clock times in the event's zone, so ``0 9 * * *`` in Europe/Berlin is 09:00 local
on both sides of a DST switch (07:00 UTC in summer, 08:00 UTC in winter). A local time
that the spring switch skips (02:30 on the switch night) starts at the first minute after the
switch; a local time the autumn switch repeats starts at its first occurrence only.
Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (name, lowest, highest, names that stand for numbers)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _WEEKDAYS),
)


class CronSyntaxError(ValueError):
    """A cron expression that cannot be parsed; the message says which field and why."""


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the sets of minutes, hours, days, months and weekdays it matches.

    ``weekdays`` counts Monday as 0 (Python's convention), whatever the expression wrote.
    """

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool

    @cached_property
    def _offsets_min(self) -> np.ndarray:
        return np.array(sorted(h * 60 + m for h in self.hours for m in self.minutes), dtype=np.int64)

    @property
    def weekly(self) -> bool:
        """Whether the pattern repeats every week (it pins no day of the month and no month)."""
        return len(self.days) == 31 and len(self.months) == 12

    def matching_days(self, first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
        """The calendar days in ``[first, last]`` (naive dates) on which the expression fires."""
        days = pd.date_range(first.normalize(), last.normalize(), freq="D", unit="ns")
        in_month = np.isin(days.month, list(self.months))
        by_day = np.isin(days.day, list(self.days))
        by_weekday = np.isin(days.weekday, list(self.weekdays))
        if self.days_restricted and self.weekdays_restricted:
            day_ok = by_day | by_weekday
        else:
            day_ok = by_day & by_weekday
        return days[in_month & day_ok]

    def starts(self, start: pd.Timestamp, end: pd.Timestamp, timezone: str) -> pd.DatetimeIndex:
        """Every firing in ``[start, end)`` (tz-aware instants) as UTC instants, sorted."""
        start_utc, end_utc = start.tz_convert("UTC"), end.tz_convert("UTC")
        if end_utc <= start_utc:
            return pd.DatetimeIndex([], tz="UTC", dtype="datetime64[ns, UTC]")
        # One day of slack either side covers any UTC offset.
        first = start_utc.tz_convert(timezone).tz_localize(None) - pd.Timedelta(days=1)
        last = end_utc.tz_convert(timezone).tz_localize(None) + pd.Timedelta(days=1)
        days = self.matching_days(first, last)
        offsets = self._offsets_min
        local = (days.asi8[:, None] + offsets[None, :] * 60_000_000_000).ravel()
        naive = pd.DatetimeIndex(local.astype("datetime64[ns]"))
        instants = naive.tz_localize(
            timezone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward"
        ).tz_convert("UTC")
        instants = instants.unique().sort_values()
        return instants[(instants >= start_utc) & (instants < end_utc)]


def parse_cron(expression: str) -> Cron:
    """Parse a five-field cron expression (or a macro); :class:`CronSyntaxError` says what is wrong."""
    text = " ".join(str(expression).split()).lower()
    text = _MACROS.get(text, text)
    if text.startswith("@"):
        raise CronSyntaxError(f"unknown macro {expression!r} (known: {', '.join(_MACROS)})")
    parts = text.split(" ")
    if len(parts) != 5:
        raise CronSyntaxError(
            f"{expression!r} has {len(parts)} field{'s' if len(parts) != 1 else ''}; a cron expression "
            "has 5: minute hour day-of-month month day-of-week"
        )
    sets = [_parse_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    minutes, hours, days, months, cron_weekdays = sets
    # Cron counts Sunday as 0 (and 7); Python counts Monday as 0.
    weekdays = frozenset((d - 1) % 7 for d in cron_weekdays)
    return Cron(
        expression=str(expression).strip(),
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=weekdays,
        # As in Vixie cron, a field that starts with "*" (also "*/2") does not restrict the day.
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )


def _parse_field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronSyntaxError(f"{name}: step {step_text!r} must be a whole number of 1 or more")
            step = int(step_text)
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            first, last = _number(a, name, names, low, high), _number(b, name, names, low, high)
            if last < first:
                raise CronSyntaxError(f"{name}: range {span!r} runs backwards")
        else:
            first = _number(span, name, names, low, high)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, name: str, names: tuple[str, ...], low: int, high: int) -> int:
    if text in names:
        return names.index(text) + (1 if name == "month" else 0)
    if not text.isdigit():
        allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
        raise CronSyntaxError(f"{name}: {text!r} is not a number ({allowed})")
    value = int(text)
    if not low <= value <= high:
        raise CronSyntaxError(f"{name}: {value} is out of range {low}-{high}")
    return value
