"""The learned cold start (`cold_start: learn`): creation -> first Ready of the scale target's pods,
read from the fake API server through the scale target's selector at each observation."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pandas as pd

from predictor.actuation.scaledobject import COLD_START_LEARNED_ANNOTATION
from predictor.config import Settings
from tests.unit.daemon.conftest import NS, scaled_object

CREATED = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)
MARGIN_S = 120  # the policy's default lead_time_margin_s


def deployment(name: str = "chat", labels: dict[str, str] | None = None) -> dict:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "vllm"}]}},
        },
    }


def pod(
    name: str,
    ready_after_s: float | None,
    *,
    labels: dict[str, str],
    phase: str = "Running",
    restarts: int = 0,
    created: datetime = CREATED,
) -> dict:
    """A pod created at ``created`` whose Ready condition last turned True ``ready_after_s`` later
    (None: not Ready)."""
    conditions = []
    if ready_after_s is not None:
        ready_at = created + timedelta(seconds=ready_after_s)
        conditions.append(
            {"type": "Ready", "status": "True", "lastTransitionTime": ready_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        )
    else:
        conditions.append({"type": "Ready", "status": "False"})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "namespace": NS,
            "labels": labels,
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": {"containers": [{"name": "vllm"}]},
        "status": {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": [{"name": "vllm", "restartCount": restarts}],
        },
    }


def learning_settings(tmp_path, *, min_samples: int = 5, max_s: float = 3_600) -> Settings:
    cold_start = {"total_s": 600, "learn": True, "learn_min_samples": min_samples, "learn_max_s": max_s}
    return Settings(
        state_dir=str(tmp_path / "state"),
        targets=[
            {
                "name": "chat",
                "scaled_object": f"{NS}/chat",
                "history_synthetic": {"seed": 3},
                "capacity": {"profile": "llama-3-8b-l40s-tp2"},
                "cold_start": cold_start,
                "policy": {"actuation_mode": "patch", "model": "harmonic", "history_window_days": 21},
            }
        ],
    )


def put_pods(rig, durations_s: list[float | None]) -> None:
    for index, seconds in enumerate(durations_s):
        rig.kube.put_object(pod(f"chat-{index}", seconds, labels={"app": "chat"}))
    # Not the scale target's pods, or not up: never counted.
    rig.kube.put_object(pod("other-0", 5_000, labels={"app": "other"}))
    rig.kube.put_object(pod("chat-pending", None, labels={"app": "chat"}, phase="Pending"))


def lead_time(rig, source: str) -> float | None:
    return rig.metric("predictor_lead_time_seconds", target="chat", source=source)


def test_the_learned_cold_start_is_a_high_percentile_of_observed_startups(rig):
    rig.kube.put_object(scaled_object())
    rig.kube.put_object(deployment())
    put_pods(rig, [300, 320, 340, 360, 380, 400, 420, 440, 460, 900])
    daemon = rig.daemon(learning_settings(rig.tmp_path))
    assert lead_time(rig, "configured") is None

    daemon.observe_all()

    # p95 of the ten start-ups, "higher" rank: the slowest, 900 s; plus the margin.
    assert lead_time(rig, "learned") == 900 + MARGIN_S
    runtime = daemon.targets["chat"]
    assert (runtime.cold_start.source, runtime.cold_start.samples) == ("learned", 10)
    listed = rig.kube.requests_for("list", "pods")
    assert listed and listed[-1].query["labelSelector"] == "app=chat"
    # The planner looks that far ahead, and says so.
    daemon.retrain_all()
    rig.clock.set("07:45")
    decision = daemon.reconcile_all()[0]
    assert "cold start 15 min" in decision.reason


def test_below_learn_min_samples_the_configured_cold_start_is_used(rig):
    rig.kube.put_object(scaled_object())
    rig.kube.put_object(deployment())
    put_pods(rig, [300, 900, 1_200])
    daemon = rig.daemon(learning_settings(rig.tmp_path, min_samples=5))

    daemon.observe_all()

    assert lead_time(rig, "configured") == 600 + MARGIN_S
    assert lead_time(rig, "learned") is None
    assert (daemon.targets["chat"].cold_start.source, daemon.targets["chat"].cold_start.samples) == (
        "configured",
        3,
    )


def test_a_scale_target_that_cannot_be_read_keeps_the_configured_value_and_the_daemon_goes_on(rig):
    rig.kube.put_object(scaled_object())  # no Deployment "chat": reading its scale answers 404
    daemon = rig.daemon(learning_settings(rig.tmp_path))
    daemon.retrain_all()

    daemon.observe_all()

    assert daemon.targets["chat"].artifact is not None  # the model is trained all the same
    assert lead_time(rig, "configured") == 600 + MARGIN_S
    assert rig.metric("predictor_errors_total", target="chat", kind="actuation") == 1
    assert "cannot read pod start-ups" in daemon.targets["chat"].last_error


def test_a_flapping_pod_keeps_its_first_ready_and_restarts_and_long_waits_are_not_start_ups(rig):
    """A pod seen Ready 300 s after creation that flaps three days later still counts 300 s; a pod
    whose container restarted, or that took longer than learn_max_s, is not a start-up at all."""
    rig.kube.put_object(scaled_object())
    rig.kube.put_object(deployment())
    labels = {"app": "chat"}
    for index in range(5):
        rig.kube.put_object(pod(f"chat-{index}", 300 + 10 * index, labels=labels))
    daemon = rig.daemon(learning_settings(rig.tmp_path, max_s=1_800))
    daemon.observe_all()
    assert daemon.targets["chat"].cold_start.seconds == 340

    three_days = 3 * 86_400
    rig.kube.put_object(pod("chat-4", three_days, labels=labels))  # a readiness flap: Ready's time moves on
    rig.kube.put_object(pod("chat-restarted", 200, labels=labels, restarts=2))  # unclear which start
    rig.kube.put_object(pod("chat-seen-late", 2 * 3_600, labels=labels))  # first seen after a flap
    daemon.observe_all()

    cold = daemon.targets["chat"].cold_start
    assert (cold.seconds, cold.samples) == (340, 5)  # nothing of the flap, the restart or the long wait
    assert set(daemon.targets["chat"].startups.rejected) == {
        f"uid-chat-restarted@{CREATED.isoformat()}",
        f"uid-chat-seen-late@{CREATED.isoformat()}",
    }
    # So the night's floor stays at the baseline: a lead time of three days would have sized it on
    # the largest need of the next three days.
    rig.clock.set("03:00", rig.clock.moment + pd.Timedelta(days=1))  # the next night
    daemon.retrain_all()
    assert daemon.reconcile_all()[0].floor == 2


def test_the_learned_cold_start_never_exceeds_learn_max_s(rig):
    rig.kube.put_object(scaled_object())
    rig.kube.put_object(deployment())
    put_pods(rig, [1_000, 1_100, 1_200, 1_240, 1_250, 1_290])
    daemon = rig.daemon(learning_settings(rig.tmp_path, max_s=1_250))
    daemon.observe_all()
    cold = daemon.targets["chat"].cold_start
    assert (cold.source, cold.seconds, cold.samples) == ("learned", 1_250, 5)  # 1,290 s: not believed
    assert len(daemon.targets["chat"].startups.rejected) == 1


def test_the_learned_cold_start_survives_a_restart_from_the_state_dir_and_from_the_object(rig, tmp_path):
    rig.kube.put_object(scaled_object())
    rig.kube.put_object(deployment())
    put_pods(rig, [300, 320, 340, 360, 800])
    settings = learning_settings(tmp_path)
    first = rig.daemon(settings)
    first.restore()
    first.observe_all()
    assert first.targets["chat"].cold_start.seconds == 800
    recorded = rig.so()["metadata"]["annotations"][COLD_START_LEARNED_ANNOTATION]
    assert recorded == "800s from 5 start-ups"

    # The pods are gone (scaled to the baseline overnight); a restart keeps what was learned.
    for index in range(5):
        rig.kube.delete_object("Pod", NS, f"chat-{index}")
    restarted = rig.daemon(settings)
    restarted.restore()
    assert restarted.targets["chat"].cold_start.seconds == 800  # from the state directory
    assert lead_time(rig, "learned") == 800 + MARGIN_S

    # A new pod on an empty state directory (a new leader, an emptyDir): the object's record.
    shutil.rmtree(tmp_path / "state")
    fresh = rig.daemon(settings)
    fresh.restore()
    fresh.retrain_all()
    rig.clock.set("07:45")
    decision = fresh.reconcile_all()[0]
    assert fresh.targets["chat"].cold_start.seconds == 800
    assert "cold start 13 min" in decision.reason
