"""Observed capacity from per-pod metrics the project generates: the estimate against the
generator's truth, what it can and cannot say, the warm-up exclusion, and the comparison."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from predictor.capacity import pod_model
from predictor.capacity.comparison import compare_capacity, observed_pod_model
from predictor.capacity.fitting import isotonic_decreasing, share_within
from predictor.capacity.observed import (
    LatencyHistogram,
    PodMetrics,
    estimate_observed_capacity,
    unsteady_mask,
    warming_mask,
)
from predictor.capacity.slo import Slo
from predictor.config import load_profile
from predictor.errors import CapacityError
from predictor.sources.synthetic_fleet import as_pod_metrics, production_samples
from predictor.sources.synthetic_serving import SyntheticPod

POD = SyntheticPod()
TTFT = Slo("ttft", 99, 0.5)
START = pd.Timestamp("2026-03-02 06:00", tz="UTC")


def metrics_at(
    loads: dict[str, float],
    *,
    minutes: int = 60,
    slow: dict[str, float] | None = None,
    lives: dict[str, list[pd.Timestamp]] | None = None,
) -> PodMetrics:
    """Pods at constant loads for ``minutes``, scraped every minute, read at a 5-minute step."""
    index = pd.date_range(START, periods=minutes, freq="60s")
    load = pd.DataFrame({pod: np.full(minutes, rate) for pod, rate in loads.items()}, index=index)
    slowdown = None
    if slow is not None:
        slowdown = pd.DataFrame({p: np.full(minutes, slow.get(p, 1.0)) for p in loads}, index=index)
    return as_pod_metrics(production_samples(POD, load, slowdown=slowdown, seed=0), lives or {})


@pytest.fixture(scope="module")
def spread() -> PodMetrics:
    """30 pods at loads from 2 to 12.4 req/s: the objective is crossed inside the range."""
    return metrics_at({f"p{i:02d}": rate for i, rate in enumerate(np.linspace(2, 12.4, 30))})


def test_the_estimate_is_within_five_percent_of_the_truth(spread):
    truth = POD.truth_rps(TTFT)
    observed = estimate_observed_capacity(spread, [TTFT], warmup_s=0)
    assert observed.status == "measured" and observed.binding == TTFT
    assert observed.rps_per_pod == pytest.approx(truth, rel=0.05)
    assert observed.pods == 30 and observed.samples == 30 * 12 and observed.samples_warming == 0
    # Little's law there: in flight / throughput is the generator's time in the pod at that load.
    assert observed.seconds_per_request == pytest.approx(POD.steady(truth).busy / truth, rel=0.1)
    fitted = [b.fitted[0] for b in observed.bins]
    assert fitted == sorted(fitted, reverse=True)  # more load never makes a pod faster
    assert "crossed at" in observed.reason and "from 360 samples of 30 pods" in observed.reason


def test_a_limit_between_bucket_bounds_is_flagged(spread):
    between = estimate_observed_capacity(spread, [Slo("ttft", 99, 0.4)], warmup_s=0)
    assert between.notes == (
        "TTFT p99 ≤ 0.4 s: the limit lies between vllm:time_to_first_token_seconds's bucket bounds "
        "0.25 and 0.5 s, so the share within it is interpolated and can be far off; an objective at a "
        "bucket bound is read exactly",
    )
    assert estimate_observed_capacity(spread, [TTFT], warmup_s=0).notes == ()


def test_loads_below_the_knee_only_give_a_lower_bound():
    low = metrics_at({f"p{i}": rate for i, rate in enumerate(np.linspace(2, 8, 12))})
    observed = estimate_observed_capacity(low, [TTFT], warmup_s=0)
    assert observed.status == "not-reached"
    assert observed.rps_per_pod == pytest.approx(max(b.load_rps for b in observed.bins))
    assert "capacity is at least that" in observed.reason


def test_loads_above_the_knee_only_give_an_upper_bound():
    high = metrics_at({f"p{i}": rate for i, rate in enumerate(np.linspace(11.8, 12.6, 8))})
    observed = estimate_observed_capacity(high, [TTFT], warmup_s=0)
    assert observed.status == "exceeded"
    assert observed.rps_per_pod == pytest.approx(min(b.load_rps for b in observed.bins))
    assert "capacity is below that" in observed.reason


def test_a_crossing_across_unseen_loads_is_only_bounded():
    """Pods seen at 2-2.5 req/s (met) and at 12.4 (missed), nothing between: the knee lies
    somewhere in the gap, and interpolating across it would invent a number."""
    gap = metrics_at({"a": 2.0, "b": 2.2, "c": 2.5, "d": 12.4, "e": 12.45})
    observed = estimate_observed_capacity(gap, [TTFT], warmup_s=0)
    assert observed.status == "not-reached"
    assert observed.rps_per_pod == pytest.approx(2.5, rel=0.05)
    assert observed.upper_rps == pytest.approx(12.4, rel=0.02)
    assert "with no load seen between" in observed.reason
    assert observed.rps_per_pod < POD.truth_rps(TTFT) < observed.upper_rps  # both bounds hold
    assert not compare_capacity(10.0, observed, margin=0.25).off  # 10 req/s lies inside the bounds
    high = compare_capacity(20.0, observed, margin=0.25)
    assert high.off and "pods missed the objective at 12.4 req/s" in high.reason
    configured = pod_model(load_profile("llama-3-8b-l40s-tp2").capacity)  # 12.5 req/s at full use
    sized, _ = observed_pod_model(configured, observed)
    assert sized.rps_per_pod(1.0) == pytest.approx(observed.upper_rps)  # missed below 12.5: below it


def test_no_samples_is_no_data_never_zero():
    nothing = pd.DataFrame(dtype=float)
    empty = PodMetrics(300, nothing, {"ttft": LatencyHistogram("x", {math.inf: nothing})}, {})
    observed = estimate_observed_capacity(empty, [TTFT], warmup_s=900)
    assert observed.status == "no-data" and observed.rps_per_pod is None
    with pytest.raises(CapacityError, match="no latency histogram read for tpot"):
        estimate_observed_capacity(empty, [Slo("tpot", 99, 0.03)], warmup_s=900)


def test_a_warming_pod_is_left_out():
    """A pod born at 06:00 and six times slower in its first 20 minutes, at a load far below the
    knee: counted, it makes the fleet look saturated at 4 req/s; left out, it changes nothing."""
    loads = {f"p{i:02d}": rate for i, rate in enumerate(np.linspace(2, 12.4, 30))}
    loads["new"] = 4.0
    born = {"new": [START]}
    metrics = metrics_at(loads, minutes=20, slow={"new": 6.0}, lives=born)
    mask = warming_mask(metrics, 900)
    assert mask["new"].sum() == 3 and not mask.drop(columns="new").to_numpy().any()  # 06:05..06:15
    kept = estimate_observed_capacity(metrics, [TTFT], warmup_s=1200)
    assert kept.samples_warming == 4 and kept.pods_warming == 1
    assert kept.rps_per_pod == pytest.approx(POD.truth_rps(TTFT), rel=0.1)
    counted = estimate_observed_capacity(metrics, [TTFT], warmup_s=0)
    assert counted.rps_per_pod < 0.8 * POD.truth_rps(TTFT)


def test_samples_in_a_burst_are_left_out():
    load = pd.DataFrame({"a": [5.0, 5.0, 10.0, 5.0, 5.2], "b": [5.0, 5.4, 5.8, np.nan, 6.1]})
    mask = unsteady_mask(load, 0.1, 300)
    assert mask[:, 0].tolist() == [False, True, True, True, False]  # the burst and both its edges
    assert not mask[:, 1].any()  # 8 % steps and a missing neighbour are steady
    assert not unsteady_mask(load, None, 300).any()
    # At 0.1 req/s a 5-minute step counts 30 requests: a 40 % change is counting noise.
    quiet = pd.DataFrame({"a": [0.1, 0.14, 0.1]})
    assert not unsteady_mask(quiet, 0.1, 300).any() and unsteady_mask(quiet * 100, 0.1, 300).any()


def test_share_within_interpolates_between_bucket_bounds():
    buckets = {
        0.1: np.array([10.0]),
        0.5: np.array([50.0]),
        1.0: np.array([90.0]),
        math.inf: np.array([100.0]),
    }
    assert share_within(buckets, 0.5)[0][0] == 50
    assert share_within(buckets, 0.75)[0][0] == pytest.approx(70)
    assert share_within(buckets, 0.05)[0][0] == pytest.approx(5)
    assert share_within(buckets, 5.0) == (90.0, 100.0)  # above the last finite bound: unknown, not within
    with pytest.raises(CapacityError, match=r"\+Inf bucket"):
        share_within({0.1: np.array([1.0])}, 0.5)


def test_isotonic_fit_pools_violators():
    fit = isotonic_decreasing(np.array([1.0, 0.9, 0.95, 0.5]), np.ones(4))
    np.testing.assert_allclose(fit, [1.0, 0.925, 0.925, 0.5])
    heavy = isotonic_decreasing(np.array([0.9, 1.0]), np.array([1.0, 9.0]))
    np.testing.assert_allclose(heavy, [0.99, 0.99])


def observed_with(status: str, rps: float | None):
    metrics = metrics_at({"a": 4.0}, minutes=10)
    base = estimate_observed_capacity(metrics, [TTFT], warmup_s=0)
    from dataclasses import replace

    return replace(base, status=status, rps_per_pod=rps)


@pytest.mark.parametrize(
    ("status", "rps", "off", "words"),
    [
        ("measured", 8.0, True, "20% below configured 10 req/s per pod (margin 10%): the profile overstates"),
        (
            "measured",
            12.0,
            True,
            "20% above configured 10 req/s per pod (margin 10%): the profile understates",
        ),
        ("measured", 10.5, False, "5% above configured 10 req/s per pod (margin 10%): the profile holds"),
        ("not-reached", 8.0, False, "no evidence against the profile"),
        ("not-reached", 12.0, True, "pods met the objective up to 12 req/s, 20% above"),
        ("exceeded", 12.0, False, "no evidence against the profile"),
        ("exceeded", 8.0, True, "pods missed the objective even at 8 req/s, 20% below"),
        ("no-data", None, False, "cannot compare with configured 10 req/s per pod"),
    ],
)
def test_comparison(status, rps, off, words):
    result = compare_capacity(10.0, observed_with(status, rps), margin=0.1)
    assert result.off is off and words in result.reason
    assert result.ratio == (None if rps is None else pytest.approx(rps / 10))


def test_sizing_follows_production_only_where_it_proved_something():
    configured = pod_model(load_profile("llama-3-8b-l40s-tp2").capacity)
    full = configured.rps_per_pod(1.0)  # 64 / 5.12 s = 12.5 req/s
    measured, why = observed_pod_model(configured, observed_with("measured", 10.0))
    assert measured.rps_per_pod(1.0) == pytest.approx(10.0) and measured.limited_by == "observed"
    assert measured.seconds_per_request == configured.seconds_per_request and "10 req/s" in why
    assert observed_pod_model(configured, observed_with("not-reached", 8.0))[0] is configured
    assert observed_pod_model(configured, observed_with("not-reached", 14.0))[0].rps_per_pod(
        1.0
    ) == pytest.approx(14)
    assert observed_pod_model(configured, observed_with("exceeded", full + 1))[0] is configured
    assert observed_pod_model(configured, observed_with("no-data", None))[0] is configured
