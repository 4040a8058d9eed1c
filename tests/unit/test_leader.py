"""Leader election on a Lease, through the real kubernetes client and the fake API server.

Time is injected and driven by the tests: each replica has a wall clock (written into the Lease,
and skewed against the others where a test says so) and a monotonic clock (which decides every
expiry); only the HTTP calls are real.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from predictor.actuation.errors import ActuationConflict, ActuationForbidden, ActuationUnavailable
from predictor.actuation.kubernetes import KubernetesClient
from predictor.actuation.lease import LeaseRecord, format_micro_time, lease_body
from predictor.actuation.lease_client import LeaseClient
from predictor.config.settings import KubernetesSettings
from predictor.daemon.leader import LeaderElector
from predictor.errors import ActuationError
from tests.support.fake_kube import FakeKube, start_fake_kube

NS = "predictor"
LEASE = "predictor-leader"
DURATION_S = 15
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


class Clock:
    """The injected clocks: ``clock()`` is the wall time, ``clock.monotonic()`` seconds since the
    start; tests move both with :meth:`advance`. :meth:`skewed` is another replica's wall clock,
    ``skew_s`` ahead (or behind) of this one, on the same monotonic time."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - T0).total_seconds()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def skewed(self, skew_s: float):
        return lambda: self.now + timedelta(seconds=skew_s)


class Replica:
    """One predictor replica: its own API connection and elector, and the changes it announced."""

    def __init__(self, kube: FakeKube, identity: str, clock: Clock, *, skew_s: float = 0.0) -> None:
        self.api = KubernetesClient(
            KubernetesSettings(request_timeout_s=2.0), host=kube.url, retries=0, backoff_s=0.01
        )
        self.client = LeaseClient(self.api)
        self.changes: list[bool] = []
        self.elector = LeaderElector(
            self.client,
            namespace=NS,
            name=LEASE,
            identity=identity,
            lease_duration_s=DURATION_S,
            clock=clock.skewed(skew_s),
            monotonic=clock.monotonic,
            on_change=self.changes.append,
        )


@pytest.fixture()
def kube() -> Iterator[FakeKube]:
    with start_fake_kube() as server:
        server.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        yield server


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def replicas(kube: FakeKube, clock: Clock) -> Iterator[dict[str, Replica]]:
    made = {name: Replica(kube, name, clock) for name in ("a", "b")}
    yield made
    for replica in made.values():
        replica.api.close()


def stored_spec(kube: FakeKube) -> dict:
    obj = kube.get_object("Lease", NS, LEASE)
    assert obj is not None, "the Lease was never created"
    return obj["spec"]


def stored(kube: FakeKube) -> LeaseRecord:
    obj = kube.get_object("Lease", NS, LEASE)
    assert obj is not None, "the Lease was never created"
    return LeaseRecord.from_dict(obj)


def leaders(replicas: dict[str, Replica]) -> list[str]:
    return [name for name, replica in replicas.items() if replica.elector.is_leader]


def test_a_single_replica_acquires_and_renews(kube, replicas, clock):
    a = replicas["a"].elector

    assert a.tick() is True and a.is_leader
    assert stored_spec(kube).keys() == {
        "holderIdentity",
        "leaseDurationSeconds",
        "acquireTime",
        "renewTime",
        "leaseTransitions",
    }
    record = stored(kube)
    assert (record.holder_identity, record.lease_duration_s, record.lease_transitions) == ("a", DURATION_S, 0)
    assert record.acquire_time == record.renew_time == T0

    clock.advance(a.tick_interval_s)
    assert a.tick() is True
    record = stored(kube)
    assert record.renew_time == T0 + timedelta(seconds=5)
    assert record.acquire_time == T0  # same term
    assert record.lease_transitions == 0
    assert replicas["a"].changes == [True]  # a renew is no change


def test_a_second_replica_stays_follower_while_the_first_renews(kube, replicas, clock):
    a, b = replicas["a"].elector, replicas["b"].elector
    for _ in range(12):  # a minute: four lease durations
        assert a.tick() is True
        assert b.tick() is False
        assert leaders(replicas) == ["a"]
        clock.advance(a.tick_interval_s)
    assert b.observed is not None and b.observed.holder_identity == "a"
    assert stored_spec(kube)["holderIdentity"] == "a"
    assert replicas["b"].changes == []


