"""Rendering deploy/ with the real kubectl, and validating what it renders (helpers for the tests).

A missing kubectl, a kustomize error or a missing KEDA CRD is a test failure with a clear message,
never a skip: these tests are the only check the manifests get before they reach a cluster.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.support.fake_kube.validation import cel_errors, crd_schema
from tests.support.keda_crd import keda_crd

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ("dry-run", "patch", "metric", "servicemonitor")
EXAMPLES = ("vllm", "dynamo-disagg", "leaderworkerset", "metric-mode")
KUBERNETES_VERSION = "1.32"  # the oldest Kubernetes the manifests promise to work on


def kubectl() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl is not on PATH: the deploy tests render deploy/ with `kubectl kustomize`"
    return found


@cache
def _render(folder: str) -> tuple[dict[str, Any], ...]:
    done = subprocess.run(
        [kubectl(), "kustomize", folder], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {folder} failed:\n{done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize folder` renders (deep copies: tests may change them)."""
    return copy.deepcopy(list(_render(str(folder))))


def overlay(name: str) -> list[dict[str, Any]]:
    return render(DEPLOY / "overlays" / name)


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def config_map_file(objects: list[dict[str, Any]]) -> tuple[str, str]:
    """The generated ConfigMap's only file: (key, text)."""
    config_map = one(objects, "ConfigMap")
    assert config_map["metadata"]["name"].startswith("predictor-config-"), "a generated (hashed) name"
    ((key, text),) = config_map["data"].items()
    return key, text


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(objects, "Deployment", "predictor")["spec"]["template"]["spec"]
    (only,) = pod["containers"]
    return only


def plain_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The Deployment's env vars that have a literal value."""
    return {e["name"]: e["value"] for e in container(objects).get("env", []) if "value" in e}


@cache
def keda_schema() -> dict[str, Any]:
    """The ScaledObject openAPIV3Schema of KEDA's CRD (tests/support/keda_crd.py, never copied into
    the project), made strict: an unknown field is an error here, where the API server would
    silently prune it."""
    return _strict(crd_schema(keda_crd()))  # crd_schema refuses CEL rules it cannot evaluate


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def scaled_object_errors(obj: dict[str, Any]) -> list[str]:
    """Every violation of KEDA's CRD: the structural schema (jsonschema) and the CEL rule
    minReplicaCount <= maxReplicaCount (max defaults to 100), in the API server's wording."""
    schema = keda_schema()
    body = {k: v for k, v in obj.items() if k != "metadata"}  # metadata is the API server's
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(body)
    ]
    errors += [_int32(obj)] if _int32(obj) else []
    errors += [f"{path}: {detail}" for path, _, detail in cel_errors(obj, schema, "")]
    return errors


def _int32(obj: dict[str, Any]) -> str | None:
    for key in ("minReplicaCount", "maxReplicaCount", "cooldownPeriod", "pollingInterval"):
        value = obj.get("spec", {}).get(key)
        if isinstance(value, int) and not 0 <= value < 2**31:
            return f"spec.{key}: {value} is not an int32"
    return None
