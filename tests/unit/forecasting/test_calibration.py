"""Quantile calibration: the short-history floor widens what a history under a week cannot show.

A history of Friday to Sunday (weekend at 0.3x the weekday) has never shown the jump back to a
weekday, and its one backtest origin sits in the weekend. The floor keeps the day-ahead p90 one
daily-level range above the median, so Monday is covered; a week of history or more is left as
it is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictor.config import PolicySettings, ScheduleSettings
from predictor.forecasting import calibration, registry, selection
from predictor.forecasting.base import DAY_S
from predictor.forecasting.quantiles import LEVELS
from predictor.forecasting.selection import SelectionSettings
from predictor.sources.synthetic import synthetic_trace

STEP_S = 300


def _week(seed: int = 3) -> pd.Series:
    # Starts on a Monday: day 4 is Friday, days 5-6 the weekend, day 7 the next Monday.
    return synthetic_trace(days=8, step_s=STEP_S, weekend_factor=0.3, noise=0.03, bursts=0, seed=seed)


def _cut(trace: pd.Series, first_day: int, last_day: int) -> pd.Series:
    start = trace.index[0] + pd.Timedelta(days=first_day)
    end = trace.index[0] + pd.Timedelta(days=last_day)
    return trace[(trace.index >= start) & (trace.index < end)]


def test_daily_level_range_is_the_spread_of_daily_mean_log_levels():
    index = pd.date_range("2026-01-05", periods=2 * DAY_S // STEP_S, freq=f"{STEP_S}s", tz="UTC")
    values = np.where(index < index[0] + pd.Timedelta(days=1), 10.0, 40.0)
    history = pd.Series(values, index=index)
    assert calibration.daily_level_range(history, 1e-9) == pytest.approx(np.log(4.0))
    one_day = history.iloc[: DAY_S // STEP_S]
    assert calibration.daily_level_range(one_day, 1e-9) is None
    gappy = history.copy()
    gappy.iloc[DAY_S // STEP_S : DAY_S // STEP_S + DAY_S // STEP_S // 2] = np.nan  # day 2 half missing
    assert calibration.daily_level_range(gappy, 1e-9) is None


def test_a_weekend_only_history_covers_the_monday_after_it():
    trace = _week()
    history, monday = _cut(trace, 4, 7), _cut(trace, 7, 8)
    floored = selection.select_model(history, seed=0)
    plain = selection.select_model(history, settings=SelectionSettings(calibrate=False), seed=0)
    assert "daily level range" in floored.calibration
    p90 = floored.model.predict(monday.index[0], len(monday)).quantile(0.9)
    bare = plain.model.predict(monday.index[0], len(monday)).quantile(0.9)
    day = slice(8 * 3_600 // STEP_S, 20 * 3_600 // STEP_S)  # the weekday's busy hours
    actual = monday.to_numpy()[day]
    assert np.mean(actual <= p90[day]) >= 0.8
    assert np.mean(actual <= bare[day]) < 0.5  # without the floor the weekday is missed


def test_the_floor_starts_at_six_hours_and_keeps_quantiles_ordered():
    history = _cut(_week(), 4, 7)
    model = registry.make_forecaster("seasonal_naive").fit(history, seed=0)
    before = model.residuals
    note = calibration.short_history_floor(model, history)
    assert note is not None and "x" in note
    after = model.residuals
    for edge, row in zip(after.edges_s, after.table, strict=True):
        assert list(row) == sorted(row)
        old = [before.residual(q, np.array([edge]))[0] for q in LEVELS]
        if edge < calibration.FLOOR_FROM_S:
            np.testing.assert_allclose(row, np.maximum.accumulate(old))
        else:
            spread = calibration.daily_level_range(history, model.offset)
            assert spread is not None
            r50 = np.interp(0.5, LEVELS, row)
            assert np.interp(0.9, LEVELS, row) >= r50 + calibration.FLOOR_RANGES * spread - 1e-9
    forecast = model.predict(history.index[-1] + pd.Timedelta(seconds=STEP_S), 288)
    assert (forecast.quantile(0.5) <= forecast.quantile(0.9)).all()
    assert (forecast.quantile(0.9) <= forecast.quantile(0.95)).all()
    assert np.isfinite(forecast.quantile(0.95)).all()


def test_a_week_of_history_or_more_is_left_alone():
    history = _cut(_week(), 0, 7)
    model = registry.make_forecaster("harmonic").fit(history, seed=0)
    before = model.residuals
    assert calibration.short_history_floor(model, history) is None
    assert model.residuals == before


def test_the_floor_lies_beyond_what_a_pre_warm_floor_reads_between_retrains():
    # A floor is planned from the last model, up to one retrain interval old, over the cold start's
    # lead time and the hold window after it: the short-history floor must not start inside that.
    schedule, policy = ScheduleSettings(), PolicySettings()
    longest_lead_s = 20 * 60 + policy.lead_time_margin_s + policy.scale_down_window_s
    assert schedule.retrain_interval_s + longest_lead_s < calibration.FLOOR_FROM_S
