"""A daemon wired to the fake API server, a synthetic history and a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from predictor.actuation.cluster import Cluster
from predictor.config import Settings
from predictor.daemon.jobs import Daemon
from predictor.daemon.metrics import DaemonMetrics
from predictor.forecasting.store import ModelStore
from tests.support.fake_kube import FakeKube, start_fake_kube
from tests.support.keda_crd import keda_crd

NS = "inference"
WEDNESDAY_6AM = pd.Timestamp("2026-11-18 06:00", tz="UTC")


class MovableClock:
    """The test's clock: a fake at our own Clock interface."""

    def __init__(self, now: pd.Timestamp) -> None:
        self.moment = now

    def now(self) -> pd.Timestamp:
        return self.moment

    def set(self, hhmm: str, day: pd.Timestamp = WEDNESDAY_6AM) -> None:
        self.moment = day.normalize() + pd.Timedelta(hours=int(hhmm[:2]), minutes=int(hhmm[3:]))


def scaled_object(name: str = "chat", *, min_replicas: int | None = 2, max_replicas: int | None = 30) -> dict:
    spec = {"scaleTargetRef": {"name": name}, "triggers": [{"type": "prometheus", "metadata": {}}]}
    if min_replicas is not None:
        spec["minReplicaCount"] = min_replicas
    if max_replicas is not None:
        spec["maxReplicaCount"] = max_replicas
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": NS, "annotations": {}},
        "spec": spec,
    }


def settings_for(
    tmp_path: Path, *names: str, mode: str = "patch", schedule: dict | None = None, **policy
) -> Settings:
    targets = [
        {
            "name": name,
            "scaled_object": f"{NS}/{name}",
            "history_synthetic": {"seed": 3},
            "capacity": {"profile": "llama-3-8b-l40s-tp2"},
            "cold_start": 600,
            "policy": {"actuation_mode": mode, "model": "harmonic", "history_window_days": 21, **policy},
        }
        for name in names
    ]
    return Settings(state_dir=str(tmp_path / "state"), targets=targets, schedule=schedule or {})


@dataclass
class Rig:
    kube: FakeKube
    clock: MovableClock
    registry: CollectorRegistry
    tmp_path: Path
    leader: bool = True

    clusters: list[Cluster] = field(default_factory=list)

    def daemon(self, settings: Settings) -> Daemon:
        """A daemon with its own metrics registry (the latest one is what :meth:`metric` reads)."""
        self.registry = CollectorRegistry()
        cluster = Cluster.connect(
            settings.kubernetes.model_copy(update={"request_timeout_s": 2.0}),
            host=self.kube.url,
            retries=1,
            backoff_s=0.01,
            max_backoff_s=0.02,
        )
        self.clusters.append(cluster)
        return Daemon(
            settings,
            cluster=cluster,
            store=ModelStore(settings.state_dir),
            metrics=DaemonMetrics(self.registry),
            clock=self.clock,
            is_leader=lambda: self.leader,
        )

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def so(self, name: str = "chat") -> dict:
        return self.kube.get_object("ScaledObject", NS, name)


@pytest.fixture()
def rig(tmp_path):
    with start_fake_kube(crd=keda_crd()) as kube:
        made = Rig(kube, MovableClock(WEDNESDAY_6AM), CollectorRegistry(), tmp_path)
        try:
            yield made
        finally:
            for cluster in made.clusters:
                cluster.close()
