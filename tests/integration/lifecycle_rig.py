"""A rig that runs real predictor processes on a movable clock: simulated hours in seconds.

Each :class:`Process` is what ``predictor run`` assembles (:func:`predictor.daemon.wiring.build_app`:
the cluster client, the Lease elector, the model store, the metrics, the daemon), pointed at the
fake API server and at the real Prometheus (through :class:`FlakyPrometheus`, which can fail on
demand). Instead of APScheduler's wall-clock intervals, :meth:`World.run_until` plays the same
job layout on the simulated clock, event by event: the Lease tick every third of the lease
duration, discovery, the due retrains, the reconcile cycle and the observation, each at its own
interval, in the order a fresh process runs them. Nothing sleeps: an hour of daemon life costs
well under a second of wall time, plus the fits.

The clock is shared; a process may see it skewed (its wall clock, written into the Lease), while
its monotonic clock (which decides the Lease) runs with everyone's. :meth:`Process.crash` stops a
process without a release; a new process on the same state directory is a restart.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from predictor.config import Settings
from predictor.daemon.reconcile import Decision
from predictor.daemon.wiring import App, build_app
from tests.integration.daemon_rig import LEASE_NS, NS, put_namespace
from tests.integration.faults.rig import FlakyPrometheus
from tests.support.fake_kube import FakeKube

JOBS = ("leader", "discover", "retrain", "tune", "reconcile", "observe")


class SimClock:
    """The simulated "now" of every process, moved only by the rig."""

    def __init__(self, start: pd.Timestamp) -> None:
        self.moment = start
        self._origin = start

    def now(self) -> pd.Timestamp:
        return self.moment

    def monotonic(self) -> float:
        return (self.moment - self._origin).total_seconds()

    def wall(self, skew_s: float = 0.0) -> Callable[[], datetime]:
        return lambda: (self.moment + pd.Timedelta(seconds=skew_s)).to_pydatetime()


@dataclass
class Process:
    """One predictor process on the simulated clock."""

    name: str
    app: App
    clock: SimClock
    due: dict[str, pd.Timestamp]
    decisions: list[tuple[pd.Timestamp, Decision]] = field(default_factory=list)
    leading: list[tuple[pd.Timestamp, bool]] = field(default_factory=list)
    crashed: bool = False

    @property
    def daemon(self):  # type: ignore[no-untyped-def]
        return self.app.daemon

    def intervals(self) -> dict[str, float]:
        schedule = self.app.settings.schedule
        return {
            "leader": self.app.settings.kubernetes.lease_duration_s / 3,
            "discover": schedule.discovery_interval_s,
            "retrain": min(schedule.reconcile_interval_s, 10.0),
            "tune": min(schedule.reconcile_interval_s, 10.0),
            "reconcile": schedule.reconcile_interval_s,
            "observe": schedule.observe_interval_s,
        }

    def run_due(self) -> None:
        now, every = self.clock.now(), self.intervals()
        for job in JOBS:
            if self.due[job] > now:
                continue
            self.due[job] = now + pd.Timedelta(seconds=every[job])
            if job == "leader":
                if self.app.elector is not None:
                    self.leading.append((now, self.app.elector.tick()))
            elif job == "discover":
                self.daemon.discover()
            elif job == "retrain":
                self.daemon.retrain_due()
            elif job == "tune":
                self.daemon.tune_due()
            elif job == "reconcile":
                self.decisions += [(now, d) for d in self.daemon.reconcile_all()]
            else:
                self.daemon.observe_all()

    def is_leader(self) -> bool:
        return self.app.elector is None or self.app.elector.is_leader

    def crash(self) -> None:
        """Gone without a word: no release, nothing flushed beyond what it wrote already."""
        self.crashed = True
        self.app.close()

    def metric(self, name: str, **labels: str) -> float | None:
        return self.app.registry.get_sample_value(name, labels)

    def decided(self, target: str) -> list[tuple[pd.Timestamp, Decision]]:
        return [(at, d) for at, d in self.decisions if d.target == target]


@dataclass
class World:
    """The fake API server, the (flaky) real Prometheus, the clock, and the processes."""

    kube: FakeKube
    prometheus: FlakyPrometheus
    clock: SimClock
    tmp_path: Path
    processes: list[Process] = field(default_factory=list)

    def settings(self, state: str, targets: list[dict[str, Any]], **sections: Any) -> Settings:
        config: dict[str, Any] = {
            "prometheus": {"url": self.prometheus.url, "timeout_s": 2, "retries": 0},
            "kubernetes": {"lease_namespace": LEASE_NS, "leader_election": False, "request_timeout_s": 3},
            "state_dir": str(self.tmp_path / state),
            # Self-tuning off unless a scenario turns it on: it replays days of history per target.
            "policy": {"model": "harmonic", "history_window_days": 21, "tune": False},
            "targets": targets,
        }
        for section, values in sections.items():
            config[section] = {**config.get(section, {}), **values}
        return Settings(**config)

    def start(
        self, name: str, settings: Settings, *, skew_s: float = 0.0, seed: int = 0, restore: bool = True
    ) -> Process:
        """A new process, as `predictor run` starts one: restored from its state directory."""
        if settings.kubernetes.leader_election:
            put_namespace(self.kube, LEASE_NS)
        app = build_app(
            settings,
            clock=self.clock,
            host=self.kube.url,
            name=name,
            wall_clock=self.clock.wall(skew_s),
            monotonic=self.clock.monotonic,
            rng=random.Random(seed),
        )
        now = self.clock.now()
        process = Process(name, app, self.clock, dict.fromkeys(JOBS, now))
        if restore:
            app.daemon.restore()
        self.processes.append(process)
        return process

    def run_until(self, until: pd.Timestamp, *, each: Callable[[], None] | None = None) -> None:
        """Move the clock job by job to ``until``, running every live process's due jobs;
        ``each`` runs after every step (checks that must hold at every moment)."""
        while True:
            live = [p for p in self.processes if not p.crashed]
            if not live:
                self.clock.moment = until
                return
            for process in live:
                process.run_due()
            if each is not None:
                each()
            upcoming = min(min(p.due.values()) for p in live)
            if upcoming > until:
                self.clock.moment = until
                return
            self.clock.moment = max(upcoming, self.clock.moment)

    def close(self) -> None:
        for process in self.processes:
            if not process.crashed:
                process.app.close()

    # What the cluster saw.

    def so(self, name: str) -> dict[str, Any]:
        found = self.kube.get_object("ScaledObject", NS, name)
        assert found is not None, f"no ScaledObject {name}"
        return found

    def floors(self, name: str) -> list[tuple[pd.Timestamp, int]]:
        """(simulated time, floor) of every accepted patch of spec.minReplicaCount of ``name``."""
        history = []
        for record in self.kube.requests_for("patch", "scaledobjects"):
            spec = (record.body or {}).get("spec") or {}
            if record.name == name and record.status == 200 and "minReplicaCount" in spec:
                stamp = record.body["metadata"]["annotations"].get("predictor.io/updated-at")
                history.append((pd.Timestamp(stamp) if stamp else pd.NaT, spec["minReplicaCount"]))
        return history

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.kube.list_objects("Event", NS) if reason in (None, e["reason"])]


def floor_at(history: list[tuple[pd.Timestamp, int]], moment: pd.Timestamp, baseline: int) -> int:
    applied = [floor for at, floor in history if at <= moment]
    return applied[-1] if applied else baseline
