"""deploy/: every overlay and example renders, validates against the Kubernetes and KEDA schemas,
runs with the security settings the issue asks for, and carries a config `predictor config check`
accepts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from predictor.cli.main import app
from predictor.config import load_settings
from tests.deploy.manifests import (
    DEPLOY,
    EXAMPLES,
    KUBERNETES_VERSION,
    OVERLAYS,
    config_map_file,
    container,
    one,
    overlay,
    plain_env,
    render,
    scaled_object_errors,
)

pytestmark = pytest.mark.integration  # renders deploy/ with the real kubectl

# Custom resources whose CRDs are not on this machine (only KEDA's is, in shared/): they are
# checked for their identity and their key fields in the tests below, not against a schema.
NO_SCHEMA_HERE = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("workloads.x-k8s.io/v1alpha1", "RoleBasedGroup"),
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
}
MODES = {"dry-run": "dry-run", "patch": "patch", "metric": "metric", "servicemonitor": "dry-run"}


def all_rendered() -> list[tuple[str, dict]]:
    rendered = [(f"overlays/{name}", o) for name in OVERLAYS for o in overlay(name)]
    rendered += [(f"examples/{name}", o) for name in EXAMPLES for o in render(DEPLOY / "examples" / name)]
    return rendered


def standalone_scaled_objects() -> list[tuple[str, dict]]:
    """ScaledObjects in example files that no kustomization lists (alternatives to apply instead)."""
    found = []
    for path in sorted((DEPLOY / "examples").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and doc.get("kind") == "ScaledObject":
                found.append((str(path.relative_to(DEPLOY)), doc))
    return found


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_overlay_renders_the_whole_install(name):
    kinds = sorted(o["kind"] for o in overlay(name))
    expected = [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Namespace",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    if name in ("servicemonitor", "metric"):
        expected += ["ServiceMonitor", "PrometheusRule"]
    if name == "patch":  # the write permissions, only in patch mode
        expected += ["ClusterRole", "ClusterRoleBinding"]
    assert kinds == sorted(expected)
    for obj in overlay(name):
        if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "predictor", f"{obj['kind']} outside predictor's namespace"


def test_every_rendered_object_is_valid_for_kubernetes():
    checked = set()
    for where, obj in all_rendered():
        key = (obj["apiVersion"], obj["kind"])
        if obj["kind"] == "ScaledObject":
            continue  # KEDA's CRD, below
        if key in NO_SCHEMA_HERE:
            assert obj["metadata"].get("name") and isinstance(obj.get("spec"), dict), f"{where}: {key}"
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(map(str, e.path))
            pytest.fail(f"{where}: {obj['kind']} {obj['metadata']['name']}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            pytest.fail(f"{where}: {e.message}; add its schema check or list it in NO_SCHEMA_HERE")
        checked.add(obj["kind"])
    assert {"Deployment", "ClusterRole", "Role", "PodDisruptionBudget", "Service"} <= checked


def test_the_kubernetes_schemas_catch_a_typo_offline():
    """kubernetes-validate ships its schemas (no network), and strict mode rejects unknown fields."""
    deployment = one(overlay("patch"), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True  # typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_scaled_object_is_valid_for_kedas_crd():
    scaled_objects = [(w, o) for w, o in all_rendered() if o["kind"] == "ScaledObject"]
    scaled_objects += standalone_scaled_objects()
    names = {o["metadata"]["name"] for _, o in scaled_objects}
    assert {"llama-chat", "qwen-prefill", "qwen-decode", "llama-70b"} <= names
    for where, obj in scaled_objects:
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        errors = scaled_object_errors(obj)
        assert not errors, f"{where}: ScaledObject {obj['metadata']['name']}:\n" + "\n".join(errors)


def test_keda_validation_enforces_min_at_most_max_with_max_defaulting_to_100():
    (_, so), *_ = [(w, o) for w, o in all_rendered() if o["kind"] == "ScaledObject"]
    so["spec"]["minReplicaCount"] = so["spec"]["maxReplicaCount"] + 1
    assert any("less than or equal to maxReplicaCount" in e for e in scaled_object_errors(so))
    del so["spec"]["maxReplicaCount"]
    so["spec"]["minReplicaCount"] = 100
    assert scaled_object_errors(so) == []
    so["spec"]["minReplicaCount"] = 101
    assert any("less than or equal to maxReplicaCount" in e for e in scaled_object_errors(so))
    so["spec"]["minReplicaCount"] = 2
    so["spec"]["minReplicaCont"] = 2  # a typo the API server would silently prune
    assert scaled_object_errors(so)


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_deployment_runs_least_privileged(name):
    objects = overlay(name)
    deployment = one(objects, "Deployment", "predictor")
    pod = deployment["spec"]["template"]["spec"]
    c = container(objects)
    assert deployment["spec"]["replicas"] == 2
    assert pod["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = c["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True and security["runAsUser"] > 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID")
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), f"resource {kind}"
    downward = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"] if "valueFrom" in e}
    assert downward == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_writable_path_is_a_volume_and_the_config_comes_from_the_generated_config_map(name):
    objects = overlay(name)
    pod = one(objects, "Deployment", "predictor")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in container(objects)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    key, text = config_map_file(objects)
    settings = yaml.safe_load(text)
    assert set(mounts) == {"/etc/predictor", "/tmp", settings["state_dir"]}
    assert mounts["/etc/predictor"]["readOnly"] is True
    config_map = one(objects, "ConfigMap")["metadata"]["name"]
    assert volumes[mounts["/etc/predictor"]["name"]]["configMap"]["name"] == config_map
    for path in ("/tmp", settings["state_dir"]):
        volume = volumes[mounts[path]["name"]]
        assert "emptyDir" in volume or "persistentVolumeClaim" in volume
    assert container(objects)["args"] == ["--config", f"/etc/predictor/{key}"]
    port = settings["server"]["port"]
    assert container(objects)["ports"][0]["containerPort"] == port
    service = one(objects, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == container(objects)["ports"][0]["name"]
    labels = one(objects, "Deployment", "predictor")["spec"]["template"]["metadata"]["labels"]
    for selector in (
        service["spec"]["selector"],
        one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()


@pytest.mark.parametrize("name", OVERLAYS)
def test_each_overlays_config_passes_predictor_config_check_in_its_mode(name, tmp_path, monkeypatch):
    objects = overlay(name)
    key, text = config_map_file(objects)
    path = tmp_path / key
    path.write_text(text, encoding="utf-8")
    # The pod's environment, as the Deployment sets it: the overlay's mode wins over the file.
    for variable, value in plain_env(objects).items():
        if variable.startswith("PREDICTOR_"):
            monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert load_settings(path).targets == [], "the base ships no target to be applied as it is"
    # With a target (as an overlay's own config gives them), the overlay's mode is the default.
    config = yaml.safe_load(text)
    config["targets"] = yaml.safe_load((DEPLOY / "examples" / "install" / "predictor.yaml").read_text())[
        "targets"
    ]
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    settings = load_settings(path)
    assert {t.policy.actuation_mode for t in settings.targets} == {MODES[name]}
    assert settings.kubernetes.leader_election is True
    role = one(objects, "Role")
    names = {n for rule in role["rules"] for n in rule.get("resourceNames", [])}
    assert names == {settings.kubernetes.lease_name}, "the Role must name the Lease the config uses"


def test_the_shipped_default_is_dry_run_and_the_config_leaves_the_mode_to_the_overlay():
    _, text = config_map_file(overlay("dry-run"))
    config = yaml.safe_load(text)
    assert "actuation_mode" not in config.get("policy", {})
    assert config["targets"] == []
    assert plain_env(render(DEPLOY / "base"))["PREDICTOR_POLICY__ACTUATION_MODE"] == "dry-run"


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_examples_predictor_config_passes_config_check_and_names_its_scaled_objects(name):
    folder = DEPLOY / "examples" / name
    result = CliRunner().invoke(app, ["config", "check", str(folder / "predictor.yaml")], env={})
    assert result.exit_code == 0, result.output
    settings = load_settings(folder / "predictor.yaml")
    rendered = {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}"
        for o in render(folder)
        if o["kind"] == "ScaledObject"
    }
    assert {t.scaled_object for t in settings.targets} == rendered


def test_the_vllm_example_drains_gracefully_and_scales_on_queue_and_kv_cache():
    objects = render(DEPLOY / "examples" / "vllm")
    pod = one(objects, "Deployment", "llama-chat")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 600
    (vllm,) = pod["containers"]
    assert vllm["lifecycle"]["preStop"]["exec"]["command"]
    assert vllm["readinessProbe"]["httpGet"]["path"] == "/health"
    so = one(objects, "ScaledObject", "llama-chat")["spec"]
    assert (so["cooldownPeriod"], so["minReplicaCount"]) == (300, 2)
    queries = " ".join(t["metadata"]["query"] for t in so["triggers"] if t["type"] == "prometheus")
    assert "vllm:num_requests_waiting" in queries and "vllm:kv_cache_usage_perc" in queries


def test_the_dynamo_example_scales_each_role_through_its_scaling_adapter():
    objects = render(DEPLOY / "examples" / "dynamo-disagg")
    prefill = one(objects, "ScaledObject", "qwen-prefill")["spec"]
    decode = one(objects, "ScaledObject", "qwen-decode")["spec"]
    for spec, role in ((prefill, "prefill"), (decode, "decode")):
        assert spec["scaleTargetRef"]["kind"] == "RoleBasedGroupScalingAdapter"
        assert spec["scaleTargetRef"]["name"] == f"qwen3-32b-{role}"
    (trigger,) = prefill["triggers"]
    assert trigger["type"] == "nats-jetstream" and trigger["metadata"]["stream"] == "prefill_queue"
    group = one(objects, "RoleBasedGroup", "qwen3-32b")
    adapted = {r["name"] for r in group["spec"]["roles"] if r.get("scalingAdapter", {}).get("enable")}
    assert adapted == {"prefill", "decode"}
    settings = load_settings(DEPLOY / "examples" / "dynamo-disagg" / "predictor.yaml")
    profiles = {t.name: (t.role, t.capacity.profile) for t in settings.targets}
    assert profiles == {
        "qwen-prefill": ("prefill", "qwen3-32b-h100-tp2-prefill"),
        "qwen-decode": ("decode", "qwen3-32b-h100-tp2-decode"),
    }
    # Declared once: both roles read the same three series of one service, and each its own object.
    [service] = settings.services
    assert service.name == "qwen" and {t.service for t in settings.targets} == {"qwen"}
    signals = {(t.query, t.prompt_tokens_query, t.output_tokens_query) for t in settings.targets}
    assert len(signals) == 1 and all(signals.pop())
    assert {t.scaled_object for t in settings.targets} == {"inference/qwen-prefill", "inference/qwen-decode"}


def test_the_leaderworkerset_and_metric_mode_examples():
    lws = one(render(DEPLOY / "examples" / "leaderworkerset"), "ScaledObject", "llama-70b")["spec"]
    assert lws["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    floors = [
        trigger
        for where, so in standalone_scaled_objects()
        if where.startswith("examples/metric-mode/")
        for trigger in so["spec"]["triggers"]
        if "predictor_recommended_min_replicas" in trigger["metadata"].get("query", "")
    ]
    assert len(floors) == 2  # the trigger form and the scalingModifiers form
    assert all('scaledobject="llama-chat"' in t["metadata"]["query"] for t in floors)
    settings = load_settings(DEPLOY / "examples" / "metric-mode" / "predictor.yaml")
    assert [t.policy.actuation_mode for t in settings.targets] == ["metric"]


def test_the_dashboard_uses_only_metrics_the_daemon_exports():
    from prometheus_client import CollectorRegistry

    from predictor.daemon.metrics import DaemonMetrics

    registry = CollectorRegistry()
    DaemonMetrics(registry)
    exported = {s for m in registry.collect() for s in (m.name, f"{m.name}_total")}
    dashboard = json.loads((DEPLOY / "grafana" / "predictor-dashboard.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for e in exprs for name in _metric_names(e)}
    assert used and used <= exported, f"unknown metrics: {sorted(used - exported)}"
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for subject in ("forecast", "floor", "lead time", "state", "error"):
        assert subject in titles


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"predictor_[a-z_]+", expr))


def test_the_dockerfile_builds_from_the_package_metadata_and_runs_non_root():
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in _joined(text) if line.strip() and not line.strip().startswith("#")]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) == 2 and "python:3.11-slim" in text, "a slim Python 3.11 base, a build stage"
    assert any("pip wheel" in line and line.endswith(" .") for line in lines), "wheels from pyproject"
    assert any("pip install --no-index --find-links=/wheels predictor" in line for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "the image must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or (gid.isdigit() and int(gid) != 0))
    after_user = lines[lines.index(f"USER {users[-1]}") :]
    assert not any(line.startswith("RUN ") for line in after_user), "nothing runs after USER"
    assert lines[-1] == 'ENTRYPOINT ["predictor", "run"]'
    env = " ".join(line for line in lines if line.startswith("ENV "))
    for setting in ("HOME=/tmp", "TMPDIR=/tmp", "MPLCONFIGDIR=/tmp", "OPENBLAS_NUM_THREADS=1"):
        assert setting in env
    deployment_uid = one(overlay("patch"), "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert deployment_uid["runAsUser"] == int(uid)
    ignored = (Path(DEPLOY.parent) / ".dockerignore").read_text(encoding="utf-8").split()
    for needed in ("!pyproject.toml", "!README.md", "!predictor/", "!models/", "!config/"):
        assert needed in ignored, f".dockerignore must let {needed[1:]} into the build context"


def _joined(text: str) -> list[str]:
    """Dockerfile lines with backslash continuations joined."""
    out, current = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        out.append(current + line)
        current = ""
    return out


def test_the_install_example_replaces_the_config_and_sets_the_image_on_a_remote_base(tmp_path):
    """deploy/examples/install as a user keeps it, with its remote base swapped for this checkout."""
    folder = DEPLOY / "examples" / "install"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    (remote,) = kustomization["resources"]
    assert remote.startswith("https://github.com/") and "//deploy/overlays/dry-run?ref=" in remote
    local = tmp_path / "install"
    local.mkdir()
    kustomization["resources"] = [os.path.relpath(DEPLOY / "overlays" / "dry-run", local)]
    (local / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    (local / "predictor.yaml").write_text((folder / "predictor.yaml").read_text(encoding="utf-8"))
    objects = render(local)
    key, text = config_map_file(objects)  # exactly one ConfigMap: the base's was replaced
    assert key == "predictor.yaml" and text == (folder / "predictor.yaml").read_text(encoding="utf-8")
    assert container(objects)["image"] == "registry.example.com/predictor:0.1.0"
    assert plain_env(objects)["PREDICTOR_POLICY__ACTUATION_MODE"] == "dry-run"
    mounted = one(objects, "Deployment", "predictor")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": one(objects, "ConfigMap")["metadata"]["name"]}} in mounted
    check = CliRunner().invoke(app, ["config", "check", str(folder / "predictor.yaml")], env={})
    assert check.exit_code == 0, check.output
    assert [t.scaled_object for t in load_settings(folder / "predictor.yaml").targets] == [
        "inference/llama-chat"
    ]


def test_the_vllm_queue_threshold_is_what_its_documented_command_computes():
    """The command in the ScaledObject's comment, run as written; decode binds, and every ScaledObject
    of the same vLLM service uses its scale-up level."""
    text = (DEPLOY / "examples" / "vllm" / "scaledobject.yaml").read_text(encoding="utf-8")
    (command,) = re.findall(r"^#\s+predictor (plan thresholds .*)$", text, flags=re.M)
    result = CliRunner().invoke(app, [*command.split(), "--json"])
    assert result.exit_code == 0, result.output
    computed = json.loads(result.stdout)
    assert computed["bound"] == "decode" and computed["scale_up"] == 12
    target = load_settings(DEPLOY / "examples" / "vllm" / "predictor.yaml").targets[0]
    assert computed["output_tokens"] == target.capacity.output_tokens  # the same workload
    vllm = [one(render(DEPLOY / "examples" / "vllm"), "ScaledObject", "llama-chat")]
    vllm += [so for where, so in standalone_scaled_objects() if where.startswith("examples/metric-mode/")]
    for so in vllm:
        (queue,) = [t for t in so["spec"]["triggers"] if t.get("name") == "queue"]
        assert queue["metadata"]["threshold"] == str(computed["scale_up"])
