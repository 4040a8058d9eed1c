"""The one contract every history source keeps.

A *history* is a ``pandas.Series`` of float request rates in **requests per second**:

- the index is a ``DatetimeIndex`` in UTC (tz-aware), sorted, unique and regular, with
  ``freq`` set to the step (e.g. ``"300s"``); each label is the **start** of its bin;
- a bin with no data is NaN. Missing data is never written as zero;
- values are finite and >= 0 where present.
"""

from __future__ import annotations

from typing import Protocol

import pandas as pd


class HistorySource(Protocol):
    """Something that can read a target's request-rate history."""

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp, step_s: int) -> pd.Series:
        """The history over ``[start, end)`` at ``step_s`` resolution (see the module docstring)."""
        ...
