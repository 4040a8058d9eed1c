"""The composition root: assemble the daemon from the settings, and run it forever or one cycle.

:func:`build_app` wires the cluster, the Lease, the model store, the metrics and the
:class:`~predictor.daemon.jobs.Daemon`; :func:`run_forever` serves the endpoints (liveness wired
to the reconcile cycles, readiness to "the daemon can act") and runs the schedule until SIGTERM;
:func:`run_once` is ``predictor run --once``.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from predictor.actuation.cluster import Cluster
from predictor.actuation.kubernetes import KubernetesClient
from predictor.actuation.lease_client import LeaseClient
from predictor.config import Settings, format_settings
from predictor.daemon.clock import Clock, SystemClock
from predictor.daemon.endpoints import EndpointServer
from predictor.daemon.jobs import Daemon
from predictor.daemon.leader import LeaderElector
from predictor.daemon.metrics import DaemonMetrics
from predictor.daemon.reconcile import Decision
from predictor.daemon.scheduler import run_until_stopped
from predictor.forecasting.store import ModelStore

log = logging.getLogger("predictor.daemon")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass
class App:
    settings: Settings
    daemon: Daemon
    cluster: Cluster | None
    elector: LeaderElector | None
    registry: CollectorRegistry
    metrics: DaemonMetrics
    lease_api: KubernetesClient | None = None

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
        if self.lease_api is not None:
            self.lease_api.close()


@dataclass(frozen=True)
class OnceResult:
    """What ``predictor run --once`` did: the decisions, and how the retrains went."""

    decisions: list[Decision]
    retrained: int
    failed: dict[str, str] = field(default_factory=dict)  # target -> why its retrain failed

    @property
    def every_retrain_failed(self) -> bool:
        return bool(self.failed) and self.retrained == 0


def identity() -> str:
    """This replica's name in the Lease and in Events: the pod name, else host and process id."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def own_namespace(settings: Settings) -> str:
    if settings.kubernetes.lease_namespace:
        return settings.kubernetes.lease_namespace
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip()
    except OSError:
        return "default"


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    read_only: bool = False,
    host: str | None = None,
    name: str | None = None,
    wall_clock: Callable[[], datetime] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> App:
    """Wire the daemon. ``read_only`` (for `predictor status`): no Lease, never the leader, never
    writes. The rest is for tests: ``host`` points every connection at that API server, skipping
    credentials; ``name`` is this replica's identity (default :func:`identity`); ``wall_clock``
    (tz-aware, written into the Lease) and ``monotonic`` (seconds, judging every Lease expiry)
    are the elector's clocks; ``rng`` draws the retrain jitter."""
    clock = clock or SystemClock()
    me = name or identity()
    registry = CollectorRegistry()
    metrics = DaemonMetrics(registry)
    cluster = lease_api = None
    if settings.kubernetes.mode != "offline":
        cluster = Cluster.connect(settings.kubernetes, instance=me, host=host)
    elector = None
    if cluster is not None and settings.kubernetes.leader_election and not read_only:

        def on_change(leading: bool) -> None:
            metrics.leader.set(1.0 if leading else 0.0)
            log.info("leading" if leading else "following", extra={"identity": me})

        # Its own connection: a tick must fail well within the Lease, not after the usual retries.
        lease_timeout_s = min(settings.kubernetes.request_timeout_s, settings.kubernetes.lease_duration_s / 3)
        lease_api = KubernetesClient(
            settings.kubernetes.model_copy(update={"request_timeout_s": lease_timeout_s}),
            instance=me,
            retries=0,
            host=host,
        )
        elector = LeaderElector(
            LeaseClient(lease_api),
            namespace=own_namespace(settings),
            name=settings.kubernetes.lease_name,
            identity=me,
            lease_duration_s=settings.kubernetes.lease_duration_s,
            clock=wall_clock or (lambda: datetime.now().astimezone()),  # written into the Lease, for people
            monotonic=monotonic,  # every expiry is judged on it
            on_change=on_change,
        )
    else:
        metrics.leader.set(0.0 if read_only else 1.0)
    daemon = Daemon(
        settings,
        cluster=cluster,
        store=ModelStore(settings.state_dir),
        metrics=metrics,
        clock=clock,
        is_leader=_leadership(elector, read_only),
        read_only=read_only,
        rng=rng,
    )
    return App(settings, daemon, cluster, elector, registry, metrics, lease_api)


def _leadership(elector: LeaderElector | None, read_only: bool) -> Callable[[], bool]:
    if read_only:
        return lambda: False
    if elector is None:
        return lambda: True
    return lambda: bool(elector.is_leader)


def run_once(app: App) -> OnceResult:
    """Discover, restore, take the Lease if we can, retrain every target, observe, reconcile once."""
    daemon = app.daemon
    daemon.discover()
    daemon.restore()
    if app.elector is not None:
        app.elector.tick()
    try:
        retrained = daemon.retrain_all()
        failed = {
            rt.name: rt.retrain.last_error or "failed"
            for rt in daemon.targets.snapshot()
            if rt.retrain.failures and not rt.gone
        }
        daemon.observe_all()
        decisions = daemon.reconcile_all()
    finally:
        if app.elector is not None:
            app.elector.release()
    return OnceResult(decisions, retrained, failed)


def run_forever(app: App, *, install_signals: bool = True) -> None:
    """Serve the endpoints and run the schedule until SIGTERM or SIGINT (or ``app.daemon.stop``).

    The HTTP port is bound first, so a port in use fails at once with one clear line.
    """
    settings, daemon = app.settings, app.daemon
    server = EndpointServer(
        settings.server.listen_address,
        settings.server.port,
        app.registry,
        daemon.ready,
        liveness=daemon.alive,
        status=daemon.status_document,
    )
    log.info("starting predictor", extra={"config": format_settings(settings), "identity": identity()})
    server.start()
    log.info("serving /metrics, /healthz, /readyz and /status", extra={"port": server.port})
    try:
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: daemon.stop.set())
        loaded = daemon.restore()
        log.info("loaded %d stored models", loaded)
        if app.elector is not None:
            app.elector.tick()  # before the first reconcile, so a new leader's first cycle can act
        leader_every = max(1.0, settings.kubernetes.lease_duration_s / 3)
        run_until_stopped(
            daemon,
            settings.schedule,
            leader_tick=app.elector.tick if app.elector is not None else None,
            leader_interval_s=leader_every,
        )
    finally:
        if app.elector is not None:
            app.elector.release()
        server.stop()
        app.close()
        log.info("stopped")
