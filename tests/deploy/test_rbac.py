"""The RBAC in deploy/ is exactly what the daemon uses: nothing missing, nothing extra.

For each overlay, the real daemon code runs against the fake API server through everything it
does in that overlay's mode, through the real CLI and a kubeconfig: `predictor run --once` (leader
election on the Lease, retrains, the learned cold start read from the pods of a Deployment, a
LeaderWorkerSet and a RoleBasedGroup role through their scale subresources, a reconcile that
raises the floors and records an Event per change in patch mode or the published floor in
metric mode, the Lease handed back), `predictor status`
and `predictor release --yes` (restoring the baseline). Every request the fake logged, with its
Kubernetes verb, resource, namespace and name, must be allowed by the rules bound to the overlay's
ServiceAccount (ClusterRoles anywhere, Roles in their namespace, resourceNames honoured), and every
(apiGroup, resource, verb) those rules grant must have been used by at least one request.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from predictor.actuation.scaledobject import OWN_ANNOTATIONS
from predictor.cli.main import app
from tests.deploy.manifests import OVERLAYS, config_map_file, one, overlay, plain_env
from tests.support.fake_kube import FakeKube, RequestRecord, start_fake_kube
from tests.support.keda_crd import keda_crd

pytestmark = pytest.mark.integration  # renders deploy/ with the real kubectl

NS = "inference"
PEAK_RAMP = "2026-11-18T07:45"  # a Wednesday: the synthetic trace ramps up from ~08:00
MODES = {"dry-run": "dry-run", "patch": "patch", "metric": "metric", "servicemonitor": "dry-run"}


@dataclass(frozen=True)
class Grant:
    """One rule of a Role or ClusterRole, bound to the ServiceAccount; ``namespace`` None = cluster-wide."""

    source: str
    namespace: str | None
    rule: dict[str, Any]

    def allows(self, r: RequestRecord) -> bool:
        resource = _resource(r)
        names = self.rule.get("resourceNames")
        return (
            self.namespace in (None, r.namespace)
            and r.group in self.rule.get("apiGroups", [])
            and resource in self.rule.get("resources", [])
            and r.verb in self.rule.get("verbs", [])
            and (not names or (bool(r.name) and r.name in names))
        )

    def triples(self) -> set[tuple[str, str, str]]:
        rule = self.rule
        return set(itertools.product(rule["apiGroups"], rule["resources"], rule["verbs"]))


def _resource(r: RequestRecord) -> str:
    """The resource as RBAC names it: ``deployments/scale`` for a subresource."""
    return f"{r.resource}/{r.subresource}" if r.subresource else r.resource


def grants_for(objects: list[dict[str, Any]]) -> tuple[list[Grant], str, str]:
    """The rules bound to the Deployment's ServiceAccount, and that account's namespace and name."""
    deployment = one(objects, "Deployment", "predictor")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    namespace = deployment["metadata"]["namespace"]
    subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    roles = {(o["kind"], o["metadata"]["name"]): o for o in objects if o["kind"] in ("Role", "ClusterRole")}
    grants = []
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if subject not in binding["subjects"]:
            continue
        ref = binding["roleRef"]
        role = roles[(ref["kind"], ref["name"])]
        scope = binding["metadata"]["namespace"] if binding["kind"] == "RoleBinding" else None
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], f"{ref['name']}: no wildcards in a least-privilege rule"
            assert not rule.get("nonResourceURLs"), f"{ref['name']}: no non-resource URLs"
            grants.append(Grant(f"{ref['kind']} {ref['name']}", scope, rule))
    return grants, namespace, account


# The three kinds of scale target, each with the labels its pods carry and how its scale
# subresource finds them: (ScaledObject, scaleTargetRef, the target object, its pods' labels).
LWS_LABELS = {"leaderworkerset.sigs.k8s.io/name": "llama-70b", "leaderworkerset.sigs.k8s.io/group-index": "0"}
RBG_LABELS = {
    "rolebasedgroup.workloads.x-k8s.io/name": "qwen",
    "rolebasedgroup.workloads.x-k8s.io/role": "prefill",
}
SCALE_TARGETS = (
    (
        "llama-chat",
        {"name": "llama-chat"},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "llama-chat"},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "llama-chat"}}},
        },
        {"app.kubernetes.io/name": "llama-chat"},
    ),
    (
        "llama-70b",
        {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": "llama-70b"},
        {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": {"name": "llama-70b"},
            "spec": {"replicas": 2},
            "status": {
                "hpaPodSelector": "leaderworkerset.sigs.k8s.io/name=llama-70b,"
                "leaderworkerset.sigs.k8s.io/worker-index=0"
            },
        },
        LWS_LABELS,
    ),
    (
        "qwen-prefill",
        {
            "apiVersion": "workloads.x-k8s.io/v1alpha1",
            "kind": "RoleBasedGroupScalingAdapter",
            "name": "qwen-prefill",
        },
        {
            "apiVersion": "workloads.x-k8s.io/v1alpha1",
            "kind": "RoleBasedGroupScalingAdapter",
            "metadata": {"name": "qwen-prefill"},
            "spec": {"scaleTargetRef": {"name": "qwen", "role": "prefill"}},
            "status": {"selector": ",".join(f"{k}={v}" for k, v in RBG_LABELS.items())},
        },
        RBG_LABELS,
    ),
)


def seed_cluster(kube: FakeKube, objects: list[dict[str, Any]]) -> None:
    """predictor's Namespace (from the manifests), and for each kind of scale target: the target,
    six started pods and its ScaledObject with a baseline of 2."""
    kube.put_object(one(objects, "Namespace"))
    created = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    for name, scale_target_ref, workload, labels in SCALE_TARGETS:
        kube.put_object({**workload, "metadata": {**workload["metadata"], "namespace": NS}})
        for i in range(6):
            ready = created + timedelta(seconds=540 + 20 * i)
            kube.put_object(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{name}-{i}",
                        "namespace": NS,
                        "labels": {**labels, "leaderworkerset.sigs.k8s.io/group-index": str(i)}
                        if name == "llama-70b"
                        else labels,
                        "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                    "status": {
                        "phase": "Running",
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True",
                                "lastTransitionTime": ready.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            }
                        ],
                    },
                }
            )
        kube.put_object(
            {
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "ScaledObject",
                "metadata": {"name": name, "namespace": NS, "annotations": {}},
                "spec": {
                    "scaleTargetRef": scale_target_ref,
                    "minReplicaCount": 2,
                    "maxReplicaCount": 30,
                    "triggers": [{"type": "prometheus", "metadata": {"query": "x", "threshold": "10"}}],
                },
            }
        )


def config_for(objects: list[dict[str, Any]], kubeconfig: Path, tmp_path: Path) -> Path:
    """The overlay's own config (from its ConfigMap), pointed at the fake cluster, with one target on
    the built-in synthetic trace instead of Prometheus. Everything else (the Lease, leader election,
    the mode from the Deployment's environment) is as shipped."""
    _, text = config_map_file(objects)
    config = yaml.safe_load(text)
    config["kubernetes"].update(mode="kubeconfig", kubeconfig_path=str(kubeconfig), request_timeout_s=5)
    config["state_dir"] = str(tmp_path / "state")
    config["targets"] = [
        {
            "name": name,
            "scaled_object": f"{NS}/{name}",
            "history_synthetic": {"seed": 3},
            "capacity": {"profile": "llama-3-8b-l40s-tp2"},
            "cold_start": {"total_s": 600, "learn": True},
            "policy": {"model": "harmonic", "history_window_days": 21},
        }
        for name, *_ in SCALE_TARGETS
    ]
    path = tmp_path / "predictor.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def restore_logging():
    """`predictor run` sets up the process's logging (a handler on the predictor logger, bound to the
    CLI runner's stderr); hand the loggers back as they were to the tests that run after these."""
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in ("predictor", "apscheduler")
        for logger in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_rbac_covers_exactly_what_the_daemon_does(name, tmp_path, monkeypatch):
    objects = overlay(name)
    grants, namespace, account = grants_for(objects)
    env = {k: v for k, v in plain_env(objects).items() if k.startswith("PREDICTOR_")}
    env.update(POD_NAME=f"{account}-7d9f8-abcde", POD_NAMESPACE=namespace)  # the downward API
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cli = CliRunner()

    with start_fake_kube(crd=keda_crd()) as kube:
        seed_cluster(kube, objects)
        config = config_for(objects, kube.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path)

        ran = cli.invoke(app, ["run", "--config", str(config), "--once", "--clock-start", PEAK_RAMP])
        assert ran.exit_code == 0, ran.output
        so = kube.get_object("ScaledObject", NS, "llama-chat")
        if MODES[name] == "patch":
            assert so["spec"]["minReplicaCount"] > 2, f"the floor was not raised:\n{ran.output}"
            assert [e["reason"] for e in kube.list_objects("Event", NS)] == ["PrewarmRaised"] * 3
        else:
            assert so["spec"]["minReplicaCount"] == 2 and not kube.list_objects("Event", NS)
            assert "raise" in ran.output, f"the {name} daemon should recommend a raise:\n{ran.output}"
        lease = kube.get_object(
            "Lease", namespace, yaml.safe_load(config.read_text())["kubernetes"]["lease_name"]
        )
        assert lease is not None and lease["spec"].get("holderIdentity") is None, "the Lease is handed back"

        status = cli.invoke(app, ["status", "--config", str(config)])
        assert status.exit_code == 0, status.output
        released = cli.invoke(app, ["release", "--config", str(config), "--yes"])
        assert released.exit_code == 0, released.output
        for target, *_ in SCALE_TARGETS:
            so = kube.get_object("ScaledObject", NS, target)
            assert so["spec"]["minReplicaCount"] == 2
            assert not set(so["metadata"]["annotations"]) & set(OWN_ANNOTATIONS)

        requests = [r for r in kube.requests if r.resource]  # discovery needs no RBAC
        used = kube.permissions()

    scales = {
        ("apps", "deployments/scale", "get"),
        ("leaderworkerset.x-k8s.io", "leaderworkersets/scale", "get"),
        ("workloads.x-k8s.io", "rolebasedgroupscalingadapters/scale", "get"),
    }
    assert {*scales, ("", "pods", "list")} <= used, "the cold start was not learned"
    missing = [
        f"{r.verb} {r.group or 'core'}/{r.resource} {r.namespace}/{r.name}"
        for r in requests
        if not any(g.allows(r) for g in grants)
    ]
    assert not missing, f"{name}: the RBAC lacks what the daemon does: {sorted(set(missing))}"
    extra = [
        f"{g.source}: {triple}"
        for g in grants
        for triple in sorted(g.triples())
        if not any(g.allows(r) and (r.group, _resource(r), r.verb) == triple for r in requests)
    ]
    assert not extra, f"{name}: the RBAC grants what the daemon never uses: {extra}; used: {sorted(used)}"
