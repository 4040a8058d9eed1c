"""Plausibility bounds: the blow-up regression, the clamp record, old states, random histories."""

from __future__ import annotations

import itertools
import json

import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predictor.errors import ForecastError
from predictor.forecasting import bounds, registry
from predictor.forecasting.base import DAY_S, Forecast
from predictor.forecasting.models.common import LogSpaceModel
from predictor.forecasting.quantiles import LEVELS, ResidualQuantiles
from predictor.sources.synthetic import synthetic_trace

QUANTILES = (0.5, 0.9, 0.95)


def week_of_ten_minute_bins(seed: int = 3) -> pd.Series:
    """Exactly 7 days, Monday 00:00 to Sunday 23:50, ~1,000 req/s at the peak hours."""
    return synthetic_trace(days=7, step_s=600, base_rps=250, peak_rps=1_600, seed=seed)


def assert_within_bounds(forecast: Forecast, bound: bounds.PlausibilityBound, offset: float) -> None:
    series = [forecast.mean, *(forecast.quantile(q) for q in sorted(forecast.quantiles))]
    for values in series:
        assert np.isfinite(values).all() and (values >= 0).all()
        assert (values <= bound.ceiling * (1 + 1e-12)).all()
    levels = sorted(forecast.quantiles)
    for low, high in itertools.pairwise(levels):
        assert (forecast.quantile(low) <= forecast.quantile(high)).all()
    for q in levels:
        level = offset / 0.1  # the history's mean rate
        cap = bounds.BAND_FACTOR * (forecast.mean + level) - level
        assert (forecast.quantile(q) <= cap * (1 + 1e-12) + 1e-12).all()


def test_seven_days_of_ten_minute_bins_give_a_sane_harmonic_p90() -> None:
    """The regression: a week cut at Sunday 23:50 made harmonic's held-out refit fit weekend
    terms without a whole weekend, and its p90 reached ~10^4-10^8 times the mean on Monday."""
    history = week_of_ten_minute_bins()
    assert history.index[0].day_name() == "Monday" and history.index[-1].day_name() == "Sunday"
    model = registry.make_forecaster("harmonic").fit(history)
    monday = history.index[-1] + pd.Timedelta(minutes=10)
    forecast = model.predict(monday, 144, QUANTILES)
    assert not forecast.clamped, [c.describe() for c in forecast.clamps]  # the cause is fixed
    peak = float(history.max())
    assert forecast.quantile(0.9).max() < 1.5 * peak
    assert forecast.quantile(0.95).max() < 2.0 * forecast.mean.max()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["harmonic", "seasonal_naive", "holt_winters", "mstl"])
def test_every_fast_model_is_sane_on_a_week_cut_at_sunday(kind: str, seed: int) -> None:
    history = week_of_ten_minute_bins(seed)
    model = registry.make_forecaster(kind).fit(history)
    forecast = model.predict(history.index[-1] + pd.Timedelta(minutes=10), 144, QUANTILES)
    assert not forecast.clamped, [c.describe() for c in forecast.clamps]
    assert forecast.quantile(0.95).max() < 1.5 * float(history.max())


def _blown_up(model: LogSpaceModel) -> LogSpaceModel:
    """The same model with a residual table like the one the blow-up produced (p90 ~ x21,000)."""
    rows = tuple(tuple(float(v) for v in np.linspace(-1.0, 12.0, len(LEVELS))) for _ in range(2))
    model.residuals = ResidualQuantiles((0.0, 3_600.0), rows)
    return model


def test_an_absurd_quantile_is_clamped_and_flagged() -> None:
    history = week_of_ten_minute_bins()
    model = _blown_up(registry.make_forecaster("seasonal_naive").fit(history))
    forecast = model.predict(history.index[-1] + pd.Timedelta(minutes=10), 144, QUANTILES)
    bound = model.plausibility_bound()
    assert bound.source == "history" and bound.peak == pytest.approx(float(history.max()))
    assert_within_bounds(forecast, bound, model.offset)
    assert forecast.clamped
    p90 = next(c for c in forecast.clamps if c.series == "p90" and "peak" in c.rule)
    assert p90.raw > 1e6 and p90.bound == pytest.approx(bound.ceiling)
    assert forecast.quantile(0.9).max() == pytest.approx(bound.ceiling)  # the arrays hold the clamp
    text = p90.describe()
    assert text.startswith("p90 clamped from ") and "3× the history's peak" in text
    # A forecast that needs no cut says so.
    sane = registry.make_forecaster("seasonal_naive").fit(history)
    assert not sane.predict(history.index[-1] + pd.Timedelta(minutes=10), 144, QUANTILES).clamped


def test_growth_widens_the_bound_only_on_evidence() -> None:
    flat = np.tile(np.r_[np.full(12, 10.0), np.full(12, 100.0)], 10)
    assert bounds.from_history(flat, 3_600).growth == 1.0
    rising = flat.copy()
    rising[-24:] *= 1.5
    grown = bounds.from_history(rising, 3_600)
    assert grown.growth == pytest.approx(1.5)
    assert grown.ceiling == pytest.approx(3.0 * 1.5 * 150.0)
    rising[-24:] *= 10
    assert bounds.from_history(rising, 3_600).growth == bounds.MAX_GROWTH


