"""The learned cold start (`cold_start: learn`): creation -> Ready of the scale target's pods, read
from the fake API server through the Deployment's selector, after each retrain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def pod(name: str, ready_after_s: float | None, *, labels: dict[str, str], phase: str = "Running") -> dict:
    """A pod created at CREATED and Ready ``ready_after_s`` later (None: not Ready yet)."""
    conditions = []
    if ready_after_s is not None:
        ready_at = CREATED + timedelta(seconds=ready_after_s)
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
            "namespace": NS,
            "labels": labels,
            "creationTimestamp": CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": {"containers": [{"name": "vllm"}]},
        "status": {"phase": phase, "conditions": conditions},
    }


def learning_settings(tmp_path, *, min_samples: int = 5) -> Settings:
    return Settings(
        state_dir=str(tmp_path / "state"),
        targets=[
            {
                "name": "chat",
                "scaled_object": f"{NS}/chat",
                "history_synthetic": {"seed": 3},
                "capacity": {"profile": "llama-3-8b-l40s-tp2"},
                "cold_start": {"total_s": 600, "learn": True, "learn_min_samples": min_samples},
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


def test_the_learned_cold_start_is_a_high_percentile_of_observed_startups(rig):
    rig.kube.put_object(scaled_object())
    rig.kube.put_object(deployment())
    put_pods(rig, [300, 320, 340, 360, 380, 400, 420, 440, 460, 900])
    daemon = rig.daemon(learning_settings(rig.tmp_path))
    assert rig.metric("predictor_lead_time_seconds", target="chat", source="configured") is None

    daemon.retrain("chat")

    # p95 of the ten start-ups, "higher" rank: the slowest, 900 s; plus the margin.
    assert rig.metric("predictor_lead_time_seconds", target="chat", source="learned") == 900 + MARGIN_S
    runtime = daemon.targets["chat"]
    assert (runtime.cold_start.source, runtime.cold_start.samples) == ("learned", 10)
    listed = rig.kube.requests_for("list", "pods")
    assert listed and listed[-1].query["labelSelector"] == "app=chat"
    # The planner looks that far ahead, and says so.
    rig.clock.set("07:45")
    decision = daemon.reconcile_all()[0]
    assert "cold start 15 min" in decision.reason


def test_below_learn_min_samples_the_configured_cold_start_is_used(rig):
    rig.kube.put_object(scaled_object())
    rig.kube.put_object(deployment())
    put_pods(rig, [300, 900, 1_200])
    daemon = rig.daemon(learning_settings(rig.tmp_path, min_samples=5))

    daemon.retrain("chat")

    assert rig.metric("predictor_lead_time_seconds", target="chat", source="configured") == 600 + MARGIN_S
    assert rig.metric("predictor_lead_time_seconds", target="chat", source="learned") is None
    assert (daemon.targets["chat"].cold_start.source, daemon.targets["chat"].cold_start.samples) == (
        "configured",
        3,
    )


def test_a_scale_target_without_a_deployment_keeps_the_configured_value_and_the_daemon_goes_on(rig):
    rig.kube.put_object(scaled_object())  # no Deployment "chat": reading its selector fails with 404
    daemon = rig.daemon(learning_settings(rig.tmp_path))

    daemon.retrain("chat")

    assert daemon.targets["chat"].artifact is not None  # the model is trained all the same
    assert rig.metric("predictor_lead_time_seconds", target="chat", source="configured") == 600 + MARGIN_S
    assert rig.metric("predictor_errors_total", target="chat", kind="actuation") == 1
    assert "cannot read pod start-ups" in daemon.targets["chat"].last_error
