"""The replay's HPA rules on small hand-made loads; every expected number is worked out by hand.

Unless a test says otherwise: one step is one minute, a Ready pod serves 10 req/s at 100 %,
the HPA targets 70 % (7 req/s per pod), and a new pod is Ready 10 minutes after it is created.
"""

from __future__ import annotations

import numpy as np
import pytest

from predictor.errors import PlanningError
from predictor.simulation import Cluster, oracle_floor, reactive_floor, simulate

CLUSTER = Cluster(pod_rps=10, utilization=0.7, cold_start_s=600, min_replicas=1, max_replicas=100)


def step_load() -> np.ndarray:
    # 20 req/s for an hour, 100 req/s for two hours, 20 req/s for an hour.
    return np.r_[np.full(60, 20.0), np.full(120, 100.0), np.full(60, 20.0)]


def test_step_reactive():
    out = simulate(step_load(), reactive_floor(240, CLUSTER), CLUSTER)
    # 20/7 = 2.86 -> 3 pods; 100/7 = 14.3 -> 15 pods at minute 60, Ready at 70.
    assert out.replicas[59] == 3 and out.replicas[60] == 15
    assert out.ready[69] == 3 and out.ready[70] == 15
    # Minutes 60-69: 3 Ready pods serve 30 of 100 req/s.
    assert out.shortfall_minutes == 10
    assert out.unserved_fraction == pytest.approx(10 * 70 / (60 * 20 + 120 * 100 + 60 * 20))
    # The last high recommendation is at 179; it leaves the 300 s window at 184.
    assert out.replicas[183] == 15 and out.replicas[184] == 3
    assert out.pod_hours == pytest.approx((60 * 3 + 124 * 15 + 56 * 3) / 60)
    assert out.scale_events == 2


def test_step_oracle_has_no_shortfall_and_costs_the_lead_only():
    floor = oracle_floor(step_load(), CLUSTER)
    # 100 req/s needs 10 pods at 100 %; asked for 10 minutes ahead, from minute 50.
    assert floor[49] == 2 and floor[50] == 10 and floor[179] == 10 and floor[180] == 2
    out = simulate(step_load(), floor, CLUSTER)
    assert out.shortfall_minutes == 0 and out.unserved_fraction == 0
    # 3 pods to 49, the floor's 10 for 50-59, the HPA's 15 from 60 to 183, then 3.
    assert out.pod_hours == pytest.approx((50 * 3 + 10 * 10 + 124 * 15 + 56 * 3) / 60)
    assert out.scale_events == 3


def test_ramp():
    # Load = the minute index (0..100 req/s); u = 1, no tolerance, a 3-minute cold start:
    # replicas(t) = ceil(t / 10) (at least 1); Ready(t) = replicas(t - 3).
    cluster = Cluster(pod_rps=10, utilization=1.0, cold_start_s=180, tolerance=0.0)
    load = np.arange(101, dtype=float)
    out = simulate(load, reactive_floor(101, cluster), cluster)
    assert list(out.replicas[[0, 10, 11, 20, 21, 100]]) == [1, 1, 2, 2, 3, 10]
    # Short at t = 11, 12, 13 (1 Ready pod) and the same three minutes of every later decade.
    short = [t for t in range(101) if load[t] > out.ready[t] * 10]
    assert short == [d + k for d in range(10, 100, 10) for k in (1, 2, 3)]
    assert out.shortfall_minutes == 27
    assert out.unserved_fraction == pytest.approx(9 * (1 + 2 + 3) / 5050)
    assert out.scale_events == 9


def test_spike():
    # One minute at 500 req/s in 20 req/s: 500/7 -> 72 pods, never Ready in time.
    load = np.full(60, 20.0)
    load[30] = 500.0
    out = simulate(load, reactive_floor(60, CLUSTER), CLUSTER)
    assert out.shortfall_minutes == 1
    assert out.unserved_fraction == pytest.approx((500 - 30) / (59 * 20 + 500))
    assert list(out.replicas[29:37]) == [3, 72, 72, 72, 72, 72, 3, 3]  # down at 35, 300 s after minute 30
    assert out.scale_events == 2
    oracle = simulate(load, oracle_floor(load, CLUSTER), CLUSTER)
    assert oracle.shortfall_minutes == 0  # 50 pods asked for from minute 20


def test_gap_holds_the_count_and_is_not_counted():
    load = step_load()
    load[100:130] = np.nan  # the metric is missing for half an hour during the peak
    out = simulate(load, reactive_floor(240, CLUSTER), CLUSTER)
    assert (out.replicas[100:130] == 15).all()  # missing is not zero: no scale-down
    assert out.shortfall_minutes == 10  # only the ten minutes after the step, as without the gap
    assert out.unserved_fraction == pytest.approx(700 / (60 * 20 + 90 * 100 + 60 * 20))


def test_floor_and_max_are_respected():
    cluster = Cluster(pod_rps=10, utilization=0.7, cold_start_s=600, min_replicas=2, max_replicas=12)
    floor = np.r_[np.full(30, 5.0), np.full(30, 0.0)]
    out = simulate(np.full(60, 200.0), floor, cluster)
    assert out.replicas.max() == 12  # 200/7 wants 29; maxReplicaCount wins
    quiet = simulate(np.zeros(60), floor, cluster)
    # The HPA recommends 0 throughout, so when the floor drops the count follows at once.
    assert list(quiet.replicas[[0, 29, 30, 59]]) == [5, 5, 2, 2]


def test_bad_inputs():
    with pytest.raises(PlanningError, match="differ in length"):
        simulate(np.zeros(3), np.zeros(4), CLUSTER)
    with pytest.raises(PlanningError, match="invalid cluster"):
        Cluster(pod_rps=0, utilization=0.7, cold_start_s=60)
