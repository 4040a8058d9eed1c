"""The composition root itself: `run_forever` as `predictor run` calls it (build_app, the endpoints,
the Lease, APScheduler, the signal handlers), against the fake API server over HTTP.

The parts have their own tests; these check the wiring between them: /healthz follows the reconcile
loop, /readyz does not wait for a broken target, and SIGTERM drops the queued retrains.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from predictor.config import Settings
from predictor.daemon.clock import ShiftedClock
from predictor.daemon.wiring import build_app, run_forever
from tests.unit.daemon.conftest import NS, scaled_object

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
LEASE_NS = "predictor"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str) -> tuple[int, dict]:
    try:
        with OPENER.open(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return 0, {}


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def settings(
    tmp_path: Path,
    names: list[str],
    *,
    port: int,
    broken: bool = False,
    policy: dict | None = None,
    **schedule,
) -> Settings:
    targets = [
        {
            "name": name,
            "scaled_object": f"{NS}/{name}",
            "history_synthetic": {"seed": index},
            "capacity": {"profile": "llama-3-8b-l40s-tp2"},
            "cold_start": 600,
            "policy": {
                "actuation_mode": "patch",
                "model": "harmonic",
                "history_window_days": 21,
                "tune": False,
                **(policy or {}),
            },
        }
        for index, name in enumerate(names)
    ]
    if broken:  # a target whose history cannot be read: nothing listens on port 9
        targets.append({**targets[0], "name": "broken", "scaled_object": f"{NS}/broken", "query": "up"})
        del targets[-1]["history_synthetic"]
    return Settings(
        prometheus={"url": "http://127.0.0.1:9", "timeout_s": 0.5, "retries": 0},
        kubernetes={"lease_namespace": LEASE_NS, "lease_duration_s": 6, "request_timeout_s": 10},
        server={"port": port, "listen_address": "127.0.0.1"},
        schedule={"reconcile_interval_s": 1, **schedule},
        state_dir=str(tmp_path / "state"),
        targets=targets,
    )


@pytest.fixture(autouse=True)
def quiet_scheduler():
    """build_app leaves logging alone; keep APScheduler's per-run lines out of the test output."""
    logger = logging.getLogger("apscheduler")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def test_liveness_follows_the_reconcile_loop_and_readiness_ignores_a_broken_target(rig, tmp_path):
    rig.kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEASE_NS}})
    rig.kube.put_object(scaled_object("chat"))
    rig.kube.put_object(scaled_object("broken"))
    port = free_port()
    config = settings(tmp_path, ["chat"], port=port, broken=True, liveness_timeout_s=3)
    clock = ShiftedClock(pd.Timestamp("2026-11-18 07:45", tz="UTC"))
    app = build_app(config, clock=clock, host=rig.kube.url, name="wired")
    runner = threading.Thread(target=run_forever, args=(app,), kwargs={"install_signals": False})
    runner.start()
    try:
        _, ready = wait_for(lambda: (s := get(port, "/readyz"))[0] == 200 and s, 30, "/readyz 200")
        assert ready["without_model"] in (["broken"], ["broken", "chat"])  # broken never blocks it
        wait_for(lambda: rig.so("chat")["spec"]["minReplicaCount"] > 2, 30, "the first raise")
        assert get(port, "/healthz")[0] == 200
        lease = rig.kube.get_object("Lease", LEASE_NS, "predictor-leader")
        assert lease["spec"]["holderIdentity"] == "wired"

        # The API server hangs on every read of a ScaledObject: the reconcile loop wedges.
        rig.kube.faults.add(method="GET", path_contains="/scaledobjects/", delay_s=6, times=None)
        _, alive = wait_for(lambda: (s := get(port, "/healthz"))[0] == 503 and s, 15, "/healthz 503")
        assert alive["alive"] is False and alive["seconds_since_last_reconcile"] >= 3
        rig.kube.faults.clear()
        wait_for(lambda: get(port, "/healthz")[0] == 200, 20, "/healthz 200 again")
    finally:
        app.daemon.stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
    assert rig.kube.get_object("Lease", LEASE_NS, "predictor-leader")["spec"].get("holderIdentity") is None


