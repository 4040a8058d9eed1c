"""The daemon's HTTP endpoints: /metrics (Prometheus text format), /healthz, /readyz and /status.

/status serves the last reconcile cycle's status as JSON, the document ``predictor status`` reads
from the state directory (per target: state, floor, model, the sizing policy in force with
self-tuning's choice, the capacity check).

/healthz answers 200 while reconcile cycles keep completing and 503 once none has completed
for ``schedule.liveness_timeout_s``, so a liveness probe restarts a wedged daemon; /readyz
answers 200 once the daemon can act (its state restored and a first reconcile cycle done), 503
before that. A target without a model never makes the pod unready: per-target health is the
``predictor_target_state`` metric and ``predictor status``.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from predictor.errors import ConfigError, PredictorError

Probe = Callable[[], tuple[bool, dict[str, object]]]


class EndpointError(PredictorError):
    """The HTTP endpoints cannot be served (e.g. the port is taken by another process)."""


class EndpointServer:
    """A small threaded HTTP server; :meth:`start` binds, :attr:`port` tells the port bound."""

    def __init__(
        self,
        address: str,
        port: int,
        registry: CollectorRegistry,
        readiness: Probe,
        liveness: Probe | None = None,
        status: Callable[[], str] | None = None,
    ) -> None:
        handler = _handler(registry, readiness, liveness or (lambda: (True, {})), status or (lambda: "{}"))
        try:
            self._server = ThreadingHTTPServer((address, port), handler)
        except OSError as error:
            raise _bind_error(address, port, error) from error
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


def _bind_error(address: str, port: int, error: OSError) -> PredictorError:
    """One line saying why ``address:port`` cannot be served, and what to change."""
    where = f"{address}:{port}"
    if error.errno == errno.EADDRINUSE:
        return EndpointError(
            f"server.port: {where} is already in use by another process; stop it or choose another "
            "server.port (0 picks a free one)"
        )
    if error.errno == errno.EACCES:
        return ConfigError(f"server.port: may not listen on {where} (ports below 1024 need privileges)")
    if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
        return ConfigError(f"server.listen_address: {address!r} is not an address of this machine")
    return EndpointError(f"cannot listen on {where}: {error.strerror or error}")


def _handler(
    registry: CollectorRegistry, readiness: Probe, liveness: Probe, status: Callable[[], str]
) -> type[BaseHTTPRequestHandler]:
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
            elif path == "/status":
                self._send(200, status().encode(), "application/json")
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
