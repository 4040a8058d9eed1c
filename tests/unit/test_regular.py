"""regularise(): raw samples in, the history contract out (see predictor.sources.base)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor.errors import SourceError
from predictor.sources.regular import bin_range, empty_history, on_bins, regularise

T0 = pd.Timestamp("2026-01-05 00:00", tz="UTC")


def samples(values, *, step="60s", start=T0) -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq=step)
    return pd.Series(np.asarray(values, dtype=float), index=index)


def assert_contract(history: pd.Series, step_s: int) -> None:
    assert isinstance(history.index, pd.DatetimeIndex)
    assert str(history.index.tz) == "UTC"
    assert history.index.freq == pd.Timedelta(seconds=step_s)
    assert history.index.is_monotonic_increasing and history.index.is_unique
    assert history.dtype == float
    present = history.dropna()
    assert np.isfinite(present).all() and (present >= 0).all()
    assert all(
        (t - pd.Timestamp(0, tz="UTC")) % pd.Timedelta(seconds=step_s) == pd.Timedelta(0)
        for t in history.index
    )


def test_one_minute_rates_become_five_minute_means():
    history = regularise(samples(range(10)), 300)

    assert_contract(history, 300)
    assert list(history.index) == [T0, T0 + pd.Timedelta(minutes=5)]
    assert list(history) == [2.0, 7.0]


def test_a_bin_with_some_sub_samples_missing_is_the_mean_of_the_present_ones():
    history = regularise(samples([1, np.nan, 3, np.nan, 8, np.nan, np.nan, np.nan, np.nan, np.nan]), 300)

    assert history.iloc[0] == pytest.approx(4.0)
    assert np.isnan(history.iloc[1])  # no sub-sample at all: missing, not zero


def test_counts_per_bin_become_rates():
    history = regularise(samples([60, 120, 180, 240, 300]), 300, counts=True)

    assert history.iloc[0] == pytest.approx(900 / 300)  # 900 requests over 5 minutes


def test_a_coarser_source_spreads_each_value_over_its_own_span_only():
    hourly = samples([3600, np.nan, 7200], step="1h")

    history = regularise(hourly, 300, counts=True)

    assert_contract(history, 300)
    assert len(history) == 36
    assert (history.iloc[:12] == 1.0).all()
    assert history.iloc[12:24].isna().all()  # the missing hour is not bridged by its neighbours
    assert (history.iloc[24:] == 2.0).all()


def test_a_missing_row_in_a_coarse_source_stays_missing():
    half_hours = pd.Series(
        [1800.0, 3600.0], index=pd.DatetimeIndex([T0, T0 + pd.Timedelta(hours=2)]), dtype=float
    )

    history = regularise(half_hours, 300, counts=True, source_step_s=1800)

    assert (history[: T0 + pd.Timedelta(minutes=25)] == 1.0).all()
    assert history[T0 + pd.Timedelta(minutes=30) : T0 + pd.Timedelta(minutes=115)].isna().all()
    assert (history[T0 + pd.Timedelta(hours=2) :] == 2.0).all()
    assert len(history) == 30


def test_the_source_bin_is_inferred_from_the_most_common_spacing():
    index = pd.DatetimeIndex([T0 + pd.Timedelta(minutes=m) for m in (0, 30, 60, 90, 240)])
    history = regularise(pd.Series([1800.0] * 5, index=index), 300, counts=True)

    assert history.dropna().eq(1.0).all()
    assert history.notna().sum() == 5 * 6


def test_unsorted_input_gives_the_same_history():
    ordered = samples(np.arange(20.0))

    assert regularise(ordered.sample(frac=1.0, random_state=3), 300).equals(regularise(ordered, 300))


def test_duplicate_timestamps_are_averaged_not_added():
    index = pd.DatetimeIndex([T0, T0, T0 + pd.Timedelta(minutes=1), T0 + pd.Timedelta(minutes=1)])
    points = pd.Series([2.0, 4.0, 5.0, np.nan], index=index)

    history = regularise(points, 60)

    assert list(history) == [3.0, 5.0]


def test_naive_timestamps_are_utc_and_aware_ones_are_converted():
    naive = samples([1.0, 2.0], start=pd.Timestamp("2026-01-05 00:00"))
    paris = samples([1.0, 2.0], start=pd.Timestamp("2026-01-05 01:00", tz="Europe/Paris"))

    assert regularise(naive, 60).index[0] == T0
    assert regularise(paris, 60).index[0] == T0


def test_nan_stays_nan_and_never_spreads():
    history = regularise(samples([5.0, np.nan, 7.0]), 60)

    assert history.iloc[0] == 5.0 and np.isnan(history.iloc[1]) and history.iloc[2] == 7.0
    assert (history.dropna() != 0).all()


def test_empty_input_gives_an_empty_history_that_keeps_the_contract():
    history = regularise(pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float), 300)

    assert len(history) == 0
    assert_contract(history, 300)
    assert empty_history(300).index.equals(history.index)


def test_all_nan_input_gives_all_nan_over_its_span_never_zero():
    history = regularise(samples([np.nan] * 10), 300)

    assert_contract(history, 300)
    assert len(history) == 2 and history.isna().all()


def test_a_constant_series_stays_constant():
    history = regularise(samples([4.5] * 60), 300)

    assert (history == 4.5).all() and len(history) == 12


def test_a_single_sample_gives_a_single_bin():
    history = regularise(samples([2.0]), 300)

    assert_contract(history, 300)
    assert list(history) == [2.0]


def test_negative_values_name_how_many_and_the_first_timestamp():
    points = samples([1.0, -1.0, 2.0, -3.0]).iloc[::-1]  # unsorted: the first is by time, not by row

    with pytest.raises(SourceError, match=r"2 negative value\(s\), the first at 2026-01-05T00:01:00\+00:00"):
        regularise(points, 60)


def test_infinite_values_are_refused():
    with pytest.raises(SourceError, match=r"1 infinite value\(s\), the first at 2026-01-05T00:02:00"):
        regularise(samples([1.0, 2.0, np.inf]), 60)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (pd.Series([1.0, 2.0]), "DatetimeIndex"),
        (pd.Series([1.0], index=pd.DatetimeIndex([pd.NaT])), "NaT"),
        (pd.Series(["a", "b"], index=samples([1, 2]).index), "numbers"),
        ([1.0, 2.0], "pandas Series"),
    ],
)
def test_malformed_input_is_a_source_error(points, message):
    with pytest.raises(SourceError, match=message):
        regularise(points, 60)


@pytest.mark.parametrize("step", [0, -60, 1.5, True])
def test_the_step_must_be_a_positive_whole_number_of_seconds(step):
    with pytest.raises(SourceError, match="step_s must be a positive whole number"):
        regularise(samples([1.0]), step)


def test_bins_are_those_wholly_inside_the_range():
    bins = bin_range(T0 + pd.Timedelta(minutes=3), T0 + pd.Timedelta(minutes=21), 300)

    assert list(bins) == [T0 + pd.Timedelta(minutes=m) for m in (5, 10, 15)]
    assert bins.freq == "300s"
    assert len(bin_range(T0, T0 + pd.Timedelta(minutes=4), 300)) == 0
    assert bin_range(pd.Timestamp("2026-01-05 00:00"), pd.Timestamp("2026-01-05 00:10"), 300)[0] == T0


def test_on_bins_fills_uncovered_bins_with_nan():
    history = regularise(samples([1.0, 2.0], step="300s"), 300)

    result = on_bins(history, bin_range(T0 - pd.Timedelta(minutes=5), T0 + pd.Timedelta(minutes=15), 300))

    assert_contract(result, 300)
    assert np.isnan(result.iloc[0]) and list(result.iloc[1:3]) == [1.0, 2.0] and np.isnan(result.iloc[3])


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60),
    minutes=st.sampled_from([(1, 5), (5, 5), (15, 5), (60, 5), (30, 60), (1, 30)]),
)
def test_requests_are_conserved_from_any_bin_length_to_any_step(counts, minutes):
    source_minutes, step_minutes = minutes
    per_bin = max(1, step_minutes // source_minutes)
    counts = counts[: len(counts) - len(counts) % per_bin] or [0] * per_bin  # whole bins only

    history = regularise(samples(counts, step=f"{source_minutes}min"), step_minutes * 60, counts=True)

    assert_contract(history, step_minutes * 60)
    assert history.notna().all()
    assert history.sum() * step_minutes * 60 == pytest.approx(sum(counts))
