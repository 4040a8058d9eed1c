"""Token-aware against fixed-length sizing on a synthetic token trace whose prompt length doubles in
working hours: where the pods go, and the shortfall of each against what the trace really needed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from predictor.capacity.demand import OUTPUT_TOKENS, PROMPT_TOKENS, REQUESTS
from predictor.capacity.demand_compare import average_lengths, compare_sizing
from predictor.config import load_profile
from predictor.errors import CapacityError
from predictor.forecasting import registry
from predictor.sources.synthetic_tokens import TokenMix, synthetic_token_trace

PREFILL = load_profile("qwen3-32b-h100-tp2-prefill").capacity
DECODE = load_profile("qwen3-32b-h100-tp2-decode").capacity
STEP_S = 300
WEEK = 7 * 86_400 // STEP_S


def working_hours(index: pd.DatetimeIndex) -> np.ndarray:
    return (index.day_of_week < 5) & (index.hour >= 10) & (index.hour < 16)


def night(index: pd.DatetimeIndex) -> np.ndarray:
    return index.hour < 5


def steady_trace(weeks: int = 2) -> pd.DataFrame:
    """The trace without noise or bursts: every week the same, prompts 1,000 → 2,000 tokens by day."""
    return synthetic_token_trace(
        days=7 * weeks,
        step_s=STEP_S,
        base_rps=30,
        peak_rps=240,
        noise=0.0,
        bursts=0,
        mix=TokenMix(length_noise=0.0),
    )


def previous_week(trace: pd.DataFrame) -> pd.DataFrame:
    """The last week but one as the forecast of the last week: exact for a trace that repeats weekly."""
    forecast = trace.iloc[-2 * WEEK : -WEEK].copy()
    forecast.index = trace.index[-WEEK:]
    return forecast


def test_the_prompt_length_doubles_in_working_hours():
    trace = steady_trace(1)
    prompt = trace[PROMPT_TOKENS] / trace[REQUESTS]
    assert prompt[night(trace.index)].max() == pytest.approx(1_000, rel=0.01)
    assert prompt[working_hours(trace.index)].min() == pytest.approx(2_000, rel=0.03)


def test_token_aware_prefill_has_more_pods_in_working_hours_and_fewer_at_night_at_the_same_shortfall():
    trace = steady_trace()
    fixed = average_lengths(trace.iloc[:WEEK])  # what a fixed setting is best tuned to
    assert fixed[0] == pytest.approx(1_625, rel=0.01)  # the request-weighted mean prompt

    c = compare_sizing(
        trace.iloc[-WEEK:],
        previous_week(trace),
        PREFILL,
        "prefill",
        utilization=0.7,
        buffer=0.3,
        fixed_lengths=fixed,
    )

    day, dark = working_hours(c.need.index), night(c.need.index)
    aware, flat = c.token_aware.pods, c.fixed.pods
    assert (aware[day] >= flat[day]).all() and aware[day].mean() > 1.15 * flat[day].mean()
    assert (aware[dark] <= flat[dark]).all() and aware[dark].mean() < 0.8 * flat[dark].mean()
    # The 30 % buffer covers the 2,000 / 1,625 length swing of fixed-length sizing, so neither
    # falls short: the same shortfall, with the pods where the prompt tokens are.
    assert c.token_aware.shortfall_pod_hours == c.fixed.shortfall_pod_hours == 0
    assert c.token_aware.shortfall_points == c.fixed.shortfall_points == 0
    assert c.pod_hours_saved > 0
    assert c.scored_points == WEEK and c.missing_points == 0


def test_without_a_buffer_fixed_lengths_fall_short_in_working_hours_only():
    trace = steady_trace()
    c = compare_sizing(
        trace.iloc[-WEEK:],
        previous_week(trace),
        PREFILL,
        "prefill",
        utilization=0.7,
        buffer=0.0,
        fixed_lengths=average_lengths(trace.iloc[:WEEK]),
    )
    assert c.token_aware.shortfall_pod_hours == 0
    assert c.fixed.shortfall_pod_hours > 100
    short = c.fixed.shortfall > 0
    hours = c.need.index.hour[short.to_numpy()]
    assert ((hours >= 8) & (hours < 19)).all()  # the long-prompt hours
    assert c.shortfall_avoided_pod_hours == c.fixed.shortfall_pod_hours


def test_shortfall_is_need_minus_pods_where_short_counted_in_pod_hours():
    trace = steady_trace()
    c = compare_sizing(
        trace.iloc[-WEEK:],
        previous_week(trace),
        PREFILL,
        "prefill",
        utilization=0.7,
        fixed_lengths=(1_000, None),
    )
    expected = np.maximum(0.0, c.need - c.fixed.pods)
    np.testing.assert_array_equal(c.fixed.shortfall, expected)
    assert c.fixed.shortfall_pod_hours == pytest.approx(expected.sum() * STEP_S / 3600)
    assert c.fixed.shortfall_points == int((expected > 0).sum())
    assert c.fixed.pod_hours == pytest.approx(c.fixed.pods.sum() * STEP_S / 3600)


def test_forecasts_of_the_three_series_avoid_shortfall_for_both_roles_on_a_noisy_trace():
    # The noisy trace with bursts, three series forecast by the seasonal-naive weekly model at p90.
    trace = synthetic_token_trace(days=28, step_s=STEP_S, base_rps=30, peak_rps=240, seed=2)
    train, test = trace.iloc[: 3 * WEEK], trace.iloc[3 * WEEK :]
    forecast = {}
    for column in (REQUESTS, PROMPT_TOKENS, OUTPUT_TOKENS):
        model = registry.make_forecaster("seasonal_naive_weekly").fit(train[column], seed=0)
        forecast[column] = model.predict(test.index[0], len(test), (0.5, 0.9)).quantile(0.9)
    forecast = pd.DataFrame(forecast, index=test.index)
    fixed = average_lengths(train)

    for role, params in (("prefill", PREFILL), ("decode", DECODE)):
        c = compare_sizing(test, forecast, params, role, utilization=0.7, buffer=0.2, fixed_lengths=fixed)
        assert c.token_aware.shortfall_pod_hours < c.fixed.shortfall_pod_hours, role
        assert c.token_aware.shortfall_points < c.fixed.shortfall_points, role
    prefill = compare_sizing(
        test, forecast, PREFILL, "prefill", utilization=0.7, buffer=0.2, fixed_lengths=fixed
    )
    day, dark = working_hours(test.index), night(test.index)
    assert prefill.token_aware.pods[day].mean() > prefill.fixed.pods[day].mean()
    assert prefill.token_aware.pods[dark].mean() < prefill.fixed.pods[dark].mean()


def test_missing_bins_are_left_out_for_both_never_scored_as_zero():
    trace = steady_trace()
    actual = trace.iloc[-WEEK:].copy()
    actual.iloc[100:112, actual.columns.get_loc(PROMPT_TOKENS)] = math.nan
    forecast = previous_week(trace).iloc[:-24]  # the forecast ends two hours early
    c = compare_sizing(actual, forecast, PREFILL, "prefill", utilization=0.7, buffer=0.3)
    assert c.missing_points == 12 + 24 and c.scored_points == WEEK - 36
    assert c.need.isna().sum() == 12
    assert c.token_aware.shortfall.isna().sum() == c.fixed.shortfall.isna().sum() == 36


def test_average_lengths_weight_by_requests():
    index = pd.date_range("2026-01-05", periods=3, freq="300s", tz="UTC")
    frame = pd.DataFrame(
        {
            REQUESTS: [1.0, 3.0, math.nan],
            PROMPT_TOKENS: [1_000.0, 9_000.0, 5.0],
            OUTPUT_TOKENS: [1.0, 1.0, 1.0],
        },
        index=index,
    )
    assert average_lengths(frame) == (2_500.0, 0.5)
    assert average_lengths(frame[[REQUESTS]]) == (None, None)


def test_the_actual_trace_needs_the_token_columns_of_the_role():
    trace = steady_trace(1)
    with pytest.raises(CapacityError, match="output_tokens_per_s"):
        compare_sizing(trace[[REQUESTS, PROMPT_TOKENS]], trace, DECODE, "decode", utilization=0.7)
