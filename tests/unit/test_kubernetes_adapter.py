"""The Kubernetes adapter against the fake API server: reads, safe patches, bookkeeping, error mapping,
and the scale targets' pods (Deployment, LeaderWorkerSet, RoleBasedGroupScalingAdapter)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from predictor.actuation import pods
from predictor.actuation.errors import (
    ActuationConflict,
    ActuationForbidden,
    ActuationRejected,
    ActuationUnavailable,
    ScaledObjectGone,
    UnsafeFloor,
)
from predictor.actuation.kubernetes import KubernetesClient
from predictor.actuation.scaledobject import (
    APPLIED_ANNOTATION,
    BASELINE_ANNOTATION,
    FORECAST_ANNOTATION,
    PROFILE_ANNOTATION,
    QUERY_ANNOTATION,
    REASON_ANNOTATION,
    UPDATED_AT_ANNOTATION,
    FloorChange,
    ScaledObjectRef,
    ScaledObjectView,
)
from predictor.actuation.scaledobject_client import ScaledObjectClient
from predictor.actuation.workload_client import WorkloadClient
from predictor.config.settings import KubernetesSettings
from predictor.errors import ActuationError, ConfigError
from tests.support.fake_kube import FakeKube, start_fake_kube
from tests.support.keda_crd import keda_crd

NS = "inference"
REF = ScaledObjectRef(NS, "vllm")
AT = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)


def scaled_object(name: str = "vllm", namespace: str = NS, annotations: dict | None = None, **spec) -> dict:
    body = {"scaleTargetRef": {"name": name}, "triggers": [{"type": "prometheus", "metadata": {}}], **spec}
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"predictor.io/enabled": "true"},
            "annotations": annotations or {},
        },
        "spec": {k: v for k, v in body.items() if v is not None},
    }


@pytest.fixture()
def kube():
    with start_fake_kube(crd=keda_crd()) as server:
        yield server


def transport(kube: FakeKube, *, timeout_s: float = 2.0, retries: int = 2, **settings) -> KubernetesClient:
    return KubernetesClient(
        KubernetesSettings(request_timeout_s=timeout_s, **settings),
        host=kube.url,
        retries=retries,
        backoff_s=0.01,
        max_backoff_s=0.05,
    )


@contextlib.contextmanager
def adapter(kube: FakeKube, **options) -> Iterator[ScaledObjectClient]:
    with transport(kube, **options) as api:
        yield ScaledObjectClient(api)


@pytest.fixture()
def client(kube: FakeKube):
    with adapter(kube) as built:
        yield built


@pytest.fixture()
def workloads(kube: FakeKube):
    with transport(kube) as api:
        yield WorkloadClient(api)


def raise_to(pods: int, reason: str = "p90 peak at 09:00 needs more pods"):
    return lambda view: FloorChange(pods, reason, AT, forecast="p90 120 req/s at 09:00")


def test_views_apply_keda_defaults_and_detect_pauses(kube, client):
    kube.put_object(scaled_object(minReplicaCount=2, maxReplicaCount=8))
    kube.put_object(scaled_object("bare"))
    paused = {"a": {"autoscaling.keda.sh/paused": "true"}, "b": {"autoscaling.keda.sh/paused-replicas": "0"}}
    for name, pause in paused.items():
        kube.put_object(scaled_object(name, annotations=pause))
    kube.put_object(scaled_object("not-paused", annotations={"autoscaling.keda.sh/paused": "false"}))

    view = client.get(REF)
    bare = client.get(ScaledObjectRef(NS, "bare"))

    assert (view.min_replicas, view.max_replicas, view.paused) == (2, 8, False)
    assert view.resource_version == kube.get_object("ScaledObject", NS, "vllm")["metadata"]["resourceVersion"]
    assert (bare.min_replicas, bare.max_replicas) == (0, 100)  # KEDA's defaults
    assert not bare.min_replicas_set and not bare.max_replicas_set
    assert (bare.scale_target.api_version, bare.scale_target.kind) == ("apps/v1", "Deployment")
    assert (bare.baseline, bare.applied, bare.managed) == (None, None, False)
    assert client.get(ScaledObjectRef(NS, "a")).paused and client.get(ScaledObjectRef(NS, "b")).paused
    assert not client.get(ScaledObjectRef(NS, "not-paused")).paused
    assert ScaledObjectRef.parse("inference/vllm") == REF and str(REF) == "inference/vllm"
    with pytest.raises(ConfigError):
        ScaledObjectRef.parse("vllm")


def test_list_opted_in_uses_the_label_and_the_watched_namespaces(kube):
    kube.put_object(scaled_object("b"))
    kube.put_object(scaled_object("a", namespace="other"))
    hidden = scaled_object("c")
    hidden["metadata"]["labels"] = {"predictor.io/enabled": "false"}
    kube.put_object(hidden)
    kube.put_object(scaled_object("d", namespace="unwatched"))
    with adapter(kube, namespaces=[NS, "other"]) as client:
        found = [str(v.ref) for v in client.list_opted_in()]
        empty = client.list_opted_in(namespaces=[])

    assert found == ["inference/b", "other/a"]
    assert empty == []
    assert kube.requests_for("list")[0].query["labelSelector"] == "predictor.io/enabled=true"


def test_kubeconfig_credentials_and_no_global_configuration(kube, tmp_path):
    kube.put_object(scaled_object(minReplicaCount=3))
    config = kube.write_kubeconfig(tmp_path / "kubeconfig")
    settings = KubernetesSettings(mode="kubeconfig", kubeconfig_path=config, context="fake")
    default_before = kubernetes.client.Configuration.get_default_copy().host
    with KubernetesClient(settings) as api:
        assert ScaledObjectClient(api).get(REF).min_replicas == 3
    default_after = kubernetes.client.Configuration.get_default_copy().host
    assert default_after == default_before and kube.url not in default_after
    missing = KubernetesSettings(mode="kubeconfig", kubeconfig_path=tmp_path / "none")
    with pytest.raises(ActuationError, match="cannot load Kubernetes credentials"):
        KubernetesClient(missing)


def test_patch_is_a_merge_patch_carrying_the_resource_version_and_annotations(kube, client):
    kube.put_object(scaled_object(minReplicaCount=2, maxReplicaCount=20, annotations={"team": "llm"}))
    read = client.get(REF)

    result = client.patch_min_replicas(REF, raise_to(6))

    [patch] = kube.requests_for("patch")
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body["metadata"]["resourceVersion"] == read.resource_version
    assert patch.body["spec"] == {"minReplicaCount": 6}
    assert (result.outcome, result.attempts, result.after.min_replicas) == ("patched", 1, 6)
    stored = kube.get_object("ScaledObject", NS, "vllm")
    assert stored["spec"]["minReplicaCount"] == 6
    assert stored["metadata"]["annotations"] == {
        "team": "llm",
        BASELINE_ANNOTATION: "2",
        APPLIED_ANNOTATION: "6",
        REASON_ANNOTATION: "p90 peak at 09:00 needs more pods",
        UPDATED_AT_ANNOTATION: "2026-11-21T08:30:00Z",
        FORECAST_ANNOTATION: "p90 120 req/s at 09:00",
    }
    assert result.after.baseline == 2 and result.after.applied == 6


def test_the_baseline_is_kept_and_follows_someone_elses_change(kube, client, tmp_path):
    kube.put_object(scaled_object(minReplicaCount=2, maxReplicaCount=20))
    client.patch_min_replicas(REF, raise_to(6))
    client.patch_min_replicas(REF, raise_to(4))
    kept = client.get(REF)
    run_kubectl(
        kube,
        tmp_path,
        "patch",
        "so",
        "vllm",
        "-n",
        NS,
        "--type",
        "merge",
        "-p",
        '{"spec":{"minReplicaCount":3}}',
    )
    with pytest.raises(UnsafeFloor, match="below the baseline 3"):
        client.patch_min_replicas(REF, raise_to(2))
    moved = client.patch_min_replicas(REF, raise_to(5))

    assert (kept.baseline, kept.applied, kept.min_replicas) == (2, 4, 4)
    assert (moved.after.baseline, moved.after.applied) == (3, 5)


def test_a_conflict_rereads_and_decides_again(kube, client):
    kube.put_object(scaled_object(minReplicaCount=1, maxReplicaCount=10))
    seen: list[int] = []

    def decide(view: ScaledObjectView) -> FloorChange:
        seen.append(view.min_replicas)
        if len(seen) == 1:  # someone else writes between our read and our patch
            kube.put_object(scaled_object(minReplicaCount=2, maxReplicaCount=10))
        return FloorChange(view.min_replicas + 3, "raise by three", AT)

    result = client.patch_min_replicas(REF, decide)

    assert seen == [1, 2]
    assert [r.status for r in kube.requests_for("patch")] == [409, 200]
    assert (result.outcome, result.attempts, result.after.min_replicas) == ("patched", 2, 5)
    assert result.after.baseline == 2  # the other writer's value became the baseline


def test_conflicts_on_every_retry_give_up(kube):
    kube.put_object(scaled_object(maxReplicaCount=10))
    kube.faults.add(method="PATCH", status=409, times=None)
    with adapter(kube) as client, pytest.raises(ActuationConflict):
        client.patch_min_replicas(REF, raise_to(3))
    assert len(kube.requests_for("patch")) == 6  # the first try and five re-reads


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (404, ScaledObjectGone, "ScaledObject inference/vllm is gone"),
        (
            403,
            ActuationForbidden,
            "forbidden: the service account may not patch scaledobjects.keda.sh in namespace inference; "
            "grant it in the ClusterRole",
        ),
        (422, ActuationRejected, 'ScaledObject "vllm" is invalid: injected by the test'),
        (401, ActuationError, "HTTP 401"),
    ],
)
def test_patch_errors_are_mapped_and_never_leak(kube, client, status, error, message):
    kube.put_object(scaled_object(maxReplicaCount=10))
    kube.faults.add(method="PATCH", status=status)

    with pytest.raises(ActuationError) as raised:
        client.patch_min_replicas(REF, raise_to(3))

    assert type(raised.value) is error and message in str(raised.value)
    assert isinstance(raised.value.__cause__, ApiException)
    assert len(kube.requests_for("patch")) == 1  # not retried


def test_a_deleted_object_is_gone(kube, client):
    with pytest.raises(ScaledObjectGone, match="inference/vllm is gone"):
        client.get(REF)
    with pytest.raises(ScaledObjectGone):
        client.patch_min_replicas(REF, raise_to(3))


def test_403_on_a_read_names_the_verb_and_resource(kube, client):
    kube.faults.add(verb="list", status=403)
    with pytest.raises(
        ActuationForbidden, match=r"may not list scaledobjects\.keda\.sh in namespace inference"
    ):
        client.list_opted_in(namespaces=[NS])


def test_the_servers_422_message_is_shown(kube, client):
    broken = scaled_object(maxReplicaCount=10)
    del broken["spec"]["triggers"]  # stored as is; the API server validates the next write
    kube.put_object(broken)
    with pytest.raises(
        ActuationRejected, match=r'ScaledObject.keda.sh "vllm" is invalid: spec.triggers: Required'
    ):
        client.patch_min_replicas(REF, raise_to(3))


def test_server_errors_are_retried(kube, client):
    kube.put_object(scaled_object(maxReplicaCount=10))
    kube.faults.add(method="PATCH", status=500, times=2)
    kube.faults.add(method="GET", status=503, times=1)

    result = client.patch_min_replicas(REF, raise_to(3))

    assert result.patched and result.after.min_replicas == 3
    assert [r.status for r in kube.requests_for("patch")] == [500, 500, 200]


def test_server_errors_on_every_retry_give_up_for_this_cycle(kube, client):
    kube.put_object(scaled_object(maxReplicaCount=10))
    kube.faults.add(method="PATCH", status=503, times=None)
    with pytest.raises(ActuationUnavailable, match="HTTP 503 on every retry"):
        client.patch_min_replicas(REF, raise_to(3))
    assert len(kube.requests_for("patch")) == 3  # the first try and two retries


def test_a_slow_server_times_out_within_a_bounded_time(kube):
    kube.put_object(scaled_object(maxReplicaCount=10))
    kube.faults.add(method="GET", delay_s=2.0, times=None)
    started = time.monotonic()
    with adapter(kube, timeout_s=0.3, retries=1) as client, pytest.raises(ActuationUnavailable) as raised:
        client.get(REF)
    assert time.monotonic() - started < 1.5  # two attempts of 0.3 s and a short backoff
    assert "no answer from the API server after 2 attempts" in str(raised.value)
    assert not isinstance(raised.value.__cause__, ApiException)  # urllib3's timeout, chained


def test_an_unreachable_server_is_unavailable():
    with (
        KubernetesClient(
            KubernetesSettings(request_timeout_s=0.5), host="http://127.0.0.1:9", retries=1
        ) as api,
        pytest.raises(ActuationUnavailable),
    ):
        ScaledObjectClient(api).get(REF)


def test_paused_objects_are_never_patched(kube, client):
    kube.put_object(scaled_object(annotations={"autoscaling.keda.sh/paused-replicas": "2"}))
    calls = []

    result = client.patch_min_replicas(REF, lambda view: calls.append(view) or FloorChange(5, "x", AT))

    assert (result.outcome, result.patched, calls) == ("paused", False, [])
    assert kube.requests_for("patch") == []


def test_nothing_to_do_sends_nothing(kube, client):
    kube.put_object(scaled_object(maxReplicaCount=10))
    result = client.patch_min_replicas(REF, lambda view: None)
    assert result.outcome == "unchanged" and result.after == result.before
    assert kube.requests_for("patch") == []


@pytest.mark.parametrize(
    ("spec", "floor", "message"),
    [
        ({"maxReplicaCount": 10}, 11, "above maxReplicaCount 10"),
        ({}, 101, "above maxReplicaCount 100 (KEDA's default, unset)"),
        ({"minReplicaCount": 3}, 2, "below the baseline 3"),
        ({}, -1, "negative"),
    ],
)
def test_unsafe_floors_are_refused_before_sending(kube, client, spec, floor, message):
    kube.put_object(scaled_object(**spec))
    with pytest.raises(UnsafeFloor, match=re.escape(message)):
        client.patch_min_replicas(REF, raise_to(floor))
    assert kube.requests_for("patch") == []


def run_kubectl(kube: FakeKube, tmp_path: Path, *args: str) -> str:
    binary = shutil.which("kubectl")
    assert binary, "kubectl must be on PATH for these tests"
    config = kube.write_kubeconfig(tmp_path / "kubeconfig")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    command = [binary, f"--kubeconfig={config}", f"--cache-dir={tmp_path / 'cache'}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_events_show_in_kubectl_describe(kube, client, tmp_path):
    kube.put_object(scaled_object(maxReplicaCount=10))
    result = client.patch_min_replicas(REF, raise_to(4))
    client.emit_event(result.after, "PrewarmRaised", "floor 0 -> 4: p90 peak at 09:00", at=AT)
    client.emit_event(result.after, "FallbackToBaseline", "forecast is 7 h old", at=AT, type="Warning")

    described = run_kubectl(kube, tmp_path, "describe", "so", "vllm", "-n", NS)

    assert "PrewarmRaised" in described and "floor 0 -> 4: p90 peak at 09:00" in described
    assert "Warning  FallbackToBaseline" in described
    event = kube.list_objects("Event", NS)[0]
    assert event["involvedObject"] == {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "name": "vllm",
        "namespace": NS,
        "uid": result.after.uid,
        "resourceVersion": result.after.resource_version,
    }
    assert event["reportingComponent"] == "predictor" and event["source"] == {"component": "predictor"}


def test_event_errors_are_mapped(kube, client):
    kube.put_object(scaled_object())
    kube.faults.add(method="POST", status=403)
    with pytest.raises(ActuationForbidden, match="may not create events in namespace inference"):
        client.emit_event(client.get(REF), "PrewarmRaised", "x", at=AT)


def test_restore_baseline_and_remove_annotations(kube, client):
    kube.put_object(scaled_object(minReplicaCount=2, maxReplicaCount=10, annotations={"team": "llm"}))
    kube.put_object(scaled_object("untouched"))
    client.patch_min_replicas(REF, raise_to(7))

    removed = client.remove_annotations(REF, [FORECAST_ANNOTATION, "absent"])
    nothing = client.remove_annotations(REF, ["absent"])
    restored = client.restore_baseline(REF)
    again = client.restore_baseline(REF)
    unmanaged = client.restore_baseline(ScaledObjectRef(NS, "untouched"))

    assert removed.patched and FORECAST_ANNOTATION not in removed.after.annotations
    assert nothing.outcome == "unchanged"
    assert restored.patched and restored.after.min_replicas == 2
    assert dict(restored.after.annotations) == {"team": "llm"}
    assert again.outcome == "unmanaged" and unmanaged.outcome == "unmanaged"
    release = kube.requests_for("patch")[-1]
    assert release.body["metadata"]["resourceVersion"] == restored.before.resource_version


def test_restore_leaves_paused_objects_alone(kube, client):
    kube.put_object(scaled_object(minReplicaCount=2, maxReplicaCount=10))
    client.patch_min_replicas(REF, raise_to(7))
    obj = kube.get_object("ScaledObject", NS, "vllm")
    obj["metadata"]["annotations"]["autoscaling.keda.sh/paused"] = "true"
    kube.put_object(obj)
    assert client.restore_baseline(REF).outcome == "paused"


def pod(
    name: str,
    created: str,
    ready_at: str | None,
    phase: str = "Running",
    labels: dict | None = None,
    restarts: int = 0,
) -> dict:
    conditions = [
        {
            "type": "Ready",
            "status": "True" if ready_at else "False",
            "lastTransitionTime": ready_at or created,
        }
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "namespace": NS,
            "labels": labels or {"app": "vllm"},
            "creationTimestamp": created,
        },
        "spec": {"containers": [{"name": "vllm", "image": "vllm"}]},
        "status": {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": [{"name": "vllm", "restartCount": restarts}],
        },
    }


def test_pod_startups_through_the_deployments_scale_selector(kube, client, workloads):
    kube.put_object(scaled_object())
    kube.put_object(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "vllm", "namespace": NS},
            "spec": {"selector": {"matchLabels": {"app": "vllm"}}, "template": {}},
        }
    )
    kube.put_object(pod("a", "2026-11-21T08:00:00Z", "2026-11-21T08:07:30Z"))
    kube.put_object(pod("b", "2026-11-21T08:00:00Z", "2026-11-21T08:12:00Z"))
    kube.put_object(pod("flapped", "2026-11-21T08:00:00Z", "2026-11-21T08:20:00Z", restarts=1))
    kube.put_object(pod("starting", "2026-11-21T08:00:00Z", None))
    kube.put_object(pod("pending", "2026-11-21T08:00:00Z", None, phase="Pending"))
    kube.put_object(pod("other", "2026-11-21T08:00:00Z", "2026-11-21T08:01:00Z", labels={"app": "other"}))

    selector = workloads.scale_target_selector(client.get(REF))
    listed = workloads.list_pods(NS, selector.selector or "")

    assert selector.selector == "app=vllm" and selector.group_label is None
    assert sorted(pods.startup_durations(listed)) == [450.0, 720.0]  # the restarted pod is not counted
    assert ("apps", "deployments/scale", "get") in kube.permissions()


def test_a_leaderworkerset_is_read_in_whole_groups(kube, client, workloads):
    kube.put_object(
        scaled_object(
            scaleTargetRef={
                "apiVersion": "leaderworkerset.x-k8s.io/v1",
                "kind": "LeaderWorkerSet",
                "name": "lws",
            }
        )
    )
    leaders = "leaderworkerset.sigs.k8s.io/name=lws,leaderworkerset.sigs.k8s.io/worker-index=0"
    kube.put_object(
        {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": {"name": "lws", "namespace": NS},
            "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 2}},
            "status": {"replicas": 1, "hpaPodSelector": leaders},
        }
    )
    group = {"leaderworkerset.sigs.k8s.io/name": "lws", "leaderworkerset.sigs.k8s.io/group-index": "0"}
    kube.put_object(
        pod(
            "lws-0",
            "2026-11-21T08:00:00Z",
            "2026-11-21T08:09:00Z",
            labels={**group, pods.LWS_WORKER_LABEL: "0"},
        )
    )
    kube.put_object(
        pod(
            "lws-0-1",
            "2026-11-21T08:09:10Z",
            "2026-11-21T08:14:00Z",
            labels={**group, pods.LWS_WORKER_LABEL: "1"},
        )
    )

    selector = workloads.scale_target_selector(client.get(REF))
    readiness = pods.pod_readiness(workloads.list_pods(NS, selector.selector or ""), selector.group_label)

    assert selector.selector == "leaderworkerset.sigs.k8s.io/name=lws"  # leaders and workers
    assert selector.group_label == pods.LWS_GROUP_LABEL
    assert {p.group for p in readiness} == {"lws#0"}  # one start-up: 08:00 -> 08:14
    assert ("leaderworkerset.x-k8s.io", "leaderworkersets/scale", "get") in kube.permissions()


def test_a_role_of_a_rolebasedgroup_is_read_through_its_scaling_adapter(kube, client, workloads):
    adapter_ref = {
        "apiVersion": "workloads.x-k8s.io/v1alpha1",
        "kind": "RoleBasedGroupScalingAdapter",
        "name": "qwen-prefill",
    }
    kube.put_object(scaled_object(scaleTargetRef=adapter_ref))
    role = "rolebasedgroup.workloads.x-k8s.io/name=qwen,rolebasedgroup.workloads.x-k8s.io/role=prefill"
    kube.put_object(
        {
            **{k: adapter_ref[k] for k in ("apiVersion", "kind")},
            "metadata": {"name": "qwen-prefill", "namespace": NS},
            "spec": {"replicas": 2, "scaleTargetRef": {"name": "qwen", "role": "prefill"}},
            "status": {"replicas": 2, "selector": role},
        }
    )

    selector = workloads.scale_target_selector(client.get(REF))

    assert selector.selector == role and selector.group_label is None
    assert ("workloads.x-k8s.io", "rolebasedgroupscalingadapters/scale", "get") in kube.permissions()


def test_a_scale_target_without_a_selector_yet_says_so(kube, client, workloads):
    kube.put_object(
        scaled_object(
            scaleTargetRef={
                "apiVersion": "leaderworkerset.x-k8s.io/v1",
                "kind": "LeaderWorkerSet",
                "name": "lws",
            }
        )
    )
    kube.put_object(
        {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": {"name": "lws", "namespace": NS},
            "spec": {"replicas": 1},
        }
    )
    selector = workloads.scale_target_selector(client.get(REF))
    assert selector.selector is None and "no pod selector" in selector.reason


def test_release_removes_only_predictors_own_annotations(kube, client):
    declared = {
        QUERY_ANNOTATION: "sum(rate(x[5m]))",
        PROFILE_ANNOTATION: "llama-3-8b-l40s-tp2",
        "team": "llm",
    }
    kube.put_object(scaled_object(minReplicaCount=2, maxReplicaCount=10, annotations=declared))
    client.patch_min_replicas(REF, raise_to(7))

    restored = client.restore_baseline(REF)

    assert restored.after.min_replicas == 2
    assert dict(restored.after.annotations) == declared
