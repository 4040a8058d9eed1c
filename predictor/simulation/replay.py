"""A whole backtest: replay one load under reactive, predictive and oracle policies, and score.

The three policies share one cluster model (:class:`~predictor.simulation.cluster.Cluster`), so
the only difference between them is the floor: the baseline alone (KEDA), the planner's floor
from forecasts made only with past data (predictor), and the cheapest floor with no shortfall
knowing the future (oracle). Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from predictor import events as ev
from predictor.capacity import PodModel, pod_model_for_peak
from predictor.errors import PlanningError
from predictor.forecasting import metrics
from predictor.planning import Bounds, ColdStart, FloorPolicy
from predictor.runtime.policy import Cadence, Policy
from predictor.simulation.cluster import Cluster, Outcome, simulate
from predictor.simulation.floors import oracle_floor, reactive_floor
from predictor.simulation.predictive import ForecastTape, PredictiveRun, record_forecasts, replay_floor

POLICIES = ("reactive", "predictive", "oracle")
#: ``without-events``: the predictive floor replayed with the known events switched off, to show
#: what they cost or saved.
ROWS = (
    "reactive",
    "predictive",
    "without-events",
    "tuned",
    "oracle",
)  # the order tables and plots show them in


@dataclass(frozen=True)
class BacktestSettings:
    """What to replay and how. Durations in seconds; ``None`` start means the last ``score_days``.

    ``policy`` and ``cadence`` are the same values the daemon runs with (built from the
    configuration or the flags); ``cold_start`` is the pod's, and the HPA of the replay targets the
    policy's utilisation.
    """

    policy: Policy
    cadence: Cadence
    cold_start: ColdStart
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    score_days: float = 7.0
    peak_pods: int | None = 20
    pod: PodModel | None = None  # used when peak_pods is None
    min_replicas: int = 1
    max_replicas: int = 100
    #: Quantiles recorded besides the policy's, so that other floor policies can be replayed on the
    #: same forecasts (:meth:`BacktestResult.replan`).
    extra_quantiles: tuple[float, ...] = ()
    #: The target's known events (overrides and holidays), applied as the daemon applies them.
    events: tuple[ev.Event, ...] = ()

    @property
    def utilization(self) -> float:
        return self.policy.floor.utilization

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.min_replicas, self.max_replicas)


@dataclass(frozen=True)
class BacktestResult:
    """Per-minute series of the replay and the totals of every policy."""

    index: pd.DatetimeIndex
    load: np.ndarray
    outcomes: dict[str, Outcome]
    predictive: PredictiveRun
    cluster: Cluster
    settings: BacktestSettings
    accuracy: dict[str, float]
    tape: ForecastTape
    pod: PodModel
    runs: Mapping[str, PredictiveRun] = field(default_factory=dict)  # the floors of added rows
    tuning: Mapping[str, object] | None = None  # what self-tuning chose, when a tuned row was added

    @property
    def rows(self) -> tuple[str, ...]:
        """The policies replayed, in the order to show them."""
        return tuple(name for name in ROWS if name in self.outcomes)

    def with_row(
        self, name: str, floor: FloorPolicy, *, tuning: Mapping[str, object] | None = None
    ) -> BacktestResult:
        """This replay with one more row: ``floor`` replayed on the same forecasts (no refit)."""
        run = replay_floor(self.tape, floor, pod=self.pod, bounds=self.settings.bounds)
        outcomes = {**self.outcomes, name: simulate(self.load, run.floor, self.cluster)}
        return replace(
            self,
            outcomes={row: outcomes[row] for row in (*ROWS, *outcomes) if row in outcomes},
            runs={**self.runs, name: run},
            tuning=tuning if tuning is not None else self.tuning,
        )

    def with_run(self, name: str, run: PredictiveRun) -> BacktestResult:
        """This replay with one more row: a floor replayed elsewhere (e.g. without the events)."""
        outcomes = {**self.outcomes, name: simulate(self.load, run.floor, self.cluster)}
        return replace(
            self,
            outcomes={row: outcomes[row] for row in (*ROWS, *outcomes) if row in outcomes},
            runs={**self.runs, name: run},
        )

    def replan(self, floor: FloorPolicy) -> BacktestResult:
        """The same replay with another floor policy on the same forecasts (no refit).

        ``floor`` may change the quantile (one recorded on the tape), buffer, floor utilisation and
        window sizing; the reactive and oracle outcomes are kept.
        """
        policy = replace(self.settings.policy, floor=floor)
        run = replay_floor(self.tape, floor, pod=self.pod, bounds=self.settings.bounds)
        outcomes = {**self.outcomes, "predictive": simulate(self.load, run.floor, self.cluster)}
        return replace(
            self,
            outcomes=outcomes,
            predictive=run,
            settings=replace(self.settings, policy=policy),
            accuracy=_accuracy(self.load, run, floor.quantile),
        )

    def summary(self) -> dict[str, Any]:
        """The JSON-ready comparison: per policy totals, forecast accuracy, the set-up."""
        return {
            "window": {
                "start": self.index[0].isoformat(),
                "end": self.index[-1].isoformat(),
                "minutes": len(self.index),
            },
            "setup": {
                "cold_start_s": self.cluster.cold_start_s,
                "cold_start_source": self.settings.cold_start.detail,
                "lead_time_s": self.settings.cold_start.lead_time_s(self.settings.policy.floor.margin_s),
                "utilization": self.cluster.utilization,
                "pod_rps": round(self.cluster.pod_rps, 6),
                "min_replicas": self.cluster.min_replicas,
                "max_replicas": self.cluster.max_replicas,
                "floor": self.settings.policy.floor.describe(),
                "policy": self.settings.policy.to_dict(),
                "cadence": self.settings.cadence.to_dict(),
                "quantile": self.settings.policy.quantile,
                "model": self.settings.policy.model,
                "models_fitted": sorted({kind for _, kind in self.predictive.fits}),
                "events": [e.name for e in self.settings.events],
            },
            "policies": {name: self.outcomes[name].totals() for name in self.rows},
            "forecast_accuracy": {
                k: (None if math.isnan(v) else round(v, 4)) for k, v in self.accuracy.items()
            },
            **({"tuning": dict(self.tuning)} if self.tuning is not None else {}),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per minute: the predictive run, then the other policies' replicas and Ready pods."""
        p = self.outcomes["predictive"]
        frame = pd.DataFrame(
            {
                "load": self.load,
                "forecast": self.predictive.forecast,
                "floor": p.floor,
                "replicas": p.replicas,
                "ready": p.ready,
            },
            index=self.index,
        )
        for name in self.rows:
            if name != "predictive":
                frame[f"replicas_{name}"] = self.outcomes[name].replicas
                frame[f"ready_{name}"] = self.outcomes[name].ready
        for name in self.runs:
            frame[f"floor_{name}"] = self.outcomes[name].floor
        frame["floor_oracle"] = self.outcomes["oracle"].floor
        frame.index.name = "timestamp"
        return frame


