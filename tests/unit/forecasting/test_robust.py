"""Flash crowds are clipped; regular daily and weekly peaks, level shifts and gaps survive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictor.forecasting import registry
from predictor.forecasting.robust import clip_flash_crowds
from predictor.sources.synthetic import synthetic_trace

STEP_S = 300
PER_DAY = 86_400 // STEP_S


def clean(days: float = 21) -> pd.Series:
    return synthetic_trace(days=days, step_s=STEP_S, bursts=0, seed=5)


def clip(series: pd.Series) -> np.ndarray:
    return clip_flash_crowds(series.to_numpy(), step_s=STEP_S, start=series.index[0])


def with_spike(series: pd.Series, day: int, hour: float, factor: float = 3.0, minutes: int = 30) -> pd.Series:
    spiked = series.copy()
    at = day * PER_DAY + int(hour * 3600 / STEP_S)
    spiked.iloc[at : at + minutes * 60 // STEP_S] *= factor
    return spiked


def test_regular_daily_peaks_survive() -> None:
    series = clean()
    out = clip(series)
    changed = out != series.to_numpy()
    assert changed.mean() < 0.002, "a trace without crowds is (almost) untouched"
    assert out.max() >= 0.97 * series.max()


@pytest.mark.parametrize("hour", [3.0, 13.0, 20.5])
def test_one_off_spike_is_clipped(hour: float) -> None:
    series = clean()
    spiked = with_spike(series, day=9, hour=hour)
    at = 9 * PER_DAY + int(hour * 3600 / STEP_S)
    out = clip(spiked)
    window = slice(at, at + 6)
    assert (out[window] <= 1.6 * series.to_numpy()[window]).all()
    assert (out[window] >= 0.6 * series.to_numpy()[window]).all()


def test_a_weekly_peak_survives() -> None:
    """Mondays at noon are always busy: that repeats weekly, so it is not a crowd."""
    series = clean(days=28)
    monday_noon = (series.index.day_of_week == 0) & (series.index.hour == 12)
    busy = series.where(~monday_noon, series * 2.5)
    np.testing.assert_array_equal(clip(busy)[monday_noon], busy.to_numpy()[monday_noon])


def test_level_shift_and_current_burst_are_kept() -> None:
    series = clean()
    shifted = series.copy()
    shifted.iloc[-PER_DAY // 2 :] *= 2.5  # traffic doubled half a day ago and stayed there
    np.testing.assert_array_equal(clip(shifted)[-PER_DAY // 2 :], shifted.to_numpy()[-PER_DAY // 2 :])
    ongoing = series.copy()
    ongoing.iloc[-4:] *= 3.0  # a crowd right now: the level correction must see it
    np.testing.assert_array_equal(clip(ongoing)[-4:], ongoing.to_numpy()[-4:])


def test_gaps_stay_gaps_and_short_history_is_untouched() -> None:
    series = with_spike(clean(), day=9, hour=13.0)
    series.iloc[100:400] = np.nan
    out = clip(series)
    assert np.isnan(out[100:400]).all() and not np.isnan(out[400:]).any()
    short = with_spike(clean(days=2), day=1, hour=13.0)
    np.testing.assert_array_equal(clip(short), short.to_numpy())


@pytest.mark.parametrize(
    "kind", ["seasonal_naive", "seasonal_naive_weekly", "harmonic", "holt_winters", "mstl"]
)
def test_a_spike_does_not_inflate_the_forecast(kind: str) -> None:
    """A crowd on the last day (daily models) or the same weekday last week (weekly ones)."""
    series = clean()
    day = 20 if kind == "seasonal_naive" else 14
    spiked = with_spike(series, day=day, hour=13.0, factor=3.0, minutes=60)
    start = series.index[-1] + pd.Timedelta(seconds=STEP_S)
    forecast = registry.make_forecaster(kind).fit(spiked).predict(start, PER_DAY)
    baseline = registry.make_forecaster(kind).fit(series).predict(start, PER_DAY)
    peak = slice(13 * 12, 14 * 12)
    assert forecast.mean[peak].max() <= 1.1 * baseline.mean[peak].max()
    unprotected = registry.make_forecaster(kind, clip_spikes=False).fit(spiked).predict(start, PER_DAY)
    if kind.startswith("seasonal_naive"):  # the proof that the test would catch a regression
        assert unprotected.mean[peak].max() > 2 * baseline.mean[peak].max()
