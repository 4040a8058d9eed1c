"""A real Prometheus server holding 4 weeks of 1-minute history with a gap, started once per session.

A recording proxy in front of it shows what the client really sends (how many requests, which headers),
without touching our own code.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

from predictor.sources.synthetic import DEFAULT_START, synthetic_trace
from tests.support.prometheus_server import build_tsdb, start_prometheus, write_counter_openmetrics

METRIC = "llm_requests_total"
STEP_S = 60
DAYS = 28
GAP_START = DEFAULT_START + pd.Timedelta(days=10, hours=9)
GAP_END = GAP_START + pd.Timedelta(hours=4)  # exclusive: bins in [GAP_START, GAP_END) have no data


@dataclass(frozen=True)
class Backfilled:
    """What the server holds: ``trace`` (req/s, 1-minute bins, NaN in the gap) as counter ``metric``."""

    url: str
    metric: str
    trace: pd.Series
    gap_start: pd.Timestamp
    gap_end: pd.Timestamp


@pytest.fixture(scope="session")
def backfilled_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    trace = synthetic_trace(days=DAYS, step_s=STEP_S, seed=11)
    trace[(trace.index >= GAP_START) & (trace.index < GAP_END)] = np.nan
    work = tmp_path_factory.mktemp("prometheus")
    openmetrics = write_counter_openmetrics(work / "history.om", METRIC, trace, step_s=STEP_S)
    tsdb = build_tsdb(openmetrics, work / "tsdb")
    with start_prometheus(tsdb, work / "server") as server:
        yield Backfilled(server.url, METRIC, trace, GAP_START, GAP_END)


@dataclass
class Recorded:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class RecordingProxy:
    url: str
    requests: list[Recorded] = field(default_factory=list)

    def range_queries(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/api/v1/query_range"]


@pytest.fixture()
def recording_proxy(backfilled_prometheus: Backfilled) -> Iterator[RecordingProxy]:
    """Forwards GETs to the real server and records each request's path, parameters and headers."""
    upstream = backfilled_prometheus.url
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    proxy = RecordingProxy(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            proxy.requests.append(Recorded(parts.path, params, dict(self.headers.items())))
            try:
                with opener.open(upstream + self.path, timeout=30) as answer:
                    status, body, kind = answer.status, answer.read(), answer.headers["Content-Type"]
            except urllib.error.HTTPError as e:
                status, body, kind = e.code, e.read(), e.headers["Content-Type"]
            self.send_response(status)
            self.send_header("Content-Type", kind or "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
