"""Token-aware demand through the one composition point: forecasts of the token series, each role
sized on its own work in the floor, fallbacks to the profile's lengths said in the reasons, and a
service's targets sharing one forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictor.capacity import pod_model
from predictor.capacity.demand import PROMPT_TOKENS, REQUESTS, TokenRates, size_role
from predictor.config import PolicySettings, load_profile
from predictor.planning import Bounds, Demand, FloorState, configured_cold_start, plan_floor
from predictor.runtime.demand import TokenSizingSpec, token_kind
from predictor.runtime.forecast import forecast_target, forecast_targets
from predictor.runtime.targets import policy_from_settings, request_from_policy
from predictor.sources.synthetic_tokens import synthetic_token_trace

PROFILES = {"prefill": "qwen3-32b-h100-tp2-prefill", "decode": "qwen3-32b-h100-tp2-decode"}


@pytest.fixture(scope="module")
def trace() -> pd.DataFrame:
    return synthetic_token_trace(days=15, step_s=300, seed=5)


def request(role: str, *, tokens: bool = True, **policy):
    profile = load_profile(PROFILES[role])
    settings = PolicySettings(model="harmonic", history_window_days=14, horizon_s=12 * 3600, **policy)
    return request_from_policy(
        role,
        policy_from_settings(settings),
        pod=pod_model(profile.capacity, role),
        cold_start=configured_cold_start(
            total_s=profile.cold_start.total_s, stages_s=profile.cold_start.stages_s
        ),
        bounds=Bounds(1),
        tokens=TokenSizingSpec(profile.capacity, role) if tokens else None,
    )


def now_of(trace: pd.DataFrame) -> pd.Timestamp:
    return trace.index[0] + pd.Timedelta(days=14, hours=5)  # a weekday (Tuesday) before the ramp


@pytest.mark.parametrize("window", ["max", "pooled"])
def test_the_planner_sized_on_work_equals_the_rate_formula_on_fixed_lengths(window):
    profile = load_profile(PROFILES["decode"])
    pod = pod_model(profile.capacity, "decode")
    index = pd.date_range("2026-03-03", periods=60, freq="5min", tz="UTC")
    rates = 20 + 30 * np.sin(np.linspace(0, 3, 60)) ** 2
    median = rates / 1.2
    policy = policy_from_settings(PolicySettings(floor_window=window)).floor
    cold = configured_cold_start(total_s=900)

    def work(values: np.ndarray) -> np.ndarray:
        return size_role(TokenRates(values), profile.capacity, "decode", utilization=1.0).exact_pods

    plans = [
        plan_floor(
            demand, pod, policy=policy, cold_start=cold, bounds=Bounds(1), state=FloorState(1), now=index[0]
        )
        for demand in (
            Demand(index, rates, 0.9, median=median),
            Demand(index, rates, 0.9, median=median, work=work(rates), work_median=work(median)),
        )
    ]
    np.testing.assert_array_equal(plans[0].need, plans[1].need)
    np.testing.assert_array_equal(plans[0].floor, plans[1].floor)
    assert [(c.at, c.kind, c.to_pods) for c in plans[0].changes] == [
        (c.at, c.kind, c.to_pods) for c in plans[1].changes
    ]
    if window == "max":  # a pooled window quotes the pooled rate; the work quotes the peak's rate
        assert [c.reason for c in plans[0].changes] == [c.reason for c in plans[1].changes]
    assert plans[0].need.max() > 5  # the comparison covers a real ramp


def test_prefill_follows_the_forecast_prompt_length_more_by_day_fewer_at_night(trace):
    now = now_of(trace)
    aware = forecast_target(trace[REQUESTS], request("prefill"), now, token_history=trace)
    fixed = forecast_target(trace[REQUESTS], request("prefill", tokens=False), now)
    assert aware.tokens is not None and aware.tokens.reason is None
    assert aware.forecast.mean.tolist() == fixed.forecast.mean.tolist()  # one rate forecast, two sizings
    hours = aware.plan.index.hour
    # The profile's fixed prompt is 2,000 tokens, the working-hours length: at night, with prompts
    # of about 1,000 tokens, the token-aware need is about half.
    night = hours < 6
    assert aware.plan.need[night].sum() < 0.75 * fixed.plan.need[night].sum()
    lengths = aware.tokens.mean_prompt_tokens
    at = aware.tokens.index.hour
    assert np.median(lengths[(at >= 11) & (at < 15)]) == pytest.approx(2_000, rel=0.1)
    assert np.median(lengths[at < 6]) == pytest.approx(1_000, rel=0.1)
    assert set(aware.tokens.sizing.limited_by) == {"prefill_throughput"}
    raise_reasons = [c.reason for c in aware.plan.changes if c.kind == "raise"]
    assert raise_reasons and all("prefill sized on the forecast prompt tokens/s" in r for r in raise_reasons)


def test_decode_reports_which_bound_binds_per_point(trace):
    tf = forecast_target(trace[REQUESTS], request("decode"), now_of(trace), token_history=trace)
    assert tf.tokens is not None
    binds = np.array(tf.tokens.sizing.limited_by)
    hours = tf.tokens.index.hour
    # Long prompts in working hours fill the KV cache first; short chat at night is compute-bound.
    assert (binds[(hours >= 11) & (hours < 15)] == "kv_cache").mean() > 0.5
    assert (binds[hours < 5] == "compute").all()


def test_a_missing_token_series_falls_back_to_the_profile_with_the_reason(trace):
    now = now_of(trace)
    only_prompt = trace[[REQUESTS, PROMPT_TOKENS]]
    tf = forecast_target(trace[REQUESTS], request("decode"), now, token_history=only_prompt)
    expected = (
        "no output-token series: decode pods are sized on the profile's fixed length, "
        "400 output tokens per request"
    )
    assert tf.tokens is not None and tf.tokens.reason == expected
    assert tf.tokens.output is None and tf.tokens.prompt is not None
    assert all(expected in c.reason for c in tf.plan.changes)
    np.testing.assert_allclose(tf.tokens.mean_output_tokens, 400)


def test_a_token_series_without_data_is_missing_not_zero_and_falls_back(trace):
    now = now_of(trace)
    empty = trace.copy()
    empty[PROMPT_TOKENS] = np.nan
    aware = forecast_target(trace[REQUESTS], request("prefill"), now, token_history=empty)
    fixed = forecast_target(trace[REQUESTS], request("prefill", tokens=False), now)
    assert aware.tokens is not None and aware.tokens.prompt is None
    assert aware.tokens.reason.startswith("the prompt-token series could not be forecast (no history before")
    assert "prefill pods are sized on the profile's fixed length, 2,000 prompt tokens" in aware.tokens.reason
    # On the profile's lengths the floor is exactly the fixed-length one: never zero pods.
    np.testing.assert_array_equal(aware.plan.floor, fixed.plan.floor)
    assert aware.plan.need.max() > 3


def test_a_service_fits_once_and_plans_each_role_on_its_own_work(trace):
    now = now_of(trace)
    prefill, decode = forecast_targets(
        trace[REQUESTS], [request("prefill"), request("decode")], now, token_history=trace
    )
    # One fit: the same forecast over the points both see (each role looks ahead by its own lead time).
    n = min(len(prefill.forecast.mean), len(decode.forecast.mean))
    assert prefill.forecast.mean[:n].tolist() == decode.forecast.mean[:n].tolist()
    assert prefill.tokens is not None and decode.tokens is not None
    assert prefill.tokens.prompt.mean[:n].tolist() == decode.tokens.prompt.mean[:n].tolist()
    assert prefill.tokens.role == "prefill" and decode.tokens.role == "decode"
    assert not np.array_equal(prefill.plan.need, decode.plan.need)


def test_an_ensemble_sizes_its_token_series_with_its_best_single_model():
    from predictor.forecasting.selection import CandidateScore

    scores = {
        "harmonic": CandidateScore("harmonic", "ok", mase=0.7),
        "seasonal_naive": CandidateScore("seasonal_naive", "ok", mase=0.5),
        "mstl": CandidateScore("mstl", "failed", mase=0.1),
        "ensemble": CandidateScore("ensemble", "ok", mase=0.05),
    }
    assert token_kind("ensemble", scores) == "seasonal_naive"
    assert token_kind("harmonic", scores) == "harmonic"


def test_a_known_event_scales_the_token_series_with_the_rate(trace):
    """A ×2 launch doubles the requests, not the lengths: the role's work doubles in its window."""
    from predictor import events as ev

    now = now_of(trace)
    start, end = now + pd.Timedelta(hours=6), now + pd.Timedelta(hours=9)
    launch = ev.Event("launch", ev.OneOff(start, end), ev.Effect("multiply", 2.0))
    plain = request("decode")
    with_launch = request_from_policy(
        "decode",
        plain.policy,
        pod=plain.pod,
        cold_start=plain.cold_start,
        bounds=plain.bounds,
        events=(launch,),
        tokens=plain.tokens,
    )
    before = forecast_target(trace[REQUESTS], plain, now, token_history=trace)
    after = forecast_target(trace[REQUESTS], with_launch, now, token_history=trace)
    assert before.tokens is not None and after.tokens is not None
    inside = (after.tokens.index >= start) & (after.tokens.index < end)
    assert inside.sum() == 36
    np.testing.assert_allclose(after.forecast.mean[inside], 2 * before.forecast.mean[inside])
    q = plain.quantile
    a, b = after.tokens.output, before.tokens.output  # decode reads the output tokens
    assert a is not None and b is not None
    np.testing.assert_allclose(a.quantile(q)[inside], 2 * b.quantile(q)[inside])
    np.testing.assert_allclose(a.quantile(q)[~inside], b.quantile(q)[~inside])
    # Lengths per request are unchanged, so the work (and the need) doubles in the window.
    np.testing.assert_allclose(
        after.tokens.mean_output_tokens[inside], before.tokens.mean_output_tokens[inside]
    )
    work_after, work_before = after.tokens.work[inside], before.tokens.work[inside]
    assert work_after.sum() > 1.8 * work_before.sum()
