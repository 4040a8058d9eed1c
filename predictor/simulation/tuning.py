"""Self-tuning (pure): replay a target's own recent history under candidate policies, keep the cheapest
that meets the objective.

The candidates differ only in how a forecast becomes a floor (the sizing quantile and the spike
buffer, never below the minimum quantile), so one forecast run serves them all: the daemon's
forecasting is replayed once over the tuning window (:func:`~predictor.simulation.predictive.
record_forecasts`, retrains and reconciles at the daemon's cadence), and each candidate costs one
planner replay and one KEDA replay on it. The objective (:class:`~predictor.runtime.policy.
Objective`) bounds the shortfall minutes: per replayed day, or as a share of KEDA alone's on the
same replay. A candidate meets it with the tuning's margin: its replayed shortfall at most
``margin`` × the allowance (the days ahead are not the replayed ones). Among the candidates that
meet it the cheapest in pod-hours wins (ties: the safer, higher quantile and buffer); when none
meets it, the configured policy stays (it is always a candidate when its quantile is allowed;
otherwise the candidate with the least shortfall). Both rules were chosen by leave-one-trace-out
on the pre-warm replay of ``bench/prewarm_replay.py``: the least shortfall when none meets, and no
margin, bought shortfall minutes at 1.2-1.6× the oracle's cost on histories where no policy meets
the objective (``bench/RESULTS.md``).

Entry point for the daemon: :func:`tune_policy` (history, policy, cold start, pod, bounds,
tuning settings, cadence, now) -> :class:`TuningResult` (the chosen policy, a one-line reason, the
whole table).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from predictor import events as ev
from predictor.capacity import PodModel
from predictor.errors import PlanningError
from predictor.forecasting.base import DAY_S, quantile_label
from predictor.planning import Bounds, ColdStart
from predictor.runtime.policy import Cadence, Policy, Tuning
from predictor.simulation.cluster import Cluster, simulate
from predictor.simulation.floors import reactive_floor
from predictor.simulation.predictive import ForecastTape, record_forecasts, replay_floor
from predictor.simulation.replay import cluster_for

#: Training the tuning replay needs before its first replayed moment, and the least it replays.
MIN_TRAIN_DAYS = 2.0
MIN_REPLAY_DAYS = 1.0


@dataclass(frozen=True)
class Candidate:
    """One candidate policy and its replay over the tuning window (pod-hours, shortfall minutes)."""

    quantile: float
    buffer: float
    pod_hours: float
    shortfall_minutes: float
    unserved_fraction: float
    meets: bool

    @property
    def label(self) -> str:
        return f"{quantile_label(self.quantile)} + {self.buffer:.0%} buffer"

    def to_dict(self) -> dict[str, object]:
        return {
            "quantile": self.quantile,
            "buffer": self.buffer,
            "pod_hours": round(self.pod_hours, 3),
            "shortfall_minutes": round(self.shortfall_minutes, 3),
            "unserved_fraction": round(self.unserved_fraction, 6),
            "meets_objective": self.meets,
        }


@dataclass(frozen=True)
class TuningResult:
    """What self-tuning chose and why, with every candidate's figures.

    ``policy`` is the policy to run with (the input policy when nothing could be tuned);
    ``chosen`` its candidate (None then); ``reason`` one line for logs, Events and tables;
    ``reactive_*`` KEDA alone on the same replay; ``allowance_minutes`` the objective's bound there.
    """

    policy: Policy
    chosen: Candidate | None
    reason: str
    candidates: tuple[Candidate, ...] = ()
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    reactive_pod_hours: float = math.nan
    reactive_shortfall_minutes: float = math.nan
    allowance_minutes: float = math.nan
    fits: tuple[tuple[pd.Timestamp, str], ...] = field(default=())

    @property
    def tuned(self) -> bool:
        return self.chosen is not None

    @property
    def days(self) -> float:
        if self.start is None or self.end is None:
            return 0.0
        return (self.end - self.start).total_seconds() / DAY_S

    def to_dict(self) -> dict[str, object]:
        def number(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 3)

        return {
            "tuned": self.tuned,
            "reason": self.reason,
            "quantile": self.policy.quantile,
            "buffer": self.policy.floor.buffer,
            "window": None
            if self.start is None or self.end is None
            else {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": round(self.days, 3)},
            "reactive": {
                "pod_hours": number(self.reactive_pod_hours),
                "shortfall_minutes": number(self.reactive_shortfall_minutes),
            },
            "allowance_minutes": number(self.allowance_minutes),
            "candidates": [c.to_dict() for c in self.candidates],
        }


def tuning_window(
    history: pd.Series, now: pd.Timestamp, tuning: Tuning, cadence: Cadence
) -> tuple[pd.Timestamp, pd.Timestamp] | str:
    """The replayed window ``[start, now)``, or why there is none (too little history).

    At most ``tuning.history_days``, after at least :data:`MIN_TRAIN_DAYS` of history to train on;
    the start sits a whole number of retrain intervals before ``now``, so that a replay of the
    following days retrains at the same moments as one started at ``now``.
    """
    known = history[history.notna() & (history.index < now)]
    if known.empty:
        return "no history before now"
    earliest = known.index[0] + pd.Timedelta(days=MIN_TRAIN_DAYS)
    wanted = now - pd.Timedelta(days=tuning.history_days)
    start = max(wanted, earliest)
    every = pd.Timedelta(seconds=cadence.retrain_every_s)
    start = now - every * math.floor((now - start) / every)
    if (now - start) < pd.Timedelta(days=MIN_REPLAY_DAYS):
        have = (now - known.index[0]).total_seconds() / DAY_S
        return (
            f"too little history to tune: {have:.1f} d before now, needs "
            f"{MIN_TRAIN_DAYS + MIN_REPLAY_DAYS:g} d ({MIN_TRAIN_DAYS:g} d to train, "
            f"{MIN_REPLAY_DAYS:g} d to replay)"
        )
    return start, now


def choose(
    tape: ForecastTape,
    load: np.ndarray,
    policy: Policy,
    *,
    tuning: Tuning,
    pod: PodModel,
    bounds: Bounds,
    cluster: Cluster,
) -> TuningResult:
    """Replay every candidate of ``tuning`` on ``tape`` (over ``load``, req/s per step) and choose."""
    if len(load) != len(tape.index):
        raise PlanningError(f"the load has {len(load)} steps, the tape {len(tape.index)}")
    start, end = tape.index[0], tape.index[-1] + pd.Timedelta(seconds=cluster.step_s)
    days = (end - start).total_seconds() / DAY_S
    reactive = simulate(load, reactive_floor(len(load), cluster), cluster)
    allowance = tuning.objective.allowance(days, reactive.shortfall_minutes)
    within = tuning.margin * allowance
    candidates = []
    for candidate in tuning.candidates(policy):
        run = replay_floor(tape, candidate.floor, pod=pod, bounds=bounds)
        outcome = simulate(load, run.floor, cluster)
        candidates.append(
            Candidate(
                quantile=candidate.quantile,
                buffer=candidate.floor.buffer,
                pod_hours=outcome.pod_hours,
                shortfall_minutes=outcome.shortfall_minutes,
                unserved_fraction=outcome.unserved_fraction,
                meets=outcome.shortfall_minutes <= within + 1e-9,
            )
        )
    meeting = [c for c in candidates if c.meets]
    configured = [c for c in candidates if _same(c, policy)]
    if meeting:
        best = min(meeting, key=lambda c: (round(c.pod_hours, 6), -c.quantile, -c.buffer))
        verdict = f"the cheapest of {len(meeting)} of {len(candidates)} candidates meeting"
    else:
        best = configured[0] if configured else min(candidates, key=_least_shortfall)
        kept = "the configured one stays" if configured else "the least shortfall"
        verdict = f"none of {len(candidates)} candidates meets the objective, so {kept}; objective"
    share = "" if tuning.margin >= 1 else f", within {tuning.margin:.0%} of it"
    reason = (
        f"{best.label}: {verdict} {tuning.objective.describe()} ({allowance:.0f} min{share}) over "
        f"{days:.1f} d to {end:%Y-%m-%d %H:%M}: {best.pod_hours:,.1f} pod-h, {best.shortfall_minutes:.0f} "
        f"shortfall min (KEDA alone {reactive.pod_hours:,.1f} pod-h, {reactive.shortfall_minutes:.0f} min)"
    )
    return TuningResult(
        policy=policy.with_floor(quantile=best.quantile, buffer=best.buffer),
        chosen=best,
        reason=reason,
        candidates=tuple(candidates),
        start=start,
        end=end,
        reactive_pod_hours=reactive.pod_hours,
        reactive_shortfall_minutes=reactive.shortfall_minutes,
        allowance_minutes=allowance,
        fits=tape.fits,
    )


def _least_shortfall(c: Candidate) -> tuple[float, float, float]:
    return (c.shortfall_minutes, c.unserved_fraction, round(c.pod_hours, 6))


def _same(candidate: Candidate, policy: Policy) -> bool:
    return (
        abs(candidate.quantile - policy.quantile) < 1e-9
        and abs(candidate.buffer - policy.floor.buffer) < 1e-9
    )


def tune_policy(
    history: pd.Series,
    policy: Policy,
    *,
    cold_start: ColdStart,
    pod: PodModel,
    bounds: Bounds,
    tuning: Tuning,
    cadence: Cadence,
    now: pd.Timestamp,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
    reselect: bool = True,
    events: tuple[ev.Event, ...] = (),
) -> TuningResult:
    """Tune ``policy`` for one target on its own history before ``now`` (see the module docstring).

    ``events`` are the target's known events, applied in the tuning replay as the daemon does.

    ``history`` is a regular UTC series of the request rate (req/s, NaN = missing), ideally one
    point a minute (the replay steps at its resolution) covering ``policy.train_days`` before the
    tuning window and the window itself. ``bounds`` are the ScaledObject's (baseline, max).
    Returns the input policy unchanged, with the reason, when there is too little history.
    ``reselect=False`` chooses the model once instead of at every retrain of the replay (see
    :func:`~predictor.simulation.predictive.record_forecasts`): much faster, slightly less exact.
    """
    if history.index.freq is None:
        raise PlanningError("self-tuning needs a regular history with a frequency")
    window = tuning_window(history, now, tuning, cadence)
    if isinstance(window, str):
        return TuningResult(policy=policy, chosen=None, reason=f"not tuned: {window}")
    start, end = window
    step_s = pd.Timedelta(history.index.freq).total_seconds()
    load = history[history.index < end]
    quantiles = tuple(sorted({c.quantile for c in tuning.candidates(policy)}))
    tape = record_forecasts(
        load,
        start,
        pod=pod,
        cold_start=cold_start,
        policy=policy,
        cadence=cadence,
        quantiles=quantiles,
        progress=progress,
        seed=seed,
        reselect=reselect,
        events=events,
    )
    cluster = cluster_for(pod, policy, cold_start, bounds, step_s=step_s)
    values = load[load.index >= start].to_numpy()
    return choose(tape, values, policy, tuning=tuning, pod=pod, bounds=bounds, cluster=cluster)
