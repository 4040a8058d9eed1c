"""The daemon's HTTP endpoints: /metrics (Prometheus text format), /healthz and /readyz.

/healthz answers 200 while reconcile cycles keep completing and 503 once they have stalled, so
a liveness probe restarts a wedged daemon; /readyz answers 200 once every target has a model
(loaded from the state directory or trained), 503 with the missing targets before that.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Probe = Callable[[], tuple[bool, dict[str, object]]]


class EndpointServer:
    """A small threaded HTTP server; :meth:`start` binds, :attr:`port` tells the port bound."""

    def __init__(
        self,
        address: str,
        port: int,
        registry: CollectorRegistry,
        readiness: Probe,
        liveness: Probe | None = None,
    ) -> None:
        handler = _handler(registry, readiness, liveness or (lambda: (True, {})))
        self._server = ThreadingHTTPServer((address, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(registry: CollectorRegistry, readiness: Probe, liveness: Probe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                probe, key = (liveness, "alive") if path == "/healthz" else (readiness, "ready")
                ok, detail = probe()
                body = json.dumps({key: ok, **detail}).encode()
                self._send(200 if ok else 503, body, "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(
            self, format: str, *args: object
        ) -> None:  # probes every few seconds: not worth a log
            pass

    return Handler
