"""/metrics, /healthz and /readyz over real HTTP; liveness follows the reconcile cycles."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry, Gauge

from predictor.daemon.http import EndpointServer
from tests.unit.daemon.conftest import scaled_object, settings_for

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with OPENER.open(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_endpoints_answer_with_the_probes_verdicts():
    registry = CollectorRegistry()
    Gauge("predictor_test_value", "A value.", registry=registry).set(3)
    state = {"ready": False, "alive": True}
    server = EndpointServer(
        "127.0.0.1",
        0,
        registry,
        lambda: (state["ready"], {"waiting_for_model": ["chat"]}),
        liveness=lambda: (state["alive"], {"seconds_since_last_reconcile": 1.0}),
    )
    server.start()
    try:
        status, body = get(server.port, "/metrics")
        assert status == 200 and b"predictor_test_value 3.0" in body
        assert get(server.port, "/healthz")[0] == 200
        status, body = get(server.port, "/readyz")
        assert status == 503 and json.loads(body) == {"ready": False, "waiting_for_model": ["chat"]}
        state.update(ready=True, alive=False)
        assert get(server.port, "/readyz")[0] == 200
        status, body = get(server.port, "/healthz")
        assert status == 503 and json.loads(body)["alive"] is False
        assert get(server.port, "/nope")[0] == 404
    finally:
        server.stop()


def test_liveness_fails_once_reconciles_stop_completing(rig):
    rig.kube.put_object(scaled_object())
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat"))
    assert daemon.alive(stall_after_s=60)[0] is True  # just started
    assert daemon.alive(stall_after_s=0)[0] is False  # nothing completed within no time at all
    daemon.reconcile_all(write_status=False)
    alive, detail = daemon.alive(stall_after_s=60)
    assert alive and detail["seconds_since_last_reconcile"] < 60
