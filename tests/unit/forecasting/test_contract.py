"""The one contract every registered forecaster keeps, plus bad histories.

Prophet fits take ~1 s, so each forecaster is fitted once per history (module-scoped cache)
on 15 days at 5-minute steps: enough for weekly terms, short enough to stay fast.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest

from predictor.errors import ForecastError
from predictor.forecasting import registry
from predictor.forecasting.base import DAY_S, FittedModel, Forecast
from predictor.sources.synthetic import synthetic_trace

KINDS = sorted(registry.FORECASTERS)
STEP_S = 300
HORIZON = 6 * 12  # six hours of 5-minute steps
QUANTILES = (0.5, 0.9, 0.95)


@cache
def history() -> pd.Series:
    return synthetic_trace(days=15, step_s=STEP_S, seed=7)


@cache
def fitted(kind: str, seed: int = 0) -> FittedModel:
    return registry.make_forecaster(kind).fit(history(), seed=seed)


def next_start(series: pd.Series) -> pd.Timestamp:
    return series.index[-1] + pd.Timedelta(seconds=STEP_S)


def assert_valid(forecast: Forecast, periods: int) -> None:
    assert len(forecast.index) == periods == len(forecast.mean)
    assert str(forecast.index.tz) == "UTC"
    assert forecast.index.freq is not None
    for values in [forecast.mean, *forecast.quantiles.values()]:
        assert len(values) == periods
        assert np.isfinite(values).all()
        assert (values >= 0).all()
    p50, p90, p95 = (forecast.quantile(q) for q in QUANTILES)
    assert (p50 <= p90).all() and (p90 <= p95).all()
    assert forecast.mean.max() > 0, "never a silent all-zero forecast"


@pytest.mark.parametrize("kind", KINDS)
def test_forecast_invariants(kind: str) -> None:
    model = fitted(kind)
    forecast = model.predict(next_start(history()), HORIZON, QUANTILES)
    assert_valid(forecast, HORIZON)
    assert forecast.index[0] == next_start(history())
    assert forecast.model == kind == model.kind


@pytest.mark.parametrize("kind", KINDS)
def test_predicts_hours_after_the_end_of_training(kind: str) -> None:
    """A daemon forecasts from its last fit while Prometheus is away."""
    model = fitted(kind)
    later = next_start(history()) + pd.Timedelta(hours=5)
    forecast = model.predict(later, HORIZON, QUANTILES)
    assert_valid(forecast, HORIZON)
    assert forecast.index[0] == later


@pytest.mark.parametrize("kind", KINDS)
def test_misaligned_start_is_a_clear_error(kind: str) -> None:
    with pytest.raises(ForecastError, match="grid"):
        fitted(kind).predict(next_start(history()) + pd.Timedelta(seconds=7), 10)


@pytest.mark.parametrize("kind", KINDS)
def test_seeded_determinism(kind: str) -> None:
    again = registry.make_forecaster(kind).fit(history(), seed=0)
    a = fitted(kind).predict(next_start(history()), HORIZON, QUANTILES)
    b = again.predict(next_start(history()), HORIZON, QUANTILES)
    np.testing.assert_array_equal(a.mean, b.mean)
    for q in QUANTILES:
        np.testing.assert_array_equal(a.quantile(q), b.quantile(q))


@pytest.mark.parametrize("kind", KINDS)
def test_state_round_trip_through_json(kind: str) -> None:
    model = fitted(kind)
    state = json.loads(json.dumps(model.to_state(), allow_nan=False))
    loaded = registry.fitted_model_class(kind).from_state(state)
    start = next_start(history()) + pd.Timedelta(hours=1)
    a, b = model.predict(start, HORIZON, QUANTILES), loaded.predict(start, HORIZON, QUANTILES)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12)
    for q in QUANTILES:
        np.testing.assert_allclose(a.quantile(q), b.quantile(q), rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_too_short_history_is_a_clear_error(kind: str) -> None:
    forecaster = registry.make_forecaster(kind)
    short = history().iloc[: int(forecaster.min_history_s // STEP_S) - 1]
    with pytest.raises(ForecastError, match=r"needs .* days of history"):
        forecaster.fit(short)


def _bad(kind: str) -> list[tuple[str, pd.Series]]:
    good = history()
    negative = good.copy()
    negative.iloc[100] = -1.0
    infinite = good.copy()
    infinite.iloc[5] = np.inf
    naive_tz = good.copy()
    naive_tz.index = naive_tz.index.tz_localize(None)
    return [
        ("empty", good.iloc[:0]),
        ("all NaN", good * np.nan),
        ("all zero", good * 0.0),
        ("negative", negative),
        ("infinite", infinite),
        ("unsorted", good.iloc[::-1]),
        ("duplicates", pd.concat([good.iloc[:10], good]).sort_index()),
        ("tz-naive", naive_tz),
        ("single point", good.iloc[:1]),
        ("not a series", good.to_frame()),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_histories_are_clear_errors(kind: str) -> None:
    forecaster = registry.make_forecaster(kind)
    for label, series in _bad(kind):
        with pytest.raises(ForecastError):
            forecaster.fit(series)  # type: ignore[arg-type]
        assert label  # for the failure message of pytest's assertion rewriting


@pytest.mark.parametrize("kind", KINDS)
def test_constant_history_forecasts_the_constant(kind: str) -> None:
    flat = pd.Series(5.0, index=history().index)
    flat.index.freq = history().index.freq
    forecast = registry.make_forecaster(kind).fit(flat).predict(next_start(flat), HORIZON, QUANTILES)
    assert_valid(forecast, HORIZON)
    np.testing.assert_allclose(forecast.mean, 5.0, rtol=0.02)


@pytest.mark.parametrize("kind", KINDS)
def test_history_with_gaps_still_forecasts(kind: str) -> None:
    """A one-day collection gap and scattered missing bins are skipped, not read as zero."""
    gappy = history().copy()
    gappy.iloc[DAY_S // STEP_S * 9 : DAY_S // STEP_S * 10] = np.nan
    gappy.iloc[np.random.default_rng(1).choice(len(gappy), 200, replace=False)] = np.nan
    gappy.iloc[-3:] = np.nan  # the last scrape failed: the end of the data is still the index end
    day = DAY_S // STEP_S
    forecast = registry.make_forecaster(kind).fit(gappy).predict(next_start(gappy), day, QUANTILES)
    assert_valid(forecast, day)
    assert forecast.mean.max() > 0.5 * history().iloc[-day:].max()


@pytest.mark.parametrize("quantile", [0.0, 1.0, 1.5])
def test_impossible_quantile_is_a_clear_error(quantile: float) -> None:
    with pytest.raises(ForecastError, match="quantile"):
        fitted("harmonic").predict(next_start(history()), 4, (0.5, quantile))


def test_unknown_model_and_options_are_clear_errors() -> None:
    with pytest.raises(ForecastError, match="unknown model"):
        registry.make_forecaster("arima")
    with pytest.raises(ForecastError, match="bad options"):
        registry.make_forecaster("harmonic", colour="blue")
    with pytest.raises(ForecastError, match="unknown model kind"):
        registry.fitted_model_class("arima")


def test_prophet_library_defaults_also_keeps_the_contract() -> None:
    model = registry.make_forecaster("prophet", library_defaults=True).fit(history())
    assert_valid(model.predict(next_start(history()), HORIZON, QUANTILES), HORIZON)


def test_prophet_holidays_by_country_code() -> None:
    short = history().iloc[: 4 * DAY_S // STEP_S]
    model = registry.make_forecaster("prophet", holidays_country="US").fit(short)
    assert_valid(model.predict(next_start(short), HORIZON, QUANTILES), HORIZON)
    with pytest.raises(ForecastError, match="holidays country 'XX'"):
        registry.make_forecaster("prophet", holidays_country="XX").fit(short)


def test_one_day_of_history_gets_the_documented_fallback_band() -> None:
    """Seasonal naive fits one day but has no residual to calibrate on: a +/-50% band (on y + c)."""
    one_day = history().iloc[: DAY_S // STEP_S]
    model = registry.make_forecaster("seasonal_naive").fit(one_day)
    forecast = model.predict(next_start(one_day), HORIZON)
    assert_valid(forecast, HORIZON)
    offset = model.offset  # type: ignore[attr-defined]
    ratio = (forecast.quantile(0.95) + offset) / (forecast.mean + offset)
    assert 1.3 < float(np.median(ratio)) <= 1.5


_PROPHET_FITS = """
import json, os, sys, tempfile
from predictor.forecasting import registry
from predictor.sources.synthetic import synthetic_trace

def files():
    return {os.path.join(r, f) for r, _, fs in os.walk(tempfile.gettempdir()) for f in fs}

short = synthetic_trace(days=3, step_s=300, seed=7)
registry.make_forecaster("prophet").fit(short)  # the first fit imports prophet and cmdstanpy
before = files()
registry.make_forecaster("prophet").fit(short)
registry.make_forecaster("prophet", library_defaults=True).fit(short)
print(json.dumps(sorted(files() - before)))
"""


def test_prophet_leaves_no_temporary_files(tmp_path) -> None:
    """Fits in a process of their own whose temporary directory is private: other processes on a
    shared machine write to the system's /tmp too."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _PROPHET_FITS], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    left = json.loads(done.stdout.strip().splitlines()[-1])
    assert not left, left[:5]
