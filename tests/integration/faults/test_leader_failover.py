"""Leader failover: only the leader patches; the follower takes over within the lease duration."""

from __future__ import annotations

import shutil
import signal
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from predictor.actuation.kubernetes import KubernetesClient
from predictor.actuation.lease_client import LeaseClient
from predictor.daemon.leader import LeaderElector
from tests.integration.daemon_rig import (
    LEASE_NS,
    NS,
    DaemonProcess,
    put_namespace,
    sample,
    scaled_object,
    target,
    wait_until,
    write_config,
)
from tests.integration.faults.rig import assert_no_wrong_patch, by_target, fault_settings
from tests.support.fake_kube import start_fake_kube
from tests.support.keda_crd import keda_crd

pytestmark = pytest.mark.integration


# Leader election.


class LeaseClock:
    """The electors' injected clock (real time is only used by the subprocess test)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 28, 7, 45, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_leader_failover_in_process(rig):
    put_namespace(rig.kube, LEASE_NS)
    lease_clock, duration_s = LeaseClock(), 15
    replicas = {}
    for name in ("a", "b"):
        client = KubernetesClient(
            fault_settings(rig.prometheus.url, rig.state_dir).kubernetes, host=rig.kube.url, retries=0
        )
        rig.clients.append(client)
        registry = CollectorRegistry()
        elector = LeaderElector(
            LeaseClient(client),
            namespace=LEASE_NS,
            name="predictor-leader",
            identity=name,
            lease_duration_s=duration_s,
            clock=lease_clock,
            monotonic=lease_clock.monotonic,
        )
        daemon = rig.daemon(is_leader=lambda e=elector: e.is_leader, registry=registry)
        replicas[name] = (elector, daemon, registry)
    (a, daemon_a, _), (b, daemon_b, _) = replicas["a"], replicas["b"]

    assert a.tick() is True and b.tick() is False
    follower = by_target(daemon_b.reconcile_all())
    assert follower["chat"].reason.startswith("follower") and rig.patches() == []
    assert by_target(daemon_a.reconcile_all())["chat"].action == "raise"
    patched_by_a = len(rig.patches())
    assert patched_by_a == 2

    # a stops renewing (a crash, no release). Within the lease, b stays a follower and patches nothing.
    rig.clock.moment += pd.Timedelta(hours=1)
    for _ in range(3):
        lease_clock.advance(duration_s / 3 - 0.5)
        assert b.tick() is False
        daemon_b.reconcile_all()
        assert len(rig.patches()) == patched_by_a
    # a itself stopped acting at its renew deadline (2/3 of the lease), before anyone may take over.
    assert a.is_leader is False
    assert by_target(daemon_a.reconcile_all())["chat"].reason.startswith("follower")
    # Once the lease has lapsed, b's next tick takes over: within lease duration + one tick interval.
    lease_clock.advance(duration_s / 3)
    assert b.tick() is True
    taken = by_target(daemon_b.reconcile_all())
    assert taken["chat"].action == "raise" and len(rig.patches()) > patched_by_a
    lease = rig.kube.get_object("Lease", LEASE_NS, "predictor-leader")
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1
    # a comes back: the lease is b's, a follows.
    assert a.tick() is False and b.tick() is True


def test_leader_failover_between_two_processes(backfilled_prometheus, trained_models, tmp_path):
    """Two `predictor run` processes share the fake: the follower never patches; when the leader is
    killed (no release), the follower takes over within the lease duration (5 s) plus one tick."""
    with start_fake_kube(crd=keda_crd()) as kube:
        put_namespace(kube, LEASE_NS)
        kube.put_object(scaled_object("chat"))
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        processes = {}
        try:
            for name in ("a", "b"):
                state_dir = tmp_path / f"state-{name}"
                shutil.copytree(trained_models, state_dir)
                (state_dir / "code.model.json").unlink()
                config = write_config(
                    tmp_path / f"{name}.yaml",
                    prometheus_url=backfilled_prometheus.url,
                    kubeconfig=kubeconfig,
                    state_dir=state_dir,
                    targets=[target("chat")],
                )
                # Slow simulated time from 07:00: the floor keeps rising through the ramp.
                processes[name] = DaemonProcess(
                    "--config", str(config), "--clock-start", "2026-01-28T07:00", "--clock-speed", "60"
                )
                processes[name].wait_for_port()
                if name == "a":
                    processes[name].wait_for_log(lambda r: r.get("msg") == "leading")
            a, b = processes["a"], processes["b"]
            wait_until(lambda: kube.requests_for("patch", "scaledobjects"), 30, "the leader's first patch")
            wait_until(
                lambda: sample(b.metrics(), "predictor_last_reconcile_timestamp_seconds"), 30, "b's cycle"
            )
            assert sample(b.metrics(), "predictor_is_leader") == 0
            assert sample(a.metrics(), "predictor_is_leader") == 1
            a_identity = next(r["identity"] for r in a.records() if r.get("msg") == "leading")

            a.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            a.kill()
            by_a = {e["metadata"]["name"] for e in kube.list_objects("Event", NS)}
            assert {e["reportingInstance"] for e in kube.list_objects("Event", NS)} == {a_identity}
            leading = b.wait_for_log(lambda r: r.get("msg") == "leading", timeout_s=20)
            took = time.monotonic() - killed
            assert took < 5 + 5 / 3 + 3, f"the follower took over after {took:.1f} s"  # lease + tick + slack
            assert leading["identity"] != a_identity
            wait_until(lambda: len(kube.list_objects("Event", NS)) > len(by_a), 30, "b's first change")
            later = [e for e in kube.list_objects("Event", NS) if e["metadata"]["name"] not in by_a]
            assert {e["reportingInstance"] for e in later} == {leading["identity"]}
            assert sample(b.metrics(), "predictor_is_leader") == 1
            assert b.stop() == 0
            assert_no_wrong_patch(kube)
        finally:
            for process in processes.values():
                process.kill()
