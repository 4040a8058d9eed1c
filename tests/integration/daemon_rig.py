"""What the daemon's integration tests share: ScaledObjects for the fake API server, config files,
`predictor` as a subprocess with its JSON log read line by line, and reading its endpoints.

Waits poll with a deadline (the test machines are busy), never sleep a fixed time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.fake_kube import FakeKube

REPO = Path(__file__).resolve().parents[2]
NS = "inference"
LEASE_NS = "predictor"
QUERY = "sum(rate(llm_requests_total[2m]))"
PROFILE = "llama-3-8b-l40s-tp2"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scaled_object(
    name: str,
    *,
    min_replicas: int | None = 2,
    max_replicas: int | None = 30,
    annotations: dict[str, str] | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"name": target or name},
        "triggers": [{"type": "prometheus", "metadata": {"query": "vllm:num_requests_waiting"}}],
    }
    if min_replicas is not None:
        spec["minReplicaCount"] = min_replicas
    if max_replicas is not None:
        spec["maxReplicaCount"] = max_replicas
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": NS, "annotations": dict(annotations or {})},
        "spec": spec,
    }


def put_namespace(kube: FakeKube, name: str) -> None:
    kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def target(name: str, *, mode: str = "patch", **fields: Any) -> dict[str, Any]:
    """One target reading the backfilled Prometheus, in ``mode``."""
    policy = fields.pop("policy", {})
    return {
        "name": name,
        "scaled_object": f"{NS}/{name}",
        "query": QUERY,
        "capacity": {"profile": PROFILE},
        "cold_start": 600,
        "policy": {"actuation_mode": mode, **policy},
        **fields,
    }


def write_config(
    path: Path,
    *,
    prometheus_url: str,
    kubeconfig: Path | None,
    state_dir: Path,
    targets: list[dict[str, Any]],
    **sections: Any,
) -> Path:
    """A config file for `predictor run`: fast schedule, JSON logs, a free port, leader election on."""
    config: dict[str, Any] = {
        "prometheus": {"url": prometheus_url, "timeout_s": 5, "retries": 0},
        "kubernetes": {
            "mode": "kubeconfig" if kubeconfig else "offline",
            **({"kubeconfig_path": str(kubeconfig)} if kubeconfig else {}),
            "lease_namespace": LEASE_NS,
            "lease_duration_s": 5,
            "request_timeout_s": 3,
        },
        "schedule": {
            "reconcile_interval_s": 1,
            "retrain_interval_s": 43_200,  # one model all (simulated) day: the tests compare its plan
            "retrain_jitter_s": 0,
            "observe_interval_s": 2,
        },
        "server": {"port": 0, "listen_address": "127.0.0.1", "log_format": "json"},
        "state_dir": str(state_dir),
        "policy": {"model": "harmonic", "history_window_days": 21, "max_forecast_age_s": 86_400},
        "targets": targets,
    }
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def predictor_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "predictor", *args]


def run_predictor(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """A short-lived `predictor` command (--once, status, release), run to completion."""
    return subprocess.run(
        predictor_command(*args), capture_output=True, text=True, timeout=timeout_s, check=False, cwd=REPO
    )


class DaemonProcess:
    """`predictor run` as a subprocess; its stderr (JSON lines) is read by a thread into :attr:`lines`."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            predictor_command("run", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port: int | None = None

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def records(self) -> list[dict[str, Any]]:
        """Every log line so far as JSON; a line that is not JSON fails the test (logs are structured)."""
        with self._lock:
            lines = [line for line in self.lines if line.strip()]
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"a log line is not JSON: {line!r}\n{self.log_tail()}") from None
        return parsed

    def log_tail(self, n: int = 40) -> str:
        with self._lock:
            return "\n".join(self.lines[-n:])

    def wait_for_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in self.records():
                if predicate(record):
                    return record
            if self.process.poll() is not None:
                self._reader.join(timeout=5)
                raise AssertionError(f"predictor exited with {self.process.returncode}:\n{self.log_tail()}")
            time.sleep(0.05)
        raise AssertionError(f"no such log line within {timeout_s} s:\n{self.log_tail()}")

    def wait_for_port(self, timeout_s: float = 30) -> int:
        record = self.wait_for_log(lambda r: r.get("msg", "").startswith("serving /metrics"), timeout_s)
        self.port = int(record["port"])
        return self.port

    def get(self, path: str) -> tuple[int, str]:
        assert self.port is not None, "call wait_for_port first"
        return http_get(f"http://127.0.0.1:{self.port}{path}")

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        status, body = self.get("/metrics")
        assert status == 200, body
        return parse_metrics(body)

    def stop(self, timeout_s: float = 15) -> int:
        """SIGTERM, then wait; kills and fails if it does not end in time. Returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"predictor did not stop within {timeout_s} s of SIGTERM") from None
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=5)


def http_get(url: str, timeout_s: float = 5) -> tuple[int, str]:
    try:
        with _NO_PROXY.open(url, timeout=timeout_s) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(
    metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    return metrics.get((name, frozenset(labels.items())))


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def kubectl(kubeconfig: Path, *args: str) -> str:
    done = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)} failed: {done.stderr}"
    return done.stdout
