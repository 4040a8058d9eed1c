"""The predictive floor in the replay: it never looks ahead, and it pre-warms a daily ramp."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictor.capacity import pod_model_for_peak
from predictor.config import PolicySettings
from predictor.planning import Bounds, configured_cold_start
from predictor.runtime.policy import Cadence
from predictor.runtime.targets import policy_from_settings
from predictor.simulation import Cluster, oracle_floor, reactive_floor, simulate
from predictor.simulation.predictive import predictive_floor
from predictor.sources.synthetic import synthetic_trace

U = 0.7
COLD_S = 1200
POLICY = policy_from_settings(
    PolicySettings(
        model="harmonic", history_window_days=14, cooldown_s=1800, spike_buffer=0.0, utilization_target=U
    )
)
FAST = Cadence(retrain_every_s=21_600, reconcile_every_s=300)  # the shipped retrain interval


@pytest.fixture(scope="module")
def trace() -> pd.Series:
    # Weekdays only matter here; no bursts, so the comparison is about the daily ramp.
    return synthetic_trace(days=17, step_s=60, bursts=0, noise=0.03, seed=5)


def run(load: pd.Series, start: pd.Timestamp, peak_rps: float | None = None):
    # Pods are sized from the peak once, as `--peak-pods` does: a fixed property of the replay.
    pod = pod_model_for_peak(peak_rps or float(load.max()), 20, utilization=U)
    cluster = Cluster(pod_rps=pod.concurrency, utilization=U, cold_start_s=COLD_S)
    result = predictive_floor(
        load,
        start,
        pod=pod,
        cold_start=configured_cold_start(total_s=COLD_S),
        bounds=Bounds(1, 100),
        policy=POLICY,
        cadence=FAST,
    )
    return result, cluster


def test_the_floor_never_uses_data_from_after_now(trace):
    start = pd.Timestamp("2026-01-20 00:00", tz="UTC")  # a Tuesday, after 15 days of history
    cut = pd.Timestamp("2026-01-20 12:00", tz="UTC")
    poisoned = trace.copy()
    poisoned[poisoned.index >= cut] = 1e5
    end = pd.Timestamp("2026-01-21", tz="UTC")
    clean, _ = run(trace[trace.index < end], start, peak_rps=float(trace.max()))
    dirty, _ = run(poisoned[poisoned.index < end], start, peak_rps=float(trace.max()))
    before = (trace.index[trace.index >= start] < cut)[: len(clean.floor)]
    np.testing.assert_array_equal(clean.floor[before], dirty.floor[before])


def test_predictive_prewarms_the_ramp_that_reactive_misses(trace):
    start = pd.Timestamp("2026-01-20 00:00", tz="UTC")
    load = trace[trace.index < pd.Timestamp("2026-01-22", tz="UTC")]
    result, cluster = run(load, start)
    replay = load[load.index >= start].to_numpy()
    reactive = simulate(replay, reactive_floor(len(replay), cluster), cluster)
    predictive = simulate(replay, result.floor, cluster)
    oracle = simulate(replay, oracle_floor(replay, cluster), cluster)
    assert reactive.shortfall_minutes > 0, "the test needs a ramp that a 20-minute cold start misses"
    assert predictive.shortfall_minutes <= 0.1 * reactive.shortfall_minutes
    assert oracle.shortfall_minutes == 0
    assert predictive.pod_hours <= 1.3 * oracle.pod_hours
    assert [kind for _, kind in result.fits] == ["harmonic"] * 8  # retrained every 6 h
    # The recorded forecast is the one made a lead time earlier, so it exists after the first lead time.
    assert np.isnan(result.forecast[:10]).all() and np.isfinite(result.forecast[60:]).all()


def test_the_replay_scales_the_token_series_with_a_known_event_as_the_daemon_does():
    from predictor import events as ev
    from predictor.capacity.demand import OUTPUT_TOKENS, REQUESTS
    from predictor.simulation.predictive import record_forecasts
    from predictor.sources.synthetic_tokens import synthetic_token_trace

    frame = synthetic_token_trace(days=9, step_s=60, seed=8)
    start = frame.index[0] + pd.Timedelta(days=8, hours=6)
    frame = frame[frame.index < start + pd.Timedelta(hours=2)]
    window = (start + pd.Timedelta(minutes=30), start + pd.Timedelta(hours=4))
    launch = ev.Event("launch", ev.OneOff(*window), ev.Effect("multiply", 2.0))
    policy = policy_from_settings(PolicySettings(model="harmonic", history_window_days=7))
    pod = pod_model_for_peak(float(frame[REQUESTS].max()), 20, utilization=U)
    common = dict(
        pod=pod,
        cold_start=configured_cold_start(total_s=600),
        policy=policy,
        cadence=Cadence(retrain_every_s=3 * 3600, reconcile_every_s=600),
        token_history=frame.drop(columns=[REQUESTS]),
    )
    plain = record_forecasts(frame[REQUESTS], start, **common)
    launched = record_forecasts(frame[REQUESTS], start, events=(launch,), **common)
    q = policy.quantile
    rows = launched.origins
    assert len(rows) == len(plain.origins) >= 2
    step = pd.Timedelta(seconds=policy.step_s)
    for r, origin in enumerate(rows):
        points = pd.date_range(origin, periods=launched.periods, freq=step)
        inside = (points >= window[0]) & (points < window[1])
        assert inside.any()
        ratio = launched.mean[r] / plain.mean[r]
        np.testing.assert_allclose(ratio[inside], 2.0)
        tokens, base = launched.tokens[OUTPUT_TOKENS][q][r], plain.tokens[OUTPUT_TOKENS][q][r]
        np.testing.assert_allclose(tokens[inside], 2 * base[inside])
        np.testing.assert_allclose(tokens[~inside], base[~inside])