def test_failover_once_the_lease_of_a_silent_leader_expires(kube, replicas, clock):
    a, b = replicas["a"].elector, replicas["b"].elector
    assert a.tick() is True
    assert b.tick() is False  # b sees a's renew now
    last_renew = clock.now

    took_over_at = None
    while took_over_at is None:  # a stops renewing (e.g. its node froze); b keeps ticking
        clock.advance(1)
        assert len(leaders(replicas)) <= 1  # never two leaders at once
        if b.tick():
            took_over_at = clock.now
        assert clock.now - last_renew < timedelta(seconds=2 * DURATION_S), "b never took over"

    # One lease duration after b last saw the record change: not before, and at once after.
    assert took_over_at - last_renew == timedelta(seconds=DURATION_S)
    assert not a.is_leader  # a stepped down on its own at its renew deadline
    assert replicas["a"].changes == [True]  # announced at a's next tick (it has not ticked since)
    assert a.tick() is False and replicas["a"].changes == [True, False]
    spec = stored_spec(kube)
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)
    assert stored(kube).acquire_time == took_over_at


def test_release_lets_the_other_replica_take_over_at_once(kube, replicas, clock):
    a, b = replicas["a"].elector, replicas["b"].elector
    assert a.tick() is True and b.tick() is False

    clock.advance(1)
    assert a.release() is True
    assert not a.is_leader and replicas["a"].changes == [True, False]
    spec = stored_spec(kube)
    assert "holderIdentity" not in spec
    assert stored(kube).renew_time == clock.now

    clock.advance(1)  # far less than the lease duration
    assert b.tick() is True
    assert leaders(replicas) == ["b"]
    assert stored_spec(kube)["leaseTransitions"] == 1

    before = len(kube.requests)
    assert a.tick() is False  # a released elector never campaigns again
    assert len(kube.requests) == before
    assert b.release() is True and b.release() is False  # once only


def test_release_by_a_follower_leaves_the_lease_alone(kube, replicas):
    a, b = replicas["a"].elector, replicas["b"].elector
    a.tick()
    b.tick()
    assert b.release() is False
    assert stored_spec(kube)["holderIdentity"] == "a"
    assert kube.requests_for("update") == []


class RacingClient:
    """Lets ``rival`` run a whole tick between this replica's read of the Lease and its write."""

    def __init__(self, client: LeaseClient, rival: LeaderElector) -> None:
        self._client, self._rival = client, rival
        self.armed = True

    def get_lease(self, namespace: str, name: str) -> LeaseRecord | None:
        read = self._client.get_lease(namespace, name)
        if self.armed:
            assert self._rival.tick() is True
        return read

    def create_lease(self, namespace: str, name: str, record: LeaseRecord) -> LeaseRecord:
        return self._client.create_lease(namespace, name, record)

    def update_lease(
        self, namespace: str, name: str, record: LeaseRecord, resource_version: str
    ) -> LeaseRecord:
        return self._client.update_lease(namespace, name, record, resource_version)


@pytest.mark.parametrize("lease", ["absent", "expired"])
def test_a_409_race_leaves_exactly_one_leader(kube, replicas, clock, lease):
    b = replicas["b"].elector
    racing = RacingClient(replicas["a"].client, rival=b)
    a = LeaderElector(
        racing,
        namespace=NS,
        name=LEASE,
        identity="a",
        lease_duration_s=DURATION_S,
        clock=clock,
        monotonic=clock.monotonic,
    )
    if lease == "expired":  # both watch a third replica's claim lapse, then go for it
        stale = LeaseRecord("c", DURATION_S, T0, T0, lease_transitions=3)
        kube.put_object(lease_body(NS, LEASE, stale))
        racing.armed = False
        assert a.tick() is False and b.tick() is False  # a live claim, as far as they can tell
        clock.advance(DURATION_S + 1)
        racing.armed = True
        kube.requests.clear()

    assert a.tick() is False
    assert isinstance(a.last_error, ActuationConflict)
    assert "another replica wrote first" in str(a.last_error)
    assert b.is_leader and not a.is_leader
    assert [r.status for r in kube.requests if r.verb in ("create", "update")] == [
        201 if lease == "absent" else 200,
        409,
    ]
    spec = stored_spec(kube)
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == (0 if lease == "absent" else 4)

    clock.advance(b.tick_interval_s)  # next round: a sees b's live claim and stays a follower
    assert a.tick() is False and a.last_error is None and b.is_leader


