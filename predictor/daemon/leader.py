"""Leader election on a coordination.k8s.io/v1 Lease, so several replicas can run and only one patches.

The semantics are client-go's (``k8s.io/client-go/tools/leaderelection``), written for a periodic
job instead of a goroutine, with injected clocks and a release. One :meth:`LeaderElector.tick`
reads the Lease and then:

- creates it, holding it, when it does not exist;
- takes it when nobody holds it, or its holder's claim has lapsed, or we hold it already (a renew);
- otherwise leaves it alone: a live Lease is never taken from another replica.

A claim lapses on **locally observed time**, as in client-go: the moment this replica last saw
the Lease record change (a new holder, renew or transition), plus the Lease's
``leaseDurationSeconds``, by our own monotonic clock. The holder's ``renewTime`` is written for
people and other tools but never compared with our clock, so clock skew between the replicas
does not matter: a follower takes over one lease duration after it last saw a renew (plus up to
one tick), whatever the clocks say.

Every write carries the resourceVersion read, so when two replicas race, the API server lets one
through and answers 409 to the other, which stays a follower for this tick. Any ActuationError
during a tick (409, 403, 5xx, timeouts) makes us a follower at once. A leader also stops leading on
its own once its last successful renew is older than ``lease_duration_s * 2/3`` (the renew
deadline) by its monotonic clock, even if no tick ran since: it stops acting well before another
replica may take over, one lease duration after it last saw that renew. Callers check
:attr:`is_leader` right before every write (the ScaledObject client does so inside its 409 loop).

The Lease client (:class:`predictor.actuation.lease_client.LeaseClient`) is the production client;
anything with the three Lease calls of :class:`LeaseApi` will do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from predictor.actuation.lease import LeaseRecord
from predictor.errors import ActuationError


class LeaseApi(Protocol):
    """The Lease calls leader election needs (see :class:`~predictor.actuation.lease_client.LeaseClient`).

    ``create_lease`` and ``update_lease`` raise ActuationConflict on 409 (the Lease exists already, or
    changed since ``resource_version``); every failure is an ActuationError.
    """

    def get_lease(self, namespace: str, name: str) -> LeaseRecord | None: ...

    def create_lease(self, namespace: str, name: str, record: LeaseRecord) -> LeaseRecord: ...

    def update_lease(
        self, namespace: str, name: str, record: LeaseRecord, resource_version: str
    ) -> LeaseRecord: ...


class LeaderElector:
    """Campaigns for the Lease ``namespace/name`` as ``identity`` (e.g. the pod name; unique per replica).

    Call :meth:`tick` every :attr:`tick_interval_s` seconds (a third of the lease duration), check
    :attr:`is_leader` right before acting, and call :meth:`release` on shutdown. ``clock`` returns the
    current tz-aware time, written into the Lease; ``monotonic`` returns seconds on a clock that
    only moves forward (default :func:`time.monotonic`) and decides every expiry.
    ``on_change(True)`` is called when we start leading, ``on_change(False)`` when we stop (from
    :meth:`tick` or :meth:`release`, on the calling thread; an exception in it propagates to that
    caller, after the state has changed).
    ``lease_duration_s`` (whole seconds, as the Lease stores it) is how long our claim is valid after
    each renew, and how long we wait on a Lease that declares no duration.
    """

    def __init__(
        self,
        client: LeaseApi,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration_s: int,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        if not identity:
            raise ValueError("the identity of a leader-election candidate must not be empty")
        if (
            isinstance(lease_duration_s, bool)
            or not isinstance(lease_duration_s, int)
            or lease_duration_s < 1
        ):
            raise ValueError(
                f"lease_duration_s must be a whole number of seconds >= 1, got {lease_duration_s!r}"
            )
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_duration_s = lease_duration_s
        self.renew_deadline = timedelta(seconds=lease_duration_s * 2 / 3)
        self.observed: LeaseRecord | None = None  # the Lease as last read or written (who leads)
        self.last_error: ActuationError | None = None  # why the last tick or release failed, for logs
        self._client, self._clock, self._monotonic, self._on_change = client, clock, monotonic, on_change
        self._lock = threading.Lock()  # one tick or release at a time
        self._observed_at: float | None = None  # our monotonic time when the record last changed
        self._leading_until: float | None = None  # last successful renew + renew deadline (monotonic)
        self._reported = False  # the state on_change last announced
        self._released = False

    @property
    def tick_interval_s(self) -> float:
        """How often to call :meth:`tick`, seconds: a third of the lease duration. A leader then stays
        inside its renew deadline (two thirds) even when one tick runs late, and a follower notices a
        lapsed Lease within a third of the duration."""
        return self.lease_duration_s / 3

    @property
    def is_leader(self) -> bool:
        """Whether we lead now: the last tick took or renewed the Lease, and that renew is younger
        than the renew deadline by the clock (so a stalled tick loop stops a leader on its own)."""
        until = self._leading_until
        return until is not None and self._monotonic() < until

    def tick(self) -> bool:
        """One attempt to acquire or renew the Lease; returns :attr:`is_leader` afterwards.

        Never raises an ActuationError: a failed attempt means follower, and the error is kept in
        :attr:`last_error`. After :meth:`release`, does nothing and returns False.
        """
        with self._lock:
            if self._released:
                return False
            started = self._monotonic()
            self._report()  # the renew deadline may have passed since the last tick
            try:
                won = self._acquire_or_renew(self._clock())
                self.last_error = None
            except ActuationError as error:
                won, self.last_error = False, error
            # Counted from before the read: the renew may have landed at any moment after it.
            self._leading_until = started + self.renew_deadline.total_seconds() if won else None
            return self._report()

    def release(self) -> bool:
        """Stop leading and hand the Lease back (no holder, renew time now) if we hold it, so another
        replica takes over at its next tick instead of after the lease duration. Final: later ticks do
        nothing, so a tick scheduled during shutdown cannot take the Lease back.

        Returns whether the Lease was handed back. An API failure is kept in :attr:`last_error`, not
        raised (the Lease then simply lapses).
        """
        with self._lock:
            self._released = True
            self._leading_until = None
            self._report()  # stop acting before the Lease is given away
            if self.observed is None or self.observed.holder_identity != self.identity:
                return False  # never held it, or saw someone else take it: nothing to give back
            now = self._clock()
            try:
                current = self._client.get_lease(self.namespace, self.name)
                if current is None or current.holder_identity != self.identity:
                    return False
                freed = LeaseRecord(
                    holder_identity=None,
                    lease_duration_s=self.lease_duration_s,
                    acquire_time=current.acquire_time,
                    renew_time=now,
                    lease_transitions=current.lease_transitions,
                )
                self.observed = self._client.update_lease(
                    self.namespace, self.name, freed, _resource_version(current)
                )
            except ActuationError as error:
                self.last_error = error
                return False
            self.last_error = None
            return True

    def _acquire_or_renew(self, now: datetime) -> bool:
        current = self._client.get_lease(self.namespace, self.name)
        if current is None:
            created = self._client.create_lease(self.namespace, self.name, self._claim(None, now))
            self._observe(created)
            return True
        self._observe(current)
        if current.holder_identity not in (None, self.identity):
            assert self._observed_at is not None  # set by _observe
            duration = current.lease_duration_s or self.lease_duration_s
            if self._monotonic() < self._observed_at + duration:
                return False  # someone else's claim, renewed less than a lease duration ago as we saw it
        claim = self._claim(current, now)
        self._observe(self._client.update_lease(self.namespace, self.name, claim, _resource_version(current)))
        return True

    def _observe(self, record: LeaseRecord) -> None:
        """Remember ``record``, and when (by our clock) it last changed."""
        if self.observed is None or _record(self.observed) != _record(record) or self._observed_at is None:
            self._observed_at = self._monotonic()
        self.observed = record

    def _claim(self, current: LeaseRecord | None, now: datetime) -> LeaseRecord:
        """Our record: a renew keeps the acquire time and the transition count; a take-over starts
        a new term and counts one more transition (as client-go does)."""
        if current is not None and current.holder_identity == self.identity:
            acquired, transitions = current.acquire_time or now, current.lease_transitions
        else:
            acquired = now
            transitions = 0 if current is None else current.lease_transitions + 1
        return LeaseRecord(
            holder_identity=self.identity,
            lease_duration_s=self.lease_duration_s,
            acquire_time=acquired,
            renew_time=now,
            lease_transitions=transitions,
        )

    def _report(self) -> bool:
        """Announce a change of :attr:`is_leader` to ``on_change``; returns the current state."""
        leading = self.is_leader
        if leading != self._reported:
            self._reported = leading
            if self._on_change is not None:
                self._on_change(leading)
        return leading


def _record(record: LeaseRecord) -> tuple[object, ...]:
    """What a change of the Lease is judged on (client-go compares the whole record)."""
    return (
        record.holder_identity,
        record.lease_duration_s,
        record.acquire_time,
        record.renew_time,
        record.lease_transitions,
    )


def _resource_version(record: LeaseRecord) -> str:
    if record.resource_version is None:  # an unguarded update could overwrite another replica's claim
        raise ActuationError("the Lease was read without a resourceVersion; refusing an unguarded update")
    return record.resource_version
