"""Assemble the daemon from the settings, and run it: forever, or one cycle (``--once``)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from predictor.actuation.kubernetes import KubernetesClient
from predictor.config import Settings, format_settings
from predictor.daemon.clock import Clock, SystemClock
from predictor.daemon.http import EndpointServer
from predictor.daemon.leader import LeaderElector
from predictor.daemon.metrics import DaemonMetrics
from predictor.daemon.scheduler import run_until_stopped
from predictor.daemon.service import Daemon
from predictor.daemon.target import Decision
from predictor.forecasting.store import ModelStore

log = logging.getLogger("predictor.daemon")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass
class App:
    settings: Settings
    daemon: Daemon
    cluster: KubernetesClient | None
    elector: LeaderElector | None
    registry: CollectorRegistry
    metrics: DaemonMetrics
    lease_client: KubernetesClient | None = None

    def close(self) -> None:
        for client in (self.cluster, self.lease_client):
            if client is not None:
                client.close()


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


def build_app(settings: Settings, *, clock: Clock | None = None, read_only: bool = False) -> App:
    """Wire the daemon. ``read_only`` (for `predictor status`): no Lease, never the leader, never patches."""
    clock = clock or SystemClock()
    registry = CollectorRegistry()
    metrics = DaemonMetrics(registry)
    cluster = lease_client = None
    if settings.kubernetes.mode != "offline":
        cluster = KubernetesClient(settings.kubernetes, instance=identity())
    elector = None
    if cluster is not None and settings.kubernetes.leader_election and not read_only:

        def on_change(leading: bool) -> None:
            metrics.leader.set(1.0 if leading else 0.0)
            log.info("leading" if leading else "following", extra={"identity": identity()})

        # Its own client: a tick must fail well within the Lease, not after the usual retries.
        lease_timeout_s = min(settings.kubernetes.request_timeout_s, settings.kubernetes.lease_duration_s / 3)
        lease_client = KubernetesClient(
            settings.kubernetes.model_copy(update={"request_timeout_s": lease_timeout_s}),
            instance=identity(),
            retries=0,
        )
        elector = LeaderElector(
            lease_client,
            namespace=own_namespace(settings),
            name=settings.kubernetes.lease_name,
            identity=identity(),
            lease_duration_s=settings.kubernetes.lease_duration_s,
            clock=lambda: datetime.now().astimezone(),  # the Lease is shared: it runs on real time
            on_change=on_change,
        )
    else:
        metrics.leader.set(1.0)
    daemon = Daemon(
        settings,
        cluster=cluster,
        store=ModelStore(settings.state_dir),
        metrics=metrics,
        clock=clock,
        is_leader=_leadership(elector, read_only),
    )
    return App(settings, daemon, cluster, elector, registry, metrics, lease_client)


def _leadership(elector: LeaderElector | None, read_only: bool) -> Callable[[], bool]:
    if read_only:
        return lambda: False
    if elector is None:
        return lambda: True
    return lambda: bool(elector.is_leader)


def run_once(app: App) -> list[Decision]:
    """Discover, load models, take the Lease if we can, retrain and reconcile every target once."""
    app.daemon.discover()
    app.daemon.load_models()
    if app.elector is not None:
        app.elector.tick()
    app.daemon.retrain_all()
    decisions = app.daemon.reconcile_all()
    app.daemon.observe_all()
    if app.elector is not None:
        app.elector.release()
    return decisions


def run_forever(app: App) -> None:
    """Serve the endpoints and run the schedule until SIGTERM or SIGINT; then finish the cycle."""
    settings = app.settings
    log.info("starting predictor", extra={"config": format_settings(settings), "identity": identity()})
    server = EndpointServer(
        settings.server.listen_address, settings.server.port, app.registry, app.daemon.ready
    )
    server.start()
    log.info("serving /metrics, /healthz and /readyz", extra={"port": server.port})
    loaded = app.daemon.load_models()
    log.info("loaded %d stored models", loaded)
    if app.elector is not None:
        app.elector.tick()  # before the first reconcile, so a new leader's first cycle can act
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    try:
        run_until_stopped(
            app.daemon,
            settings.schedule,
            stop,
            leader_tick=app.elector.tick if app.elector is not None else None,
            leader_interval_s=max(1.0, settings.kubernetes.lease_duration_s / 3),
        )
    finally:
        if app.elector is not None:
            app.elector.release()
        server.stop()
        app.close()
        log.info("stopped")