def test_sigterm_drops_the_queued_retrains_and_exits_at_once(rig, tmp_path):
    names = [f"t{i:02d}" for i in range(16)]
    rig.kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEASE_NS}})
    for name in names:
        rig.kube.put_object(scaled_object(name))
    config = settings(tmp_path, names, port=free_port())
    clock = ShiftedClock(pd.Timestamp("2026-11-18 07:45", tz="UTC"))
    app = build_app(config, clock=clock, host=rig.kube.url, name="stopping")
    stored = tmp_path / "state"
    sent: list[float] = []

    def sigterm_after_the_first_model() -> None:
        wait_for(lambda: list(stored.glob("*.model.json")), 60, "the first model")
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    killer = threading.Thread(target=sigterm_after_the_first_model)
    killer.start()
    try:
        run_forever(app)  # in the main thread, as `predictor run` runs it: its own signal handlers
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        killer.join(timeout=60)
    took = time.monotonic() - sent[0]
    trained = len(list(stored.glob("*.model.json")))
    assert took < 5, f"SIGTERM took {took:.1f} s"  # the grace period is 120 s
    assert trained <= 3, f"{trained} of 16 retrains ran after SIGTERM"  # the queue was dropped
    assert rig.kube.get_object("Lease", LEASE_NS, "predictor-leader")["spec"].get("holderIdentity") is None


def get_text(port: int, path: str) -> str:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
        f"http://127.0.0.1:{port}{path}", timeout=5
    ) as answer:
        return answer.read().decode()


def test_the_scheduler_runs_the_tune_job_and_status_and_metrics_show_the_choice(rig, tmp_path):
    """run_forever as shipped: the tune row of the schedule runs after the first fit, the choice
    sizes the floor, and /status and /metrics show it."""
    rig.kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEASE_NS}})
    rig.kube.put_object(scaled_object("chat"))
    port = free_port()
    tuning = {
        "tune": True,
        "tune_history_days": 1.0,
        "tune_quantiles": [0.95],
        "tune_buffers": [0.0],
        "tune_min_quantile": 0.9,
        "forecast_quantile": 0.8,  # below the minimum: not a candidate, so p95 + 0 % is the only one
    }
    config = settings(tmp_path, ["chat"], port=port, policy=tuning)
    clock = ShiftedClock(pd.Timestamp("2026-11-18 07:45", tz="UTC"))
    app = build_app(config, clock=clock, host=rig.kube.url, name="wired")
    runner = threading.Thread(target=run_forever, args=(app,), kwargs={"install_signals": False})
    runner.start()
    try:

        def tuned_status() -> dict | None:
            try:
                found = json.loads(get_text(port, "/status")).get("targets", {}).get("chat", {})
            except urllib.error.URLError:  # not serving yet
                return None
            return found if (found.get("policy") or {}).get("source") == "tuned" else None

        found = wait_for(tuned_status, 120, "/status to show the tuned policy")
        assert found["policy"] == {"quantile": 0.95, "buffer": 0.0, "source": "tuned"}
        assert "p95 + 0% buffer" in found["tuning"]["choice"]["reason"]
        metrics = get_text(port, "/metrics")
        assert 'predictor_tuned_quantile{source="tuned",target="chat"} 0.95' in metrics
        assert 'predictor_tune_last_success_timestamp_seconds{target="chat"}' in metrics
        wait_for(
            lambda: (
                'predictor_forecast_quantile_rps{quantile="p95",target="chat"}' in get_text(port, "/metrics")
            ),
            30,
            "the floor sized on p95",
        )
    finally:
        app.daemon.stop.set()
        runner.join(timeout=60)
    assert not runner.is_alive()
