"""Robustness to one-off flash crowds: clip excesses that do not repeat.

A seasonal model copies the past into the future, so a single 30-minute burst on one Tuesday
would otherwise inflate every future Tuesday (seasonal naive) or every future day at that time
(Fourier or decomposition models). Regular peaks repeat at the same time of day on other days
(or the same time of week on other weeks); one-off crowds do not. So each point is compared
with a reference for its slot:

- the median, over all days, of the same time of day, widened by a rolling maximum of
  :data:`JITTER_S` either side so a peak that comes a little early or late is not an outlier;
- with two weeks, the same for the time of week, and a point must exceed **both**
  references, so a peak that only happens on Mondays survives;
- with three weeks or more, the time-of-week reference alone: the median of three weeks
  resists one crowd, and a crowd on a quiet weekend is not hidden by the weekday level.

A point is a flash crowd if its log excess over the reference is above
``max(K_SIGMA * sigma, log(MIN_RATIO))``, with ``sigma`` the noise scale of the points above
their reference; it is replaced by the reference (what that slot usually looks like). Runs of
excess (closer than :data:`BRIDGE_S` count as one) longer than :data:`MAX_RUN_S` are level
shifts, not crowds, and a run that reaches the end of the history is kept (it may be a new
level, and the models' recent-level correction should see it). With under :data:`MIN_DAYS`
days nothing is clipped: there is no "other day".
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from predictor.forecasting.base import DAY_S, WEEK_S

MIN_DAYS = 3
JITTER_S = 1_800
K_SIGMA = 5.0
MIN_RATIO = 1.5
MAX_RUN_S = 6 * 3_600
BRIDGE_S = 3_600
_MONDAY_EPOCH_S = 4 * DAY_S  # 1970-01-05 was a Monday


def clip_flash_crowds(values: np.ndarray, *, step_s: int, start: pd.Timestamp) -> np.ndarray:
    """A copy of ``values`` (req/s, NaN gaps kept) with one-off excesses clipped.

    ``start`` is the time of ``values[0]`` and ``step_s`` (seconds) must divide a day.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n * step_s < MIN_DAYS * DAY_S:
        return values.copy()
    offset = max(0.1 * float(np.nanmean(values)), 1e-9)
    z = np.log(values + offset)
    start_s = int(pd.Timestamp(start).timestamp())
    span_s = n * step_s
    if span_s >= 3 * WEEK_S:  # a median of three weeks resists one crowd; weekends get their own
        ref = _slot_reference(z, start_s, step_s, WEEK_S, _MONDAY_EPOCH_S)
    else:
        ref = _slot_reference(z, start_s, step_s, DAY_S, 0)
        if span_s >= 2 * WEEK_S:
            ref = np.maximum(ref, _slot_reference(z, start_s, step_s, WEEK_S, _MONDAY_EPOCH_S))
    excess = z - ref
    # Noise scale from the points above their reference only: quiet days (weekends) sit far
    # below it and would inflate a symmetric spread. For |N(0, s)|, the median is 0.6745 s.
    above = excess[excess > 0]
    sigma = float(np.median(above)) / 0.6745 if len(above) else 0.0
    bound = max(K_SIGMA * sigma, np.log(MIN_RATIO))
    flagged = _short_runs(
        np.nan_to_num(excess, nan=-np.inf) > bound, max_len=MAX_RUN_S // step_s, bridge=BRIDGE_S // step_s
    )
    out = values.copy()
    out[flagged] = np.maximum(np.exp(ref[flagged]) - offset, 0.0)
    return out


def _slot_reference(z: np.ndarray, start_s: int, step_s: int, period_s: int, origin_s: int) -> np.ndarray:
    """Per point, the jitter-widened median of its slot over all periods (log space)."""
    per_period = period_s // step_s
    phase = ((start_s - origin_s) % period_s) // step_s
    cycles = -(-(phase + len(z)) // per_period)
    grid = np.full(cycles * per_period, np.nan)
    grid[phase : phase + len(z)] = z
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a slot with no data at all is NaN
        median = np.nanmedian(grid.reshape(cycles, per_period), axis=0)
    width = max(1, JITTER_S // step_s)
    padded = np.concatenate([median[-width:], median, median[:width]])  # the slots wrap around
    widened = (
        pd.Series(padded).rolling(2 * width + 1, center=True, min_periods=1).max().to_numpy()[width:-width]
    )
    slots = (phase + np.arange(len(z))) % per_period
    return widened[slots]


def _short_runs(flags: np.ndarray, *, max_len: int, bridge: int) -> np.ndarray:
    """Keep only runs of True of at most ``max_len`` that end before the last element.

    Runs less than ``bridge`` apart count as one: a level shift dips below the bound now and
    then, and must not be cut into short "crowds".
    """
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if len(starts) > 1:
        joined = np.flatnonzero(starts[1:] - ends[:-1] >= bridge)  # last run of each group
        starts = np.concatenate([starts[:1], starts[1:][joined]])
        ends = np.concatenate([ends[:-1][joined], ends[-1:]])
    out = flags.copy()
    for s, e in zip(starts, ends, strict=True):
        if e - s > max_len or e == len(flags):
            out[s:e] = False
    return out
