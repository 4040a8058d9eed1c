"""The learned cold start: pod creation -> first Ready, kept per start-up as first seen.

A start-up is one unit of scale: a pod, or a LeaderWorkerSet group (see
:mod:`predictor.actuation.pods`). For each, the earliest evidence of its first readiness is kept:
the Ready time when the daemon first saw it Ready. A later flap (Ready's ``lastTransitionTime``
moves on) never moves it. A start-up whose history is ambiguous is not counted: a container
restarted before it was first seen Ready, or it took longer than ``learn_max_s`` (taken for a
flap). The learned value is a high percentile of the kept start-ups, never above ``learn_max_s``;
the log is persisted with the planner's memory, so a restart keeps what was learned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from predictor.actuation.pods import PodReady
from predictor.config.coldstart import ColdStartSettings
from predictor.planning import ColdStart, learn_cold_start

KEEP = 200  # start-ups kept per target, the newest (by creation)


@dataclass(frozen=True)
class Startup:
    """One start-up: created (its first pod) and first seen Ready (its last pod), tz-aware UTC."""

    created: datetime
    ready_at: datetime

    @property
    def seconds(self) -> float:
        return (self.ready_at - self.created).total_seconds()


@dataclass
class StartupLog:
    """The start-ups seen of one target, by unit id, and the ids rejected (with why)."""

    startups: dict[str, Startup] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)

    def observe(self, pods: Iterable[PodReady], *, max_s: float) -> list[str]:
        """Take in the pods as listed now; returns the ids newly rejected (for a log line)."""
        groups: dict[str, list[PodReady]] = {}
        for pod in pods:
            groups.setdefault(pod.group, []).append(pod)
        newly_rejected = []
        for group, members in groups.items():
            created = min(p.created for p in members)
            unit = f"{group}@{created.isoformat()}"
            if unit in self.rejected:
                continue
            if any(p.ready_at is None for p in members):
                continue  # still starting (or not Ready now): nothing to learn yet
            ready_at = max(p.ready_at for p in members if p.ready_at is not None)
            known = self.startups.get(unit)
            if known is not None:  # the earliest Ready seen stands: a later one is a flap
                if ready_at < known.ready_at:
                    self.startups[unit] = Startup(created, ready_at)
                continue
            why = self._ambiguity(members, created, ready_at, max_s)
            if why:
                self.rejected[unit] = why
                newly_rejected.append(f"{unit}: {why}")
                continue
            self.startups[unit] = Startup(created, ready_at)
        self._trim()
        return newly_rejected

    @staticmethod
    def _ambiguity(members: list[PodReady], created: datetime, ready_at: datetime, max_s: float) -> str:
        restarted = [p.why for p in members if not p.clean]
        if restarted:
            return f"{restarted[0]} before it was first seen Ready"
        seconds = (ready_at - created).total_seconds()
        if seconds < 0:
            return "Ready before it was created (clock skew)"
        if seconds > max_s:
            return (
                f"Ready {seconds:.0f} s after creation, more than learn_max_s {max_s:.0f} s: taken for a flap"
            )
        return ""

    def _trim(self) -> None:
        if len(self.startups) > KEEP:
            newest = sorted(self.startups.items(), key=lambda kv: kv[1].created)[-KEEP:]
            self.startups = dict(newest)
        if len(self.rejected) > KEEP:
            self.rejected = dict(list(self.rejected.items())[-KEEP:])

    def samples(self) -> list[float]:
        return [s.seconds for s in self.startups.values()]

    def to_json(self) -> dict[str, Any]:
        return {
            "startups": {
                unit: {"created": s.created.isoformat(), "ready_at": s.ready_at.isoformat()}
                for unit, s in self.startups.items()
            },
            "rejected": dict(self.rejected),
        }

    @classmethod
    def from_json(cls, doc: Any) -> StartupLog:
        if not isinstance(doc, dict):
            return cls()
        startups = {
            str(unit): Startup(datetime.fromisoformat(s["created"]), datetime.fromisoformat(s["ready_at"]))
            for unit, s in (doc.get("startups") or {}).items()
        }
        return cls(startups, {str(k): str(v) for k, v in (doc.get("rejected") or {}).items()})


def learned(log: StartupLog, settings: ColdStartSettings, configured: ColdStart) -> ColdStart:
    """The cold start from ``log``: the configured one until ``learn_min_samples`` start-ups were
    seen, then their ``learn_percentile``, clamped to ``learn_max_s``."""
    cold = learn_cold_start(
        log.samples(),
        configured=configured,
        percentile=settings.learn_percentile,
        min_samples=settings.learn_min_samples,
    )
    if cold.source == "learned" and cold.seconds > settings.learn_max_s:
        detail = f"{cold.detail}, clamped to learn_max_s {settings.learn_max_s:g} s"
        return ColdStart(settings.learn_max_s, "learned", cold.samples, detail)
    return cold


def from_record(
    seconds: float, samples: int, configured: ColdStart, settings: ColdStartSettings
) -> ColdStart:
    """The cold start another replica learned and recorded on the object (``seconds`` from
    ``samples`` start-ups), clamped to ``learn_max_s``; the configured one below the sample count."""
    if samples < settings.learn_min_samples:
        return configured
    seconds = min(seconds, settings.learn_max_s)
    return ColdStart(seconds, "learned", samples, f"recorded on the ScaledObject, from {samples} start-ups")
