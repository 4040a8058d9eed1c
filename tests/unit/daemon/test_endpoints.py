"""/metrics, /healthz and /readyz over real HTTP; liveness follows the reconcile cycles."""

from __future__ import annotations

import errno
import json
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Gauge

from predictor.daemon.endpoints import EndpointError, EndpointServer
from predictor.errors import ConfigError
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


def test_a_port_in_use_is_one_clear_error():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        in_use = rf"server\.port: 127\.0\.0\.1:{port} is already in use"
        with pytest.raises(EndpointError, match=in_use) as raised:
            EndpointServer("127.0.0.1", port, CollectorRegistry(), lambda: (True, {}))
        assert raised.value.__cause__.errno == errno.EADDRINUSE
    finally:
        taken.close()
    with pytest.raises(ConfigError, match=r"server\.listen_address: '10\.255\.255\.1' is not an address"):
        EndpointServer("10.255.255.1", 0, CollectorRegistry(), lambda: (True, {}))


def test_readiness_means_the_daemon_can_act_whatever_one_target_lacks(rig):
    rig.kube.put_object(scaled_object("chat"))  # no ScaledObject "broken": it never gets anywhere
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat", "broken"))
    assert daemon.ready()[0] is False  # nothing restored yet
    daemon.restore()
    assert daemon.ready()[0] is False  # no reconcile cycle yet
    daemon.reconcile_all(write_status=False)
    ready, detail = daemon.ready()
    assert ready is True  # neither has a model, one has no object at all: the daemon can still act
    assert detail["without_model"] == ["chat"] and daemon.targets["broken"].state == "gone"
