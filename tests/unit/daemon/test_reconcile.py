"""The daemon's reconcile against the fake API server: pre-warm, step down, and every safety rule."""

from __future__ import annotations

import pandas as pd

from predictor.actuation.scaledobject import (
    APPLIED_ANNOTATION,
    BASELINE_ANNOTATION,
    FORECAST_ANNOTATION,
    OWN_ANNOTATIONS,
    RECOMMENDED_ANNOTATION,
)
from tests.unit.daemon.conftest import NS, scaled_object, settings_for


def patches(rig) -> list:
    return [r for r in rig.kube.requests if r.verb == "patch" and r.resource == "scaledobjects"]


def events(rig) -> list[dict]:
    return rig.kube.list_objects("Event", NS)


def test_prewarms_before_the_morning_ramp_and_steps_down_in_the_evening(rig):
    rig.kube.put_object(scaled_object())
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat"))
    daemon.retrain_all()

    night = daemon.reconcile_all()[0]
    assert night.state == "healthy" and night.model == "harmonic"
    assert rig.so()["spec"]["minReplicaCount"] == 2  # night: the baseline covers it

    rig.clock.set("07:45")  # the ramp starts ~08:00; lead time 10 min + 2 min
    raised = daemon.reconcile_all()[0]
    assert raised.action == "raise" and raised.floor > 2
    so = rig.so()
    assert so["spec"]["minReplicaCount"] == raised.floor
    annotations = so["metadata"]["annotations"]
    assert annotations[BASELINE_ANNOTATION] == "2" and annotations[APPLIED_ANNOTATION] == str(raised.floor)
    assert "req/s" in annotations[FORECAST_ANNOTATION]
    assert [e["reason"] for e in events(rig)] == ["PrewarmRaised"]
    assert rig.metric("predictor_floor_applied_replicas", target="chat") == raised.floor
    assert rig.metric("predictor_target_state", target="chat", state="healthy") == 1
    mean = rig.metric("predictor_forecast_mean_rps", target="chat")
    assert 0 < mean <= rig.metric("predictor_forecast_quantile_rps", target="chat", quantile="p90")

    rig.clock.set("12:00")
    daemon.retrain_all()  # as the schedule does every retrain_interval_s (6 h)
    peak = daemon.reconcile_all()[0].floor
    assert peak >= raised.floor
    assert peak <= 30  # never above maxReplicaCount

    rig.clock.set("23:00")
    daemon.retrain_all()
    lowered = daemon.reconcile_all()[0]
    assert lowered.action == "lower"
    assert peak - 2 <= lowered.floor < peak  # at most max_step_down_pods at a time
    rig.clock.set("23:01")
    assert daemon.reconcile_all()[0].action == "hold"  # not before step_down_interval_s (300 s)
    reasons = sorted(e["reason"] for e in events(rig))
    assert reasons.count("PrewarmLowered") == 1 and reasons.count("PrewarmRaised") >= 1
    assert len(reasons) == 1 + reasons.count("PrewarmRaised")  # one Event per change, nothing else


def test_a_paused_scaled_object_is_never_patched(rig):
    paused = scaled_object()
    paused["metadata"]["annotations"]["autoscaling.keda.sh/paused"] = "true"
    rig.kube.put_object(paused)
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat"))
    daemon.retrain_all()
    rig.clock.set("07:45")
    decision = daemon.reconcile_all()[0]
    assert (decision.state, decision.action) == ("paused", "skipped")
    assert patches(rig) == []
    assert rig.metric("predictor_target_state", target="chat", state="paused") == 1


def test_a_follower_never_patches(rig):
    rig.kube.put_object(scaled_object())
    rig.leader = False
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat"))
    daemon.retrain_all()
    rig.clock.set("07:45")
    decision = daemon.reconcile_all()[0]
    assert decision.action == "hold" and decision.reason.startswith("follower")
    assert patches(rig) == []


def test_the_floor_never_exceeds_max_replicas(rig):
    rig.kube.put_object(scaled_object(max_replicas=3))
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat"))
    daemon.retrain_all()
    rig.clock.set("12:00")
    assert daemon.reconcile_all()[0].floor == 3
    assert rig.so()["spec"]["minReplicaCount"] == 3


