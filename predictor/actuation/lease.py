"""A coordination.k8s.io/v1 Lease as leader election sees it, and its wire form (pure: no client, no clock).

Only the fields of ``spec`` that leader election uses are read and written; a Lease written by
client-go (``kube-controller-manager`` style) reads the same way. Times are MicroTime on the wire
(RFC 3339 with microseconds, UTC) and tz-aware datetimes here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from predictor.errors import ActuationError

LEASE_API_VERSION = "coordination.k8s.io/v1"
LEASE_KIND = "Lease"
LEASES = "leases.coordination.k8s.io"  # the name RBAC and error messages use
_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class LeaseRecord:
    """The leader-election state stored in a Lease.

    ``holder_identity`` is None when nobody holds it (never held, or released). ``lease_duration_s`` is how
    long, in seconds after ``renew_time``, the holder's claim stays valid; ``lease_transitions`` counts
    changes of holder. ``resource_version`` is the server's, set on records read back (None on records
    about to be written).
    """

    holder_identity: str | None = None
    lease_duration_s: int | None = None
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    lease_transitions: int = 0
    resource_version: str | None = None

    def __post_init__(self) -> None:
        for name in ("acquire_time", "renew_time"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"LeaseRecord.{name} must be timezone-aware, got {value!r}")
        if self.lease_duration_s is not None and self.lease_duration_s < 1:
            raise ValueError(f"LeaseRecord.lease_duration_s must be >= 1 s, got {self.lease_duration_s}")
        if self.holder_identity == "":  # client-go writes "" on release; one spelling of "nobody"
            object.__setattr__(self, "holder_identity", None)

    def expires_at(self, default_duration_s: int) -> datetime | None:
        """When the holder's claim lapses: ``renew_time`` plus the Lease's own duration (or
        ``default_duration_s`` if it has none). None when there is no holder or no renew time, i.e.
        nothing to wait for."""
        if self.holder_identity is None or self.renew_time is None:
            return None
        return self.renew_time + timedelta(seconds=self.lease_duration_s or default_duration_s)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> LeaseRecord:
        """Read a Lease object as the API server returns it (JSON decoded).

        Raises ActuationError when a field has the wrong type: guessing would risk two leaders.
        """
        spec = obj.get("spec") or {}
        meta = obj.get("metadata") or {}
        where = f"Lease {meta.get('namespace', '?')}/{meta.get('name', '?')}"
        try:
            duration = spec.get("leaseDurationSeconds")
            return cls(
                holder_identity=_optional_str(spec.get("holderIdentity")),
                lease_duration_s=None if duration is None else _int(duration),
                acquire_time=_parse_time(spec.get("acquireTime")),
                renew_time=_parse_time(spec.get("renewTime")),
                lease_transitions=_int(spec.get("leaseTransitions") or 0),
                resource_version=_optional_str(meta.get("resourceVersion")),
            )
        except (TypeError, ValueError) as error:
            raise ActuationError(f"{where} has an unreadable spec ({error}): {spec!r}") from error


def lease_body(namespace: str, name: str, record: LeaseRecord, resource_version: str | None = None) -> dict:
    """The whole Lease object for a create (``resource_version`` None) or an update guarded by
    ``resource_version`` (the API server answers 409 if the Lease changed since)."""
    spec: dict[str, Any] = {"leaseTransitions": record.lease_transitions}
    if record.holder_identity is not None:
        spec["holderIdentity"] = record.holder_identity
    if record.lease_duration_s is not None:
        spec["leaseDurationSeconds"] = record.lease_duration_s
    if record.acquire_time is not None:
        spec["acquireTime"] = format_micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = format_micro_time(record.renew_time)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {"apiVersion": LEASE_API_VERSION, "kind": LEASE_KIND, "metadata": metadata, "spec": spec}


def format_micro_time(at: datetime) -> str:
    """A Kubernetes MicroTime: ``2026-11-21T08:30:00.123456Z`` (always UTC)."""
    return at.astimezone(UTC).strftime(_MICRO_TIME)


def _parse_time(text: Any) -> datetime | None:
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise TypeError(f"a time must be a string, got {text!r}")
    parsed = datetime.fromisoformat(text)  # MicroTime and Time (no fraction) both; "Z" since 3.11
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value
