"""Run the daemon's jobs on APScheduler (the only module that imports it) until told to stop.

The job layout, each on its own wall-clock interval:

=========== ================================ ===========================================
job         every                            does (see :mod:`predictor.daemon.jobs`)
=========== ================================ ===========================================
leader      a third of the lease duration    renew or take the Lease
reconcile   ``reconcile_interval_s``         one reconcile cycle over every target
retrain     min(reconcile interval, 10 s)    the per-target retrains that are due
tune        min(reconcile interval, 10 s)    the per-target self-tunings that are due
discover    ``discovery_interval_s``         opted-in ScaledObjects, both ways
observe     ``observe_interval_s``           live forecast error, pod start-ups
=========== ================================ ===========================================

Per-target timing lives with the target (its ``JobTimer``s, on the daemon's clock), so the
scheduler only asks "what is due?". Separate thread pools: a slow retrain never delays a
reconcile or a Lease renewal, and discovery and observation never wait for a retrain. Retrains
and self-tunings share one worker, so at most one fit or replay runs at a time. Every job has
``max_instances=1`` and ``coalesce=True`` (a slow cycle is never run twice at once; missed runs
collapse into one) and runs inside a catch-all that logs through the JSON logger and counts the
error, so nothing escapes to APScheduler's own logger.

On stop (SIGTERM) no new run starts; the running ones return between two targets (a running
retrain is abandoned), so the daemon exits within about one API request timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from predictor.config import ScheduleSettings
from predictor.daemon.jobs import Daemon, error_kind

log = logging.getLogger("predictor.scheduler")
DAEMON_TARGET = "(daemon)"  # the errors metric's target label for a failure outside any target


def run_until_stopped(
    daemon: Daemon,
    schedule: ScheduleSettings,
    *,
    leader_tick: Callable[[], object] | None = None,
    leader_interval_s: float = 5.0,
) -> None:
    """Schedule every job, block until ``daemon.stop`` is set, then let the running jobs return."""
    scheduler = BackgroundScheduler(
        timezone=UTC,
        executors={
            "default": ThreadPoolExecutor(max_workers=1),
            "reconcile": ThreadPoolExecutor(max_workers=1),
            "leader": ThreadPoolExecutor(max_workers=1),
            "watch": ThreadPoolExecutor(max_workers=1),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    start = datetime.now(UTC)  # APScheduler runs on wall-clock time; the jobs read the daemon's clock

    def add(name: str, work: Callable[[], object], every_s: float, executor: str = "default") -> None:
        scheduler.add_job(
            _caught(daemon, name, work),
            "interval",
            seconds=every_s,
            id=name,
            executor=executor,
            next_run_time=start,
        )

    if leader_tick is not None:
        add("leader", leader_tick, leader_interval_s, "leader")
    add("discover", daemon.discover, schedule.discovery_interval_s, "watch")
    add("reconcile", daemon.reconcile_all, schedule.reconcile_interval_s, "reconcile")
    add("retrain", daemon.retrain_due, min(schedule.reconcile_interval_s, 10.0))
    add("tune", daemon.tune_due, min(schedule.reconcile_interval_s, 10.0))  # the retrains' worker
    add("observe", daemon.observe_all, schedule.observe_interval_s, "watch")
    scheduler.start()
    log.info("scheduler started: %d targets", len(daemon.targets))
    daemon.stop.wait()
    log.info("stopping: queued work is dropped, running jobs return between targets")
    scheduler.shutdown(wait=True)


def _caught(daemon: Daemon, name: str, work: Callable[[], object]) -> Callable[[], None]:
    """``work`` with a catch-all: a job's own failure is logged and counted, never raised."""

    def run() -> None:
        if daemon.stop.is_set():
            return
        try:
            work()
        except Exception as error:
            daemon.metrics.of(daemon.metrics.errors, DAEMON_TARGET, error_kind(error)).inc()
            log.error("the %s job failed: %s", name, error, exc_info=error, extra={"job": name})

    run.__name__ = f"predictor-{name}"
    return run
