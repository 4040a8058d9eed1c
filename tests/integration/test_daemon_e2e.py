"""End to end: `predictor run` as a subprocess against a real Prometheus and the fake API server.

Four weeks of synthetic history are backfilled into Prometheus. The daemon runs on a simulated
clock that starts on a Wednesday at 06:40, before the morning ramp (~07:00-09:00, centred at 08:00),
and runs 1,000 times as fast as the wall clock (start-up alone costs ~15-30 simulated minutes on a busy
machine, hence not later): each one-second reconcile is ~17 simulated minutes, so
the day's peak (13:00) and the afternoon decline pass in well under a minute. The lead-time margin
covers one (simulated) reconcile interval, as the design asks of it.

The models are trained first by `predictor run --once` at 04:00 (the night: the floor stays at the
baseline); the daemon then loads them from the state directory, so it forecasts from its first cycle.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from predictor.actuation.scaledobject import (
    APPLIED_ANNOTATION,
    BASELINE_ANNOTATION,
    FORECAST_ANNOTATION,
    OWN_ANNOTATIONS,
    REASON_ANNOTATION,
    UPDATED_AT_ANNOTATION,
)
from predictor.capacity import pod_model, size
from predictor.config import load_settings
from predictor.forecasting.store import ModelStore
from tests.integration.daemon_rig import (
    LEASE_NS,
    NS,
    DaemonProcess,
    kubectl,
    put_namespace,
    run_predictor,
    sample,
    scaled_object,
    target,
    wait_until,
    write_config,
)
from tests.support.fake_kube import start_fake_kube
from tests.support.keda_crd import keda_crd

pytestmark = pytest.mark.integration

DAY = pd.Timestamp("2026-01-28", tz="UTC")  # a Wednesday inside the backfilled four weeks
CLOCK_START = DAY + pd.Timedelta(hours=6, minutes=40)
SPEED = 1000.0
# One simulated reconcile interval (~1,000 s), KEDA's and the HPA's delays, and room for a cycle that a
# busy machine runs a second late.
MARGIN_S = 2_400
COLD_START = pd.Timedelta(seconds=600)
STOP_AFTER = DAY + pd.Timedelta(hours=17, minutes=30)  # into the evening decline
BASELINE = 2


def floor_history(kube, name: str) -> list[tuple[pd.Timestamp, int]]:
    """(simulated time, floor) of every accepted patch of ``name``, from the fake's request log."""
    history = []
    for record in kube.requests_for("patch", "scaledobjects"):
        if record.name != name or record.status != 200:
            continue
        annotations = record.body["metadata"]["annotations"]
        history.append(
            (pd.Timestamp(annotations[UPDATED_AT_ANNOTATION]), record.body["spec"]["minReplicaCount"])
        )
    return history


def floor_at(history: list[tuple[pd.Timestamp, int]], moment: pd.Timestamp) -> int:
    applied = [floor for at, floor in history if at <= moment]
    return applied[-1] if applied else BASELINE


