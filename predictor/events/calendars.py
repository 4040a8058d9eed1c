"""Public holiday calendars, from the ``holidays`` package (its one home in predictor).

The package computes the dates itself (no network, no files), for any year. It is imported
only when a calendar is used, so a command without holidays does not pay for it.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

_SHOWN = 12  # subdivisions listed in an error message


def check_calendar(country: str, subdivision: str | None = None) -> None:
    """ValueError with one clear sentence when ``country`` or ``subdivision`` is not known."""
    calendar = _calendar(country)
    codes = list(getattr(calendar, "subdivisions", ()))
    if subdivision is not None and subdivision not in codes:
        known = ", ".join(codes[:_SHOWN]) + (f", ... ({len(codes)} in all)" if len(codes) > _SHOWN else "")
        raise ValueError(f"{country} has no subdivision {subdivision!r} (known: {known or 'none'})")


@lru_cache(maxsize=256)
def public_holidays(country: str, subdivision: str | None, year: int) -> tuple[tuple[dt.date, str], ...]:
    """The public holidays of one year as ``(date, name)`` pairs, sorted by date.

    Two holidays on one day share it; their names are joined with "; ".
    """
    import holidays

    calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return tuple(sorted((day, str(name)) for day, name in calendar.items()))


@lru_cache(maxsize=64)
def _calendar(country: str) -> Any:
    import holidays

    try:
        return holidays.country_holidays(country)
    except NotImplementedError:
        raise ValueError(f"unknown country {country!r} (an ISO 3166-1 code such as US, DE or GB)") from None