def _window(load: pd.Series, settings: BacktestSettings) -> tuple[pd.Timestamp, pd.Timestamp]:
    last = load.index[-1] + pd.Timedelta(load.index.freq)
    end = settings.end or last
    start = settings.start or end - pd.Timedelta(days=settings.score_days)
    if not load.index[0] < start < end:
        raise PlanningError(
            f"the scored window {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} must lie after the start "
            f"of the history ({load.index[0]:%Y-%m-%d %H:%M}) so that there is data to train on"
        )
    return start, end


def _accuracy(load: np.ndarray, run: PredictiveRun, quantile: float) -> dict[str, float]:
    """How good the forecast that drove the floor was, made one lead time before each minute.

    WAPE of the mean; MASE of the mean against the one-day seasonal naive error of the scored
    window itself (NaN when the window is under two days); coverage of the sizing quantile.
    """
    known = ~np.isnan(run.forecast_mean)
    label = f"p{quantile * 100:g}_coverage"
    if not known.any():
        return {"wape": math.nan, "mase": math.nan, label: math.nan}
    day = metrics.season_steps(86_400, 60)
    scale = metrics.naive_scale(load, day) if len(load) >= 2 * day else math.nan
    mase = math.nan if math.isnan(scale) else metrics.mase(load[known], run.forecast_mean[known], scale=scale)
    return {
        "wape": metrics.wape(load[known], run.forecast_mean[known]),
        "mase": mase,
        label: metrics.coverage(load[known], run.forecast[known]),
    }


def run_backtest(
    load: pd.Series,
    settings: BacktestSettings,
    *,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> BacktestResult:
    """Replay ``load`` (a regular 1-minute UTC series in req/s, NaN = missing) under every policy."""
    if load.index.freq is None or pd.Timedelta(load.index.freq) != pd.Timedelta(minutes=1):
        raise PlanningError("the backtest replays 1-minute steps; resample the history to 60 s first")
    if load.notna().sum() == 0:
        raise PlanningError("the history has no data")
    start, end = _window(load, settings)
    history = load[load.index < end]
    if settings.peak_pods is not None:
        pod = pod_model_for_peak(float(history.max()), settings.peak_pods, utilization=settings.utilization)
    elif settings.pod is not None:
        pod = settings.pod
    else:
        raise PlanningError("give peak_pods or a pod model")
    cluster = cluster_for(pod, settings.policy, settings.cold_start, settings.bounds, step_s=60.0)
    tape = record_forecasts(
        history,
        start,
        pod=pod,
        cold_start=settings.cold_start,
        policy=settings.policy,
        cadence=settings.cadence,
        quantiles=settings.extra_quantiles,
        progress=progress,
        seed=seed,
        events=settings.events,
    )
    run = replay_floor(tape, settings.policy.floor, pod=pod, bounds=settings.bounds)
    replay = history[history.index >= start]
    values = replay.to_numpy()
    floors = {
        "reactive": reactive_floor(len(values), cluster),
        "predictive": run.floor,
        "oracle": oracle_floor(values, cluster),
    }
    outcomes = {name: simulate(values, floors[name], cluster) for name in POLICIES}
    return BacktestResult(
        index=replay.index,
        load=values,
        outcomes=outcomes,
        predictive=run,
        cluster=cluster,
        settings=settings,
        accuracy=_accuracy(values, run, settings.policy.quantile),
        tape=tape,
        pod=pod,
    )


def cluster_for(
    pod: PodModel, policy: Policy, cold_start: ColdStart, bounds: Bounds, *, step_s: float
) -> Cluster:
    """The replay's KEDA for a target: its pod, KEDA's utilisation target and scale-down window."""
    return Cluster(
        pod_rps=pod.concurrency / pod.seconds_per_request,
        utilization=policy.floor.utilization,
        cold_start_s=cold_start.seconds,
        min_replicas=bounds.baseline,
        max_replicas=bounds.max_replicas,
        scale_down_window_s=policy.floor.rules.scale_down_window_s,
        step_s=step_s,
    )
