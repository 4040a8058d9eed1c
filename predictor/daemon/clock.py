"""Where the daemon's "now" comes from: the wall clock, or a shifted one for tests and demos.

The daemon reads the clock once per cycle and passes ``now`` down; nothing below it reads time.
"""

from __future__ import annotations

import time
from typing import Protocol

import pandas as pd


class Clock(Protocol):
    def now(self) -> pd.Timestamp:
        """The current moment, tz-aware UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> pd.Timestamp:
        return pd.Timestamp.now(tz="UTC")


class ShiftedClock:
    """A clock that starts at ``start`` and runs ``speed`` times as fast as the wall clock.

    ``predictor run --clock-start T`` replays a day of history as if it were happening now: the
    end-to-end test uses it to stand just before a synthetic peak.
    """

    def __init__(self, start: pd.Timestamp, speed: float = 1.0) -> None:
        self._start = start.tz_convert("UTC") if start.tz is not None else start.tz_localize("UTC")
        self._speed = speed
        self._origin = time.monotonic()

    def now(self) -> pd.Timestamp:
        elapsed_s = (time.monotonic() - self._origin) * self._speed
        return self._start + pd.Timedelta(seconds=elapsed_s)
