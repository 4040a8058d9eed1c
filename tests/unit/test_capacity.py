"""The capacity formula: the worked example of DESIGN.md, the role formulas, and its invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from predictor.capacity import CapacityParams, ceil_pods, pod_model, queue_thresholds, size
from predictor.errors import CapacityError

LLAMA_70B = CapacityParams(
    ttft_s=0.2,
    tpot_s=0.03,
    prompt_tokens=500,
    output_tokens=300,
    kv_capacity_tokens=1_000_000,
    max_concurrency=200,
)


def test_worked_example_reproduces_exactly():
    s = size(100, pod_model(LLAMA_70B), utilization=0.7, buffer=0.3)
    assert s.duration_s == pytest.approx(9.2)
    assert s.kv_bound == 1250
    assert s.compute_bound == 200
    assert s.per_pod_concurrency == 200
    assert s.limited_by == "compute"
    assert s.in_flight == pytest.approx(920)
    assert s.exact_pods == pytest.approx(6.5714, abs=1e-4)
    assert s.pods == 7
    assert s.pods_with_buffer == 10


def test_kv_cache_binds_when_the_cache_is_small():
    params = LLAMA_70B.model_copy(update={"kv_capacity_tokens": 100_000})  # 100k / 800 = 125 < 200
    s = size(100, pod_model(params), utilization=0.7)
    assert s.limited_by == "kv_cache"
    assert s.per_pod_concurrency == 125
    assert s.pods == math.ceil(920 / (125 * 0.7))  # 10.51 -> 11
    assert s.pods == 11


def test_prefill_role_sizes_on_uncached_prompt_tokens():
    params = CapacityParams(prompt_tokens=2000, prefill_tokens_per_s=12_000, prefix_cache_hit_rate=0.3)
    s = size(10, pod_model(params, "prefill"), utilization=0.7)
    # 10 req/s x 2000 x 0.7 = 14,000 tokens/s over 12,000 x 0.7 = 8,400 per pod -> 1.67 -> 2
    assert s.limited_by == "prefill_throughput"
    assert s.exact_pods == pytest.approx(14_000 / 8_400)
    assert s.pods == 2


def test_decode_role_uses_the_decode_phase_only():
    params = CapacityParams(
        tpot_s=0.035, prompt_tokens=2000, output_tokens=400, kv_capacity_tokens=280_000, max_concurrency=128
    )
    s = size(10, pod_model(params, "decode"), utilization=0.7)
    c = 280_000 / 2400  # 116.7 < 128: the KV cache binds
    assert s.limited_by == "kv_cache"
    assert s.per_pod_concurrency == pytest.approx(c)
    assert s.in_flight == pytest.approx(10 * 400 * 0.035)
    assert s.pods == math.ceil(140 / (c * 0.7))


def test_a_role_without_its_numbers_is_named():
    with pytest.raises(CapacityError, match="prefill_tokens_per_s"):
        pod_model(LLAMA_70B, "prefill")
    with pytest.raises(CapacityError, match="unknown role"):
        pod_model(LLAMA_70B, "both")


@pytest.mark.parametrize(
    ("field", "value"),
    [("kv_capacity_tokens", 0), ("max_concurrency", -4), ("tpot_s", 0.0), ("prefix_cache_hit_rate", 1.0)],
)
def test_zero_or_negative_capacity_is_rejected(field, value):
    with pytest.raises(ValidationError, match=field):
        CapacityParams(**{**LLAMA_70B.model_dump(), field: value})


@pytest.mark.parametrize("utilization", [0, -0.1, 1.01, float("nan")])
def test_utilization_outside_zero_one_is_rejected(utilization):
    with pytest.raises(CapacityError, match=r"utilization must be in \(0, 1\]"):
        size(10, pod_model(LLAMA_70B), utilization=utilization)


@pytest.mark.parametrize("rps", [-1, float("nan"), float("inf")])
def test_missing_or_negative_load_is_an_error_not_zero(rps):
    with pytest.raises(CapacityError, match="rps"):
        size(rps, pod_model(LLAMA_70B), utilization=0.7)


def test_negative_buffer_is_rejected():
    with pytest.raises(CapacityError, match="buffer"):
        size(10, pod_model(LLAMA_70B), utilization=0.7, buffer=-0.1)


def test_ceil_ignores_float_noise_only():
    assert ceil_pods(6.000000000001) == 6
    assert ceil_pods(6.00001) == 7
    assert ceil_pods(0.0) == 0


rates = st.floats(min_value=0, max_value=1e5, allow_nan=False)
utilizations = st.floats(min_value=0.05, max_value=1.0)
buffers = st.floats(min_value=0, max_value=3)


@given(a=rates, b=rates, u=utilizations, buf=buffers)
def test_pods_never_decrease_as_load_grows(a, b, u, buf):
    model = pod_model(LLAMA_70B)
    low, high = sorted((a, b))
    assert (
        size(low, model, utilization=u, buffer=buf).pods <= size(high, model, utilization=u, buffer=buf).pods
    )
    assert (
        size(low, model, utilization=u, buffer=buf).pods_with_buffer
        <= size(high, model, utilization=u, buffer=buf).pods_with_buffer
    )


@given(rps=rates, u=utilizations, buf=buffers)
def test_pods_are_never_negative_and_the_buffer_never_lowers_them(rps, u, buf):
    s = size(rps, pod_model(LLAMA_70B), utilization=u, buffer=buf)
    assert s.pods >= 0
    assert s.pods_with_buffer >= s.pods
    assert s.pods >= s.exact_pods - 1e-9  # rounding is always up


@given(rps=st.floats(min_value=0.01, max_value=1e4), u=utilizations)
def test_served_rate_at_the_sized_pod_count_covers_the_load(rps, u):
    model = pod_model(LLAMA_70B)
    pods = size(rps, model, utilization=u).pods
    assert pods * model.rps_per_pod(u) >= rps * (1 - 1e-9)


def test_queue_thresholds_from_the_slo():
    t = queue_thresholds(slo_ttft_p95_s=0.5, prefill_time_s=0.1, step_time_s=0.05, max_num_seqs=32)
    assert t.queue_wait_budget_s == pytest.approx(0.4)
    assert t.drain_rate_per_s == pytest.approx(640)
    assert t.queue_depth_threshold == pytest.approx(256)
    assert (t.scale_up, t.warning, t.critical) == (128, 204, 256)


def test_queue_thresholds_reject_an_slo_below_the_prefill_time():
    with pytest.raises(CapacityError, match="no queue-wait budget"):
        queue_thresholds(slo_ttft_p95_s=0.1, prefill_time_s=0.2, step_time_s=0.05, max_num_seqs=32)
