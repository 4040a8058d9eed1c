"""Per-target state: everything the daemon knows about one managed ScaledObject between cycles.

A :class:`TargetState` is the one home of a target's state: its settings and policy, its model,
the planner's memory (kept on the ScaledObject and in the state directory, see
:mod:`predictor.daemon.persist`), the start-ups seen for the learned cold start, when each of its
jobs runs next (:class:`JobTimer`: ``retrain`` and ``tune``), self-tuning's choice in force
(:class:`TunedChoice`), the last capacity check, and what the last cycle found (state, reason,
plan, clamps).
The :class:`TargetTable` holds them all, safe to read while discovery adds and removes targets.

States (the ``predictor_target_state`` metric and ``predictor status``):

- ``healthy``: a fresh model; the floor follows its forecast;
- ``stale``: the last retrain failed; still forecasting from the last model, within its age limit;
- ``no-model``: no usable model yet (just started, or its inputs changed): the floor is held as it
  stands, never lowered, until a model exists or the age limit of the last one passes;
- ``fallback``: the model is older than ``max_forecast_age_s``: the floor steps back to the baseline;
- ``paused``: KEDA is paused on the object: left alone;
- ``gone``: the ScaledObject does not exist (it is read again every cycle, in case it comes back).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from predictor import __version__
from predictor import events as ev
from predictor.actuation.scaledobject import FloorMemory, ScaledObjectRef
from predictor.capacity import PodModel, pod_model
from predictor.config import TargetSettings
from predictor.daemon.cold_start import StartupLog
from predictor.forecasting.base import Clamp
from predictor.forecasting.store import ModelArtifact, TrainingInputs
from predictor.planning import Bounds, ColdStart, Plan
from predictor.runtime.capacity_check import CapacityCheck
from predictor.runtime.demand import TokenModels, TokenSizingSpec
from predictor.runtime.policy import Policy, Tuning
from predictor.runtime.targets import cold_start_of, policy_from_settings, token_spec_of, tuning_from_settings
from predictor.sources.base import HistorySource
from predictor.sources.demand import DemandSources

Origin = Literal["config", "discovered"]
RETRAIN = "retrain"  # the names of the per-target jobs, each with its JobTimer in TargetState.jobs
TUNE = "tune"


@dataclass
class JobTimer:
    """When one per-target job runs next, on the daemon's clock, and how it went.

    ``due_at`` None means not scheduled. After a failure the job is due again after ``first_s``,
    doubled with each further failure up to ``max_s`` (:meth:`failed`). ``running`` is true while
    a run is in flight, also one abandoned for its time limit, so runs never pile up.
    """

    due_at: pd.Timestamp | None = None
    failures: int = 0
    running: bool = False
    last_error: str | None = None

    def is_due(self, now: pd.Timestamp) -> bool:
        return self.due_at is not None and self.due_at <= now and not self.running

    def succeeded(self, next_at: pd.Timestamp) -> None:
        self.due_at, self.failures, self.last_error = next_at, 0, None

    def failed(self, now: pd.Timestamp, why: str, *, first_s: float, max_s: float) -> float:
        """Count a failure and schedule the retry; returns the wait, seconds."""
        wait_s = min(first_s * 2**self.failures, max_s)
        self.failures += 1
        self.due_at, self.last_error = now + pd.Timedelta(seconds=wait_s), why
        return wait_s


@dataclass(frozen=True)
class TunedChoice:
    """What self-tuning chose for a target: the sizing quantile and spike buffer, why (one line with
    the replay's figures), and when (the daemon's clock). Kept in the target's memory file."""

    quantile: float
    buffer: float
    reason: str
    tuned_at: pd.Timestamp
    pod_hours: float | None = None
    shortfall_minutes: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "quantile": self.quantile,
            "buffer": self.buffer,
            "reason": self.reason,
            "tuned_at": self.tuned_at.isoformat(),
            "pod_hours": self.pod_hours,
            "shortfall_minutes": self.shortfall_minutes,
        }

    @classmethod
    def from_json(cls, doc: object) -> TunedChoice | None:
        """The choice in ``doc``, or None when there is none; ValueError when it is malformed."""
        if doc is None:
            return None
        if not isinstance(doc, dict):
            raise ValueError("tuned: not a JSON object")
        try:
            return cls(
                quantile=float(doc["quantile"]),
                buffer=float(doc["buffer"]),
                reason=str(doc.get("reason") or ""),
                tuned_at=pd.Timestamp(doc["tuned_at"]).tz_convert("UTC"),
                pod_hours=doc.get("pod_hours"),
                shortfall_minutes=doc.get("shortfall_minutes"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"tuned: {e}") from e

    @property
    def label(self) -> str:
        return f"p{self.quantile * 100:g} + {self.buffer:.0%} buffer"


@dataclass
class TargetState:
    """One managed ScaledObject (see the module docstring)."""

    settings: TargetSettings
    origin: Origin
    ref: ScaledObjectRef
    source: HistorySource
    policy: Policy  # in force: the configured one, with self-tuning's quantile and buffer if any
    pod: PodModel  # sizes the floor: the configured one, or the observed capacity when opted in
    configured_policy: Policy
    configured_pod: PodModel
    tuning: Tuning
    configured_cold_start: ColdStart
    cold_start: ColdStart
    inputs: TrainingInputs  # what a model of this target must have been trained on
    artifact: ModelArtifact | None = None
    memory: FloorMemory = field(default_factory=FloorMemory)  # as this daemon last knew it
    uid: str | None = None  # the ScaledObject the memory is about (a recreated one starts afresh)
    startups: StartupLog = field(default_factory=StartupLog)
    jobs: dict[str, JobTimer] = field(default_factory=lambda: {RETRAIN: JobTimer(), TUNE: JobTimer()})
    state: str = "no-model"
    last_error: str | None = None
    plan: Plan | None = None
    clamps: tuple[Clamp, ...] = ()
    gone: bool = False
    events: tuple[ev.Event, ...] = ()  # its known events: own, top-level, holidays
    holiday_level: ev.HolidayLevel | None = None  # learned at the last retrain
    events_seen_at: pd.Timestamp | None = None  # the last reconcile that announced transitions
    # Token-aware sizing: the target's token sources, and its token models (kept in memory only;
    # a token-aware target without them retrains at once, and sizes on its profile's lengths until).
    demand: DemandSources | None = None
    token_models: TokenModels | None = None
    fit_note: str | None = None  # the candidates the last fit's time budget dropped, and why
    tuned: TunedChoice | None = None  # self-tuning's choice in force (None: the configured policy)
    tune_note: str | None = None  # why the last tuning chose nothing (e.g. too little history)
    bounds: Bounds | None = None  # baseline and max as the last reconcile read them off the object
    capacity: CapacityCheck | None = None  # the last capacity check (configured against observed)
    capacity_note: str | None = None  # why there is no capacity check, or what sizing uses
    capacity_off: bool = False  # the profile is off from production (kept while nothing is observed)

    @classmethod
    def create(
        cls,
        settings: TargetSettings,
        source: HistorySource,
        origin: Origin = "config",
        *,
        events: tuple[ev.Event, ...] = (),
        demand: DemandSources | None = None,
    ) -> TargetState:
        configured = cold_start_of(settings)
        policy = policy_from_settings(settings.policy)
        pod = pod_model(settings.capacity, settings.role)
        return cls(
            events=events,
            settings=settings,
            origin=origin,
            ref=ScaledObjectRef.parse(settings.scaled_object),
            source=source,
            policy=policy,
            pod=pod,
            configured_policy=policy,
            configured_pod=pod,
            tuning=tuning_from_settings(settings.policy),
            configured_cold_start=configured,
            cold_start=configured,
            inputs=inputs_of(settings, events),
            demand=demand,
        )

    @property
    def tokens(self) -> TokenSizingSpec | None:
        """How the target's role is sized on its token series (``None``: on the rate alone)."""
        return token_spec_of(self.settings)

    def reconfigured(
        self,
        settings: TargetSettings,
        source: HistorySource,
        *,
        events: tuple[ev.Event, ...] = (),
        demand: DemandSources | None = None,
    ) -> TargetState:
        """This target under new settings (a changed declaration), keeping its model, memory,
        start-ups and timers; a model whose inputs no longer match is retrained first."""
        fresh = TargetState.create(settings, source, self.origin, events=events, demand=demand)
        fresh.holiday_level, fresh.events_seen_at = self.holiday_level, self.events_seen_at
        fresh.token_models = self.token_models if demand is not None else None
        fresh.artifact, fresh.memory, fresh.uid, fresh.startups = (
            self.artifact,
            self.memory,
            self.uid,
            self.startups,
        )
        fresh.jobs, fresh.state, fresh.last_error, fresh.gone = (
            self.jobs,
            self.state,
            self.last_error,
            self.gone,
        )
        if self.cold_start.source == "learned" and settings.cold_start.learn:
            fresh.cold_start = self.cold_start
        fresh.bounds, fresh.capacity_off = self.bounds, self.capacity_off
        if self.tuned is not None:
            fresh.apply_tuned(self.tuned)
        return fresh

    def allows(self, choice: TunedChoice) -> bool:
        """Whether ``choice`` is one of the candidates self-tuning may choose under these settings."""
        return self.tuning.allows(self.configured_policy, choice.quantile, choice.buffer)

    def apply_tuned(self, choice: TunedChoice | None) -> bool:
        """Put ``choice`` in force (None, or one no longer allowed: the configured policy); returns
        whether it is in force."""
        if choice is None or not self.allows(choice):
            self.tuned, self.policy = None, self.configured_policy
            return False
        self.tuned = choice
        self.policy = self.configured_policy.with_floor(quantile=choice.quantile, buffer=choice.buffer)
        return True

    @property
    def tune_job(self) -> JobTimer:
        return self.jobs[TUNE]

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def mode(self) -> str:
        return self.settings.policy.actuation_mode

    @property
    def retrain(self) -> JobTimer:
        return self.jobs[RETRAIN]

    def model_problem(self) -> str | None:
        """Why the model cannot be used now (None: it can): none yet, or trained on a different
        source or step. A model trained on another window, model choice or predictor version still
        forecasts the same series and is used until its retrain, which is due at once."""
        if self.artifact is None:
            return "no model yet"
        inputs = self.artifact.inputs
        if self.artifact.step_s != self.inputs.step_s:
            return f"the model's step is {self.artifact.step_s} s, the config's {self.inputs.step_s} s"
        if inputs is not None and inputs.source != self.inputs.source:
            return f"the model was trained on {inputs.source}, the config reads {self.inputs.source}"
        return None

    def stale_inputs(self) -> list[str]:
        """What the model was trained on that the config no longer asks for (empty: nothing)."""
        if self.artifact is None:
            return []
        if self.artifact.inputs is None:
            return ["trained by an older predictor that did not record its inputs"]
        return self.artifact.inputs.differences(self.inputs)


def inputs_of(settings: TargetSettings, events: Sequence[ev.Event] = ()) -> TrainingInputs:
    """What a model of ``settings`` with its known ``events`` must be trained on.

    Only the events that shape the fit count (those whose windows are left out of training, see
    :func:`predictor.events.masks_training`): a changed floor schedule is applied at the next
    reconcile and needs no new model. With none, ``events`` is ``""``, as in a model stored
    before events were recorded, so such a model is not retrained for it.
    """
    shaping = [e for e in events if ev.masks_training(e)]
    return TrainingInputs(
        source=describe_source(settings),
        step_s=settings.policy.model_step_s,
        window_days=settings.policy.history_window_days,
        model=settings.policy.model,
        version=__version__,
        events=ev.fingerprint(shaping) if shaping else "",
    )


def describe_source(settings: TargetSettings) -> str:
    """The target's history in one line: ``prometheus: <query>``, ``file: <path>``, ``synthetic: ...``."""
    if settings.history_synthetic is not None:
        s = settings.history_synthetic
        return f"synthetic: seed {s.seed}, {s.base_rps:g}-{s.peak_rps:g} req/s"
    if settings.history_file is not None:
        column = f" column {settings.history_value_column}" if settings.history_value_column else ""
        counts = " (counts)" if settings.history_counts else ""
        return f"file: {settings.history_file}{column}{counts}"
    return f"prometheus: {settings.query}"


class TargetTable:
    """The managed targets by name. Readers take a :meth:`snapshot`, so discovery may add and
    remove targets while a cycle runs over the others."""

    def __init__(self, targets: list[TargetState] | None = None) -> None:
        self._lock = threading.Lock()
        self._targets: dict[str, TargetState] = {t.name: t for t in targets or []}

    def snapshot(self) -> list[TargetState]:
        with self._lock:
            return list(self._targets.values())

    def get(self, name: str) -> TargetState | None:
        with self._lock:
            return self._targets.get(name)

    def __getitem__(self, name: str) -> TargetState:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._targets

    def __len__(self) -> int:
        with self._lock:
            return len(self._targets)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._targets)

    def put(self, target: TargetState) -> None:
        with self._lock:
            self._targets[target.name] = target

    def remove(self, name: str) -> TargetState | None:
        with self._lock:
            return self._targets.pop(name, None)
