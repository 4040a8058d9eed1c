"""The fake API server answers the real ``kubernetes`` client and the real ``kubectl`` like an API server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from tests.support.fake_kube import KEDA_SCALEDOBJECT_SCHEMA, FakeKube, load_crd, start_fake_kube
from tests.support.keda_crd import keda_crd

NS = "inference"
GROUP, VERSION, PLURAL = "keda.sh", "v1alpha1", "scaledobjects"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scaled_object(name: str = "vllm", **spec: object) -> dict:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": NS, "labels": {"predictor.io/enabled": "true", "tier": "a"}},
        "spec": {
            "scaleTargetRef": {"name": name},
            "minReplicaCount": 1,
            "maxReplicaCount": 10,
            "triggers": [{"type": "prometheus", "metadata": {"query": "x"}}],
            **spec,
        },
    }


def crd_file() -> Path:
    return keda_crd()


@pytest.fixture()
def kube():
    with start_fake_kube(crd=crd_file()) as server:
        yield server


@pytest.fixture()
def api(kube: FakeKube):
    config = kubernetes.client.Configuration()
    config.host = kube.url
    config.retries = False  # urllib3 would retry a timed-out GET on its own
    with kubernetes.client.ApiClient(config) as client:
        yield client


@pytest.fixture()
def kubectl(kube: FakeKube, tmp_path: Path):
    binary = shutil.which("kubectl")
    assert binary, "kubectl must be on PATH for these tests"
    config = kube.write_kubeconfig(tmp_path / "kubeconfig")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [binary, f"--kubeconfig={config}", f"--cache-dir={tmp_path / 'cache'}", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env, check=False)
        if check:
            assert done.returncode == 0, done.stderr
        return done

    return run


def status_of(error: ApiException) -> dict:
    body = json.loads(error.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == error.status
    return body


def custom(api) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api)


def test_discovery_lists_the_served_groups(api):
    assert kubernetes.client.VersionApi(api).get_code().major == "1"
    groups = {g.name for g in kubernetes.client.ApisApi(api).get_api_versions().groups}
    assert {"keda.sh", "apps", "coordination.k8s.io"} <= groups
    resources = kubernetes.client.CoreV1Api(api).get_api_resources().resources
    assert {"pods", "events", "namespaces"} <= {r.name for r in resources}


def test_create_get_list_with_selectors_and_not_found(kube, api):
    kube.put_object(scaled_object("a"))  # also creates the namespace
    created = custom(api).create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, scaled_object("b"))
    elsewhere = scaled_object("c")
    elsewhere["metadata"]["namespace"] = "nowhere"
    with pytest.raises(ApiException) as missing_ns:
        custom(api).create_namespaced_custom_object(GROUP, VERSION, "nowhere", PLURAL, elsewhere)
    kube.delete_object("ScaledObject", NS, "b")
    other = scaled_object("x")
    other["metadata"]["labels"] = {"tier": "b"}
    kube.put_object(other)

    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    assert created["metadata"]["generation"] == 1
    assert status_of(missing_ns.value)["reason"] == "NotFound"

    def names(selector: str) -> list[str]:
        listed = custom(api).list_namespaced_custom_object(
            GROUP, VERSION, NS, PLURAL, label_selector=selector
        )
        return [o["metadata"]["name"] for o in listed["items"]]

    assert names("predictor.io/enabled=true") == ["a"]
    assert names("predictor.io/enabled,tier==a") == ["a"]
    assert names("tier!=a") == ["x"]
    assert names("!predictor.io/enabled") == ["x"]
    with pytest.raises(ApiException) as gone:
        custom(api).get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "nope")
    assert gone.value.status == 404
    assert status_of(gone.value)["message"] == 'scaledobjects.keda.sh "nope" not found'
    with pytest.raises(ApiException) as duplicate:
        custom(api).create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, scaled_object("a"))
    assert status_of(duplicate.value)["reason"] == "AlreadyExists"


def test_merge_patch_follows_rfc_7386_and_bumps_generation_on_spec_changes(kube, api):
    stored = kube.put_object(scaled_object(annotations=None))
    api_ = custom(api)
    annotate = {"metadata": {"annotations": {"a": "1", "b": "2"}}}
    first = api_.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", annotate)
    remove = {"metadata": {"annotations": {"a": None}}, "spec": {"minReplicaCount": 3}}
    second = api_.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", remove)
    same = api_.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", remove)

    rv = [int(o["metadata"]["resourceVersion"]) for o in (stored, first, second)]
    assert rv == sorted(rv) and len(set(rv)) == 3  # monotonic across the server
    assert first["metadata"]["generation"] == 1  # metadata only
    assert second["metadata"]["annotations"] == {"b": "2"}
    assert second["spec"]["minReplicaCount"] == 3 and second["metadata"]["generation"] == 2
    assert same["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]  # a no-op write
    assert kube.requests_for("patch")[0].content_type == "application/merge-patch+json"


def test_patch_content_types(kube, api):
    kube.put_object(scaled_object())
    api_ = custom(api)

    def patch(body: object, content_type: str) -> dict:
        return api_.patch_namespaced_custom_object(
            GROUP, VERSION, NS, PLURAL, "vllm", body, _content_type=content_type
        )

    ops = [
        {"op": "test", "path": "/spec/minReplicaCount", "value": 1},
        {"op": "replace", "path": "/spec/minReplicaCount", "value": 2},
        {"op": "add", "path": "/metadata/annotations", "value": {"predictor.io/x": "y"}},
        {"op": "add", "path": "/metadata/annotations/predictor.io~1z", "value": "w"},
        {"op": "remove", "path": "/metadata/annotations/predictor.io~1x"},
    ]
    patched = patch(ops, "application/json-patch+json")
    assert patched["spec"]["minReplicaCount"] == 2
    assert patched["metadata"]["annotations"] == {"predictor.io/z": "w"}

    failures = {
        "failed test": (
            [{"op": "test", "path": "/spec/minReplicaCount", "value": 9}],
            "application/json-patch+json",
        ),
        # The client itself turns an object sent as json-patch into a strategic merge patch.
        "object as json-patch (client)": ({"spec": {}}, "application/json-patch+json"),
        "list as merge-patch": ([{"op": "remove", "path": "/spec"}], "application/merge-patch+json"),
        "strategic on a CRD": ({"spec": {"minReplicaCount": 3}}, "application/strategic-merge-patch+json"),
    }
    codes = {}
    for name, (body, content_type) in failures.items():
        with pytest.raises(ApiException) as error:
            patch(body, content_type)
        codes[name] = (error.value.status, status_of(error.value)["reason"])
    assert codes == {
        "failed test": (422, "Invalid"),
        "object as json-patch (client)": (415, "UnsupportedMediaType"),
        "list as merge-patch": (400, "BadRequest"),
        "strategic on a CRD": (415, "UnsupportedMediaType"),
    }
    assert raw_patch(kube, {"spec": {}}, "application/json-patch+json") == (400, "BadRequest")
    assert raw_patch(kube, [], "application/apply-patch+yaml") == (415, "UnsupportedMediaType")
    assert kube.get_object("ScaledObject", NS, "vllm")["spec"]["minReplicaCount"] == 2


def raw_patch(kube: FakeKube, body: object, content_type: str) -> tuple[int, str]:
    """PATCH without the client, which rewrites some content types."""
    url = f"{kube.url}/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}/vllm"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="PATCH", headers={"Content-Type": content_type}
    )
    try:
        with NO_PROXY.open(request, timeout=5) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["reason"]


def test_a_stale_resource_version_is_a_conflict(kube, api):
    old = kube.put_object(scaled_object())
    kube.put_object(scaled_object(minReplicaCount=2))  # someone else writes
    api_ = custom(api)
    stale = {
        "metadata": {"resourceVersion": old["metadata"]["resourceVersion"]},
        "spec": {"minReplicaCount": 5},
    }
    with pytest.raises(ApiException) as patched:
        api_.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", stale)
    with pytest.raises(ApiException) as replaced:
        api_.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", old)
    unconditional = scaled_object()
    with pytest.raises(ApiException) as no_version:
        api_.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", unconditional)

    for error in (patched.value, replaced.value):
        body = status_of(error)
        assert (error.status, body["reason"]) == (409, "Conflict")
        assert "the object has been modified" in body["message"]
    assert no_version.value.status == 422
    assert kube.get_object("ScaledObject", NS, "vllm")["spec"]["minReplicaCount"] == 2


def crd_rules() -> tuple[dict, list[dict]]:
    version = next(v for v in load_crd(crd_file())["spec"]["versions"] if v["storage"])
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec, spec["x-kubernetes-validations"]


def test_the_built_in_keda_schema_matches_the_crd():
    spec, rules = crd_rules()
    built_in = KEDA_SCALEDOBJECT_SCHEMA["properties"]["spec"]
    for name, rule in built_in["properties"].items():
        for key in ("type", "format", "minimum", "minItems", "required"):
            assert rule.get(key) == spec["properties"][name].get(key), (name, key)
    assert built_in["required"] == spec["required"]
    assert built_in["x-kubernetes-validations"] == rules


@pytest.mark.parametrize("use_crd", [True, False], ids=["crd-file", "built-in"])
def test_keda_validation_follows_the_crd(use_crd: bool):
    spec, rules = crd_rules()
    minimum = {name: spec["properties"][name]["minimum"] for name in ("minReplicaCount", "maxReplicaCount")}
    cel_message = rules[0]["message"]
    cases = {  # spec fields -> expected substring of the 422 message, or None when accepted
        "min below its minimum": (
            {"minReplicaCount": minimum["minReplicaCount"] - 1},
            f"spec.minReplicaCount in body should be greater than or equal to {minimum['minReplicaCount']}",
        ),
        "max below its minimum": (
            {"maxReplicaCount": minimum["maxReplicaCount"] - 1, "minReplicaCount": 0},
            f"spec.maxReplicaCount in body should be greater than or equal to {minimum['maxReplicaCount']}",
        ),
        "min beyond int32": ({"minReplicaCount": 2**31}, "must be of type int32"),
        "min as a string": ({"minReplicaCount": "3"}, "must be of type integer"),
        "min above max": ({"minReplicaCount": 5, "maxReplicaCount": 3}, cel_message),
        "min above the default max": ({"minReplicaCount": 101, "maxReplicaCount": None}, cel_message),
        "min at the default max": ({"minReplicaCount": 100, "maxReplicaCount": None}, None),
        "min equals max": ({"minReplicaCount": 3, "maxReplicaCount": 3}, None),
        "min at its minimum": ({"minReplicaCount": minimum["minReplicaCount"]}, None),
    }
    with start_fake_kube(crd=crd_file() if use_crd else None) as kube:
        config = kubernetes.client.Configuration()
        config.host = kube.url
        with kubernetes.client.ApiClient(config) as client:
            api_ = kubernetes.client.CustomObjectsApi(client)
            for name, (fields, expected) in cases.items():
                kube.put_object(scaled_object())
                try:
                    api_.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", {"spec": fields})
                    message = None
                except ApiException as error:
                    body = status_of(error)
                    assert (error.status, body["reason"]) == (422, "Invalid"), name
                    assert body["message"].startswith('ScaledObject.keda.sh "vllm" is invalid: '), name
                    message = body["message"]
                assert (message is None) == (expected is None), (name, message)
                assert expected is None or expected in message, (name, message)
            missing = scaled_object("new")
            del missing["spec"]["triggers"]
            with pytest.raises(ApiException) as required:
                api_.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, missing)
            assert "spec.triggers: Required value" in status_of(required.value)["message"]


def test_watch_streams_changes_and_ends_after_timeout_seconds(kube, api):
    kube.put_object(scaled_object("a"))
    seen: list[tuple[str, str]] = []

    def watch() -> None:
        stream = kubernetes.watch.Watch().stream(
            custom(api).list_namespaced_custom_object, GROUP, VERSION, NS, PLURAL, timeout_seconds=1
        )
        seen.extend((e["type"], e["object"]["metadata"]["name"]) for e in stream)

    started = time.monotonic()
    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.2)
    kube.put_object(scaled_object("b"))
    custom(api).patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "a", {"spec": {"minReplicaCount": 2}}
    )
    custom(api).delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "b")
    watcher.join(timeout=10)

    assert not watcher.is_alive()
    assert 0.9 < time.monotonic() - started < 5
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert kube.requests_for("watch", "scaledobjects")[0].query["timeoutSeconds"] == "1"


def test_faults_and_the_request_log(kube, api):
    kube.put_object(scaled_object())
    fault = kube.faults.add(method="PATCH", path_contains="scaledobjects/vllm", status=403, times=1)
    body = {"spec": {"minReplicaCount": 2}}
    with pytest.raises(ApiException) as forbidden:
        custom(api).patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", body)
    custom(api).patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", body)
    kube.faults.add(verb="get", delay_s=1.0)
    with pytest.raises(Exception, match="timed out"):
        custom(api).get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", _request_timeout=0.2)

    assert fault.hits == 1
    assert status_of(forbidden.value)["reason"] == "Forbidden"
    message = status_of(forbidden.value)["message"]
    assert 'cannot patch resource "scaledobjects" in API group "keda.sh"' in message
    patches = kube.requests_for("patch")
    assert [(r.status, r.group, r.resource, r.namespace, r.name) for r in patches] == [
        (403, "keda.sh", "scaledobjects", NS, "vllm"),
        (200, "keda.sh", "scaledobjects", NS, "vllm"),
    ]
    assert patches[0].qualified == "scaledobjects.keda.sh"
    deadline = time.monotonic() + 3
    while len(kube.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # a delayed request is logged once its delay is over
    assert kube.permissions() == {("keda.sh", "scaledobjects", "patch"), ("keda.sh", "scaledobjects", "get")}


def test_kubectl_get_describe_annotate_and_patch(kube, kubectl):
    stored = kube.put_object(scaled_object())
    kube.put_object(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "vllm.1", "namespace": NS},
            "involvedObject": {
                "kind": "ScaledObject",
                "name": "vllm",
                "namespace": NS,
                "uid": stored["metadata"]["uid"],
            },
            "reason": "PrewarmRaised",
            "message": "floor 1 -> 4 before the 09:00 peak",
            "type": "Normal",
            "source": {"component": "predictor"},
        }
    )
    kubectl("annotate", "so", "vllm", "-n", NS, "team=llm")
    kubectl(
        "patch", "scaledobject", "vllm", "-n", NS, "--type", "merge", "-p", '{"spec":{"minReplicaCount":4}}'
    )
    refused = kubectl(
        "patch",
        "so",
        "vllm",
        "-n",
        NS,
        "--type",
        "merge",
        "-p",
        '{"spec":{"minReplicaCount":11}}',
        check=False,
    )
    table = kubectl("get", "so", "-n", NS).stdout.splitlines()
    as_yaml = kubectl("get", "scaledobject", "vllm", "-n", NS, "-o", "yaml").stdout
    described = kubectl("describe", "so", "vllm", "-n", NS).stdout

    assert table[0].split()[:5] == ["NAME", "SCALETARGETKIND", "SCALETARGETNAME", "MIN", "MAX"]
    assert table[1].split()[:4] == ["vllm", "vllm", "4", "10"]
    assert "minReplicaCount: 4" in as_yaml and "team: llm" in as_yaml
    assert refused.returncode != 0
    assert "minReplicaCount must be less than or equal to maxReplicaCount" in refused.stderr
    assert "PrewarmRaised" in described and "floor 1 -> 4 before the 09:00 peak" in described
    patches = kube.requests_for("patch", "scaledobjects")
    assert {r.content_type for r in patches} == {"application/merge-patch+json"}


def test_leases_and_built_in_kinds_work_with_the_typed_clients(kube, api):
    kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "predictor"}})
    leases = kubernetes.client.CoordinationV1Api(api)
    spec = kubernetes.client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15)
    body = kubernetes.client.V1Lease(metadata=kubernetes.client.V1ObjectMeta(name="leader"), spec=spec)
    created = leases.create_namespaced_lease("predictor", body)
    created.spec.holder_identity = "b"
    taken = leases.replace_namespaced_lease("leader", "predictor", created)
    created.spec.holder_identity = "c"  # still the old resourceVersion
    with pytest.raises(ApiException) as lost:
        leases.replace_namespaced_lease("leader", "predictor", created)
    apps = kubernetes.client.AppsV1Api(api)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "vllm"},
        "spec": {
            "selector": {"matchLabels": {"app": "vllm"}},
            "template": {"metadata": {"labels": {"app": "vllm"}}},
        },
    }
    apps.create_namespaced_deployment("predictor", deployment)
    scaled = apps.patch_namespaced_deployment(
        "vllm", "predictor", {"spec": {"replicas": 3}}
    )  # strategic merge

    assert leases.read_namespaced_lease("leader", "predictor").spec.holder_identity == "b"
    assert int(taken.metadata.resource_version) > int(created.metadata.resource_version)
    assert lost.value.status == 409
    assert scaled.spec.replicas == 3 and scaled.metadata.generation == 2
    assert (
        kube.requests_for("patch", "deployments")[0].content_type == "application/strategic-merge-patch+json"
    )


def test_the_status_subresource_is_separate(kube, api):
    kube.put_object(scaled_object())
    api_ = custom(api)
    status = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    with_status = api_.patch_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "vllm", status)
    ignored = api_.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "vllm", {"status": {"x": 1}})

    assert with_status["status"]["conditions"][0]["status"] == "True"
    assert with_status["metadata"]["generation"] == 1
    assert ignored["status"] == with_status["status"]
    assert kube.requests_for("patch")[0].qualified == "scaledobjects.keda.sh/status"
