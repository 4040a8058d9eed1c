"""Token-aware sizing: lengths from the rates per point, each role on its own work, the fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor.capacity import CapacityParams, pod_model, pods_for_rates, size
from predictor.capacity.demand import (
    MIN_RPS_FOR_LENGTHS,
    TokenRates,
    mean_lengths,
    size_role,
    size_tokens,
)
from predictor.config import load_profile
from predictor.errors import CapacityError

LLAMA_70B = CapacityParams(
    ttft_s=0.2,
    tpot_s=0.03,
    prompt_tokens=500,
    output_tokens=300,
    kv_capacity_tokens=1_000_000,
    max_concurrency=200,
)
PREFILL = load_profile("qwen3-32b-h100-tp2-prefill").capacity
DECODE = load_profile("qwen3-32b-h100-tp2-decode").capacity
ROLE_PARAMS = {"aggregated": LLAMA_70B, "prefill": PREFILL, "decode": DECODE}


def test_the_worked_example_from_token_rates():
    # 50,000 prompt and 30,000 output tokens/s at 100 req/s are the example's 500 and 300 tokens.
    s = size_tokens(
        100, LLAMA_70B, prompt_tokens_per_s=50_000, output_tokens_per_s=30_000, utilization=0.7, buffer=0.3
    )
    assert (s.prompt_tokens, s.output_tokens) == (500, 300)
    assert (s.prompt_tokens_from, s.output_tokens_from) == ("rates", "rates")
    assert s.duration_s == pytest.approx(9.2)
    assert (s.kv_bound, s.compute_bound, s.limited_by) == (1250, 200, "compute")
    assert (s.pods, s.pods_with_buffer) == (7, 10)
    assert s.reason is None


@pytest.mark.parametrize("role", ["aggregated", "prefill", "decode"])
@settings(max_examples=60, deadline=None)
@given(
    rates=st.lists(st.one_of(st.floats(0, 500, allow_nan=False), st.just(math.nan)), min_size=1, max_size=30),
    buffer=st.sampled_from([0.0, 0.2, 0.3, 1.0]),
)
def test_without_token_series_it_is_the_fixed_length_formula_point_for_point(role, rates, buffer):
    params = ROLE_PARAMS[role]
    array = np.array(rates)
    fixed = pods_for_rates(array, pod_model(params, role), utilization=0.7, buffer=buffer)
    aware = size_role(TokenRates(array), params, role, utilization=0.7, buffer=buffer)
    np.testing.assert_array_equal(aware.pods, fixed)


@pytest.mark.parametrize("role", ["aggregated", "prefill", "decode"])
def test_token_rates_at_the_profile_lengths_size_as_the_profile(role):
    params = ROLE_PARAMS[role]
    rps = np.array([0.5, 3.0, 10.0, 42.0, 120.0])
    rates = TokenRates(rps, rps * params.prompt_tokens, rps * (params.output_tokens or 1))
    aware = size_role(rates, params, role, utilization=0.7, buffer=0.2)
    np.testing.assert_array_equal(
        aware.pods, pods_for_rates(rps, pod_model(params, role), utilization=0.7, buffer=0.2)
    )
    assert aware.reason is None


def test_prefill_is_sized_on_prompt_tokens_per_second_after_the_prefix_cache():
    rps = np.array([10.0, 10.0, 10.0])
    prompt = np.array([10_000.0, 20_000.0, 40_000.0])  # 1,000, 2,000 and 4,000 tokens per request
    r = size_role(TokenRates(rps, prompt, None), PREFILL, "prefill", utilization=0.7)
    # ceil(P × (1 − 0.3) / (12,000 × 0.7)): 0.83, 1.67, 3.33
    np.testing.assert_array_equal(r.pods, [1, 2, 4])
    np.testing.assert_allclose(r.exact_pods, prompt * 0.7 / 8_400)
    assert r.limited_by == ("prefill_throughput",) * 3
    assert r.reason is None  # prefill reads no output length


def test_decode_concurrency_is_output_tokens_times_tpot_against_the_kv_bound_of_that_point():
    rps = np.array([10.0, 10.0])
    prompt = np.array([10_000.0, 60_000.0])  # 1,000 and 6,000 tokens per request
    output = np.array([4_000.0, 4_000.0])  # 400 tokens per request
    r = size_role(TokenRates(rps, prompt, output), DECODE, "decode", utilization=0.7)
    np.testing.assert_allclose(r.in_flight, output * 0.035)  # 140 sequences in flight
    np.testing.assert_allclose(r.kv_bound, [280_000 / 1_400, 280_000 / 6_400])
    assert r.limited_by == ("compute", "kv_cache")  # 200 > 128 slots; 43.75 < 128
    np.testing.assert_array_equal(r.pods, [math.ceil(140 / (128 * 0.7)), math.ceil(140 / (43.75 * 0.7))])


def test_aggregated_duration_follows_the_output_length_of_each_point():
    rps = np.array([100.0, 100.0])
    r = size_role(
        TokenRates(rps, np.array([50_000.0, 50_000.0]), np.array([30_000.0, 60_000.0])),
        LLAMA_70B,
        utilization=0.7,
    )
    np.testing.assert_allclose(r.seconds_per_request, [0.2 + 300 * 0.03, 0.2 + 600 * 0.03])
    np.testing.assert_allclose(r.kv_bound, [1_000_000 / 800, 1_000_000 / 1_100])


def test_lengths_are_tokens_over_requests_and_missing_stays_missing():
    rps = np.array([math.nan, 0.0, 0.01, 2.0, 2.0, 2.0])
    prompt = np.array([1_000.0, 0.0, 30.0, 3_000.0, math.nan, 4_000.0])
    output = np.array([100.0, 0.0, 3.0, 500.0, 500.0, math.nan])
    lengths = mean_lengths(TokenRates(rps, prompt, output), prompt_tokens=500, output_tokens=300)
    np.testing.assert_array_equal(lengths.prompt_tokens, [math.nan, 500, 500, 1_500, math.nan, 2_000])
    np.testing.assert_array_equal(lengths.output_tokens, [math.nan, 300, 300, 250, 250, math.nan])
    np.testing.assert_array_equal(lengths.low_rate, [False, True, True, False, False, False])
    np.testing.assert_array_equal(lengths.prompt_from_profile, [False, True, True, False, False, False])
    assert lengths.absent == ()

    pods = size_role(TokenRates(rps, prompt, output), LLAMA_70B, utilization=0.7).pods
    assert np.isnan(pods[[0, 4, 5]]).all()  # a missing rate or token value: missing pods, never 0
    assert pods[1] == 0  # no requests at all
    assert pods[3] > 0


def test_below_the_minimum_rate_the_profile_lengths_are_used():
    rps = np.array([MIN_RPS_FOR_LENGTHS / 2, MIN_RPS_FOR_LENGTHS])
    prompt = rps * 100_000  # a noisy mean over a handful of requests
    lengths = mean_lengths(TokenRates(rps, prompt, rps * 300), prompt_tokens=500, output_tokens=300)
    np.testing.assert_allclose(lengths.prompt_tokens, [500, 100_000])


def test_an_absent_token_series_falls_back_to_the_profile_with_the_reason_in_a_sentence():
    rps = np.array([10.0, math.nan, 20.0])
    r = size_role(TokenRates(rps, rps * 4_000, None), DECODE, "decode", utilization=0.7)
    assert r.reason == (
        "no output-token series: decode pods are sized on the profile's fixed length, "
        "400 output tokens per request"
    )
    np.testing.assert_array_equal(r.lengths.output_tokens, [400, math.nan, 400])
    np.testing.assert_array_equal(r.lengths.prompt_tokens, [4_000, math.nan, 4_000])
    assert r.lengths.absent == ("output",)
    assert np.isnan(r.pods[1]) and r.limited_by[1] is None

    both = size_role(TokenRates(rps), DECODE, "decode", utilization=0.7)
    assert both.reason == (
        "no prompt-token or output-token series: decode pods are sized on the profile's fixed "
        "lengths, 2,000 prompt and 400 output tokens per request"
    )
    prefill = size_role(TokenRates(rps), PREFILL, "prefill", utilization=0.7)
    assert prefill.reason == (
        "no prompt-token series: prefill pods are sized on the profile's fixed length, "
        "2,000 prompt tokens per request"
    )


def test_profile_lengths_are_needed_only_where_a_series_is_absent():
    no_lengths = LLAMA_70B.model_copy(update={"prompt_tokens": None, "output_tokens": None})
    rps = np.array([100.0, 0.0])
    r = size_role(TokenRates(rps, rps * 500, rps * 300), no_lengths, utilization=0.7)
    np.testing.assert_array_equal(r.pods, [7, 0])
    with pytest.raises(CapacityError, match="needs output_tokens"):
        size_role(TokenRates(rps, rps * 500, None), no_lengths, utilization=0.7)


def test_the_scalar_sizing_agrees_with_size_on_the_profile():
    s = size_tokens(37.5, DECODE, "decode", utilization=0.65, buffer=0.25)
    plain = size(37.5, pod_model(DECODE, "decode"), utilization=0.65, buffer=0.25)
    assert (s.pods, s.pods_with_buffer, s.limited_by) == (
        plain.pods,
        plain.pods_with_buffer,
        plain.limited_by,
    )
    assert (s.prompt_tokens_from, s.output_tokens_from) == ("profile", "profile")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TokenRates(np.array([-1.0])), "the request rate must be finite and >= 0"),
        (lambda: TokenRates(np.array([math.inf])), "the request rate must be finite and >= 0"),
        (lambda: TokenRates(np.array([1.0, 2.0]), np.array([1.0])), "prompt tokens/s has 1 points"),
        (lambda: TokenRates(np.array([1.0]), None, np.array([-5.0])), "output tokens/s must be finite"),
        (lambda: TokenRates(np.ones((2, 2))), "one-dimensional"),
        (lambda: size_role(TokenRates(np.array([1.0])), LLAMA_70B, "mixed", utilization=0.7), "unknown role"),
        (lambda: size_role(TokenRates(np.array([1.0])), LLAMA_70B, utilization=1.5), "utilization"),
        (lambda: size_role(TokenRates(np.array([1.0])), PREFILL, "decode", utilization=0.7), "needs"),
        (lambda: size_tokens(-3, LLAMA_70B, utilization=0.7), "rps must be a finite number"),
        (
            lambda: mean_lengths(TokenRates(np.array([1.0])), prompt_tokens=1, output_tokens=1, min_rps=0),
            "min_rps",
        ),
    ],
)
def test_bad_input_is_a_capacity_error(build, message):
    with pytest.raises(CapacityError, match=message):
        build()


def test_low_rate_points_are_counted_in_a_note():
    rps = np.array([0.01, 0.02, 5.0, 6.0])
    r = size_role(TokenRates(rps, rps * 1_000, rps * 300), LLAMA_70B, utilization=0.7)
    assert r.low_rate_note() == (
        "at 2 of 4 points the request rate is below 0.05 req/s, where the profile's lengths are used"
    )
    assert (
        size_role(TokenRates(rps[2:], rps[2:] * 900, None), LLAMA_70B, utilization=0.7).low_rate_note()
        is None
    )
