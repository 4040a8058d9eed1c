"""KEDA's ScaledObject validation: the structural schema and the CEL rules the fake can evaluate."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

INT32_MAX = 2**31 - 1


# The parts of KEDA v2.20's ScaledObject schema that validation checks (see ``crd=`` for the real file).
KEDA_SCALEDOBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount)"
                    " ? self.maxReplicaCount : 100)",
                    "message": "minReplicaCount must be less than or equal to maxReplicaCount",
                }
            ],
            "properties": {
                "cooldownPeriod": {"type": "integer", "format": "int32", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "format": "int32", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "format": "int32", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "format": "int32", "minimum": 1},
                "minReplicaCount": {"type": "integer", "format": "int32", "minimum": 0},
                "pollingInterval": {"type": "integer", "format": "int32", "minimum": 1},
                "scaleTargetRef": {"type": "object", "required": ["name"]},
                "triggers": {"type": "array", "minItems": 1, "items": {"type": "object"}},
            },
        }
    },
}
# The CEL rules the fake can evaluate, by their exact text in the CRD.
_CEL_RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    KEDA_SCALEDOBJECT_SCHEMA["properties"]["spec"]["x-kubernetes-validations"][0]["rule"]: lambda spec: (
        "minReplicaCount" not in spec
        or not isinstance(spec["minReplicaCount"], int)
        or spec["minReplicaCount"] <= spec.get("maxReplicaCount", 100)
    ),
}


def load_crd(path: Path) -> dict[str, Any]:
    """Read a CRD file (YAML)."""
    import yaml  # only needed when a real CRD is used

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads the CRD ~10x faster
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def crd_schema(path: Path) -> dict[str, Any]:
    crd = load_crd(path)
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema = version["schema"]["openAPIV3Schema"]
    for rule in schema["properties"]["spec"].get("x-kubernetes-validations", []):
        if rule["rule"] not in _CEL_RULES:
            raise ValueError(
                f"the fake cannot evaluate the CEL rule {rule['rule']!r}; teach it in _CEL_RULES"
            )
    return schema


def schema_errors(value: Any, schema: dict[str, Any], path: str) -> list[tuple[str, str, str]]:
    """(field, what, detail) for every structural violation, the way the API server words them."""
    kind = schema.get("type")
    shown = json.dumps(value) if not isinstance(value, dict | list) else f'"{type(value).__name__}"'
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return [(path, f"Invalid value: {shown}", f"{path} in body must be of type integer: {shown}")]
    if kind == "object" and not isinstance(value, dict):
        return [(path, f"Invalid value: {shown}", f"{path} in body must be of type object: {shown}")]
    if kind == "array" and not isinstance(value, list):
        return [(path, f"Invalid value: {shown}", f"{path} in body must be of type array: {shown}")]
    if kind == "string" and not isinstance(value, str):
        return [(path, f"Invalid value: {shown}", f"{path} in body must be of type string: {shown}")]
    errors = []
    if kind == "integer":
        if schema.get("format") == "int32" and not -(2**31) <= value <= INT32_MAX:
            errors.append((path, f"Invalid value: {value}", f"{path} in body must be of type int32: {value}"))
        elif "minimum" in schema and value < schema["minimum"]:
            errors.append(
                (
                    path,
                    f"Invalid value: {value}",
                    f"{path} in body should be greater than or equal to {schema['minimum']}",
                )
            )
    if kind == "array":
        if len(value) < schema.get("minItems", 0):
            errors.append(
                (
                    path,
                    f"Invalid value: {len(value)}",
                    f"{path} in body should have at least {schema['minItems']} items",
                )
            )
        for index, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), f"{path}[{index}]")
    if kind == "object":
        for name in schema.get("required", []):
            if name not in value:
                errors.append((_join(path, name), "Required value", ""))
        for name, sub in schema.get("properties", {}).items():
            if name in value and name != "metadata":
                errors += schema_errors(value[name], sub, _join(path, name))
    return errors


def cel_errors(value: Any, schema: dict[str, Any], path: str) -> list[tuple[str, str, str]]:
    errors = []
    if isinstance(value, dict):
        for rule in schema.get("x-kubernetes-validations", []):
            check = _CEL_RULES.get(rule["rule"])
            if check is not None and not check(value):
                errors.append(
                    (path, 'Invalid value: "object"', rule.get("message", f"failed rule: {rule['rule']}"))
                )
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                errors += cel_errors(value[name], sub, _join(path, name))
    return errors


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
