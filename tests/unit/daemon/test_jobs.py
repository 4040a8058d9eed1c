"""The daemon's jobs against the fake API server on the movable clock: one catch-all per target per
job, Events best-effort, leadership re-checked before every write, retrains bounded in time and
retried with capped backoff, and a target table that discovery may grow while a cycle runs."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from predictor.daemon.state import JobTimer, TargetState, TargetTable
from predictor.errors import SourceError
from predictor.forecasting.base import Clamp, FittedModel, Forecast
from predictor.sources.synthetic import SyntheticSource
from tests.support.fake_kube import FakeKube
from tests.unit.daemon.conftest import NS, scaled_object, settings_for


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture()
def records():
    handler = Records()
    logger = logging.getLogger("predictor")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def patches(kube: FakeKube, name: str) -> list:
    return [r for r in kube.requests_for("patch", "scaledobjects") if r.name == name]


def test_an_event_that_cannot_be_written_never_fails_a_patch_that_landed(rig):
    rig.kube.put_object(scaled_object())
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat"))
    daemon.retrain_all()
    rig.kube.faults.add(method="POST", path_contains="/events", status=500, times=None)
    rig.clock.set("07:45")
    decision = daemon.reconcile_all()[0]
    assert decision.action == "raise"
    assert rig.so()["spec"]["minReplicaCount"] == decision.floor
    assert rig.metric("predictor_errors_total", target="chat", kind="event") == 1
    assert rig.metric("predictor_errors_total", target="chat", kind="actuation") is None


def test_an_unexpected_error_in_one_target_is_logged_counted_and_the_cycle_goes_on(rig, records):
    broken = scaled_object("chat")
    broken["metadata"]["annotations"] = ["not", "a", "mapping"]  # stored as is: no validation here
    rig.kube.put_object(broken)
    rig.kube.put_object(scaled_object("code"))
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat", "code"))
    daemon.retrain_all()
    rig.clock.set("07:45")
    decisions = {d.target: d for d in daemon.reconcile_all()}
    assert decisions["chat"].action == "failed" and decisions["code"].action == "raise"
    assert rig.metric("predictor_errors_total", target="chat", kind="internal") == 1
    [failure] = [r for r in records.records if getattr(r, "target", None) == "chat" and r.exc_info]
    assert failure.getMessage().startswith("reconcile failed") and failure.job == "reconcile"


def test_leadership_is_checked_again_inside_the_409_loop(rig):
    rig.kube.put_object(scaled_object())
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat"))
    daemon.retrain_all()
    conflict = rig.kube.faults.add(
        method="PATCH", path_contains="/scaledobjects/chat", status=409, delay_s=0.3, times=1
    )

    def lose_the_lease() -> None:  # while the first patch is in flight, another replica takes over
        deadline = time.monotonic() + 10
        while not conflict.hits and time.monotonic() < deadline:
            time.sleep(0.01)
        rig.leader = False

    loser = threading.Thread(target=lose_the_lease)
    loser.start()
    rig.clock.set("07:45")
    decision = daemon.reconcile_all()[0]
    loser.join()
    assert decision.action == "hold" and decision.reason.startswith("not-leader")
    assert [r.status for r in patches(rig.kube, "chat")] == [409]  # the re-read sent nothing
    assert rig.so()["spec"]["minReplicaCount"] == 2


class HungSource:
    """A history source that answers only when released (a hung Prometheus, a huge query).

    Released by the test, or after ``limit_s``: a retrain that waited for it would take that
    long, far beyond any time limit in these tests, whatever the machine's load.
    """

    def __init__(self, limit_s: float = 60.0) -> None:
        self.release, self.limit_s, self.calls = threading.Event(), limit_s, 0

    def fetch(self, start, end, step_s):
        self.calls += 1
        self.release.wait(self.limit_s)
        raise SourceError("too late anyway")


class DownSource:
    def fetch(self, start, end, step_s):
        raise SourceError("Prometheus at http://prometheus:9090: connection refused")


def test_a_retrain_past_its_time_limit_is_abandoned_retried_with_backoff_and_blocks_nobody(rig):
    rig.kube.put_object(scaled_object("chat"))
    rig.kube.put_object(scaled_object("code"))
    schedule = {"retrain_timeout_s": 3, "retrain_retry_s": 60, "retrain_retry_max_s": 240}
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat", "code", schedule=schedule))
    daemon.restore()
    slow = HungSource()
    daemon.targets["chat"].source = slow  # the source is the daemon's input, not its internals

    started = time.monotonic()
    assert daemon.retrain_due() == ["chat", "code"]
    took = time.monotonic() - started
    chat, code = daemon.targets["chat"], daemon.targets["code"]
    # Waiting for the hung source would take its 60 s; the time limit plus code's own retrain less.
    assert took < 30, f"the abandoned retrain held the others up for {took:.1f} s"
    assert code.artifact is not None and chat.artifact is None
    assert "retrain abandoned: it took longer than retrain_timeout_s (3 s)" in chat.last_error
    assert chat.retrain.due_at == rig.clock.now() + pd.Timedelta(seconds=60)
    assert rig.metric("predictor_retrain_consecutive_failures", target="chat") == 1

    rig.clock.moment += pd.Timedelta(seconds=60)  # due again, but the abandoned one still runs
    assert chat.retrain.running
    assert daemon.retrain_due() == [] and slow.calls == 1
    slow.release.set()  # the hung query answers at last
    deadline = time.monotonic() + 20
    while chat.retrain.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not chat.retrain.running  # it ended on its own, and its result was dropped

    chat.source = DownSource()
    waits = []
    for _ in range(4):  # backoff doubles, capped at retrain_retry_max_s
        rig.clock.moment = chat.retrain.due_at
        before = rig.clock.now()
        assert daemon.retrain_due() == ["chat"]
        waits.append((chat.retrain.due_at - before).total_seconds())
    assert waits == [120, 240, 240, 240]


def test_a_stop_abandons_the_running_retrain_and_leaves_the_queue(rig):
    for name in ("a", "b", "c"):
        rig.kube.put_object(scaled_object(name))
    daemon = rig.daemon(settings_for(rig.tmp_path, "a", "b", "c"))
    daemon.restore()
    hung = HungSource()
    daemon.targets["a"].source = hung
    threading.Timer(0.3, daemon.stop.set).start()
    started = time.monotonic()
    ran = daemon.retrain_due()
    assert time.monotonic() - started < 10  # waiting for the hung source would take 60 s
    assert ran == ["a"]  # b and c were queued: dropped
    assert "the daemon is stopping" in daemon.targets["a"].last_error
    hung.release.set()  # let the abandoned thread end


def test_a_history_that_ends_early_is_trained_on_and_trained_at_says_so(rig):
    rig.kube.put_object(scaled_object())
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat"))
    rt = daemon.targets["chat"]
    real = rt.source

    class Lagging:  # the last 40 minutes are not there yet (a lagging remote write, say)
        def fetch(self, start, end, step_s):
            history = real.fetch(start, end, step_s)
            history[history.index >= end - pd.Timedelta(minutes=40)] = np.nan
            return history

    rt.source = Lagging()
    rig.clock.set("07:47")
    daemon.retrain("chat")
    # The last bin with data is 07:05-07:10: the model knows the load up to 07:10, not to 07:47.
    assert rt.artifact.trained_at == pd.Timestamp("2026-11-18 07:10", tz="UTC")
    assert rt.artifact.fitted_at == rig.clock.now()
    assert rt.retrain.due_at >= rt.artifact.trained_at + pd.Timedelta(seconds=10_800)


class Clamping(FittedModel):
    """A model at our own interface that says its p90 was cut to its plausibility bound."""

    kind = "harmonic"

    def __init__(self, inner: FittedModel) -> None:
        self.inner = inner

    def predict(self, start, periods, quantiles=(0.5, 0.9, 0.95)) -> Forecast:
        forecast = self.inner.predict(start, periods, quantiles)
        return replace(forecast, clamps=(Clamp("p90", 3, 2e7, 4_800, "3× the history's peak"),))

    def to_state(self):
        return self.inner.to_state()

    @classmethod
    def from_state(cls, state):
        raise NotImplementedError


def test_a_clamped_forecast_is_a_metric_and_said_in_the_decision(rig):
    rig.kube.put_object(scaled_object())
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat"))
    daemon.retrain_all()
    assert daemon.reconcile_all()[0].clamps == ()
    assert rig.metric("predictor_forecast_clamped", target="chat") == 0
    rt = daemon.targets["chat"]
    rt.artifact = replace(rt.artifact, model=Clamping(rt.artifact.model))
    decision = daemon.reconcile_all()[0]
    assert rig.metric("predictor_forecast_clamped", target="chat") == 1
    assert decision.clamps == ("p90 clamped from 2e+07 to 4,800 req/s: 3× the history's peak",)
    assert "clamped" in decision.reason


def test_the_target_table_can_grow_while_a_cycle_runs_over_it(tmp_path):
    table = TargetTable()
    seen = []
    settings = settings_for(tmp_path, "chat").targets[0]
    table.put(TargetState.create(settings, SyntheticSource()))
    for rt in table.snapshot():
        seen.append(rt.name)
        renamed = settings.model_copy(update={"name": "added", "scaled_object": f"{NS}/added"})
        table.put(TargetState.create(renamed, SyntheticSource()))  # discovery adds one meanwhile
    assert seen == ["chat"] and table.names() == ["chat", "added"]


def test_retry_backoff_doubles_and_is_capped():
    timer, now = JobTimer(), pd.Timestamp("2026-11-18 06:00", tz="UTC")
    waits = [timer.failed(now, "down", first_s=60, max_s=1_800) for _ in range(7)]
    assert waits == [60, 120, 240, 480, 960, 1_800, 1_800]
    timer.succeeded(now + pd.Timedelta(hours=3))
    assert (timer.failures, timer.last_error) == (0, None)
