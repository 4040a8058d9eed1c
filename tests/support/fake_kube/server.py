"""The HTTP side: :class:`FakeKube` (a running server with its store, faults and request log) and
the request handler."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.fake_kube.discovery import discovery_document, kubectl_table
from tests.support.fake_kube.errors import ApiError
from tests.support.fake_kube.faults import Faults, RequestRecord, fault_error
from tests.support.fake_kube.patches import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, unsupported_media
from tests.support.fake_kube.resources import SCALEDOBJECTS, Route, parse_route
from tests.support.fake_kube.store import Store
from tests.support.fake_kube.validation import KEDA_SCALEDOBJECT_SCHEMA, crd_schema

JSON = "application/json"


class FakeKube:
    """A running fake API server. ``url`` is its base URL; :meth:`stop` ends it (also on ``with`` exit)."""

    def __init__(self, *, crd: Path | None = None) -> None:
        self.faults = Faults()
        self.requests: list[RequestRecord] = []
        self.store = Store({SCALEDOBJECTS.qualified: crd_schema(crd) if crd else KEDA_SCALEDOBJECT_SCHEMA})
        self._lock = threading.Lock()  # guards ``requests``
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.daemon_threads = True
        self._http.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="fake-kube", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> FakeKube:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self.store.stop()
        self._http.shutdown()
        self._http.server_close()

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """A kubeconfig (context ``fake``) for kubectl and the Python client; JSON is valid YAML."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
            ],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        return path

    # Direct access for tests: no validation, no faults, no request log.

    def put_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as is (status kept, no validation), creating its namespace; returns the copy."""
        return self.store.put_object(obj)

    def get_object(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object of ``kind`` (e.g. ``ScaledObject``, ``Event``), or None."""
        return self.store.get_object(kind, namespace, name)

    def list_objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.store.list_objects(kind, namespace)

    def delete_object(self, kind: str, namespace: str, name: str) -> None:
        self.store.delete_object(kind, namespace, name)

    def log(self, record: RequestRecord) -> None:
        """Append one request to :attr:`requests` (the handler calls it before answering)."""
        with self._lock:
            self.requests.append(record)

    def requests_for(self, verb: str | None = None, resource: str | None = None) -> list[RequestRecord]:
        """Logged requests, filtered by Kubernetes verb and plural resource name."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (verb is None or r.verb == verb) and (resource is None or r.resource == resource)
            ]

    def permissions(self) -> set[tuple[str, str, str]]:
        """(API group, resource, verb) of every resource request so far, e.g. ``("keda.sh",
        "scaledobjects", "patch")`` or ``("keda.sh", "scaledobjects/status", "update")``: the RBAC rules
        a client needs. Discovery requests are left out (every authenticated user may make them)."""
        with self._lock:
            return {
                (r.group, f"{r.resource}/{r.subresource}" if r.subresource else r.resource, r.verb)
                for r in self.requests
                if r.resource
            }


def start_fake_kube(*, crd: Path | None = None) -> FakeKube:
    """Start a fake API server on 127.0.0.1 with a free port; use it as a context manager."""
    return FakeKube(crd=crd)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on a keep-alive
    # connection each answer then waits ~40 ms for a delayed ACK, which no real API server does.
    disable_nagle_algorithm = True
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read FakeKube.requests
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        fake: FakeKube = self.server.fake  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"  # the Python client asks for /version/
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        raw = self._body()
        route = parse_route(method, path, query)
        verb = route.verb if route else ("get" if method == "GET" else method.lower())
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        accept = self.headers.get("Accept") or ""
        try:
            fault = fake.faults.take(method, self.path, verb)
            if fault is not None and fault.delay_s:
                time.sleep(fault.delay_s)
            if fault is not None and fault.status is not None:
                raise fault_error(fault, route, verb)
            if route is None:
                answer = discovery_document(path, fake.url) if method == "GET" else None
                if answer is None:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                status = 200
            elif route.verb == "watch":
                status, answer = 200, None
            else:
                status, answer = self._dispatch(fake.store, route, body, content_type, raw)
                if route.verb in ("list", "get") and "as=Table" in accept:
                    items = answer["items"] if route.verb == "list" else [answer]
                    answer = kubectl_table(route.resource, items, answer["metadata"]["resourceVersion"])
        except ApiError as error:
            status, answer = error.code, error.status()
        # Logged before answering, so a test that reads the log after a call always finds it.
        record = RequestRecord(
            method=method,
            path=path,
            query=query,
            verb=verb,
            group=route.resource.group if route else "",
            resource=route.resource.plural if route else "",
            subresource=route.subresource if route else "",
            namespace=route.namespace if route else "",
            name=route.name if route else "",
            content_type=content_type,
            status=status,
            body=body,
        )
        fake.log(record)
        try:
            if route is not None and route.verb == "watch" and status == 200:
                self._stream(fake.store.api_watch(route))
            else:
                self._send(status, answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (e.g. it timed out)

    def _dispatch(
        self, store: Store, route: Route, body: Any, content_type: str, raw: bytes
    ) -> tuple[int, Any]:
        if route.verb == "get":
            return 200, store.api_get(route)
        if route.verb == "list":
            return 200, store.api_list(route)
        if route.verb == "create":
            return 201, store.api_create(route, _parsed(body, raw))
        if route.verb == "update":
            return 200, store.api_update(route, _parsed(body, raw))
        if route.verb == "patch":
            if content_type not in (MERGE_PATCH, JSON_PATCH) and (
                route.resource.custom or content_type != STRATEGIC_PATCH
            ):
                raise unsupported_media(content_type)
            return 200, store.api_patch(route, _parsed(body, raw), content_type)
        if route.verb == "delete":
            return 200, store.api_delete(route)
        raise ApiError(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: Any) -> int:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return status

    def _stream(self, events: Iterator[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for event in events:
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _parsed(body: Any, raw: bytes) -> Any:
    if raw and isinstance(body, bytes | str):
        raise ApiError(400, "BadRequest", "the body of the request could not be decoded as JSON")
    return body
