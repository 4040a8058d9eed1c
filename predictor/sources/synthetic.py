"""A seeded synthetic LLM request trace with daily and weekly seasonality.

The built-in demo and the tests use it; nothing outside the project is needed. The shape:

- a working-day curve (periodic over 24 h): a night trough, a steep morning ramp around
  08:00, a midday peak around 13:00, a decline from 17:00 and a small evening shoulder, UTC;
- weekends at ``weekend_factor`` of weekdays;
- multiplicative AR(1) noise (traffic is bursty and autocorrelated, not white);
- ``bursts`` one-off flash crowds of 10-40 minutes at 1.8-3x the normal rate.

Same arguments, same seed -> the same series, bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

DEFAULT_START = pd.Timestamp("2026-01-05 00:00", tz="UTC")  # a Monday
_EPOCH_MONDAY = pd.Timestamp("1970-01-05 00:00", tz="UTC")  # the first Monday of the Unix epoch


def _bump(hour: np.ndarray, centre: float, rise_sd: float, fall_sd: float) -> np.ndarray:
    """A bump on the 24-hour circle: steeper before its centre than after (ramps up fast)."""
    d = (hour - centre + 12.0) % 24.0 - 12.0
    return np.exp(-0.5 * (d / np.where(d < 0, rise_sd, fall_sd)) ** 2)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def daily_shape(hour_of_day: np.ndarray) -> np.ndarray:
    """Relative load over a working day, 0..1, periodic over 24 h (to within 1e-3), UTC.

    Office hours: a steep morning ramp centred at 08:00 (from 10 % to 90 % of the day's level
    in under two hours, the ramp that reactive scaling misses), a plateau with a midday peak at
    13:00, a slower decline from 17:00 and a small evening shoulder around 20:00.
    """
    h = np.asarray(hour_of_day, dtype=float)
    office = _sigmoid((h - 8.0) * 2.5) - _sigmoid((h - 17.5) * 1.2)
    shape = office * (0.75 + 0.25 * _bump(h, 13.0, 2.0, 2.5)) + 0.2 * _bump(h, 20.0, 1.5, 1.5)
    return np.clip(shape, 0.0, 1.0)


def synthetic_trace(
    *,
    start: pd.Timestamp = DEFAULT_START,
    days: float = 35,
    step_s: int = 60,
    base_rps: float = 6.0,
    peak_rps: float = 120.0,
    weekend_factor: float = 0.45,
    noise: float = 0.06,
    bursts: int = 3,
    seed: int = 0,
) -> pd.Series:
    """Request rate in req/s, one value per ``step_s`` from ``start`` for ``days`` days."""
    rng = np.random.default_rng(seed)
    periods = round(days * 86_400 / step_s)
    index = pd.date_range(start, periods=periods, freq=f"{step_s}s", tz="UTC" if start.tz is None else None)
    hours = index.hour.to_numpy() + index.minute.to_numpy() / 60.0 + index.second.to_numpy() / 3600.0
    weekend = index.day_of_week.to_numpy() >= 5
    level = base_rps + (peak_rps - base_rps) * daily_shape(hours)
    level = np.where(weekend, level * weekend_factor, level)

    # AR(1) in log space with a ~20-minute memory, independent of the step.
    phi = float(np.exp(-step_s / 1200.0))
    shocks = rng.normal(0.0, noise * np.sqrt(1.0 - phi**2), size=periods)
    log_noise = np.empty(periods)
    log_noise[0] = rng.normal(0.0, noise)
    for i in range(1, periods):
        log_noise[i] = phi * log_noise[i - 1] + shocks[i]
    values = level * np.exp(log_noise)

    for _ in range(bursts):
        at = int(rng.integers(periods // 10, periods))
        length = max(1, int(rng.integers(600, 2400) / step_s))
        values[at : at + length] *= rng.uniform(1.8, 3.0)
    series = pd.Series(values, index=index, name="requests_per_s", dtype=float)
    series.index.freq = f"{step_s}s"
    return series


def week_seed(seed: int, monday: pd.Timestamp) -> int:
    """The seed of the week starting at ``monday`` 00:00 UTC, from ``seed`` and the week's number."""
    number = int((monday - _EPOCH_MONDAY).total_seconds() // (7 * 86_400))
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class SyntheticSource:
    """The built-in trace as a :class:`~predictor.sources.base.HistorySource` that follows the clock.

    Each ISO week (Monday to Monday, UTC) is generated on its own with a seed derived from
    ``seed`` and the week's number, so the same timestamp always has the same value, any range
    costs only the weeks it touches, and nothing is kept between fetches (a daemon with hundreds
    of synthetic targets holds no traces). ``config/demo.yaml`` uses it to run the daemon with no
    cluster and no data to fetch.
    """

    def __init__(self, *, seed: int = 0, base_rps: float = 6.0, peak_rps: float = 120.0) -> None:
        self.seed, self.base_rps, self.peak_rps = seed, base_rps, peak_rps

    def week_arguments(self, monday: pd.Timestamp) -> dict[str, Any]:
        """The :func:`synthetic_trace` arguments of the week starting at ``monday`` 00:00 UTC: one
        minute resolution, one flash crowd, the week's own seed."""
        return {
            "start": monday,
            "days": 7,
            "step_s": 60,
            "base_rps": self.base_rps,
            "peak_rps": self.peak_rps,
            "bursts": 1,
            "seed": week_seed(self.seed, monday),
        }

    def week(self, monday: pd.Timestamp) -> pd.Series:
        """One week of the trace at one-minute resolution, starting at ``monday`` 00:00 UTC."""
        return synthetic_trace(**self.week_arguments(monday))

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp, step_s: int) -> pd.Series:
        """Request rates over the ``step_s`` bins wholly inside ``[start, end)``."""
        first = start.ceil(f"{step_s}s")
        bins = pd.date_range(first, end - pd.Timedelta(seconds=step_s), freq=f"{step_s}s")
        if len(bins) == 0:
            return pd.Series(np.array([], dtype=float), index=bins, name="requests_per_s")
        monday = bins[0].normalize() - pd.Timedelta(days=bins[0].day_of_week)
        weeks = []
        while monday < end:
            weeks.append(self.week(monday))
            monday += pd.Timedelta(days=7)
        minutes = pd.concat(weeks)
        history = minutes.resample(f"{step_s}s").mean().reindex(bins)
        history.index.freq = f"{step_s}s"
        return history.rename("requests_per_s")