def test_an_api_outage_makes_the_leader_step_down_before_its_renew_deadline(kube, replicas, clock):
    a, b = replicas["a"].elector, replicas["b"].elector
    assert a.tick() is True
    last_renew = clock.now
    outage = kube.faults.add(path_contains="/leases", status=500, times=None)

    clock.advance(a.tick_interval_s)
    assert a.tick() is False
    assert not a.is_leader and replicas["a"].changes == [True, False]
    assert clock.now - last_renew < a.renew_deadline == timedelta(seconds=DURATION_S * 2 / 3)
    assert isinstance(a.last_error, ActuationUnavailable)
    assert b.tick() is False  # nobody leads during the outage: floors stay as they are
    assert outage.hits == 2

    kube.faults.clear()
    clock.advance(a.tick_interval_s)
    assert a.tick() is True  # the Lease is still a's: a renew, the same term
    assert stored_spec(kube)["leaseTransitions"] == 0
    assert replicas["a"].changes == [True, False, True]


def test_a_leader_whose_ticks_stall_steps_down_at_its_renew_deadline(kube, replicas, clock):
    a = replicas["a"].elector
    assert a.tick() is True
    requests = len(kube.requests)

    clock.advance(a.renew_deadline.total_seconds() - 0.001)
    assert a.is_leader
    clock.advance(0.001)
    assert not a.is_leader  # no tick and no API call needed: the clock alone ends the term
    assert len(kube.requests) == requests


def test_a_409_on_renew_makes_the_leader_a_follower_for_that_tick(kube, replicas, clock):
    a = replicas["a"].elector
    assert a.tick() is True
    kube.faults.add(verb="update", path_contains="/leases/", status=409)

    clock.advance(a.tick_interval_s)
    assert a.tick() is False and isinstance(a.last_error, ActuationConflict)
    clock.advance(a.tick_interval_s)
    assert a.tick() is True  # the Lease still names a: renewed on the next tick


def test_the_requests_are_only_lease_get_create_update_in_our_namespace(kube, replicas, clock):
    a, b = replicas["a"].elector, replicas["b"].elector
    for _ in range(3):
        a.tick()
        b.tick()
        clock.advance(a.tick_interval_s)
    a.release()
    b.tick()
    b.release()

    assert kube.permissions() == {
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    }
    assert {r.namespace for r in kube.requests} == {NS}
    assert {r.name for r in kube.requests if r.verb != "create"} == {LEASE}


def test_lease_times_go_out_as_micro_time_even_on_a_whole_second(kube, replicas, clock):
    # The API server parses MicroTime with a fixed six-digit fraction ("2006-01-02T15:04:05.000000Z07:00"),
    # and the client's isoformat() would drop a zero fraction: T0 is on a whole second.
    a = replicas["a"].elector
    a.tick()
    clock.advance(a.tick_interval_s)
    a.tick()
    a.release()
    writes = [r.body["spec"] for r in kube.requests if r.verb in ("create", "update")]
    assert len(writes) == 3
    micro_time = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)")
    for spec in writes:
        for key in ("acquireTime", "renewTime"):
            assert micro_time.fullmatch(spec[key]), f"{key} {spec[key]!r} is not a MicroTime"
    assert format_micro_time(T0) == "2026-11-21T08:00:00.000000Z"


@pytest.mark.parametrize("verb", ["get", "create", "update"])
def test_a_forbidden_lease_call_names_the_verb_resource_and_namespace(kube, replicas, verb):
    client = replicas["a"].client
    if verb == "update":
        created = client.create_lease(NS, LEASE, LeaseRecord("a", DURATION_S, T0, T0))
    kube.faults.add(verb=verb, path_contains="/leases", status=403)

    with pytest.raises(
        ActuationForbidden, match=rf"may not {verb} leases\.coordination\.k8s\.io in namespace {NS}"
    ):
        if verb == "get":
            client.get_lease(NS, LEASE)
        elif verb == "create":
            client.create_lease(NS, LEASE, LeaseRecord("a", DURATION_S, T0, T0))
        else:
            client.update_lease(NS, LEASE, LeaseRecord("a", DURATION_S, T0, T0), created.resource_version)


