"""Failures answered as ``Status`` objects, in the API server's wording."""

from __future__ import annotations

from typing import Any

from tests.support.fake_kube.resources import Resource


class ApiError(Exception):
    """Answered to the client as a Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def invalid(resource: Resource, name: str, errors: list[tuple[str, str, str]]) -> ApiError:
    parts = [f"{f}: {what}: {detail}" if detail else f"{f}: {what}" for f, what, detail in errors]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = status_details(resource, name)
    details["causes"] = [
        {
            "reason": "FieldValueRequired" if what == "Required value" else "FieldValueInvalid",
            "message": f"{what}: {detail}" if detail else what,
            "field": f,
        }
        for f, what, detail in errors
    ]
    group_kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    return ApiError(422, "Invalid", f'{group_kind} "{name}" is invalid: {joined}', details)


def status_details(resource: Resource, name: str) -> dict[str, Any]:
    details = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{resource.qualified} "{name}" not found', status_details(resource, name)
    )
