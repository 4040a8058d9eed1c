"""Keep known events out of the seasonal curve, and learn how a holiday compares to a usual day.

A past launch or holiday in the training history bends the curve: a Monday holiday pulls the
next Monday's forecast down. :func:`exclude_from_training` masks (NaN) every past window, so the
model learns the usual week only; the events then apply their effects on top of that.

:func:`learn_holiday_level` measures, before the mask, how traffic on the history's past holidays
compared with the same local weekday in the weeks around them, as one factor: the median over
the holidays of (holiday traffic / usual traffic at the same local times). A future holiday is
then forecast as the usual day times that factor. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from predictor.events.model import ActiveWindow
from predictor.events.points import inside, step_of

#: Weeks before and after a holiday whose same weekday tells its usual level.
NEIGHBOUR_WEEKS = 4
#: A past holiday counts only if this share of its points, and of their usual level, is present.
MIN_COVERED_FRACTION = 0.5


@dataclass(frozen=True)
class HolidayLevel:
    """Traffic on a holiday as a factor of a usual day (None = nothing learned), from ``holidays`` days."""

    ratio: float | None
    holidays: int = 0

    def describe(self) -> str:
        """``0.42× a usual day (learned from 3 past holidays)``."""
        if self.ratio is None:
            return "no past holiday in the history"
        plural = "s" if self.holidays != 1 else ""
        return f"{self.ratio:.2g}× a usual day (learned from {self.holidays} past holiday{plural})"

    def to_state(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "holidays": self.holidays}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> HolidayLevel:
        ratio = state.get("ratio")
        return cls(None if ratio is None else float(ratio), int(state.get("holidays", 0)))


def exclude_from_training(history: pd.Series, windows: Sequence[ActiveWindow]) -> tuple[pd.Series, int]:
    """``history`` with every point inside a window masked to NaN, and how many present points were masked.

    Only windows with ``masks_training`` count (holidays, one-off events, recurring rate events;
    see :func:`~predictor.events.model.masks_training`). A point is the bin that starts at its
    label (one step long); it is masked when it overlaps a window. The index, its ``freq`` and
    the name are kept; ``history`` itself is not changed.
    """
    values = history.to_numpy(dtype=float, copy=True)
    masked = np.zeros(len(values), dtype=bool)
    for w in windows:
        if w.masks_training:
            masked |= inside(history.index, w)
    excluded = int((masked & ~np.isnan(values)).sum())
    values[masked] = np.nan
    result = pd.Series(values, index=history.index, name=history.name)
    return result, excluded


def learn_holiday_level(history: pd.Series, windows: Sequence[ActiveWindow]) -> HolidayLevel:
    """How traffic on the past holidays in ``history`` compared with a usual day of the same weekday.

    ``windows`` are the resolved windows over the history's span; the holiday ones are measured,
    and every window that is left out of training is left out of the usual level too. A holiday counts when at
    least half of its points and of their usual level (the median of the same local time on the
    same weekday up to :data:`NEIGHBOUR_WEEKS` weeks before and after) are present.
    """
    if len(history) == 0:
        return HolidayLevel(None, 0)
    usual_source, _ = exclude_from_training(history, windows)
    step = pd.Timedelta(seconds=step_of(history.index) or 300)
    ratios = []
    for w in windows:
        if not w.holiday:
            continue
        covered = inside(history.index, w)
        if not covered.any():
            continue
        times = history.index[covered]
        observed = history.to_numpy(dtype=float)[covered]
        usual = _usual_level(usual_source, times, w.timezone, step)
        both = ~np.isnan(observed) & ~np.isnan(usual)
        expected_points = max(1, round(w.duration_s / step.total_seconds()))
        if both.sum() < MIN_COVERED_FRACTION * expected_points or usual[both].sum() <= 0:
            continue
        ratios.append(float(observed[both].sum() / usual[both].sum()))
    if not ratios:
        return HolidayLevel(None, 0)
    return HolidayLevel(float(np.median(ratios)), len(ratios))


def _usual_level(source: pd.Series, times: pd.DatetimeIndex, timezone: str, step: pd.Timedelta) -> np.ndarray:
    """The median of ``source`` at the same local time, same weekday, in the neighbouring weeks."""
    local = times.tz_convert(timezone).tz_localize(None)
    samples = []
    for weeks in range(-NEIGHBOUR_WEEKS, NEIGHBOUR_WEEKS + 1):
        if weeks == 0:
            continue
        moved = (local + pd.Timedelta(weeks=weeks)).tz_localize(
            timezone, ambiguous=np.ones(len(local), dtype=bool), nonexistent="shift_forward"
        )
        at = moved.tz_convert("UTC").floor(step)
        samples.append(source.reindex(at).to_numpy(dtype=float))
    stacked = np.stack(samples)
    present = ~np.isnan(stacked)
    result = np.full(len(times), np.nan)
    some = present.any(axis=0)
    if some.any():
        result[some] = np.nanmedian(stacked[:, some], axis=0)
    return result
