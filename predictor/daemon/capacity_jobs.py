"""Capacity from production in the daemon: per target with ``pod_metrics_selector``, every
observation pass compares the profile's capacity per pod with the one observed in vLLM's per-pod
metrics (:func:`~predictor.runtime.capacity_check.check_capacity`), exports both, keeps the OFF
flag (an Event when it turns on or off) and, with ``size_with_observed_capacity``, sizes the floor
with the observed capacity.

A mixin of :class:`~predictor.daemon.jobs.Daemon` (its observe job calls :meth:`_check_capacity`).
"""

from __future__ import annotations

import logging

import pandas as pd

from predictor.config import Settings
from predictor.daemon.metrics import DaemonMetrics
from predictor.daemon.state import TargetState
from predictor.errors import ConfigError
from predictor.runtime import capacity_check

log = logging.getLogger("predictor.daemon")


class CapacityJobs:
    """The capacity check of one target, for the daemon's observe job."""

    settings: Settings
    metrics: DaemonMetrics

    def _object_event(self, rt: TargetState, now: pd.Timestamp, reason: str, message: str) -> None:
        raise NotImplementedError

    def _check_capacity(self, rt: TargetState, now: pd.Timestamp) -> None:
        """Configured against observed capacity per pod: metrics, the OFF flag (an Event when it
        turns on or off), and the pod model sizing uses. No observation proves nothing: the flag
        stays as it was and sizing keeps the configured capacity, saying so."""
        try:
            check = capacity_check.check_capacity(self.settings, rt.settings, now)
        except ConfigError as e:  # no objective to observe at: said once, not every pass
            if rt.capacity_note != str(e):
                log.warning("cannot check the capacity per pod: %s", e, extra={"target": rt.name})
            rt.capacity, rt.capacity_note, rt.pod = None, str(e), rt.configured_pod
            return
        was_off = rt.capacity_off
        rt.capacity = check
        self.metrics.of(self.metrics.capacity_configured, rt.name).set(check.configured.rps_per_pod(1.0))
        observed = check.observed.rps_per_pod
        if check.observed.status == "no-data" or observed is None:
            self.metrics.drop(self.metrics.capacity_observed, rt.name)  # missing, not zero
        else:
            self.metrics.of(self.metrics.capacity_observed, rt.name).set(observed)
            rt.capacity_off = check.off
        self.metrics.of(self.metrics.capacity_off, rt.name).set(1.0 if rt.capacity_off else 0.0)
        opted_in = rt.settings.policy.size_with_observed_capacity
        rt.pod = check.sizing if opted_in else rt.configured_pod
        rt.capacity_note = check.sizing_reason
        if rt.capacity_off != was_off:
            turned = "on" if rt.capacity_off else "off"
            log.info("capacity OFF flag turned %s: %s", turned, check.reason, extra={"target": rt.name})
            reason = "CapacityProfileOff" if rt.capacity_off else "CapacityProfileOk"
            self._object_event(rt, now, reason, f"{check.reason}; sizing: {check.sizing_reason}")
