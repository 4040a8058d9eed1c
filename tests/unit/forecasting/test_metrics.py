"""Accuracy metrics on hand-computed cases; a missing actual is skipped, never zero."""

import math

import numpy as np
import pytest

from predictor.errors import ForecastError
from predictor.forecasting import metrics

NAN = float("nan")


def test_wape_is_total_absolute_error_over_total_actual():
    # |1-2| + |2-2| + |3-1| = 3 over 1 + 2 + 3 = 6
    assert metrics.wape([1, 2, 3], [2, 2, 1]) == pytest.approx(0.5)


def test_wape_skips_missing_actuals_instead_of_counting_zero():
    # the middle bin has no data: its wild forecast does not count, (1 + 2) / (1 + 3)
    assert metrics.wape([1, NAN, 3], [2, 100, 1]) == pytest.approx(0.75)


def test_wape_is_nan_without_anything_to_score():
    assert math.isnan(metrics.wape([NAN, NAN], [1, 2]))
    assert math.isnan(metrics.wape([0, 0], [1, 2]))


def test_naive_scale_is_mean_absolute_seasonal_difference():
    # season 3: |2-1|, |4-2|, |5-3| -> (1 + 2 + 2) / 3
    assert metrics.naive_scale([1, 2, 3, 2, 4, 5], 3) == pytest.approx(5 / 3)


def test_naive_scale_skips_pairs_with_a_gap():
    # the pair (3, 5) is gone because 3's partner is NaN: (1 + 2) / 2
    assert metrics.naive_scale([1, 2, NAN, 2, 4, 5], 3) == pytest.approx(1.5)
    assert math.isnan(metrics.naive_scale([1, 2, 3], 3))


def test_mase_scales_mean_absolute_error():
    # errors 1, 0, 2 -> mean 1; scale 0.5 -> 2
    assert metrics.mase([1, 2, 3], [2, 2, 1], scale=0.5) == pytest.approx(2.0)
    assert metrics.mase([1, NAN, 3], [2, 50, 1], scale=1.5) == pytest.approx(1.0)


def test_mase_is_one_when_naive_errs_out_of_sample_as_much_as_in_sample():
    day = 4
    training = np.array([1.0, 5.0, 9.0, 3.0, 2.0, 6.0, 11.0, 4.0])  # each step moves by 1-2 between days
    scale = metrics.naive_scale(training, day)
    actual = np.array([3.0, 7.0, 13.0, 5.0])
    forecast = training[-day:]  # seasonal naive: repeat the last day
    assert scale == pytest.approx(1.25)
    assert metrics.mase(actual, forecast, scale=scale) == pytest.approx(1.25 / 1.25)


def test_mase_is_nan_when_the_scale_is_undefined():
    assert math.isnan(metrics.mase([1, 2], [1, 2], scale=0.0))
    assert math.isnan(metrics.mase([1, 2], [1, 2], scale=NAN))
    assert math.isnan(metrics.mase([NAN], [1], scale=1.0))


def test_coverage_is_share_of_actuals_at_or_below_the_quantile():
    assert metrics.coverage([1, 2, 3, NAN], [2, 2, 2, 0]) == pytest.approx(2 / 3)
    assert math.isnan(metrics.coverage([NAN], [1]))


def test_bad_inputs_raise_our_error():
    with pytest.raises(ForecastError, match="length"):
        metrics.wape([1, 2], [1])
    with pytest.raises(ForecastError, match="non-finite"):
        metrics.coverage([1, 2], [1, NAN])
    with pytest.raises(ForecastError):
        metrics.naive_scale([1, 2, 3], 0)
    # a non-finite forecast where the actual is missing is not scored, so not an error
    assert metrics.wape([1, NAN], [1, NAN]) == 0.0


def test_season_steps():
    assert metrics.season_steps(86_400, 300) == 288
    with pytest.raises(ForecastError):
        metrics.season_steps(86_400, 7)
