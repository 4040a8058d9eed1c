"""Prometheus faults: the model keeps forecasting; the floor never shrinks for lack of data."""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest

from predictor.daemon.jobs import Daemon
from predictor.daemon.reconcile import Decision
from tests.integration.faults.rig import (
    PROMETHEUS_TIMEOUT_S,
    RAMP,
    WEDNESDAY,
    Rig,
    assert_code_raised,
    by_target,
)

pytestmark = pytest.mark.integration


# Prometheus. The model trained at 06:00 keeps forecasting; the floor never shrinks for lack of data.


def prometheus_fails(rig: Rig, mode: str | None) -> tuple[Daemon, dict[str, Decision]]:
    """Retrain both targets with Prometheus in ``mode`` (None: stopped), then reconcile at the ramp."""
    daemon = rig.daemon()
    trained_at = daemon.targets["chat"].artifact.trained_at
    if mode is None:
        rig.prometheus.stop()
    rig.prometheus.mode = mode
    started = time.monotonic()
    daemon.retrain_all()
    took = time.monotonic() - started
    assert took < PROMETHEUS_TIMEOUT_S * 3 + 3, f"a retrain against a failing Prometheus took {took:.1f} s"
    assert daemon.targets["chat"].artifact.trained_at == trained_at  # the old model is kept
    assert daemon.targets["code"].artifact.trained_at == RAMP  # the other target retrained
    decisions = by_target(daemon.reconcile_all())
    chat = decisions["chat"]
    assert chat.state == "stale" and chat.action == "raise" and rig.floor("chat") == chat.floor
    assert rig.state("chat") == "stale"
    assert any("retrain failed (forecasting from the last model)" in m for m in rig.logs.about("chat"))
    assert_code_raised(rig, decisions["code"])
    return daemon, decisions


def test_prometheus_503(rig):
    daemon, _ = prometheus_fails(rig, "503")
    assert rig.errors("chat", "source") == 1
    assert "503" in daemon.targets["chat"].last_error


def test_prometheus_down(rig):
    daemon, _ = prometheus_fails(rig, None)
    assert rig.errors("chat", "source") == 1
    daemon.observe_all()  # the live error cannot be read either: counted, not raised
    assert rig.errors("chat", "source") == 2


def test_prometheus_slow(rig):
    daemon, _ = prometheus_fails(rig, "slow")
    assert rig.errors("chat", "source") == 1
    assert "timeout" in daemon.targets["chat"].last_error


@pytest.mark.parametrize("mode", ["empty", "nan"])
def test_prometheus_without_data_never_shrinks_the_floor(rig, mode):
    daemon, decisions = prometheus_fails(rig, mode)
    assert rig.errors("chat", "source") + rig.errors("chat", "forecast") == 1
    raised = decisions["chat"].floor
    # Midday, still nothing from Prometheus: the model says the floor is high, so it is high.
    rig.clock.moment = WEDNESDAY + pd.Timedelta(hours=12)
    daemon.retrain("chat")
    midday = by_target(daemon.reconcile_all())["chat"]
    assert midday.state == "stale" and midday.floor >= raised and rig.floor("chat") == midday.floor
    daemon.observe_all()  # missing actuals are missing: no live error, never an error of -100 %
    assert rig.metric("predictor_forecast_error_ratio", target="chat") is None
    assert rig.metric("predictor_forecast_error_ratio", target="code") is not None


def test_prometheus_failures_leave_a_finite_forecast_in_metrics(rig):
    """A stale target still exports its forecast and floors: the degraded mode is visible, not blank."""
    prometheus_fails(rig, "503")
    for name in (
        "predictor_floor_recommended_replicas",
        "predictor_floor_applied_replicas",
        "predictor_model_age_seconds",
    ):
        value = rig.metric(name, target="chat")
        assert value is not None and math.isfinite(value), name