def test_the_daemon_prewarms_before_the_peak_and_steps_down_after(backfilled_prometheus, tmp_path: Path):
    started = time.monotonic()
    with start_fake_kube(crd=keda_crd()) as kube:
        put_namespace(kube, LEASE_NS)
        kube.put_object(scaled_object("chat"))
        kube.put_object(scaled_object("frozen", annotations={"autoscaling.keda.sh/paused": "true"}))
        kube.put_object(scaled_object("gitops"))
        frozen_before, gitops_before = (
            kube.get_object("ScaledObject", NS, "frozen"),
            kube.get_object("ScaledObject", NS, "gitops"),
        )
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
        state_dir = tmp_path / "state"
        config = write_config(
            tmp_path / "predictor.yaml",
            prometheus_url=backfilled_prometheus.url,
            kubeconfig=kubeconfig,
            state_dir=state_dir,
            targets=[target("chat"), target("frozen"), target("gitops", mode="metric")],
            # Sized at KEDA's utilisation, so that the first raise lands early in the ramp even when a
            # busy machine makes each simulated reconcile late.
            policy={
                "lead_time_margin_s": MARGIN_S,
                "cooldown_s": 900,
                "step_down_interval_s": 300,
                "floor_utilization": 0.7,
                # A tuning that lands mid-ramp (when depends on the machine's speed) may change the
                # buffer and so lower the floor after the cooldown; self-tuning in the daemon has its
                # own scenario tests on the movable clock (test_lifecycle_wiring.py).
                "tune": False,
            },
        )

        # Train once at night: the floor stays at the baseline, and the models land in the state dir.
        night = run_predictor(
            "run", "--config", str(config), "--once", "--clock-start", f"{DAY:%Y-%m-%d}T04:00"
        )
        assert night.returncode == 0, night.stderr
        assert floor_history(kube, "chat") == []
        assert sorted(p.name for p in state_dir.glob("*.model.json")) == [
            "chat.model.json",
            "frozen.model.json",
            "gitops.model.json",
        ]

        daemon = DaemonProcess(
            "--config", str(config), "--clock-start", CLOCK_START.isoformat(), "--clock-speed", str(SPEED)
        )
        try:
            daemon.wait_for_port()
            daemon.wait_for_log(lambda r: r.get("msg") == "loaded 3 stored models")
            assert daemon.get("/healthz")[0] == 200
            # Ready once it can act (its first reconcile cycle done), a second or so after start.
            body = wait_until(lambda: _ready(daemon), 10, "/readyz to answer 200")
            assert json.loads(body)["without_model"] == []  # the models were loaded

            # While the simulated day passes: the metric-mode floor as published, and the leader flag.
            published: list[float] = []

            def evening_reached() -> bool:
                metrics = daemon.metrics()
                value = sample(
                    metrics, "predictor_recommended_min_replicas", namespace=NS, scaledobject="gitops"
                )
                if value is not None:
                    published.append(value)
                history = floor_history(kube, "chat")
                return bool(history) and history[-1][0] >= STOP_AFTER

            wait_until(evening_reached, 75, "the simulated clock to pass 17:30 with a floor change", 0.25)
            metrics, shown = wait_until(
                lambda: _consistent(daemon, kube), 10, "/metrics to show the stored floor"
            )
            records = daemon.records()  # every line JSON, or the test fails here
        finally:
            code = None
            stop_started = time.monotonic()
            code = daemon.stop()
            stop_took = time.monotonic() - stop_started

        # SIGTERM: the cycle finishes, the Lease is handed back, exit 0 within a few seconds.
        assert code == 0, daemon.log_tail()
        assert stop_took < 8, f"SIGTERM took {stop_took:.1f} s"
        assert any(r.get("msg") == "stopped" for r in daemon.records())

        # Raised before the peak: first above the baseline before the ramp's midpoint (08:00) ...
        history = floor_history(kube, "chat")
        first_raise_at, first_floor = history[0]
        assert first_raise_at < DAY + pd.Timedelta(hours=8) and first_floor > BASELINE
        # ... and always ahead of the real load: pods asked for at t - cold start are ready at t and
        # serve the actual load at t (5-minute means of the backfilled trace) at the share of a pod
        # the floor is sized at (KEDA adds its own headroom above the floor).
        settings = load_settings(config)
        pod = pod_model(settings.targets[0].capacity, "aggregated")
        floor_utilization = settings.targets[0].policy.floor_utilization
        actual = backfilled_prometheus.trace.resample("5min").mean()
        for moment in pd.date_range(
            first_raise_at.ceil("5min") + COLD_START, DAY + pd.Timedelta(hours=13), freq="5min"
        ):
            needed = size(float(actual[moment]), pod, utilization=floor_utilization).pods
            assert floor_at(history, moment - COLD_START) >= needed, (moment, needed, history)
        # The largest floor is in force by the peak (13:00), and it stays within maxReplicaCount.
        peak_floor = max(floor for _, floor in history)
        assert BASELINE < peak_floor <= 30
        assert floor_at(history, DAY + pd.Timedelta(hours=13)) == peak_floor
        # Lowered after the peak, in steps of at most max_step_down_pods (2), never below the baseline.
        lowerings = [(at, b) for (_, a), (at, b) in itertools.pairwise(history) if b < a]
        assert lowerings and all(at > DAY + pd.Timedelta(hours=12) for at, _ in lowerings)
        assert all(a - b <= 2 for (_, a), (_, b) in itertools.pairwise(history) if b < a)
        assert min(floor for _, floor in history) >= BASELINE
        final = history[-1][1]
        assert final < peak_floor

        # The object tells the story: annotations and Events, as kubectl shows them.
        chat = kube.get_object("ScaledObject", NS, "chat")
        annotations = chat["metadata"]["annotations"]
        assert chat["spec"]["minReplicaCount"] == final
        assert annotations[BASELINE_ANNOTATION] == "2" and annotations[APPLIED_ANNOTATION] == str(final)
        assert "lowering" in annotations[REASON_ANNOTATION]
        assert pd.Timestamp(annotations[UPDATED_AT_ANNOTATION]) >= STOP_AFTER
        assert "req/s" in annotations[FORECAST_ANNOTATION] and "harmonic" in annotations[FORECAST_ANNOTATION]
        events = [e for e in kube.list_objects("Event", NS) if e["involvedObject"]["name"] == "chat"]
        reasons = [e["reason"] for e in events]
        assert {"PrewarmRaised", "PrewarmLowered"} <= set(reasons)
        assert len(events) == len(history)  # one Event per change
        assert not [e for e in kube.list_objects("Event", NS) if e["involvedObject"]["name"] != "chat"]

        table = kubectl(kubeconfig, "get", "so", "-n", NS)
        header, *rows = table.splitlines()
        chat_row = next(row for row in rows if row.startswith("chat "))
        column = header.index("MIN")
        assert chat_row[column:].split()[:2] == [str(final), "30"], table
        jsonpath = "{.spec.minReplicaCount} {.metadata.annotations.predictor\\.io/baseline}"
        assert (
            kubectl(kubeconfig, "get", "so", "chat", "-n", NS, "-o", f"jsonpath={jsonpath}") == f"{final} 2"
        )
        described = kubectl(kubeconfig, "describe", "so", "chat", "-n", NS)
        assert "PrewarmRaised" in described and "PrewarmLowered" in described

        # /metrics reported it: applied, recommended, baseline, state, model, leader.
        assert BASELINE < shown <= peak_floor  # the snapshot taken while the daemon ran
        assert sample(metrics, "predictor_baseline_replicas", target="chat") == BASELINE
        assert sample(metrics, "predictor_floor_recommended_replicas", target="chat") is not None
        assert sample(metrics, "predictor_target_state", target="chat", state="healthy") == 1
        assert sample(metrics, "predictor_target_state", target="frozen", state="paused") == 1
        assert sample(metrics, "predictor_model_info", target="chat", model="harmonic") == 1
        assert (
            sample(metrics, "predictor_lead_time_seconds", target="chat", source="configured")
            == 600 + MARGIN_S
        )
        assert sample(metrics, "predictor_is_leader") == 1
        raised = sample(
            metrics, "predictor_floor_changes_total", target="chat", direction="raise", mode="patch"
        )
        lowered = sample(
            metrics, "predictor_floor_changes_total", target="chat", direction="lower", mode="patch"
        )
        assert raised and lowered and raised + lowered <= len(history)

        # The paused object was never patched; the metric-mode floor went to /metrics, not to its
        # spec: only predictor's own annotations record it (the planner's memory).
        patched = {r.name for r in kube.requests_for("patch", "scaledobjects")}
        assert patched == {"chat", "gitops"}
        for record in kube.requests_for("patch", "scaledobjects"):
            if record.name == "gitops":
                assert set(record.body) == {"metadata"}
                assert set(record.body["metadata"]["annotations"]) <= set(OWN_ANNOTATIONS)
        assert kube.get_object("ScaledObject", NS, "frozen") == frozen_before
        assert kube.get_object("ScaledObject", NS, "gitops")["spec"] == gitops_before["spec"]
        assert published and max(published) > BASELINE and max(published) <= 30

        # The logs carry each change with its reason, as JSON.
        changes = [
            r
            for r in records
            if r.get("target") == "chat" and r.get("event") in {"PrewarmRaised", "PrewarmLowered"}
        ]
        assert len(changes) == len(history)

    # Nothing half-written: valid models and status, no temporary files.
    store = ModelStore(state_dir)
    assert store.load("chat") is not None and store.load("chat").kind == "harmonic"
    status = json.loads((state_dir / "status.json").read_text(encoding="utf-8"))
    assert set(status["targets"]) == {"chat", "frozen", "gitops"}
    assert status["targets"]["chat"]["planned"] == final
    assert [p.name for p in state_dir.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"] == []
    assert time.monotonic() - started < 120


def _ready(daemon: DaemonProcess) -> str | None:
    code, body = daemon.get("/readyz")
    return body if code == 200 else None


def _consistent(daemon: DaemonProcess, kube) -> tuple[dict, int] | None:
    """A /metrics snapshot and the floor it shows, taken while the stored floor did not change."""
    before = kube.get_object("ScaledObject", NS, "chat")["spec"]["minReplicaCount"]
    metrics = daemon.metrics()
    after = kube.get_object("ScaledObject", NS, "chat")["spec"]["minReplicaCount"]
    if before == after == sample(metrics, "predictor_floor_applied_replicas", target="chat"):
        return metrics, after
    return None