def test_a_state_without_a_bound_gets_the_documented_fallback() -> None:
    history = week_of_ten_minute_bins()
    model = registry.make_forecaster("harmonic").fit(history)
    state = json.loads(json.dumps(model.to_state()))
    assert state["bound"]["source"] == "history"
    del state["bound"]  # as written before bounds existed
    old = _blown_up(registry.fitted_model_class("harmonic").from_state(state))  # type: ignore[arg-type]
    forecast = old.predict(history.index[-1] + pd.Timedelta(minutes=10), 144, QUANTILES)
    bound = old.plausibility_bound()
    assert bound.source == "fallback"
    assert 0.5 * history.max() < bound.peak < 2 * history.max()
    assert forecast.clamped and "the model's own weekly peak" in forecast.clamps[0].rule
    assert_within_bounds(forecast, bound, old.offset)


def test_a_broken_bound_in_a_state_is_a_clear_error() -> None:
    model = registry.make_forecaster("seasonal_naive").fit(week_of_ten_minute_bins())
    state = model.to_state()
    state["bound"] = {"peak": -1.0, "growth": 1.0, "source": "history"}
    with pytest.raises(ForecastError, match="plausibility bound"):
        registry.fitted_model_class("seasonal_naive").from_state(state)


@st.composite
def histories(draw: st.DrawFn) -> pd.Series:
    """Random non-negative hourly histories of 1-28 days: noise, bursts, gaps, idle stretches."""
    days = draw(st.integers(1, 28))
    n = days * 24
    level = draw(st.floats(1e-3, 1e5))
    values = draw(hnp.arrays(float, n, elements=st.floats(0.0, 20.0, allow_nan=False, allow_infinity=False)))
    values = values * level
    values[draw(st.integers(0, n - 1))] = level * draw(st.floats(0.1, 1_000.0))  # one burst
    gaps = draw(hnp.arrays(bool, n, elements=st.booleans()))
    if draw(st.booleans()):
        values = np.where(gaps & (np.arange(n) > 24), np.nan, values)
    values[-1] = level  # something observed at the end, and not all zero
    start = pd.Timestamp("2026-03-02", tz="UTC") + pd.Timedelta(hours=draw(st.integers(0, 167)))
    index = pd.date_range(start, periods=n, freq="3600s")
    return pd.Series(values, index=index)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), kind=st.sampled_from(["seasonal_naive", "seasonal_naive_weekly", "harmonic"]))
def test_random_histories_never_leave_the_bounds(history: pd.Series, kind: str) -> None:
    forecaster = registry.make_forecaster(kind)
    try:
        model = forecaster.fit(history)
    except ForecastError as e:  # too short or too gappy for this family: a stated reason
        assert "history" in str(e)
        return
    assert isinstance(model, LogSpaceModel)
    start = history.index[-1] + pd.Timedelta(hours=1)
    forecast = model.predict(start, 48, (0.05, 0.5, 0.9, 0.95, 0.99))
    assert_within_bounds(forecast, model.plausibility_bound(), model.offset)
    assert model.plausibility_bound().peak == pytest.approx(float(np.nanmax(history.to_numpy())))


@settings(max_examples=25, deadline=None)
@given(
    mean=hnp.arrays(float, 20, elements=st.floats(0.0, 1e9)),
    spread=hnp.arrays(float, 20, elements=st.floats(0.0, 1e300)),
    peak=st.floats(1e-6, 1e6),
    offset=st.floats(1e-9, 1e3),
)
def test_apply_keeps_every_invariant(
    mean: np.ndarray, spread: np.ndarray, peak: float, offset: float
) -> None:
    bound = bounds.PlausibilityBound(peak)
    raw = {0.5: mean, 0.9: mean + spread, 0.95: mean + 2 * spread}
    cut_mean, cut, clamps = bounds.apply(mean, raw, bound, offset)
    forecast = Forecast(pd.date_range("2026-01-01", periods=20, freq="300s", tz="UTC"), cut_mean, cut, "x")
    assert_within_bounds(forecast, bound, offset)
    cut_any = (mean > bound.ceiling).any() or any((v > cut[q]).any() for q, v in raw.items())
    assert bool(clamps) == bool(cut_any)


def test_one_day_of_history_is_bounded_too() -> None:
    one_day = synthetic_trace(days=1, step_s=300, seed=4)
    model = registry.make_forecaster("seasonal_naive").fit(one_day)
    forecast = model.predict(one_day.index[-1] + pd.Timedelta(seconds=300), DAY_S // 300, QUANTILES)
    assert_within_bounds(forecast, model.plausibility_bound(), model.offset)


def test_the_bound_reads_the_models_offset_share() -> None:
    from predictor.forecasting.models.common import OFFSET_FRACTION

    assert bounds._OFFSET_SHARE == OFFSET_FRACTION  # the band rule recovers the mean rate from it
