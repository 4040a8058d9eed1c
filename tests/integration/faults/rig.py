"""The fault matrix: one test per failure, each ending with no wrong patch, the daemon still working
on its other target, and the failure visible in metrics and logs.

In-process (fast): a :class:`Daemon` wired as ``predictor run`` wires it, to the fake API server (faults
injected there), to a real Prometheus with four weeks of history behind a proxy that can fail on demand,
and to a clock the test moves. Two targets: ``chat`` reads Prometheus, ``code`` reads the built-in
synthetic trace, so a Prometheus failure leaves ``code`` untouched. Both start from models trained
once per module at 06:00 on a Wednesday and loaded from the state directory, as after a restart.

Subprocess (where the process boundary matters): an invalid config, and leader failover between two
`predictor run` processes.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
from prometheus_client import CollectorRegistry

from predictor.actuation.cluster import Cluster
from predictor.config import Settings
from predictor.daemon.jobs import Daemon
from predictor.daemon.metrics import STATES as _STATES
from predictor.daemon.metrics import DaemonMetrics
from predictor.daemon.reconcile import Decision
from predictor.forecasting.store import ModelStore
from tests.integration.daemon_rig import (
    NS,
    target,
)
from tests.support.fake_kube import FakeKube

WEDNESDAY = pd.Timestamp("2026-01-28", tz="UTC")
TRAINED_AT = WEDNESDAY + pd.Timedelta(hours=6)
RAMP = WEDNESDAY + pd.Timedelta(hours=7, minutes=45)  # every target wants more than its baseline
BASELINE, MAX = 2, 30
PROMETHEUS_TIMEOUT_S = 1.0
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# A Prometheus that fails on demand.


@dataclass
class FlakyPrometheus:
    """Forwards to the real server unless ``mode`` says otherwise: ``503``, ``slow`` (longer than the
    client's timeout), ``empty`` (a successful answer with no series) or ``nan`` (every sample NaN).
    :meth:`stop` closes the port (Prometheus down)."""

    upstream: str
    mode: str | None = None
    url: str = ""
    queries: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    delay_s: float = 0.0  # every answer waits this long first (a slow but working server)

    def start(self) -> FlakyPrometheus:
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                params = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                flaky.queries.append(params)
                status, body = flaky.answer(self.path, params)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        if self.delay_s:
            self.release.wait(self.delay_s)
        if self.mode == "503":
            return 503, b"Service Unavailable"
        if self.mode == "slow":
            self.release.wait(PROMETHEUS_TIMEOUT_S * 4)
        if self.mode in {"empty", "nan"}:
            start, end, step = (float(params[k]) for k in ("start", "end", "step"))
            values = [[start + i * step, "NaN"] for i in range(int((end - start) // step) + 1)]
            result = [] if self.mode == "empty" else [{"metric": {}, "values": values}]
            body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
            return 200, json.dumps(body).encode()
        try:
            with _NO_PROXY.open(self.upstream + path, timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# The daemon, wired as `predictor run` wires it, with fakes at its edges.


class LogRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def about(self, target: str) -> list[str]:
        return [r.getMessage() for r in self.records if getattr(r, "target", None) == target]


class Clock:
    def __init__(self, now: pd.Timestamp) -> None:
        self.moment = now

    def now(self) -> pd.Timestamp:
        return self.moment


def fault_settings(prometheus_url: str, state_dir: Path, **policy: object) -> Settings:
    common = {"model": "harmonic", "history_window_days": 21, "max_forecast_age_s": 86_400, **policy}
    chat = target("chat", policy=common)
    code = target("code", policy=common)
    del code["query"]
    code["history_synthetic"] = {"seed": 3}
    return Settings(
        prometheus={"url": prometheus_url, "timeout_s": PROMETHEUS_TIMEOUT_S, "retries": 0},
        state_dir=str(state_dir),
        targets=[chat, code],
    )


@dataclass
class Rig:
    kube: FakeKube
    prometheus: FlakyPrometheus
    clock: Clock
    logs: LogRecords
    state_dir: Path
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    clients: list[Cluster] = field(default_factory=list)

    def daemon(
        self,
        *,
        request_timeout_s: float = 2.0,
        is_leader=lambda: True,
        registry: CollectorRegistry | None = None,
    ) -> Daemon:
        """A daemon that loaded the trained models, as after a restart."""
        settings = fault_settings(self.prometheus.url, self.state_dir)
        client = Cluster.connect(
            settings.kubernetes.model_copy(update={"request_timeout_s": request_timeout_s}),
            host=self.kube.url,
            retries=1,
            backoff_s=0.01,
            max_backoff_s=0.02,
        )
        self.clients.append(client)
        self.registry = registry or CollectorRegistry()
        daemon = Daemon(
            settings,
            cluster=client,
            store=ModelStore(self.state_dir),
            metrics=DaemonMetrics(self.registry),
            clock=self.clock,
            is_leader=is_leader,
        )
        assert daemon.restore() == 2
        return daemon

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def errors(self, target: str, kind: str) -> float:
        return self.metric("predictor_errors_total", target=target, kind=kind) or 0.0

    def state(self, target: str) -> str:
        states = [s for s in _STATES if self.metric("predictor_target_state", target=target, state=s) == 1]
        assert len(states) == 1, states
        return states[0]

    def floor(self, name: str) -> int:
        return self.kube.get_object("ScaledObject", NS, name)["spec"]["minReplicaCount"]

    def patches(self, name: str | None = None) -> list:
        return [r for r in self.kube.requests_for("patch", "scaledobjects") if name in (None, r.name)]


def assert_no_wrong_patch(kube: FakeKube) -> None:
    """Every patch sent and every stored floor lies within [baseline, maxReplicaCount]."""
    for record in kube.requests_for("patch", "scaledobjects"):
        floor = (record.body or {}).get("spec", {}).get("minReplicaCount")
        assert floor is None or BASELINE <= floor <= MAX, record
    for obj in kube.list_objects("ScaledObject", NS):
        assert BASELINE <= obj["spec"]["minReplicaCount"] <= MAX, obj


def by_target(decisions: list[Decision]) -> dict[str, Decision]:
    return {d.target: d for d in decisions}


def assert_code_raised(rig: Rig, decision: Decision) -> None:
    """The healthy target went on: raised before the ramp, patched, Event written."""
    assert decision.action == "raise" and decision.floor > BASELINE, decision
    assert rig.floor("code") == decision.floor
    assert rig.state("code") == "healthy"
