"""Label and field selectors of list and watch requests."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.support.fake_kube.errors import ApiError
from tests.support.fake_kube.resources import Route


def _dotted(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def matcher(route: Route) -> Callable[[dict[str, Any]], bool]:
    labels = [t.strip() for t in route.query.get("labelSelector", "").split(",") if t.strip()]
    fields = [t.strip() for t in route.query.get("fieldSelector", "").split(",") if t.strip()]
    for term in labels:
        if re.search(r"\s(in|notin)\s|\(", term):
            raise ApiError(
                400, "BadRequest", f"the fake API server supports only equality label selectors: {term}"
            )

    def match(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        if route.resource.namespaced and route.namespace and meta.get("namespace") != route.namespace:
            return False
        have = meta.get("labels") or {}
        for term in labels:
            if not _selected(term, lambda key: have.get(key)):
                return False
        return all(_selected(term, lambda key: _field_text(obj, key)) for term in fields)

    return match


def _field_text(obj: dict[str, Any], key: str) -> str | None:
    value = _dotted(obj, key)
    return None if value is None else str(value)


def _selected(term: str, value_of: Callable[[str], str | None]) -> bool:
    if "!=" in term:
        key, want = term.split("!=", 1)
        return value_of(key.strip()) != want.strip()
    if "=" in term:
        key, want = re.split("==?", term, maxsplit=1)
        return value_of(key.strip()) == want.strip()
    if term.startswith("!"):
        return value_of(term[1:].strip()) is None
    return value_of(term) is not None
