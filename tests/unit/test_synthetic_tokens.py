"""The synthetic token trace: seeded, the plain request trace underneath, prompts longer by day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictor.capacity.demand import OUTPUT_TOKENS, PROMPT_TOKENS, REQUESTS
from predictor.sources.synthetic import SyntheticSource, synthetic_trace
from predictor.sources.synthetic_tokens import (
    SyntheticTokenSource,
    TokenMix,
    synthetic_token_trace,
    working_hours_share,
)


def test_same_seed_same_frame_and_another_seed_another():
    a = synthetic_token_trace(days=3, seed=5)
    pd.testing.assert_frame_equal(a, synthetic_token_trace(days=3, seed=5))
    assert not a.equals(synthetic_token_trace(days=3, seed=6))
    assert list(a.columns) == [REQUESTS, PROMPT_TOKENS, OUTPUT_TOKENS]
    assert a.index.freq == "60s" and str(a.index.tz) == "UTC"
    assert (a.to_numpy() > 0).all()


def test_the_request_rate_is_the_plain_synthetic_trace():
    frame = synthetic_token_trace(days=7, step_s=300, seed=9, base_rps=10, peak_rps=50)
    plain = synthetic_trace(days=7, step_s=300, seed=9, base_rps=10, peak_rps=50)
    np.testing.assert_array_equal(frame[REQUESTS].to_numpy(), plain.to_numpy())


def test_mean_lengths_follow_the_mix_weekdays_by_day_and_weekends_mostly_chat():
    mix = TokenMix(
        prompt_tokens_night=800, prompt_tokens_day=3_200, output_tokens_night=400, output_tokens_day=100
    )
    frame = synthetic_token_trace(days=7, step_s=600, mix=mix, seed=1)
    prompt = frame[PROMPT_TOKENS] / frame[REQUESTS]
    output = frame[OUTPUT_TOKENS] / frame[REQUESTS]
    hour, weekday = frame.index.hour, frame.index.day_of_week < 5
    midday = weekday & (hour >= 11) & (hour < 15)
    assert prompt[midday].median() == pytest.approx(3_200, rel=0.05)
    assert output[midday].median() == pytest.approx(100, rel=0.05)
    assert prompt[hour < 5].median() == pytest.approx(800, rel=0.05)
    weekend_midday = ~weekday & (hour >= 11) & (hour < 15)
    # A quarter of the working-hours mix at weekends: 800 + 0.25 × 2,400 = 1,400.
    assert prompt[weekend_midday].median() == pytest.approx(1_400, rel=0.05)


def test_working_hours_share_is_a_day_bump_between_zero_and_one():
    share = working_hours_share(np.arange(0, 24, 0.25))
    assert share.min() >= 0 and share.max() <= 1
    assert working_hours_share(np.array([3.0]))[0] < 0.01
    assert working_hours_share(np.array([13.0]))[0] > 0.99


def test_the_source_follows_the_clock_and_matches_the_plain_source():
    start = pd.Timestamp("2026-03-04 06:00", tz="UTC")
    end = start + pd.Timedelta(days=9)
    requests = SyntheticTokenSource(REQUESTS, seed=4).fetch(start, end, 300)
    plain = SyntheticSource(seed=4).fetch(start, end, 300)
    pd.testing.assert_series_equal(requests, plain)
    prompt = SyntheticTokenSource(PROMPT_TOKENS, seed=4).fetch(start, end, 300)
    assert prompt.name == PROMPT_TOKENS and prompt.index.equals(plain.index)
    # Any range gives the same value for the same bin.
    later = SyntheticTokenSource(PROMPT_TOKENS, seed=4).fetch(start + pd.Timedelta(days=2), end, 300)
    pd.testing.assert_series_equal(prompt[later.index], later, check_freq=False)
    ratio = prompt / requests
    assert ratio.min() > 900 and ratio.max() < 2_200


def test_an_unknown_column_is_refused():
    with pytest.raises(ValueError, match="unknown column 'tokens'"):
        SyntheticTokenSource("tokens")
