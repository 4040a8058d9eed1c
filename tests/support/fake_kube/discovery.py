"""What kubectl reads besides objects: discovery documents and server-side tables (``as=Table``)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tests.support.fake_kube.resources import RESOURCES, Resource


def discovery_document(path: str, url: str) -> dict[str, Any] | None:
    groups: dict[str, list[str]] = {}
    for resource in RESOURCES:
        if resource.group:
            groups.setdefault(resource.group, [])
            if resource.version not in groups[resource.group]:
                groups[resource.group].append(resource.version)
    host = urlsplit(url).netloc
    if path == "/version":
        return {
            "major": "1",
            "minor": "32",
            "gitVersion": "v1.32.0-fake",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2024-12-11T00:00:00Z",
            "goVersion": "go1.23.4",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in groups.items()],
        }
    parts = path.strip("/").split("/")
    if parts[0] == "apis" and len(parts) == 2 and parts[1] in groups:
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(parts[1], groups[parts[1]])}
    if path == "/api/v1" or (parts[0] == "apis" and len(parts) == 3 and parts[2] in groups.get(parts[1], [])):
        group_version = "v1" if path == "/api/v1" else f"{parts[1]}/{parts[2]}"
        served = [r for r in RESOURCES if r.api_version == group_version]
        listed = []
        for r in served:
            verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
            listed.append(
                {
                    "name": r.plural,
                    "singularName": r.singular,
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": verbs,
                    "shortNames": list(r.short_names),
                }
            )
            if r.status_subresource:
                listed.append(
                    {
                        "name": f"{r.plural}/status",
                        "singularName": "",
                        "namespaced": r.namespaced,
                        "kind": r.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": listed,
        }
    return None


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def _json_path(obj: Any, path: str) -> Any:
    """The subset of JSONPath printer columns use: ``.a.b`` and ``.a[?(@.k=="v")].b``."""
    for part in re.findall(r'\.[^.\[]+|\[\?\(@\.\w+=="[^"]*"\)\]', path):
        if part.startswith("[") and isinstance(obj, list):
            key, want = re.match(r'\[\?\(@\.(\w+)=="([^"]*)"\)\]', part).groups()  # type: ignore[union-attr]
            obj = next((item for item in obj if isinstance(item, dict) and item.get(key) == want), None)
        elif isinstance(obj, dict):
            obj = obj.get(part[1:])
        else:
            return None
    return obj


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    seconds = int(
        time.time() - datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    )
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def kubectl_table(resource: Resource, objects: list[dict[str, Any]], rv: str) -> dict[str, Any]:
    """The server-side table ``kubectl get`` asks for (``as=Table``)."""
    columns = [
        ("Name", "string", ".metadata.name"),
        *resource.columns,
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    rows = []
    for obj in objects:
        cells = []
        for _, kind, path in columns:
            value = _json_path(obj, path)
            cells.append(_age(value) if kind == "date" else value)
        partial = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
        rows.append({"cells": cells, "object": partial})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": [
            {
                "name": name,
                "type": "string" if kind == "date" else kind,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": 0,
            }
            for name, kind, _ in columns
        ],
        "rows": rows,
    }
