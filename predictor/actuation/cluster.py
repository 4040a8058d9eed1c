"""The cluster as the daemon uses it: ScaledObjects and scale targets over one API connection."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from predictor.actuation.kubernetes import KubernetesClient
from predictor.actuation.scaledobject_client import ScaledObjectClient
from predictor.actuation.workload_client import WorkloadClient
from predictor.config.settings import KubernetesSettings


class Cluster:
    """``scaled_objects`` and ``workloads`` share one :class:`KubernetesClient`; :meth:`close` ends it.

    The leader-election Lease has its own connection (:class:`~predictor.actuation.lease_client.LeaseClient`),
    with no retries, so a tick fails well within the lease duration.
    """

    def __init__(self, api: KubernetesClient) -> None:
        self.api = api
        self.scaled_objects = ScaledObjectClient(api)
        self.workloads = WorkloadClient(api)

    @classmethod
    def connect(cls, settings: KubernetesSettings, **options: Any) -> Cluster:
        """A new connection (``options`` as for :class:`KubernetesClient`: ``host``, ``retries`` ...)."""
        return cls(KubernetesClient(settings, **options))

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.api.close()
