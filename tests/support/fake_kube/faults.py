"""Fault injection and the request log."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tests.support.fake_kube.errors import ApiError, status_details
from tests.support.fake_kube.resources import Route


@dataclass
class Fault:
    """An injected failure: match by method, verb and path fragment; answer ``status`` after ``delay_s``."""

    method: str | None = None
    path_contains: str = ""
    verb: str | None = None
    status: int | None = None
    delay_s: float = 0.0
    times: int | None = 1  # None = every matching request
    message: str | None = None
    hits: int = 0


class Faults:
    """The faults of one server (thread-safe). :meth:`add` returns the fault; tests can read ``hits``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        *,
        method: str | None = None,
        path_contains: str = "",
        verb: str | None = None,
        status: int | None = None,
        delay_s: float = 0.0,
        times: int | None = 1,
        message: str | None = None,
    ) -> Fault:
        """Fail the next ``times`` matching requests (``None`` = all) with ``status``, after ``delay_s`` s.

        With only ``delay_s``, the request is delayed and then served normally (to cause client timeouts).
        """
        fault = Fault(method and method.upper(), path_contains, verb, status, delay_s, times, message)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, verb: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (
                    (fault.method is None or fault.method == method)
                    and (fault.verb is None or fault.verb == verb)
                    and fault.path_contains in path
                    and (fault.times is None or fault.hits < fault.times)
                ):
                    fault.hits += 1
                    return fault
        return None


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it. ``verb`` is the Kubernetes verb (get, list, watch, create,
    update, patch, delete); ``group`` and ``resource`` are the RBAC names (``keda.sh``, ``scaledobjects``;
    the core group is ``""``)."""

    method: str
    path: str
    query: dict[str, str]
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    content_type: str
    status: int
    body: Any = None

    @property
    def qualified(self) -> str:
        """``scaledobjects.keda.sh``, ``pods``, ``scaledobjects.keda.sh/status``: empty for discovery."""
        base = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{base}/{self.subresource}" if self.subresource else base


def fault_error(fault: Fault, route: Route | None, verb: str) -> ApiError:
    resource = route.resource if route else None
    what = resource.qualified if resource else "the requested resource"
    name = route.name if route else ""
    reasons = {
        400: "BadRequest",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        410: "Expired",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }
    status = fault.status or 500
    if fault.message:
        message = fault.message
    elif status == 403 and resource is not None:
        where = (
            f' in the namespace "{route.namespace}"' if route and route.namespace else " at the cluster scope"
        )
        message = (
            f'{what} "{name}" is forbidden: User "system:serviceaccount:predictor:predictor" cannot {verb} '
            f'resource "{resource.plural}" in API group "{resource.group}"{where}'
        )
    elif status == 404:
        message = f'{what} "{name}" not found'
    elif status == 409:
        message = (
            f'Operation cannot be fulfilled on {what} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )
    elif status == 422:
        message = f'{resource.kind if resource else "object"} "{name}" is invalid: injected by the test'
    else:
        message = f"injected fault: HTTP {status}"
    details = status_details(resource, name) if resource else None
    return ApiError(status, reasons.get(status, "InternalError"), message, details)
