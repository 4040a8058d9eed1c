"""Kubernetes API faults and ScaledObjects changing under the daemon: no wrong patch, ever."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from tests.integration.daemon_rig import NS, scaled_object, wait_until
from tests.integration.faults.rig import BASELINE, assert_code_raised, by_target

pytestmark = pytest.mark.integration


# Kubernetes.


def test_409_on_every_attempt_fails_the_cycle_for_that_target_only_and_heals(rig):
    rig.kube.faults.add(method="PATCH", path_contains="/scaledobjects/chat", status=409, times=None)
    daemon = rig.daemon()
    first = by_target(daemon.reconcile_all())
    assert first["chat"].action == "failed" and "conflict" in first["chat"].reason
    # Re-read and retried (conflict_retries = 5), each guarded by the resourceVersion read.
    attempts = rig.patches("chat")
    assert len(attempts) == 6 and all(r.status == 409 for r in attempts)
    assert all(r.body["metadata"]["resourceVersion"] for r in attempts)
    assert rig.floor("chat") == BASELINE
    assert rig.errors("chat", "actuation") == 1
    assert any("reconcile failed" in m and "conflict" in m for m in rig.logs.about("chat"))
    assert_code_raised(rig, first["code"])

    rig.kube.faults.clear()
    healed = by_target(daemon.reconcile_all())["chat"]
    assert healed.action == "raise" and rig.floor("chat") == healed.floor


def test_a_single_409_is_retried_on_the_object_read_again(rig):
    rig.kube.faults.add(method="PATCH", path_contains="/scaledobjects/chat", status=409, times=1)
    daemon = rig.daemon()
    chat = by_target(daemon.reconcile_all())["chat"]
    assert chat.action == "raise" and rig.floor("chat") == chat.floor
    assert [r.status for r in rig.patches("chat")] == [409, 200]
    assert rig.errors("chat", "actuation") == 0


def test_404_marks_the_target_gone_and_the_others_go_on(rig):
    rig.kube.faults.add(method="GET", path_contains="/scaledobjects/chat", status=404, times=None)
    daemon = rig.daemon()
    first = by_target(daemon.reconcile_all())
    assert first["chat"].state == "gone" and first["chat"].action == "skipped"
    assert rig.state("chat") == "gone" and rig.errors("chat", "actuation") == 1
    assert any("gone" in m for m in rig.logs.about("chat"))
    assert_code_raised(rig, first["code"])
    rig.clock.moment += pd.Timedelta(minutes=30)
    again = by_target(daemon.reconcile_all())  # read again every cycle, in case it comes back
    assert again["chat"].state == "gone" and rig.errors("chat", "actuation") == 1  # counted once
    assert rig.patches("chat") == []


def test_403_names_the_missing_permission(rig):
    rig.kube.faults.add(method="PATCH", path_contains="/scaledobjects/chat", status=403, times=None)
    daemon = rig.daemon()
    first = by_target(daemon.reconcile_all())
    assert first["chat"].action == "failed"
    assert "may not patch scaledobjects.keda.sh in namespace inference" in first["chat"].reason
    assert len(rig.patches("chat")) == 1  # a 403 is not retried: it will not heal by itself
    assert rig.floor("chat") == BASELINE and rig.errors("chat", "actuation") == 1
    assert any("forbidden" in m for m in rig.logs.about("chat"))
    assert daemon.targets["chat"].last_error and "forbidden" in daemon.targets["chat"].last_error
    assert_code_raised(rig, first["code"])


def test_422_shows_the_servers_message(rig):
    message = 'ScaledObject.keda.sh "chat" is invalid: spec: Invalid value: "object": injected'
    rig.kube.faults.add(
        method="PATCH", path_contains="/scaledobjects/chat", status=422, times=None, message=message
    )
    daemon = rig.daemon()
    first = by_target(daemon.reconcile_all())
    assert first["chat"].action == "failed" and message in first["chat"].reason
    assert len(rig.patches("chat")) == 1  # not retried
    assert rig.floor("chat") == BASELINE and rig.errors("chat", "actuation") == 1
    assert any(message in m for m in rig.logs.about("chat"))
    assert_code_raised(rig, first["code"])


def test_500_is_retried_then_given_up_for_this_cycle(rig):
    rig.kube.faults.add(method="PATCH", path_contains="/scaledobjects/chat", status=500, times=None)
    daemon = rig.daemon()
    first = by_target(daemon.reconcile_all())
    assert first["chat"].action == "failed" and "HTTP 500 on every retry" in first["chat"].reason
    assert [r.status for r in rig.patches("chat")] == [500, 500]  # retries=1
    assert rig.floor("chat") == BASELINE and rig.errors("chat", "actuation") == 1
    assert any("reconcile failed" in m and "HTTP 500" in m for m in rig.logs.about("chat"))
    assert_code_raised(rig, first["code"])

    rig.kube.faults.clear()
    assert by_target(daemon.reconcile_all())["chat"].action == "raise"


def test_a_timeout_gives_up_within_the_request_timeout(rig):
    rig.kube.faults.add(method="PATCH", path_contains="/scaledobjects/chat", delay_s=1.5, times=2)
    daemon = rig.daemon(request_timeout_s=0.3)
    started = time.monotonic()
    first = by_target(daemon.reconcile_all())
    took = time.monotonic() - started
    assert first["chat"].action == "failed" and "no answer" in first["chat"].reason
    assert took < 5, f"a cycle with a hanging API server took {took:.1f} s"
    assert rig.errors("chat", "actuation") == 1
    assert any("reconcile failed" in m and "no answer" in m for m in rig.logs.about("chat"))
    assert_code_raised(rig, first["code"])
    # The server may still apply a request the client gave up on; only the first can land (the
    # retry carries the same resourceVersion), and whatever lands is a floor the daemon decided.
    wait_until(
        lambda: all(r.status for r in rig.patches("chat")) and len(rig.patches("chat")) == 2,
        10,
        "the delayed requests to be answered",
    )
    assert sorted(r.status for r in rig.patches("chat")) in ([200, 409], [409, 409])
    rig.clock.moment += pd.Timedelta(minutes=1)
    again = by_target(daemon.reconcile_all())["chat"]
    assert again.action in {"raise", "hold"} and rig.floor("chat") == again.floor


# The ScaledObject changing under the daemon.


def test_paused_mid_cycle_is_not_patched(rig):
    # The reconcile reads the object, then the patch reads it again: KEDA is paused in between.
    rig.kube.faults.add(method="GET", path_contains="/scaledobjects/chat", times=1)
    second_read = rig.kube.faults.add(method="GET", path_contains="/scaledobjects/chat", delay_s=0.5, times=1)
    paused = scaled_object("chat", annotations={"autoscaling.keda.sh/paused": "true"})

    def pause() -> None:
        wait_until(lambda: second_read.hits, 10, "the second read")
        rig.kube.put_object(paused)

    pauser = threading.Thread(target=pause, daemon=True)
    pauser.start()
    daemon = rig.daemon()
    first = by_target(daemon.reconcile_all())
    pauser.join(timeout=10)
    assert first["chat"].action == "hold" and first["chat"].reason.startswith("paused")
    assert rig.patches("chat") == [] and rig.floor("chat") == BASELINE
    assert any(m.startswith("not patched (paused)") for m in rig.logs.about("chat"))
    assert_code_raised(rig, first["code"])

    rig.clock.moment += pd.Timedelta(minutes=5)
    second = by_target(daemon.reconcile_all())
    assert (second["chat"].state, second["chat"].action) == ("paused", "skipped")
    assert rig.state("chat") == "paused" and rig.patches("chat") == []
    assert sum(m.startswith("KEDA is paused") for m in rig.logs.about("chat")) == 1
    rig.clock.moment += pd.Timedelta(minutes=5)
    daemon.reconcile_all()
    assert sum(m.startswith("KEDA is paused") for m in rig.logs.about("chat")) == 1  # not every cycle


def test_deleted_mid_cycle_marks_the_target_gone(rig):
    patch = rig.kube.faults.add(method="PATCH", path_contains="/scaledobjects/chat", delay_s=0.5, times=1)

    def delete() -> None:
        wait_until(lambda: patch.hits, 10, "the patch")
        rig.kube.delete_object("ScaledObject", NS, "chat")

    deleter = threading.Thread(target=delete, daemon=True)
    deleter.start()
    daemon = rig.daemon()
    first = by_target(daemon.reconcile_all())
    deleter.join(timeout=10)
    assert first["chat"].state == "gone"
    assert [r.status for r in rig.patches("chat")] == [404]
    assert rig.state("chat") == "gone" and rig.errors("chat", "actuation") == 1
    assert any("waiting for it to come back" in m for m in rig.logs.about("chat"))
    assert_code_raised(rig, first["code"])
    assert by_target(daemon.reconcile_all())["chat"].state == "gone"
