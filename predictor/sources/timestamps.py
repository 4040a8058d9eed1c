"""The timestamp column of a history file, read as people write it. Pure: no I/O, no clock.

- **Numbers** are Unix times. Their unit is told by their size, because times near the present
  differ by a factor 1,000 between units: about 1.7e9 in seconds, 1.7e12 in milliseconds, 1.7e15
  in microseconds, 1.7e18 in nanoseconds. A unit other than seconds is said in a note. Numbers that
  would fall before 1980 in any unit are not times (a row number, a duration) and are refused.
- **Text** with a numeric date whose first two fields can both be a day or a month
  (``01/08/2021 00:00``) is read day first if some row has a first field above 12, month first if
  some row has a second field above 12, and refused as ambiguous when no row tells (and as mixed
  when rows tell both); ``timestamp_format`` (strftime codes, e.g. ``%d/%m/%Y %H:%M``) settles it.
  Any other text (ISO 8601, ``2026-01-05 00:00``, RFC 2822, ...) is parsed as pandas reads it.
- A time without a zone is UTC, and a note says so; an offset or ``Z`` is converted to UTC.

Unparsed values come back as NaT, so that the caller can name the first bad row.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from predictor.errors import SourceError

NAIVE_NOTE = (
    "timestamps have no time zone: read as UTC (write them with an offset, e.g. +02:00, if they are local)"
)
_EARLIEST = pd.Timestamp("1980-01-01", tz="UTC")
# Below each bound a present-day time is in that unit: seconds < 1e11 (year 5138) < ms < 1e14 < ...
_UNITS = ((1e11, "s", 1.0), (1e14, "ms", 1e-3), (1e17, "us", 1e-6), (np.inf, "ns", 1e-9))
_UNIT_NAMES = {"ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?:([ T])(\d{1,2}:\d{2})(:\d{2})?)?")


def unix_times(numbers: pd.Series, notes: list[str]) -> pd.DatetimeIndex:
    """Unix times in s, ms, us or ns (told by their size) as UTC; non-finite numbers become NaT."""
    values = numbers.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values)
    if not finite.any():
        return pd.DatetimeIndex([pd.NaT] * len(values), dtype="datetime64[us, UTC]")
    magnitude = float(np.median(np.abs(values[finite])))
    unit, scale = next((u, s) for bound, u, s in _UNITS if magnitude < bound)
    seconds = np.where(finite, values * scale, np.nan)
    first = pd.Timestamp(float(np.nanmin(seconds)), unit="s", tz="UTC")
    if first < _EARLIEST:
        low, high = np.nanmin(values), np.nanmax(values)
        raise SourceError(
            f"the timestamp column holds numbers from {low:g} to {high:g}, which are not Unix times "
            f"(read as {_UNIT_NAMES.get(unit, 'seconds')} the first is {first:%Y-%m-%d}); "
            "choose the column of times with --timestamp-column"
        )
    if unit != "s":
        notes.append(f"numeric timestamps read as Unix {_UNIT_NAMES[unit]} (their size tells the unit)")
    micros = np.round(np.where(finite, seconds, 0) * 1e6).astype(np.int64)
    index = pd.DatetimeIndex(micros.astype("datetime64[us]")).tz_localize("UTC")
    return index.where(finite, pd.NaT)


def text_times(text: pd.Series, notes: list[str], *, timestamp_format: str | None = None) -> pd.DatetimeIndex:
    """Timestamps written as text (stripped; "" = missing) as UTC; unparsed ones become NaT."""
    present = text[text != ""]
    if len(present) == 0:
        return pd.DatetimeIndex([pd.NaT] * len(text), dtype="datetime64[us, UTC]")
    if timestamp_format is not None:
        parsed = _with_format(text, timestamp_format)
        naive = "%z" not in timestamp_format and "%Z" not in timestamp_format
    else:
        parsed = _day_month(present, text, notes)
        if parsed is None:
            parsed = _inferred(text)
        naive = _is_naive(str(present.iloc[0]))
    if naive:
        notes.append(NAIVE_NOTE)
    return pd.DatetimeIndex(parsed).as_unit("us")


def _with_format(text: pd.Series, timestamp_format: str) -> pd.Series:
    try:
        return pd.to_datetime(text, format=timestamp_format, utc=True, errors="coerce")
    except ValueError as e:  # a format pandas cannot use at all
        raise SourceError(f"--timestamp-format {timestamp_format!r} cannot be used: {e}") from e


def _day_month(present: pd.Series, text: pd.Series, notes: list[str]) -> pd.Series | None:
    """Dates like 01/08/2021 read in the one order the rows allow; None when they are not like that."""
    fields = present.str.extract(_NUMERIC_DATE)
    matched = fields[0].notna()
    if not matched.any():
        return None
    first, second = fields.loc[matched, 0].astype(int), fields.loc[matched, 2].astype(int)
    day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
    example = str(present[matched].iloc[0])
    if day_first == month_first:
        day_fmt, month_fmt = _formats(fields.loc[matched].iloc[0])
        if day_first:
            shown = (str(present[matched][first > 12].iloc[0]), str(present[matched][second > 12].iloc[0]))
            problem = f"the dates mix day-first ({shown[0]!r}) and month-first ({shown[1]!r}) order"
        else:
            problem = f"dates like {example!r} can be read day first or month first, and no row tells which"
        raise SourceError(
            f"{problem}; give --timestamp-format {day_fmt!r} (day first) or {month_fmt!r} (month first)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(text, dayfirst=day_first, format="mixed", utc=True, errors="coerce")
    order = "day first (dd/mm)" if day_first else "month first (mm/dd)"
    notes.append(
        f"dates read {order}: {example!r} is {parsed[present.index[matched.to_numpy()][0]]:%Y-%m-%d}"
    )
    return parsed


def _formats(row: pd.Series) -> tuple[str, str]:
    """strftime formats, day first and month first, for a matched date like 01/08/2021 00:00."""
    sep, year, time_sep, seconds = row[1], row[3], row[4], row[6]
    year_code = "%Y" if len(str(year)) == 4 else "%y"
    time = "" if pd.isna(time_sep) else f"{time_sep}%H:%M" + ("" if pd.isna(seconds) else ":%S")
    return f"%d{sep}%m{sep}{year_code}{time}", f"%m{sep}%d{sep}{year_code}{time}"


def _inferred(text: pd.Series) -> pd.Series:
    with warnings.catch_warnings():
        # pandas warns when it cannot infer one format; rows it cannot parse are reported by the caller.
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(text, utc=True, errors="coerce")
        retry = parsed.isna() & (text != "")
        if retry.any():
            # The format is inferred from the first row; rows written another way get a second chance.
            parsed[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    return parsed


def _is_naive(example: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return pd.Timestamp(example).tz is None
    except (ValueError, TypeError):
        return True
