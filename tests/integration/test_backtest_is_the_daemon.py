"""``predictor backtest --config F --target T`` makes the daemon's decisions, minute for minute.

The daemon runs as `predictor run` wires it (tests/integration/lifecycle_rig.py: the fake API
server, the real Prometheus with four weeks of history, the movable clock) in patch mode from a
moment with no model; the backtest replays the same target of the same config file over the same
minutes against the same Prometheus. The floor the daemon patched at every minute must be the floor
the backtest's predictive run holds at that minute; with self-tuning on, both choose the same
quantile and buffer and the tuned row is the daemon's floor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from predictor.cli.main import app
from predictor.config import load_settings
from tests.integration.conftest import Backfilled
from tests.integration.daemon_rig import LEASE_NS, scaled_object, target
from tests.integration.faults.rig import FlakyPrometheus
from tests.integration.lifecycle_rig import SimClock, World, floor_at
from tests.support.fake_kube import start_fake_kube
from tests.support.keda_crd import keda_crd

pytestmark = pytest.mark.integration

START = pd.Timestamp("2026-01-28 05:00", tz="UTC")  # a Wednesday morning: the ramp, a raise, a hold
END = pd.Timestamp("2026-01-28 13:00", tz="UTC")
BASELINE, MAX = 2, 30
runner = CliRunner()


@pytest.fixture()
def world(backfilled_prometheus: Backfilled, tmp_path: Path) -> Iterator[World]:
    kube = start_fake_kube(crd=keda_crd())
    prometheus = FlakyPrometheus(backfilled_prometheus.url).start()
    kube.put_object(scaled_object("chat", min_replicas=BASELINE, max_replicas=MAX))
    made = World(kube, prometheus, SimClock(START), tmp_path)
    try:
        yield made
    finally:
        made.close()
        prometheus.stop()
        kube.stop()


def config_file(world: World, path: Path, **policy: object) -> Path:
    config = {
        "prometheus": {"url": world.prometheus.url, "timeout_s": 10, "retries": 0},
        "kubernetes": {"lease_namespace": LEASE_NS, "leader_election": False, "request_timeout_s": 3},
        "state_dir": str(path.parent / "state"),
        "schedule": {"retrain_jitter_s": 0},  # the replay retrains at exactly the interval
        "policy": {"model": "harmonic", "history_window_days": 21, **policy},
        "targets": [target("chat")],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def backtest(config: Path, out: Path, *flags: str) -> pd.DataFrame:
    args = [
        "backtest",
        "--config",
        str(config),
        "--target",
        "chat",
        "--start",
        START.isoformat(),
        "--end",
        END.isoformat(),
        "--min-replicas",
        str(BASELINE),
        "--max-replicas",
        str(MAX),
        "--export-csv",
        str(out),
        "--json",
        *flags,
    ]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, index_col="timestamp", parse_dates=["timestamp"])
    frame.attrs["summary"] = json.loads(result.stdout)
    return frame


def daemon_floors(world: World, config: Path) -> tuple[list[int], object]:
    process = world.start("a", load_settings(config))
    world.run_until(END - pd.Timedelta(minutes=1))
    history = world.floors("chat")
    minutes = pd.date_range(START, END - pd.Timedelta(minutes=1), freq="1min")
    return [floor_at(history, t, BASELINE) for t in minutes], process


def test_the_backtest_replays_the_daemons_floor_minute_for_minute(world, tmp_path):
    config = config_file(world, tmp_path / "predictor.yaml", tune=False)
    daemon, process = daemon_floors(world, config)
    replayed = backtest(config, tmp_path / "replay.csv", "--no-tune")

    floors = replayed["floor"].astype(int).tolist()
    assert len(floors) == len(daemon) == 8 * 60
    differing = [(str(t), d, r) for t, d, r in zip(replayed.index, daemon, floors, strict=True) if d != r]
    assert differing == [], differing[:10]
    assert max(daemon) > BASELINE + 4, "the morning must raise the floor for the comparison to mean anything"
    assert len(set(daemon)) >= 3  # several decisions, not one step
    assert {d.state for _, d in process.decided("chat")} == {"healthy"}


TUNING = {
    "tune": True,
    "tune_history_days": 1.0,
    "tune_quantiles": [0.9, 0.95],
    "tune_buffers": [0.0, 0.5],
    # The configured p80 is below the minimum, so it is not a candidate: the choice changes the floor.
    "tune_min_quantile": 0.9,
    "forecast_quantile": 0.8,
}


def test_with_self_tuning_both_choose_the_same_policy_and_the_tuned_row_is_the_daemons_floor(world, tmp_path):
    config = config_file(world, tmp_path / "predictor.yaml", **TUNING)
    daemon, process = daemon_floors(world, config)
    replayed = backtest(config, tmp_path / "replay.csv", "--tune")

    choice = process.daemon.targets["chat"].tuned
    assert choice is not None and choice.tuned_at == START
    tuning = replayed.attrs["summary"]["tuning"]
    assert (tuning["quantile"], tuning["buffer"]) == (choice.quantile, choice.buffer)
    assert tuning["reason"] == choice.reason  # the same replay, figure for figure
    floors = replayed["floor_tuned"].astype(int).tolist()
    differing = [(str(t), d, r) for t, d, r in zip(replayed.index, daemon, floors, strict=True) if d != r]
    assert differing == [], differing[:10]
    untuned = replayed["floor"].astype(int).tolist()
    assert untuned != floors, "the tuned policy must change the floor for the comparison to mean anything"
