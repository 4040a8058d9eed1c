"""Opt-in discovery: labelled ScaledObjects in the watched namespaces, described by annotations."""

from __future__ import annotations

from predictor.config import Settings
from tests.unit.daemon.conftest import NS, scaled_object

LABEL = {"predictor.io/enabled": "true"}
DECLARED = {
    "predictor.io/query": "sum(rate(vllm:request_success_total[5m]))",
    "predictor.io/profile": "llama-3-8b-l40s-tp2",
    "predictor.io/cold-start": "900",
    "predictor.io/actuation-mode": "metric",
}


def opted_in(name: str, *, namespace: str = NS, labels=LABEL, annotations=DECLARED) -> dict:
    obj = scaled_object(name)
    obj["metadata"].update(namespace=namespace, labels=dict(labels), annotations=dict(annotations))
    return obj


def test_labelled_scaled_objects_become_targets(rig):
    rig.kube.put_object(opted_in("vllm"))
    rig.kube.put_object(opted_in("not-opted-in", labels={}))
    rig.kube.put_object(opted_in("elsewhere", namespace="other"))
    settings = Settings(state_dir=str(rig.tmp_path / "state"), kubernetes={"namespaces": [NS]})
    daemon = rig.daemon(settings)
    assert daemon.discover() == [f"{NS}.vllm"]
    target = daemon.targets[f"{NS}.vllm"].settings
    assert target.query == DECLARED["predictor.io/query"]
    assert target.capacity.max_concurrency == 64  # from the profile
    assert target.cold_start.configured_s == 900
    assert target.policy.actuation_mode == "metric"
    assert daemon.discover() == []  # already managed
    assert {r.verb for r in rig.kube.requests if r.resource == "scaledobjects"} == {"list"}


def test_an_incomplete_declaration_is_skipped(rig):
    rig.kube.put_object(opted_in("half", annotations={"predictor.io/profile": "llama-3-8b-l40s-tp2"}))
    settings = Settings(state_dir=str(rig.tmp_path / "state"), kubernetes={"namespaces": [NS]})
    daemon = rig.daemon(settings)
    assert daemon.discover() == []
    assert daemon.targets == {}


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
    assert daemon.discover() == []
    assert list(daemon.targets) == ["chat"]


def test_no_watched_namespaces_means_no_listing(rig):
    daemon = rig.daemon(Settings(state_dir=str(rig.tmp_path / "state")))
    assert daemon.discover() == []
    assert [r for r in rig.kube.requests if r.resource == "scaledobjects"] == []
