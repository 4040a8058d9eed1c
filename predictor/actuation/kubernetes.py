"""The Kubernetes transport: the only module that imports the ``kubernetes`` client.

:class:`KubernetesClient` loads the credentials into its own ``ApiClient`` (never the client's
global default configuration) and makes one JSON request at a time with a timeout, bounded
retries and our own errors. The per-resource clients build on it:
:mod:`~predictor.actuation.scaledobject_client` (ScaledObjects and their Events),
:mod:`~predictor.actuation.lease_client` (the leader-election Lease) and
:mod:`~predictor.actuation.workload_client` (scale targets and their pods).

Every failure leaves as an :class:`~predictor.errors.ActuationError` (see
:func:`predictor.actuation.errors.api_error`), the client's ``ApiException`` or urllib3's error
chained, never raised: 5xx, 429, timeouts and connection errors are retried ``retries`` times
with exponential backoff, then :class:`ActuationUnavailable`; every other status is final.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from predictor.actuation.errors import ActuationUnavailable, api_error
from predictor.config.settings import KubernetesSettings
from predictor.errors import ActuationError

MERGE_PATCH = "application/merge-patch+json"
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class KubernetesClient:
    """One API connection. Use as a context manager or :meth:`close`.

    ``host`` (e.g. a test server's URL) skips credential loading. Each request times out after
    ``settings.request_timeout_s`` seconds; ``retries`` more attempts follow a 5xx/429/timeout,
    waiting ``backoff_s`` doubled each time (at most ``max_backoff_s``). ``conflict_retries`` is
    how many times a per-resource client re-reads an object after a 409. ``instance`` names this
    replica (in Events).
    """

    def __init__(
        self,
        settings: KubernetesSettings,
        *,
        host: str | None = None,
        retries: int = 3,
        conflict_retries: int = 5,
        backoff_s: float = 0.2,
        max_backoff_s: float = 2.0,
        instance: str = "predictor",
    ) -> None:
        self.settings = settings
        self.instance = instance
        self.conflict_retries = conflict_retries
        self._timeout_s = settings.request_timeout_s
        self._retries = retries
        self._backoff_s, self._max_backoff_s = backoff_s, max_backoff_s
        self._api = kubernetes.client.ApiClient(configuration=_configuration(settings, host))

    def __enter__(self) -> KubernetesClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._api.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: str,
        namespace: str,
        name: str = "",
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One API call, decoded from JSON; ``verb`` and ``resource`` (e.g. ``patch``,
        ``scaledobjects.keda.sh``) name it in errors, as RBAC would.

        ``path`` is the API path (``/apis/keda.sh/v1alpha1/namespaces/ns/scaledobjects/x``); its
        segments must already be safe (see :func:`segment`).
        """
        headers = {"Accept": "application/json", "Content-Type": content_type}
        params = list((query or {}).items())
        for attempt in range(1, self._retries + 2):
            try:
                serialized = self._api.param_serialize(
                    method,
                    path,
                    query_params=params,
                    header_params=dict(headers),
                    body=body,
                    auth_settings=["BearerToken"],
                )
                response = self._api.call_api(*serialized, _request_timeout=self._timeout_s)
                data = response.read()
            except (urllib3.exceptions.HTTPError, OSError) as error:
                if attempt > self._retries:
                    raise ActuationUnavailable(
                        f"{verb} {resource} {_where(namespace, name)}: no answer from the API server "
                        f"after {attempt} attempts ({type(error).__name__}: {error})"
                    ) from error
            else:
                if 200 <= response.status < 300:
                    return json.loads(data or b"null")
                if response.status not in _RETRYABLE_STATUS or attempt > self._retries:
                    cause = ApiException(status=response.status, reason=response.reason, body=_text(data))
                    message = _server_message(data, response.reason)
                    raise api_error(response.status, message, verb, resource, namespace, name) from cause
            self.wait_before_retry(attempt)
        raise AssertionError("unreachable: the loop returns or raises")

    def wait_before_retry(self, attempt: int) -> None:
        """Sleep the backoff before attempt ``attempt + 1``: ``backoff_s`` doubled each time, capped."""
        time.sleep(min(self._backoff_s * 2 ** (attempt - 1), self._max_backoff_s))


def segment(text: str) -> str:
    """``text`` quoted for one path segment."""
    return quote(text, safe="")


def _where(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if name else f"in namespace {namespace}"


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")


def _server_message(data: bytes | None, reason: str | None) -> str:
    try:
        return str(json.loads(data or b"")["message"])
    except (ValueError, KeyError, TypeError):
        return _text(data) or reason or "no message"


def _configuration(settings: KubernetesSettings, host: str | None) -> kubernetes.client.Configuration:
    """A fresh client configuration (never the global default) from ``host`` or the credentials."""
    config = kubernetes.client.Configuration()
    try:
        if host is not None:
            config.host = host
        elif settings.mode == "in-cluster" or (settings.mode == "auto" and _in_cluster()):
            kubernetes.config.load_incluster_config(client_configuration=config)
        else:
            path = str(settings.kubeconfig_path) if settings.kubeconfig_path else None
            kubernetes.config.load_kube_config(
                config_file=path, context=settings.context, client_configuration=config, persist_config=False
            )
    except (kubernetes.config.ConfigException, OSError, ValueError, TypeError) as error:
        raise ActuationError(f"cannot load Kubernetes credentials (mode {settings.mode}): {error}") from error
    config.retries = False  # urllib3 would retry reads on its own; request() retries every verb, bounded
    return config


def _in_cluster() -> bool:
    token = Path(kubernetes.config.incluster_config.SERVICE_TOKEN_FILENAME)
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and token.exists()
