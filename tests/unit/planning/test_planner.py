"""The planner on hand-made forecasts whose floors can be worked out by hand.

One pod serves exactly 1 req/s (D = 1 s, C = 1, u = 1, no buffer), so pods = ceil(rate), and
the step is one minute. Cold start 3 min + margin 2 min = a 5-minute lead time, so the window
of the point at minute i covers minutes i..i+5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor.capacity import PodModel, size
from predictor.errors import PlanningError
from predictor.planning import (
    Bounds,
    Demand,
    FloorPolicy,
    FloorState,
    Plan,
    StepRules,
    configured_cold_start,
    floor_pods,
    learn_cold_start,
    plan_floor,
    step_back,
)

ONE_RPS_POD = PodModel("aggregated", 1.0, 1.0, "compute", None, 1.0)
T0 = pd.Timestamp("2026-03-02 08:00", tz="UTC")
COLD = configured_cold_start(total_s=180)
RULES = StepRules(cooldown_s=600, max_step_down_pods=2, step_down_interval_s=120, scale_down_window_s=0)


def demand(rates, quantile=0.9) -> Demand:
    index = pd.date_range(T0, periods=len(rates), freq="60s")
    return Demand(index, np.asarray(rates, dtype=float), quantile)


def plan(rates, *, floor=2, bounds=Bounds(baseline=2), rules=RULES, now=T0, **state):
    return plan_floor(
        demand(rates),
        ONE_RPS_POD,
        policy=FloorPolicy(
            quantile=0.9, utilization=1.0, floor_utilization=1.0, buffer=0.0, margin_s=120, rules=rules
        ),
        cold_start=COLD,
        bounds=bounds,
        state=FloorState(floor, **state),
        now=now,
    )


def test_a_step_is_prewarmed_one_lead_time_ahead_and_lowered_in_steps_after_the_cooldown():
    p = plan([2] * 10 + [8] * 20 + [2] * 40)
    assert [(c.kind, (c.at - T0).seconds // 60, c.from_pods, c.to_pods) for c in p.changes] == [
        ("raise", 5, 2, 8),  # the peak starts at minute 10; 5 minutes of lead time
        ("lower", 30, 8, 6),  # need drops at minute 30 (window 30..35 is all 2); cooldown (10 min) long over
        ("lower", 32, 6, 4),  # then every 2 minutes, 2 pods at a time
        ("lower", 34, 4, 2),
    ]
    assert p.floor_now == 2 and p.change_now is None
    assert p.next_raise().reason == (
        "p90 forecast 8 req/s at 08:10 needs 8 pods; cold start 3 min + margin 2 min; raising 2 → 8 at 08:05"
    )
    assert "lowering 8 → 6 at 08:30 (at most 2 per step)" in p.changes[1].reason


def test_cooldown_delays_the_first_lowering():
    p = plan([2] * 10 + [8] * 3 + [2] * 40)  # a 3-minute peak: need is 8 for minutes 5..12
    lower = [c for c in p.changes if c.kind == "lower"]
    assert (lower[0].at - T0).seconds // 60 == 15  # raise at 5 + cooldown 10, not 13


def test_raise_happens_now_when_the_peak_is_inside_the_lead_time():
    p = plan([2, 2, 9, 9, 2, 2, 2, 2])
    assert p.floor_now == 9
    assert p.change_now is not None and p.change_now.at == T0
    assert p.state == FloorState(9, T0, None)


def test_floor_stays_within_baseline_and_max():
    p = plan([500] * 10, bounds=Bounds(baseline=3, max_replicas=20))
    assert p.floor_now == 20
    assert p.change_now.reason.endswith("capped at 20")
    low = plan([0] * 30, floor=10, bounds=Bounds(baseline=3, max_replicas=20))
    assert low.floor.min() == 3
    assert "the baseline is 3" in low.changes[-1].reason


def test_a_cap_lower_than_the_baseline_never_pushes_below_the_baseline():
    p = plan([500] * 10, bounds=Bounds(baseline=5, max_replicas=50, cap=4))
    assert p.floor_now == 5


def test_a_new_baseline_is_honoured_at_once():
    p = plan([1] * 10, floor=2, bounds=Bounds(baseline=4))
    assert p.floor_now == 4
    assert p.change_now.reason == "the baseline is 4; raising 2 → 4 at 08:00"
    missing = plan([np.nan] * 10, floor=9, bounds=Bounds(baseline=2, max_replicas=6))
    assert missing.floor_now == 6  # above the bound: down at once, even with no forecast
    assert missing.change_now.reason == "the upper bound is 6; lowering 9 → 6 at 08:00"


def test_missing_forecast_holds_the_floor_and_never_lowers_it():
    p = plan([np.nan] * 30, floor=8)
    assert p.changes == () and set(p.floor) == {8}
    assert np.isnan(p.need).all()


def test_partly_missing_window_uses_what_is_known():
    p = plan([np.nan, np.nan, 6, np.nan, np.nan, np.nan, np.nan, np.nan])
    assert p.floor_now == 6


def test_a_forecast_shorter_than_the_lead_time_is_an_error():
    with pytest.raises(PlanningError, match="less than the lead time 5 min"):
        plan([1, 1, 1])


def test_now_before_the_forecast_is_an_error():
    with pytest.raises(PlanningError, match="after now"):
        plan([1] * 10, now=T0 - pd.Timedelta(minutes=1))


def test_state_carries_the_last_raise_between_reconciles():
    # Raised 5 minutes ago: the cooldown (10 min) has not passed, so no lowering yet.
    p = plan([1] * 30, floor=8, last_raise_at=T0 - pd.Timedelta(minutes=5))
    assert p.floor_now == 8
    assert (p.next_change().at - T0).seconds // 60 == 5


@settings(max_examples=60, deadline=None)
@given(
    rates=st.lists(st.one_of(st.floats(0, 60), st.just(float("nan"))), min_size=8, max_size=60),
    baseline=st.integers(0, 5),
    max_replicas=st.integers(5, 40),
    floor=st.integers(0, 50),
)
def test_floor_is_always_within_bounds_and_covers_the_known_need(rates, baseline, max_replicas, floor):
    bounds = Bounds(baseline=baseline, max_replicas=max_replicas)
    p = plan(rates, floor=floor, bounds=bounds)
    assert (p.floor >= bounds.baseline).all() and (p.floor <= bounds.upper).all()
    known = ~np.isnan(p.need)
    assert (p.floor[known] >= np.minimum(p.need[known], bounds.upper)).all()  # raised at once


def test_configured_cold_start_sums_stages():
    cold = configured_cold_start(stages_s={"image_pull": 120, "weight_download": 300})
    assert cold.seconds == 420 and cold.lead_time_s(120) == 540
    assert cold.detail == "sum of 2 stages"


def test_learned_cold_start_needs_enough_samples():
    configured = configured_cold_start(total_s=600)
    few = learn_cold_start([300, 320], configured=configured, min_samples=5)
    assert (few.seconds, few.source, few.samples) == (600, "configured", 2)
    assert "2 of 5 start-ups observed" in few.detail
    observed = [300, 310, 320, 330, 340, 350, 360, 370, 380, 900, float("nan"), -5]
    learned = learn_cold_start(observed, configured=configured, percentile=0.9, min_samples=5)
    assert learned.source == "learned" and learned.samples == 10
    assert learned.seconds == 900  # the 90th percentile of ten start-ups, never interpolated below


# --- Sizing: the floor covers the quantile at floor_utilization; the buffer scales the demand ----------


def sized(policy_changes: dict, rates) -> np.ndarray:
    base = {"quantile": 0.9, "utilization": 0.7, "floor_utilization": 1.0, "buffer": 0.0, "margin_s": 0}
    return floor_pods(
        np.asarray(rates, dtype=float), ONE_RPS_POD, FloorPolicy(**{**base, **policy_changes}, rules=RULES)
    )


def test_the_buffer_scales_the_demand_before_rounding_so_a_small_floor_is_never_doubled():
    # 0.3 req/s is 0.3 pods; +20 % is 0.36, one pod. Rounding first (ceil(ceil(0.3) × 1.2)) gave two.
    assert list(sized({"buffer": 0.2}, [0.0, 0.3, 1.0, 5.0, 7.0])) == [0, 1, 2, 6, 9]
    assert np.isnan(sized({"buffer": 0.2}, [np.nan]))[0]


def test_the_worked_example_differs_from_predictor_plan_by_the_rounding_of_the_buffer():
    # `predictor plan` (the capacity formula): pods = ceil(6.57) = 7, with b = 0.3 ceil(7 × 1.3) = 10.
    # The floor buffers the demand: ceil(6.57 × 1.3) = ceil(8.54) = 9.
    llama = PodModel("aggregated", 9.2, 200.0, "compute", 1250.0, 200.0)
    policy = FloorPolicy(
        quantile=0.9, utilization=0.7, floor_utilization=0.7, buffer=0.3, margin_s=0, rules=RULES
    )
    assert floor_pods(np.array([100.0]), llama, policy)[0] == 9
    assert size(100, llama, utilization=0.7, buffer=0.3).pods_with_buffer == 10


def test_the_floor_is_sized_at_floor_utilization_not_at_kedas_target():
    # 7 req/s: 7 pods at 100 % of a pod; KEDA's 70 % would be 10; a floor at 50 % is 14.
    assert sized({"floor_utilization": 1.0}, [7.0])[0] == 7
    assert sized({"floor_utilization": 0.5}, [7.0])[0] == 14


def test_an_absurd_forecast_is_capped_at_the_bound_and_says_so():
    p = plan([np.inf] * 10, bounds=Bounds(baseline=2, max_replicas=12))
    assert p.floor_now == 12 and p.change_now.reason.endswith("capped at 12")


def test_a_clamped_forecast_says_so_in_the_reason():
    note = "p90 clamped from 2e+07 to 4,800 req/s: 3× the history's peak"
    index = pd.date_range(T0, periods=12, freq="60s")
    p = plan_floor(
        Demand(index, np.full(12, 8.0), 0.9, clamps=(note,)),
        ONE_RPS_POD,
        policy=FloorPolicy(
            quantile=0.9, utilization=1.0, floor_utilization=1.0, buffer=0.0, margin_s=120, rules=RULES
        ),
        cold_start=COLD,
        bounds=Bounds(baseline=2),
        state=FloorState(2),
        now=T0,
    )
    assert p.change_now.reason.endswith(f"raising 2 → 8 at 08:00; {note}")
    assert p.clamps == (note,)


# --- Lowering: never below what the need comes back to within a cold start + KEDA's window --------------


def test_no_lowering_when_the_need_returns_within_a_cold_start():
    # 8 req/s for minutes 10-29, 2 for 30-37, 8 again from 38. The need (window of 6 minutes)
    # is 2 only for minutes 30-32, and 8 again from 33: within a cold start (3 min) of 30.
    # Without the hold: lower 8 → 6 at 30, 6 → 4 at 32, raise 4 → 8 at 33.
    p = plan([2] * 10 + [8] * 20 + [2] * 8 + [8] * 10 + [2] * 40)
    moves = [(c.kind, (c.at - T0).seconds // 60, c.from_pods, c.to_pods) for c in p.changes]
    assert moves[:2] == [("raise", 5, 2, 8), ("lower", 48, 8, 6)]


def test_lowering_stops_at_the_need_that_comes_back():
    # 8 for minutes 10-29, 2 for 30-39, 5 for 40-59, then 2. At 30 the need is 2 and stays 2
    # for 3 minutes: lower 8 → 6. At 32 the need returns to 5 within 3 minutes (at 35): lower
    # to 5, not 4. At 60 the need is 2 for good: 5 → 3 → 2.
    p = plan([2] * 10 + [8] * 20 + [2] * 10 + [5] * 20 + [2] * 40)
    moves = [(c.kind, (c.at - T0).seconds // 60, c.from_pods, c.to_pods) for c in p.changes]
    assert moves == [
        ("raise", 5, 2, 8),
        ("lower", 30, 8, 6),
        ("lower", 32, 6, 5),
        ("lower", 60, 5, 3),
        ("lower", 62, 3, 2),
    ]
    assert p.changes[2].reason.startswith(
        "p90 forecast needs 2 pods until 08:37 and 5 again within 3 min (a cold start + KEDA's "
        "scale-down window); "
    )


def test_kedas_scale_down_window_lengthens_the_hold():
    # A dip of 12 minutes: the need is 2 for minutes 30-36 and 8 again from 37. A cold start
    # (3 min) alone lets the floor down at 30; plus a 5-minute scale-down window, the need at 37
    # is within reach of 30, so the floor holds.
    rules = StepRules(cooldown_s=600, max_step_down_pods=2, step_down_interval_s=120, scale_down_window_s=300)
    rates = [2] * 10 + [8] * 20 + [2] * 12 + [8] * 10 + [2] * 40
    short = plan(rates)
    held = plan(rates, rules=rules)
    assert ("lower", 30) in [(c.kind, (c.at - T0).seconds // 60) for c in short.changes]
    assert ("lower", 30) not in [(c.kind, (c.at - T0).seconds // 60) for c in held.changes]
    assert held.floor[30:45].min() == 8


def test_stepping_back_to_the_baseline_without_a_forecast():
    rules = StepRules(cooldown_s=600, max_step_down_pods=2, step_down_interval_s=300, scale_down_window_s=0)
    bounds = Bounds(baseline=2, max_replicas=20)
    state = FloorState(7, last_raise_at=T0 - pd.Timedelta(hours=1))
    floors = []
    for minute in range(0, 20):
        state = step_back(state, bounds, rules, T0 + pd.Timedelta(minutes=minute))
        floors.append(state.floor)
    assert floors[:1] == [5] and floors[4:6] == [5, 3] and floors[9:11] == [3, 2] and floors[-1] == 2
    assert step_back(FloorState(30), bounds, rules, T0).floor == 20  # above the bound: at once
    assert step_back(FloorState(1), bounds, rules, T0).floor == 2  # a new baseline: at once


# --- Window sizing: the max of per-point quantiles, or the quantile of the pooled window ----------------


def pooled(rates, median) -> Plan:
    index = pd.date_range(T0, periods=len(rates), freq="60s")
    return plan_floor(
        Demand(index, np.asarray(rates, dtype=float), 0.9, median=np.asarray(median, dtype=float)),
        ONE_RPS_POD,
        policy=FloorPolicy(
            quantile=0.9,
            utilization=1.0,
            floor_utilization=1.0,
            buffer=0.0,
            margin_s=120,
            rules=RULES,
            window="pooled",
        ),
        cold_start=COLD,
        bounds=Bounds(baseline=0),
        state=FloorState(0),
        now=T0,
    )


def test_a_pooled_window_of_equal_points_is_their_quantile_and_a_spike_weighs_less():
    assert pooled([8.0] * 10, [5.0] * 10).floor_now == 8  # every point's p90 is 8
    # One point of six at p90 = 30 (median 20), the rest at p90 8 (median 5): the pooled p90 is
    # well below 30, the max of the per-point p90s, and above 8.
    spike = pooled([8, 8, 30, 8, 8, 8, 8, 8, 8, 8], [5, 5, 20, 5, 5, 5, 5, 5, 5, 5])
    assert 8 < spike.floor_now < 30