def test_a_forbidden_lease_makes_a_follower(kube, replicas):
    kube.faults.add(verb="get", path_contains="/leases", status=403, times=None)
    a = replicas["a"].elector
    assert a.tick() is False
    assert isinstance(a.last_error, ActuationForbidden)


def test_lease_calls_read_back_what_they_wrote(kube, replicas):
    client = replicas["a"].client
    assert client.get_lease(NS, LEASE) is None

    record = LeaseRecord("a", DURATION_S, T0, T0 + timedelta(microseconds=250), lease_transitions=2)
    created = client.create_lease(NS, LEASE, record)
    assert created.resource_version is not None
    assert created == LeaseRecord(**{**record.__dict__, "resource_version": created.resource_version})
    assert client.get_lease(NS, LEASE) == created

    with pytest.raises(ActuationConflict, match="another replica wrote first"):
        client.create_lease(NS, LEASE, record)
    moved = LeaseRecord("b", DURATION_S, T0, T0, lease_transitions=3)
    updated = client.update_lease(NS, LEASE, moved, created.resource_version)
    assert updated.holder_identity == "b"
    with pytest.raises(ActuationConflict, match="another replica wrote first"):
        client.update_lease(NS, LEASE, moved, created.resource_version)  # stale resourceVersion


def test_a_lease_written_by_client_go_reads_the_same(kube, replicas):
    # client-go writes "" as the holder on release, and Time (no fraction) is accepted too.
    spec = {"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": "2026-11-21T08:00:00Z"}
    kube.put_object(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE, "namespace": NS},
            "spec": spec,
        }
    )
    read = replicas["a"].client.get_lease(NS, LEASE)
    assert read is not None
    assert (read.holder_identity, read.renew_time, read.lease_transitions) == (None, T0, 0)
    assert read.expires_at(DURATION_S) is None  # nobody holds it: free to take
    assert replicas["a"].elector.tick() is True


def test_an_unreadable_lease_is_an_actuation_error_not_a_free_lease(kube, replicas):
    spec = {"holderIdentity": "z", "leaseDurationSeconds": 15, "renewTime": "yesterday"}
    kube.put_object(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE, "namespace": NS},
            "spec": spec,
        }
    )
    with pytest.raises(ActuationError, match="unreadable spec"):
        replicas["a"].client.get_lease(NS, LEASE)
    assert replicas["a"].elector.tick() is False
    assert stored_spec(kube)["holderIdentity"] == "z"


def test_lease_records_and_electors_refuse_bad_values(kube, replicas, clock):
    with pytest.raises(ValueError, match="timezone-aware"):
        LeaseRecord("a", DURATION_S, renew_time=datetime(2026, 11, 21, 8, 0))
    with pytest.raises(ValueError, match="lease_duration_s"):
        LeaseRecord("a", 0)
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="lease_duration_s"):
            LeaderElector(
                replicas["a"].client,
                namespace=NS,
                name=LEASE,
                identity="a",
                lease_duration_s=bad,
                clock=clock,
            )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="identity"):
        LeaderElector(
            replicas["a"].client, namespace=NS, name=LEASE, identity="", lease_duration_s=15, clock=clock
        )


@pytest.mark.parametrize("skew_s", [120.0, -120.0])
def test_clock_skew_between_replicas_changes_nothing(kube, clock, skew_s):
    """b's wall clock is 120 s ahead of (or behind) a's: b neither takes a live Lease (two
    leaders) nor waits longer than one lease duration to take a lapsed one."""
    a, b = Replica(kube, "a", clock), Replica(kube, "b", clock, skew_s=skew_s)
    replicas = {"a": a, "b": b}
    try:
        for _ in range(12):
            assert a.elector.tick() is True
            assert b.elector.tick() is False
            assert leaders(replicas) == ["a"]
            clock.advance(a.elector.tick_interval_s)
        last_seen = clock.now - timedelta(seconds=a.elector.tick_interval_s)  # b's last tick saw a renew

        took_over_at = None
        while took_over_at is None:  # a is gone (no renew, no release)
            clock.advance(1)
            assert len(leaders(replicas)) <= 1
            if b.elector.tick():
                took_over_at = clock.now
        assert took_over_at - last_seen == timedelta(seconds=DURATION_S)
        assert stored(kube).renew_time == clock.now + timedelta(seconds=skew_s)  # its own wall time, written
    finally:
        a.api.close()
        b.api.close()
