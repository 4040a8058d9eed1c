"""Why a ScaledObject could not be read or changed. All are :class:`~predictor.errors.ActuationError`."""

from __future__ import annotations

from predictor.errors import ActuationError


class NotFound(ActuationError):
    """The object does not exist (404)."""


class ScaledObjectGone(NotFound):
    """The ScaledObject no longer exists (404): the target waits for it to come back."""


class ActuationForbidden(ActuationError):
    """The service account lacks an RBAC permission (403); the message names the verb and resource."""


class ActuationRejected(ActuationError):
    """The API server refused the change as invalid (422, 400); the message is the server's."""


class ActuationUnavailable(ActuationError):
    """The API server failed or timed out (5xx, 429, network) on every retry: give up for this cycle."""


class ActuationConflict(ActuationError):
    """Someone else changed the object first (409), on every retry where there were retries."""


class NotLeader(ActuationError):
    """This replica stopped leading before a write: nothing was sent."""


class UnsafeFloor(ActuationError):
    """The floor asked for breaks a safety rule (negative, above maxReplicaCount, below the baseline)."""


def api_error(
    status: int, message: str, verb: str, resource: str, namespace: str, name: str
) -> ActuationError:
    """The error for an API answer with HTTP ``status`` and the server's ``message`` to ``verb`` (get,
    list, patch, create) on ``resource`` (``scaledobjects.keda.sh``, ``events``) in ``namespace``."""
    where = f"{name!r} in namespace {namespace}" if name else f"in namespace {namespace}"
    if status == 404 and resource == "scaledobjects.keda.sh" and name:
        return ScaledObjectGone(f"ScaledObject {namespace}/{name} is gone (404): {message}")
    if status == 404:
        return NotFound(f"{verb} {resource} {where}: not found (404): {message}")
    if status == 403:
        return ActuationForbidden(
            f"forbidden: the service account may not {verb} {resource} in namespace {namespace}; "
            f"grant it in the ClusterRole (server: {message})"
        )
    if status in (400, 422):
        return ActuationRejected(f"the API server rejected {verb} {resource} {where}: {message}")
    if status == 409:
        return ActuationConflict(f"{verb} {resource} {where}: conflict: {message}")
    if status == 429 or status >= 500:
        return ActuationUnavailable(f"{verb} {resource} {where}: HTTP {status} on every retry: {message}")
    return ActuationError(f"{verb} {resource} {where}: HTTP {status}: {message}")
