"""The replay's floor is the daemon's, decision for decision.

The replay records one forecast per model step and plans thousands of them at once; the daemon
plans each reconcile with ``predict_and_plan`` over its whole horizon. Here a reference loop does
what the daemon documents (a retrain every ``retrain_every_s`` on the window before, ``trained_at``
the end of the data seen, the planner's memory carried, a step back to the baseline past the age
limit) and the replay must give the same floor and the same reasons at every reconcile.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from predictor import events as ev
from predictor.capacity import pod_model_for_peak
from predictor.config import PolicySettings
from predictor.errors import ForecastError
from predictor.planning import Bounds, FloorState, configured_cold_start, step_back
from predictor.runtime.forecast import ForecastRequest, choose_and_fit, predict_and_plan, training_window
from predictor.runtime.policy import Cadence
from predictor.runtime.targets import policy_from_settings
from predictor.simulation.predictive import NO_MODEL, TOO_OLD, record_forecasts, replay_floor
from predictor.sources.synthetic import synthetic_trace

COLD = configured_cold_start(total_s=780)
BOUNDS = Bounds(2, 40)


@pytest.fixture(scope="module")
def trace() -> pd.Series:
    return synthetic_trace(days=6, step_s=60, seed=3)


def daemon_floors(load, start, policy, cadence, pod, events=()):
    """What the daemon would do at each reconcile: (floors per reconcile, changes)."""
    history = load.resample(f"{policy.step_s}s").mean()
    request = ForecastRequest("t", policy, pod, COLD, BOUNDS, events=tuple(events))
    replay = load[load.index >= start]
    state, model, trained_at, attempted = FloorState(BOUNDS.baseline), None, None, None
    floors, changes = [], []
    every = round(cadence.reconcile_every_s / 60)
    for now in replay.index[::every]:
        if attempted is None or (now - attempted).total_seconds() >= cadence.retrain_every_s:
            attempted = now
            try:
                window = training_window(history, now, policy.train_days)
                model = choose_and_fit(window, request).model
                trained_at = window.index[-1] + pd.Timedelta(seconds=policy.step_s)
            except ForecastError:
                pass
        if model is None:
            pass  # no model yet: the floor holds
        elif (now - trained_at).total_seconds() > policy.max_forecast_age_s:
            state = step_back(state, BOUNDS, policy.floor.rules, now)
        else:
            _, plan = predict_and_plan(model, request, now, state)
            if plan.change_now is not None:
                changes.append(plan.change_now)
            state = plan.state
        floors.append(state.floor)
    return np.array(floors), changes


@pytest.mark.parametrize(
    ("retrain_s", "max_age_s"), [(21_600, 21_600), (86_400, 21_600)], ids=["shipped", "ages-out"]
)
def test_the_replay_makes_the_daemons_decisions(trace, retrain_s, max_age_s):
    policy = policy_from_settings(
        PolicySettings(model="seasonal_naive", history_window_days=3, max_forecast_age_s=max_age_s)
    )
    cadence = Cadence(retrain_every_s=retrain_s, reconcile_every_s=120)
    start = pd.Timestamp("2026-01-08 04:00", tz="UTC")  # a Thursday: a ramp after 3 days of history
    load = trace[trace.index < start + pd.Timedelta(days=1)]
    pod = pod_model_for_peak(float(load.max()), 20, utilization=0.7)
    tape = record_forecasts(load, start, pod=pod, cold_start=COLD, policy=policy, cadence=cadence)
    run = replay_floor(tape, policy.floor, pod=pod, bounds=BOUNDS)
    expected, changes = daemon_floors(load, start, policy, cadence, pod)
    np.testing.assert_array_equal(run.floor[tape.reconciles], expected)
    assert [(c.at, c.kind, c.from_pods, c.to_pods, c.reason) for c in run.changes] == [
        (c.at, c.kind, c.from_pods, c.to_pods, c.reason) for c in changes
    ]
    assert expected.max() > BOUNDS.baseline, "the day needs a raise for the comparison to mean anything"
    if retrain_s > max_age_s:  # six hours after the daily retrain the model ages out: back to the baseline
        old = tape.entry == TOO_OLD
        assert old.any() and expected[old][-1] == BOUNDS.baseline < expected[~old].max()


def test_the_replay_makes_the_daemons_decisions_with_known_events(trace):
    """Past windows out of training, a ×2 and a min_floor on the forecasts: decision for decision."""
    policy = policy_from_settings(PolicySettings(model="seasonal_naive", history_window_days=3))
    cadence = Cadence(retrain_every_s=21_600, reconcile_every_s=120)
    start = pd.Timestamp("2026-01-08 04:00", tz="UTC")
    load = trace[trace.index < start + pd.Timedelta(days=1)]
    pod = pod_model_for_peak(float(load.max()), 20, utilization=0.7)
    utc = lambda text: pd.Timestamp(text, tz="UTC")  # noqa: E731
    events = (
        ev.Event(
            "past-launch",
            ev.OneOff(utc("2026-01-07 09:00"), utc("2026-01-07 12:00")),
            ev.Effect("multiply", 3),
        ),
        ev.Event(
            "launch", ev.OneOff(utc("2026-01-08 09:00"), utc("2026-01-08 11:00")), ev.Effect("multiply", 2)
        ),
        ev.Event(
            "batch", ev.OneOff(utc("2026-01-08 02:00"), utc("2026-01-08 06:00")), ev.Effect("min_floor", 15)
        ),
    )
    tape = record_forecasts(
        load, start, pod=pod, cold_start=COLD, policy=policy, cadence=cadence, events=events
    )
    run = replay_floor(tape, policy.floor, pod=pod, bounds=BOUNDS)
    expected, changes = daemon_floors(load, start, policy, cadence, pod, events)
    np.testing.assert_array_equal(run.floor[tape.reconciles], expected)
    assert [(c.at, c.kind, c.from_pods, c.to_pods) for c in run.changes] == [
        (c.at, c.kind, c.from_pods, c.to_pods) for c in changes
    ]
    plain = replay_floor(
        record_forecasts(load, start, pod=pod, cold_start=COLD, policy=policy, cadence=cadence),
        policy.floor,
        pod=pod,
        bounds=BOUNDS,
    )
    batch = (tape.index >= utc("2026-01-08 04:00")) & (tape.index < utc("2026-01-08 06:00"))
    assert run.floor[batch].min() == 15 and plain.floor[batch].min() < 15
    launch = (tape.index >= utc("2026-01-08 09:00")) & (tape.index < utc("2026-01-08 11:00"))
    assert run.floor[launch].mean() > plain.floor[launch].mean()


def test_without_history_the_floor_holds_and_a_failed_retrain_is_retried_a_model_step_later(trace):
    policy = policy_from_settings(PolicySettings(model="seasonal_naive", history_window_days=3))
    cadence = Cadence(retrain_every_s=21_600, reconcile_every_s=60)
    start = trace.index[0] + pd.Timedelta(hours=12)  # under a day of history: seasonal naive cannot fit
    load = trace[trace.index < trace.index[0] + pd.Timedelta(days=2)]
    pod = pod_model_for_peak(float(load.max()), 20, utilization=0.7)
    tape = record_forecasts(load, start, pod=pod, cold_start=COLD, policy=policy, cadence=cadence)
    run = replay_floor(tape, policy.floor, pod=pod, bounds=replace(BOUNDS, baseline=3))
    first_fit = tape.fits[0][0]
    assert first_fit == trace.index[0] + pd.Timedelta(days=1)  # retried every 5 minutes until a day is there
    before = tape.index[tape.reconciles] < first_fit
    assert (tape.entry[before] == NO_MODEL).all() and (run.floor[tape.index < first_fit] == 3).all()
