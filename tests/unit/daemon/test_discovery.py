"""Opt-in discovery, both ways: labelled ScaledObjects in the watched namespaces, described by
annotations, are added, reconfigured and dropped as their objects change (the patch-mode
hand-backs need a trained model: tests/integration/test_lifecycle_scenarios.py)."""

from __future__ import annotations

from predictor.actuation.scaledobject import MODE_ANNOTATION
from predictor.config import Settings
from tests.unit.daemon.conftest import NS, scaled_object

LABEL = {"predictor.io/enabled": "true"}
DECLARED = {
    "predictor.io/query": "sum(rate(vllm:request_success_total[5m]))",
    "predictor.io/profile": "llama-3-8b-l40s-tp2",
    "predictor.io/cold-start": "900",
    "predictor.io/actuation-mode": "metric",
}
NAME = f"{NS}.vllm"


def opted_in(name: str, *, namespace: str = NS, labels=LABEL, annotations=DECLARED) -> dict:
    obj = scaled_object(name)
    obj["metadata"].update(namespace=namespace, labels=dict(labels), annotations=dict(annotations))
    return obj


def watching(rig, **policy) -> Settings:
    return Settings(
        state_dir=str(rig.tmp_path / "state"),
        kubernetes={"namespaces": [NS]},
        policy={"model": "harmonic", "history_window_days": 21, **policy},
    )


def test_labelled_scaled_objects_become_targets(rig):
    rig.kube.put_object(opted_in("vllm"))
    rig.kube.put_object(opted_in("not-opted-in", labels={}))
    rig.kube.put_object(opted_in("elsewhere", namespace="other"))
    daemon = rig.daemon(watching(rig))
    assert list(daemon.discover().added) == [NAME]
    target = daemon.targets[NAME].settings
    assert target.query == DECLARED["predictor.io/query"]
    assert target.capacity.max_concurrency == 64  # from the profile
    assert target.cold_start.configured_s == 900
    assert target.policy.actuation_mode == "metric"
    assert not daemon.discover()  # already managed: nothing added, changed or removed
    assert {r.verb for r in rig.kube.requests if r.resource == "scaledobjects"} == {"list"}
    assert rig.metric("predictor_targets", origin="discovered") == 1


def test_an_incomplete_declaration_is_skipped_and_a_broken_one_keeps_the_last_valid(rig):
    rig.kube.put_object(opted_in("half", annotations={"predictor.io/profile": "llama-3-8b-l40s-tp2"}))
    rig.kube.put_object(opted_in("vllm"))
    daemon = rig.daemon(watching(rig))
    found = daemon.discover()
    assert list(found.added) == [NAME] and "query" in found.invalid[f"{NS}/half"]
    broken = opted_in("vllm", annotations={**DECLARED, "predictor.io/actuation-mode": "sideways"})
    rig.kube.put_object(broken)
    again = daemon.discover()
    assert not again and f"{NS}/vllm" in again.invalid
    assert daemon.targets[NAME].mode == "metric"  # the last valid declaration stands


def test_a_configured_target_is_not_discovered_twice(rig):
    rig.kube.put_object(opted_in("chat"))
    settings = Settings(
        state_dir=str(rig.tmp_path / "state"),
        kubernetes={"namespaces": [NS]},
        targets=[
            {
                "name": "chat",
                "scaled_object": f"{NS}/chat",
                "history_synthetic": {"seed": 1},
                "capacity": {"profile": "llama-3-8b-l40s-tp2"},
            }
        ],
    )
    daemon = rig.daemon(settings)
    assert not daemon.discover()
    assert daemon.targets.names() == ["chat"]


def test_no_watched_namespaces_means_no_listing(rig):
    daemon = rig.daemon(Settings(state_dir=str(rig.tmp_path / "state")))
    assert not daemon.discover()
    assert [r for r in rig.kube.requests if r.resource == "scaledobjects"] == []


def test_a_failed_listing_is_no_opt_out(rig):
    rig.kube.put_object(opted_in("vllm"))
    daemon = rig.daemon(watching(rig))
    daemon.discover()
    rig.kube.faults.add(verb="list", status=503, times=None)
    assert not daemon.discover()
    assert NAME in daemon.targets


def test_a_changed_query_retrains_before_the_model_is_used_again(rig):
    rig.kube.put_object(opted_in("vllm", annotations={**DECLARED, MODE_ANNOTATION: "dry-run"}))
    daemon = rig.daemon(watching(rig))
    daemon.discover()
    daemon.targets[NAME].retrain.due_at = None  # as after a retrain (the fake has no Prometheus)
    changed = rig.so("vllm")
    changed["metadata"]["annotations"]["predictor.io/query"] = "sum(rate(other_total[5m]))"
    rig.kube.put_object(changed)
    assert list(daemon.discover().changed) == [NAME]
    rt = daemon.targets[NAME]
    assert rt.retrain.is_due(rig.clock.now())
    assert rt.inputs.source == "prometheus: sum(rate(other_total[5m]))"


def test_deleted_then_recreated_is_dropped_then_managed_again(rig):
    rig.kube.put_object(opted_in("vllm"))
    daemon = rig.daemon(watching(rig))
    daemon.discover()
    daemon.reconcile_all()  # metric mode: the floor is published for KEDA
    published = {"namespace": NS, "scaledobject": "vllm"}
    assert rig.metric("predictor_recommended_min_replicas", **published) is not None

    rig.kube.delete_object("ScaledObject", NS, "vllm")
    assert daemon.discover().removed == [NAME]
    assert rig.metric("predictor_recommended_min_replicas", **published) is None  # KEDA reads nothing stale

    rig.kube.put_object(opted_in("vllm"))
    assert list(daemon.discover().added) == [NAME]
    assert daemon.reconcile_all()[0].target == NAME
