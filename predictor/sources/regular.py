"""Turn raw samples into the history contract of :mod:`predictor.sources.base`. Pure: no I/O, no clock.

Every sample stands for a *span* of time: it starts at its timestamp and lasts one source bin
(``source_step_s``). A model bin of ``step_s`` seconds gets the **time-weighted mean of the rates of the
samples that overlap it**, counting only samples that are present (not NaN). That one rule covers:

- sources finer than the step (1-minute data, 5-minute model): the mean of the sub-samples that are
  present, so a bin with only some of them is still the mean of those;
- sources coarser than the step (hourly data, 5-minute model): each value fills the bins of its own hour
  and nothing else, so a missing hour stays missing instead of being bridged by its neighbours;
- sources at the step: one sample, one bin.

Bins are aligned to whole multiples of ``step_s`` since the Unix epoch (5-minute bins start at :00,
:05, ...), and each is labelled with its start. A bin that no present sample overlaps is NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from predictor.errors import SourceError

_US = 1_000_000  # microseconds per second: timestamps are handled as integer microseconds
_EPOCH = pd.Timestamp(0, tz="UTC")
HISTORY_NAME = "requests_per_s"


def regularise(
    points: pd.Series, step_s: int, *, counts: bool = False, source_step_s: int | None = None
) -> pd.Series:
    """Resample raw samples to a regular req/s series of ``step_s`` bins (the history contract).

    ``points`` has a ``DatetimeIndex`` of sample (bin-start) times and float values: rates in req/s,
    or, with ``counts=True``, request counts per source bin, turned into rates as count / ``source_step_s``.

    - ``source_step_s`` is the length of one source bin in seconds. When ``None`` it is inferred as
      the most common spacing between samples (the smallest one on a tie), or ``step_s`` when there
      is only one timestamp.
    - Naive timestamps are taken as UTC; aware ones are converted to UTC.
    - Unsorted input is sorted. Duplicate timestamps are merged into one sample, the mean of their
      present values (two exports of the same bin are the same measurement, so they must not add up).
    - NaN values are gaps: they never become zero and never make a present neighbour NaN.
    - Empty input gives an empty series that still keeps the contract (UTC index, ``freq``, float).
      All-NaN input gives an all-NaN series over the span of its timestamps. Deciding whether that is
      enough history is the caller's job (a forecaster raises ``ForecastError`` on too little).

    Raises ``SourceError`` for a non-positive step, a non-datetime index, missing (NaT) timestamps,
    non-numeric values, and negative or infinite values (the message gives how many and the first
    timestamp).
    """
    step_us = _whole_seconds(step_s, "step_s") * _US
    times, values = _validated(points)
    if times.size == 0:
        return empty_history(step_s)
    times, values = _merge_duplicates(times, values)

    if source_step_s is not None:
        source_us = _whole_seconds(source_step_s, "source_step_s") * _US
    else:
        source_us = _common_spacing(times) or step_us
    rates = values / (source_us / _US) if counts else values

    first_bin = times[0] // step_us
    last_bin = (times[-1] + source_us - 1) // step_us
    n_bins = int(last_bin - first_bin + 1)
    present = ~np.isnan(rates)
    weighted = np.zeros(n_bins)
    weight = np.zeros(n_bins)
    sample_start, sample_end, sample_rate = times[present], times[present] + source_us, rates[present]
    # A sample overlaps at most this many bins; walk them as whole-array operations.
    for offset in range(math.ceil(source_us / step_us) + 1):
        bins = sample_start // step_us + offset
        overlap = np.minimum(sample_end, (bins + 1) * step_us) - np.maximum(sample_start, bins * step_us)
        inside = (overlap > 0) & (bins <= last_bin)
        slot = (bins[inside] - first_bin).astype(np.int64)
        weighted += np.bincount(slot, weights=overlap[inside] * sample_rate[inside], minlength=n_bins)
        weight += np.bincount(slot, weights=overlap[inside].astype(float), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(weight > 0, weighted / np.where(weight > 0, weight, 1.0), np.nan)
    index = pd.date_range(
        pd.Timestamp(int(first_bin * step_us), unit="us", tz="UTC"),
        periods=n_bins,
        freq=f"{step_s}s",
        unit="us",
    )
    return pd.Series(result, index=index, name=HISTORY_NAME, dtype=float)


def empty_history(step_s: int) -> pd.Series:
    """A history with no bins that still keeps the contract: UTC index, ``freq`` = step, float values."""
    index = pd.DatetimeIndex([], dtype="datetime64[us, UTC]", freq=f"{_whole_seconds(step_s, 'step_s')}s")
    return pd.Series([], index=index, name=HISTORY_NAME, dtype=float)


def to_utc(moment: pd.Timestamp | str) -> pd.Timestamp:
    """``moment`` as a tz-aware UTC timestamp; a naive one is taken as UTC (like the samples)."""
    ts = pd.Timestamp(moment)
    if ts is pd.NaT:
        raise SourceError("a missing (NaT) time was given where a time is needed")
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def bin_range(start: pd.Timestamp, end: pd.Timestamp, step_s: int) -> pd.DatetimeIndex:
    """The epoch-aligned bins of ``step_s`` that lie wholly inside ``[start, end)``, by their starts.

    A bin that is only partly inside (``start`` or ``end`` off the grid) is left out, so a source never
    reports a bin whose end is still in the future. Empty when no whole bin fits.
    """
    step_us = _whole_seconds(step_s, "step_s") * _US
    start_us = _as_us(to_utc(start))
    end_us = _as_us(to_utc(end))
    first = -(-start_us // step_us)  # ceiling division
    stop = end_us // step_us  # exclusive: the bin starting here would end after `end`
    periods = max(0, int(stop - first))
    return pd.date_range(
        pd.Timestamp(int(first * step_us), unit="us", tz="UTC"), periods=periods, freq=f"{step_s}s", unit="us"
    )


def on_bins(history: pd.Series, bins: pd.DatetimeIndex) -> pd.Series:
    """``history`` restricted to ``bins``: bins it does not cover are NaN (missing, not zero)."""
    result = history.reindex(bins)
    result.index.freq = bins.freq
    return result.rename(HISTORY_NAME).astype(float)


def _whole_seconds(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise SourceError(f"{name} must be a positive whole number of seconds, got {value!r}")
    return int(value)


def _as_us(ts: pd.Timestamp) -> int:
    # Timestamp.value is always nanoseconds whatever the unit, so divide explicitly.
    return int((ts - _EPOCH) // pd.Timedelta(1, "us"))


def _validated(points: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer-microsecond UTC times and float values, sorted by time (stable)."""
    if not isinstance(points, pd.Series):
        raise SourceError(f"expected a pandas Series of samples, got {type(points).__name__}")
    if not isinstance(points.index, pd.DatetimeIndex):
        raise SourceError(f"samples need a DatetimeIndex, got {type(points.index).__name__}")
    index = points.index
    if index.hasnans:
        raise SourceError(f"{int(index.isna().sum())} sample(s) have no timestamp (NaT)")
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    try:
        values = np.asarray(points.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    except (TypeError, ValueError) as e:
        raise SourceError(f"sample values must be numbers: {e}") from e
    times = index.as_unit("us").asi8.copy()
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    for bad, what in ((values < 0, "negative"), (np.isinf(values), "infinite")):
        if bad.any():
            first = pd.Timestamp(int(times[np.argmax(bad)]), unit="us", tz="UTC")
            raise SourceError(
                f"{int(bad.sum())} {what} value(s), the first at {first.isoformat()}; "
                "request rates and counts must be finite and >= 0"
            )
    return times, values


def _merge_duplicates(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(times, return_inverse=True)
    if unique.size == times.size:
        return times, values
    present = ~np.isnan(values)
    total = np.bincount(inverse, weights=np.where(present, values, 0.0), minlength=unique.size)
    count = np.bincount(inverse, weights=present.astype(float), minlength=unique.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        merged = np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)
    return unique, merged


def _common_spacing(times: np.ndarray) -> int | None:
    """The most common positive spacing in microseconds (smallest on a tie); None for one timestamp."""
    gaps = np.diff(times)
    if gaps.size == 0:
        return None
    spacings, counts = np.unique(gaps, return_counts=True)
    return int(spacings[np.argmax(counts)])
