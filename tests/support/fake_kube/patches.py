"""PATCH bodies: RFC 7386 merge patch and RFC 6902 JSON patch, chosen by Content-Type."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.support.fake_kube.errors import ApiError

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def unsupported_media(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}",
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: Any, operations: list[Any]) -> Any:
    """RFC 6902 JSON patch; a failed ``test`` or a bad path is 422, as on a real server."""
    document = copy.deepcopy(document)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(422, "Invalid", f"invalid JSON patch operation: {json.dumps(op)}")
        kind = op["op"]
        if kind == "test":
            if _pointer_get(document, op["path"]) != op.get("value"):
                raise ApiError(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an error in our request: "
                    f"testing value {op['path']} failed: test failed",
                )
        elif kind == "remove":
            _pointer_remove(document, op["path"])
        elif kind in ("add", "replace"):
            if kind == "replace":
                _pointer_get(document, op["path"])
            document = _pointer_set(
                document, op["path"], copy.deepcopy(op.get("value")), insert=kind == "add"
            )
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_pointer_get(document, op["from"]))
            if kind == "move":
                _pointer_remove(document, op["from"])
            document = _pointer_set(document, op["path"], value, insert=True)
        else:
            raise ApiError(422, "Invalid", f"unexpected kind of JSON patch operation: {kind}")
    return document


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ApiError(422, "Invalid", f"JSON pointer must start with '/': {pointer}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _step(node: Any, token: str, pointer: str) -> Any:
    try:
        return node[int(token)] if isinstance(node, list) else node[token]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ApiError(422, "Invalid", f"the path {pointer!r} does not exist in the document") from None


def _pointer_get(document: Any, pointer: str) -> Any:
    node = document
    for token in _tokens(pointer):
        node = _step(node, token, pointer)
    return node


def _pointer_set(document: Any, pointer: str, value: Any, *, insert: bool) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        return value
    parent = (
        _pointer_get(document, "/" + "/".join(t.replace("~", "~0").replace("/", "~1") for t in tokens[:-1]))
        if len(tokens) > 1
        else document
    )
    last = tokens[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if insert:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, "Invalid", f"the path {pointer!r} does not exist in the document")
    return document


def _pointer_remove(document: Any, pointer: str) -> None:
    tokens = _tokens(pointer)
    parent = _pointer_get(document, "/" + "/".join(tokens[:-1])) if len(tokens) > 1 else document
    _step(parent, tokens[-1], pointer)
    if isinstance(parent, list):
        del parent[int(tokens[-1])]
    else:
        del parent[tokens[-1]]
