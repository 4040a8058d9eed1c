"""The daemon's newer jobs on the movable clock (tests/integration/lifecycle_rig.py): the fit time
budget inside a retrain, self-tuning per target, and capacity observed from vLLM's metrics.

Real processes as `predictor run` wires them, the fake API server, the real Prometheus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.integration.conftest import Backfilled
from tests.integration.daemon_rig import scaled_object, target
from tests.integration.faults.rig import FlakyPrometheus
from tests.integration.lifecycle_rig import SimClock, World
from tests.support.fake_kube import start_fake_kube
from tests.support.keda_crd import keda_crd

pytestmark = pytest.mark.integration

DAY = pd.Timestamp("2026-01-28", tz="UTC")  # a Wednesday inside the backfilled four weeks


def at(hhmm: str, day: pd.Timestamp = DAY) -> pd.Timestamp:
    return day + pd.Timedelta(hours=int(hhmm[:2]), minutes=int(hhmm[3:]))


@pytest.fixture()
def worlds(backfilled_prometheus: Backfilled, tmp_path: Path) -> Iterator[callable]:
    made: list[World] = []

    def make(start: pd.Timestamp, *objects: dict, upstream: str | None = None) -> World:
        kube = start_fake_kube(crd=keda_crd())
        prometheus = FlakyPrometheus(upstream or backfilled_prometheus.url).start()
        for obj in objects:
            kube.put_object(obj)
        world = World(kube, prometheus, SimClock(start), tmp_path / f"world-{len(made)}")
        made.append(world)
        return world

    try:
        yield make
    finally:
        for world in made:
            world.close()
            world.prometheus.stop()
            world.kube.stop()


# The fit time budget.


def test_a_slow_history_read_leaves_no_fit_budget_so_the_retrain_drops_candidates_and_succeeds(worlds):
    """The history read takes 3.5 s of a 6 s retrain_timeout_s: half the limit is kept in reserve,
    so the model choice has no budget left. The slow candidates are dropped with the reason, the
    fallback (always backtested first) is fitted, and the retrain succeeds instead of being
    abandoned; the note is in the status. With a fast read the same retrain backtests everything."""
    settings_for = {
        "policy": {"model": "auto"},
        "schedule": {"retrain_timeout_s": 6},
        "prometheus": {"timeout_s": 5},
    }
    fast = worlds(at("06:00"), scaled_object("chat"))
    quick = fast.start("a", fast.settings("state", [target("chat")], **settings_for))
    fast.run_until(at("06:01"))
    quick_rt = quick.daemon.targets["chat"]
    assert quick_rt.artifact is not None and quick_rt.fit_note is None
    assert len(quick_rt.artifact.scores) >= 3  # every candidate backtested

    slow = worlds(at("06:00"), scaled_object("chat"))
    slow.prometheus.delay_s = 3.5
    process = slow.start("a", slow.settings("state", [target("chat")], **settings_for))
    slow.run_until(at("06:01"))
    rt = process.daemon.targets["chat"]
    assert rt.retrain.failures == 0 and rt.artifact is not None, rt.retrain.last_error
    assert rt.artifact.trained_at == at("06:00")
    assert rt.artifact.kind == "seasonal_naive"  # the fallback: the only candidate backtested
    assert rt.fit_note is not None and "harmonic" in rt.fit_note
    assert "fit time budget of 0 s used up" in rt.fit_note
    status = json.loads((Path(process.app.settings.state_dir) / "status.json").read_text())
    assert status["targets"]["chat"]["fit_note"] == rt.fit_note
    assert {d.state for _, d in process.decided("chat")} == {"healthy"}
