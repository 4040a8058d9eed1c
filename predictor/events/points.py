"""Which points of a forecast or history index a window covers.

A point is the bin that starts at its label and lasts one step (the history contract of
:mod:`predictor.sources.base`); it is covered when that bin overlaps the window's
``[start, end)``. An event from 09:10 therefore covers the 09:05 bin of a 5-minute index.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictor.events.model import ActiveWindow

_NS = 1_000_000_000


def inside(index: pd.DatetimeIndex, window: ActiveWindow, step_s: float | None = None) -> np.ndarray:
    """Which points of ``index`` (bins of ``step_s``, default the index's own step) overlap ``window``."""
    t = utc_ns(index)
    step = round((step_s if step_s is not None else step_of(index)) * _NS)
    return (t < window.end.value) & ((t + step > window.start.value) | (t >= window.start.value))


def utc_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Nanoseconds since the epoch of each label of a tz-aware index."""
    if index.tz is None:
        raise ValueError("the index must be tz-aware (UTC)")
    return index.tz_convert("UTC").as_unit("ns").asi8


def step_of(index: pd.DatetimeIndex) -> float:
    """The step of ``index`` in seconds: its ``freq``, else the median spacing, else 0 (one point)."""
    if index.freq is not None:
        return pd.Timedelta(index.freq).total_seconds()
    if len(index) >= 2:
        return float(np.median(np.diff(utc_ns(index)))) / _NS
    return 0.0