def test_a_deleted_scaled_object_is_gone_the_others_go_on_and_a_recreated_one_is_managed_again(rig):
    rig.kube.put_object(scaled_object("chat"))
    rig.kube.put_object(scaled_object("code"))
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat", "code"))
    daemon.retrain_all()
    rig.clock.set("07:30")
    assert {d.target: d.action for d in daemon.reconcile_all()} == {"chat": "raise", "code": "raise"}
    raised = rig.so("chat")["spec"]["minReplicaCount"]
    rig.kube.delete_object("ScaledObject", NS, "chat")
    rig.clock.set("07:45")
    first = {d.target: d for d in daemon.reconcile_all()}
    assert first["chat"].state == "gone" and first["code"].action in {"raise", "hold"}
    assert rig.metric("predictor_target_state", target="chat", state="gone") == 1
    rig.clock.set("07:50")
    assert {d.target: d.state for d in daemon.reconcile_all()}["chat"] == "gone"
    assert rig.metric("predictor_errors_total", target="chat", kind="actuation") == 1  # counted once

    rig.kube.put_object(scaled_object("chat", min_replicas=3))  # recreated: a new object, baseline 3
    rig.clock.set("08:00")
    back = {d.target: d for d in daemon.reconcile_all()}["chat"]
    assert back.state == "healthy" and back.action == "raise" and back.baseline == 3
    annotations = rig.so("chat")["metadata"]["annotations"]
    assert annotations[BASELINE_ANNOTATION] == "3"  # its own baseline, not the old object's memory
    assert raised > 2


def test_without_a_fresh_model_the_floor_steps_back_to_the_baseline(rig):
    rig.kube.put_object(scaled_object())
    schedule = {"retrain_interval_s": 1800, "retrain_jitter_s": 0, "retrain_timeout_s": 600}
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat", schedule=schedule, max_forecast_age_s=3600))
    rig.clock.set("09:30")
    daemon.retrain_all()
    raised = daemon.reconcile_all()[0].floor
    assert raised > 4
    rig.clock.moment += pd.Timedelta(hours=2)  # no retrain since: the model is too old
    fallback = daemon.reconcile_all()[0]
    assert fallback.state == "fallback"
    assert fallback.floor == raised - 2  # one bounded step towards the baseline
    assert "stepping back to the baseline 2" in fallback.reason
    assert "FallbackToBaseline" in {e["reason"] for e in events(rig)}


def test_a_failing_history_keeps_the_model_and_marks_the_target_stale(rig):
    rig.kube.put_object(scaled_object())
    settings = settings_for(rig.tmp_path, "chat")
    daemon = rig.daemon(settings)
    daemon.retrain_all()
    trained_at = daemon.targets["chat"].artifact.trained_at

    class DownSource:
        def fetch(self, start, end, step_s):
            from predictor.errors import SourceError

            raise SourceError("Prometheus at http://prometheus:9090: connection refused")

    daemon.targets["chat"].source = DownSource()  # the source is the daemon's input, not its internals
    rig.clock.set("07:45")
    daemon.retrain("chat")
    decision = daemon.reconcile_all()[0]
    assert decision.state == "stale" and decision.action == "raise"  # still forecasting from the model
    assert daemon.targets["chat"].artifact.trained_at == trained_at
    assert rig.metric("predictor_errors_total", target="chat", kind="source") == 1


def test_models_persist_across_restarts(rig):
    rig.kube.put_object(scaled_object())
    settings = settings_for(rig.tmp_path, "chat")
    first = rig.daemon(settings)
    first.restore()
    first.retrain_all()
    restarted = rig.daemon(settings)
    assert restarted.restore() == 1
    rig.clock.set("07:45")
    assert restarted.reconcile_all()[0].action == "raise"  # forecasting before any retrain


def test_dry_run_patches_nothing_and_metric_mode_only_records_its_floor(rig):
    rig.kube.put_object(scaled_object("chat"))
    rig.kube.put_object(scaled_object("code"))
    settings = settings_for(rig.tmp_path, "chat", mode="dry-run")
    metric = settings_for(rig.tmp_path, "code", mode="metric").targets
    settings = settings.model_copy(update={"targets": [*settings.targets, *metric]})
    daemon = rig.daemon(settings)
    daemon.retrain_all()
    rig.clock.set("07:45")
    decisions = {d.target: d for d in daemon.reconcile_all()}
    assert decisions["chat"].action == "would raise" and decisions["code"].action == "raise"
    assert {r.name for r in patches(rig)} == {"code"}  # dry-run writes nothing at all
    [record] = patches(rig)
    assert set(record.body) == {"metadata"}  # metric mode never touches the spec ...
    assert set(record.body["metadata"]["annotations"]) <= set(OWN_ANNOTATIONS)  # ... only its own notes
    floor = decisions["code"].floor
    assert rig.metric("predictor_recommended_min_replicas", namespace=NS, scaledobject="code") == floor
    assert rig.so("code")["metadata"]["annotations"][RECOMMENDED_ANNOTATION] == str(floor)
    assert rig.so("code")["spec"]["minReplicaCount"] == 2
    assert rig.so("chat")["metadata"]["annotations"] == {}
    assert events(rig) == []


def test_metric_mode_publishes_the_floor_every_cycle_even_unchanged(rig):
    rig.kube.put_object(scaled_object("code"))
    daemon = rig.daemon(settings_for(rig.tmp_path, "code", mode="metric"))
    daemon.retrain_all()
    night = daemon.reconcile_all()[0]  # 06:00: the floor stays at the baseline, nothing changes
    assert night.action == "hold"
    assert rig.metric("predictor_recommended_min_replicas", namespace=NS, scaledobject="code") == night.floor
