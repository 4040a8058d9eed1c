"""Fixtures of the fault matrix: models trained once per module, and a rig per test."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from predictor.daemon.jobs import Daemon
from predictor.daemon.metrics import DaemonMetrics
from predictor.forecasting.store import ModelStore
from tests.integration.conftest import Backfilled
from tests.integration.daemon_rig import scaled_object
from tests.integration.faults.rig import (
    RAMP,
    TRAINED_AT,
    Clock,
    FlakyPrometheus,
    LogRecords,
    Rig,
    assert_no_wrong_patch,
    fault_settings,
)
from tests.support.fake_kube import start_fake_kube
from tests.support.keda_crd import keda_crd


@pytest.fixture(scope="module")
def trained_models(backfilled_prometheus: Backfilled, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both targets' models, trained once at 06:00 (the daemon's retrain, with no cluster)."""
    models = tmp_path_factory.mktemp("models")
    settings = fault_settings(backfilled_prometheus.url, models)
    daemon = Daemon(
        settings,
        cluster=None,
        store=ModelStore(models),
        metrics=DaemonMetrics(CollectorRegistry()),
        clock=Clock(TRAINED_AT),
    )
    daemon.retrain_all()
    assert {rt.name: rt.artifact is not None for rt in daemon.targets.snapshot()} == {
        "chat": True,
        "code": True,
    }
    return models


@pytest.fixture()
def rig(backfilled_prometheus: Backfilled, trained_models: Path, tmp_path: Path) -> Iterator[Rig]:
    state_dir = tmp_path / "state"
    shutil.copytree(trained_models, state_dir)
    logs = LogRecords()
    logger = logging.getLogger("predictor")
    logger.addHandler(logs)
    level = logger.level
    logger.setLevel(logging.INFO)
    prometheus = FlakyPrometheus(backfilled_prometheus.url).start()
    with start_fake_kube(crd=keda_crd()) as kube:
        kube.put_object(scaled_object("chat"))
        kube.put_object(scaled_object("code"))
        made = Rig(kube, prometheus, Clock(RAMP), logs, state_dir)
        try:
            yield made
            assert_no_wrong_patch(kube)
        finally:
            for client in made.clients:
                client.close()
            logger.removeHandler(logs)
            logger.setLevel(level)
            prometheus.stop()
