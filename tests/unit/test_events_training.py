"""Past holidays and event windows kept out of training; the learned holiday level."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from predictor import events as ev
from predictor.forecasting import registry
from predictor.sources.synthetic import synthetic_trace

START = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday
STEP_S = 300


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def calendar(*days: dt.date, zone: str = "UTC") -> ev.Event:
    return ev.Event("holidays", ev.HolidayDates(None, None, days), ev.Effect("holiday", 6), zone)


def history(days: int = 28, seed: int = 1) -> pd.Series:
    return synthetic_trace(start=START, days=days, step_s=STEP_S, bursts=0, seed=seed)


def with_holiday(series: pd.Series, day: dt.date, level: float) -> pd.Series:
    """``series`` with ``day`` (UTC) at ``level`` times its usual traffic."""
    out = series.copy()
    on_day = out.index.normalize() == pd.Timestamp(day, tz="UTC")
    out[on_day] *= level
    return out


def test_the_mask_removes_every_point_of_every_masking_window_and_counts_them():
    series = history(days=7)
    series.iloc[10] = np.nan  # already missing: not counted again
    launch = ev.Event(
        "launch", ev.OneOff(utc("2026-01-06 09:00"), utc("2026-01-06 12:00")), ev.Effect("multiply", 2)
    )
    office = ev.Event(
        "office", ev.Recurring(ev.parse_cron("0 8 * * *"), 3600), ev.Effect("min_floor", 3)
    )  # a floor schedule: stays in training
    found = ev.windows([launch, calendar(dt.date(2026, 1, 5)), office], series.index[0], series.index[-1])
    masked, excluded = ev.exclude_from_training(series, found)
    assert excluded == 36 + 288 - 1
    assert masked["2026-01-06 09:00":"2026-01-06 11:55"].isna().all()
    assert masked["2026-01-05"].isna().all()
    assert masked["2026-01-07 08:00":"2026-01-07 08:55"].notna().all()
    assert masked.index.equals(series.index) and masked.index.freq == series.index.freq
    assert series.notna().sum() == len(series) - 1  # the input is unchanged


def test_a_holiday_level_is_learned_against_the_same_weekday_around_it():
    holiday = dt.date(2026, 1, 19)  # the third Monday
    series = with_holiday(history(), holiday, 0.35)
    found = ev.windows([calendar(holiday)], series.index[0], series.index[-1])
    level = ev.learn_holiday_level(series, found)
    assert level.holidays == 1
    assert level.ratio == pytest.approx(0.35, rel=0.08)
    assert level.describe() == f"{level.ratio:.2g}× a usual day (learned from 1 past holiday)"
    assert ev.HolidayLevel.from_state(level.to_state()) == level


def test_several_holidays_give_their_median_and_a_history_without_any_gives_nothing():
    days = (dt.date(2026, 1, 13), dt.date(2026, 1, 19), dt.date(2026, 1, 22))
    series = history()
    for day, level in zip(days, (0.3, 0.5, 0.9), strict=True):
        series = with_holiday(series, day, level)
    found = ev.windows([calendar(*days)], series.index[0], series.index[-1])
    learned = ev.learn_holiday_level(series, found)
    assert learned.holidays == 3 and learned.ratio == pytest.approx(0.5, rel=0.1)
    none = ev.learn_holiday_level(
        history(), ev.windows([calendar(dt.date(2026, 3, 1))], START, START + pd.Timedelta(days=28))
    )
    assert none == ev.HolidayLevel(None, 0) and none.describe() == "no past holiday in the history"


def test_a_holiday_with_too_little_data_is_not_learned_from():
    holiday = dt.date(2026, 1, 19)
    series = with_holiday(history(), holiday, 0.35)
    series["2026-01-19 00:00":"2026-01-19 14:00"] = np.nan
    found = ev.windows([calendar(holiday)], series.index[0], series.index[-1])
    assert ev.learn_holiday_level(series, found).ratio is None


def next_monday_forecast(kind: str, train: pd.Series) -> np.ndarray:
    """The p50 forecast of the Monday after the training data, 06:00-20:00 UTC."""
    model = registry.make_forecaster(kind).fit(train, seed=0)
    end = train.index[-1] + pd.Timedelta(seconds=STEP_S)
    forecast = model.predict(end, 7 * 288, (0.5, 0.9))
    monday = forecast.index[
        (forecast.index.weekday == 0) & (forecast.index.hour >= 6) & (forecast.index.hour < 20)
    ]
    return forecast.to_frame().loc[monday, "p50"].to_numpy()


@pytest.mark.parametrize("kind", ["seasonal_naive_weekly", "harmonic"])
def test_a_holiday_in_the_history_does_not_lower_the_next_same_weekday(kind):
    clean = history()
    holiday = dt.date(2026, 1, 26)  # the last Monday of the four weeks
    dirty = with_holiday(clean, holiday, 0.3)
    found = ev.windows([calendar(holiday)], dirty.index[0], dirty.index[-1])
    masked, excluded = ev.exclude_from_training(dirty, found)
    assert excluded == 288

    usual = next_monday_forecast(kind, clean).mean()
    unmasked = next_monday_forecast(kind, dirty).mean()
    kept_out = next_monday_forecast(kind, masked).mean()
    assert unmasked < 0.9 * usual  # the holiday bends the curve...
    assert kept_out == pytest.approx(usual, rel=0.05)  # ...unless it is kept out of training


def holiday_forecast(
    train: pd.Series, holiday: dt.date, *past_days: dt.date
) -> tuple[float, float, tuple[str, ...]]:
    """Fit on ``train`` as the daemon will (level learned, then the mask) and forecast ``holiday``.

    The calendar holds ``holiday`` and ``past_days``. Returns the mean forecast over the
    holiday's daytime with and without the events, and the notes.
    """
    found = ev.windows(
        [calendar(*past_days, holiday)], train.index[0], train.index[-1] + pd.Timedelta(days=14)
    )
    past = [w for w in found if w.end <= train.index[-1]]
    level = ev.learn_holiday_level(train, past)
    masked, _ = ev.exclude_from_training(train, past)
    model = registry.make_forecaster("harmonic").fit(masked, seed=0)
    start = pd.Timestamp(holiday, tz="UTC")
    forecast = model.predict(start, 288, (0.5, 0.9))
    mean, quantiles, notes = ev.adjust_forecast(
        forecast.index,
        forecast.mean,
        forecast.quantiles,
        [w for w in found if w.start >= start],
        ev.like_from_model(model, (0.5, 0.9), STEP_S),
        holiday_level=level,
    )
    day = (forecast.index.hour >= 8) & (forecast.index.hour < 18)
    assert (quantiles[0.9] >= quantiles[0.5]).all()
    return float(mean[day].mean()), float(forecast.mean[day].mean()), notes


def test_with_no_past_holiday_a_holiday_is_forecast_like_a_sunday():
    train = history()  # four weeks, no holiday
    adjusted, usual, notes = holiday_forecast(train, dt.date(2026, 2, 2))  # the next Monday
    model = registry.make_forecaster("harmonic").fit(train, seed=0)
    sunday = model.predict(pd.Timestamp("2026-02-01", tz="UTC"), 288, (0.5,))
    day = (sunday.index.hour >= 8) & (sunday.index.hour < 18)
    assert adjusted == pytest.approx(float(sunday.mean[day].mean()), rel=0.02)
    assert adjusted < 0.6 * usual  # the synthetic weekend runs at 45 % of a weekday
    assert notes == ("custom holiday: like a Sunday (no past holiday in the history) on Mon 2 Feb",)


def test_with_a_past_holiday_a_holiday_is_forecast_at_the_learned_level():
    train = with_holiday(history(), dt.date(2026, 1, 19), 0.7)
    adjusted, usual, notes = holiday_forecast(train, dt.date(2026, 2, 2), dt.date(2026, 1, 19))
    assert adjusted == pytest.approx(0.7 * usual, rel=0.08)
    assert re.fullmatch(
        r"custom holiday: 0\.\d+× a usual day \(learned from 1 past holiday\) on Mon 2 Feb", notes[0]
    )
