"""Run the daemon's jobs on APScheduler (the only module that imports it) until told to stop.

Jobs: one retrain per target on ``retrain_interval_s`` with random ``retrain_jitter_s``; one
reconcile over all targets on ``reconcile_interval_s``; the live-error observation; discovery of
opted-in ScaledObjects (each new one gets its retrain job); and the leader election tick. Every
job has ``max_instances=1`` and ``coalesce=True``: a slow cycle is never run twice at once, and
missed runs collapse into one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from predictor.config import ScheduleSettings
from predictor.daemon.service import Daemon

log = logging.getLogger("predictor.scheduler")


def run_until_stopped(
    daemon: Daemon,
    schedule: ScheduleSettings,
    stop: threading.Event,
    *,
    leader_tick: Callable[[], object] | None = None,
    leader_interval_s: float = 5.0,
) -> None:
    """Schedule every job, block until ``stop`` is set, then let the running cycle finish."""
    scheduler = BackgroundScheduler(
        timezone=UTC,
        # Separate pools: a queue of slow retrains never delays a reconcile or a Lease renewal.
        executors={
            "default": ThreadPoolExecutor(max_workers=1),
            "reconcile": ThreadPoolExecutor(max_workers=1),
            "leader": ThreadPoolExecutor(max_workers=1),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    start = datetime.now(
        UTC
    )  # APScheduler runs on wall-clock time; "now" for the models is the daemon's clock
    if leader_tick is not None:
        scheduler.add_job(
            leader_tick,
            "interval",
            seconds=leader_interval_s,
            id="leader",
            executor="leader",
            next_run_time=start,
        )

    def schedule_retrain(name: str, first: datetime) -> None:
        scheduler.add_job(
            daemon.retrain,
            "interval",
            args=[name],
            seconds=schedule.retrain_interval_s,
            jitter=schedule.retrain_jitter_s,
            id=f"retrain:{name}",
            next_run_time=first,
        )

    for name, rt in daemon.targets.items():
        schedule_retrain(
            name, start if rt.artifact is None else start + timedelta(seconds=schedule.retrain_interval_s)
        )

    def discover() -> None:
        for name in daemon.discover():  # new targets train at once; none has a model yet
            schedule_retrain(name, datetime.now(UTC))

    scheduler.add_job(
        discover, "interval", seconds=schedule.discovery_interval_s, id="discover", next_run_time=start
    )
    scheduler.add_job(
        daemon.reconcile_all,
        "interval",
        seconds=schedule.reconcile_interval_s,
        id="reconcile",
        next_run_time=start,
    )
    scheduler.add_job(daemon.observe_all, "interval", seconds=schedule.observe_interval_s, id="observe")
    scheduler.start()
    log.info("scheduler started: %d targets", len(daemon.targets))
    stop.wait()
    log.info("stopping: finishing the running cycle")
    scheduler.shutdown(wait=True)
