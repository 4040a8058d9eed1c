"""Replay a token trace for one serving role: token-aware against fixed-length sizing (pure).

The role's load is its **work** at each minute, the pods it keeps busy at full utilisation
(:func:`~predictor.capacity.demand.size_role` at u = 1 on the *actual* request and token rates):
prompt tokens/s after the prefix cache over the prefill throughput for prefill, concurrent
sequences against the KV-cache and compute bounds for decode, Little's law for aggregated. The
replay's cluster serves one unit of work per Ready pod (``pod_rps = 1``), and KEDA scales on the
work at the policy's utilisation target, as it would on a prefill queue's backlog or the decode
role's running sequences. Four floors are replayed on the same cluster:

- ``reactive``: KEDA alone (the baseline);
- ``fixed``: the daemon's floor, sized on the forecast request rate at one pair of fixed lengths
  (the request-weighted means of the history before the replay: what a fixed-length profile is
  best tuned to);
- ``token-aware``: the daemon's floor on the same forecasts, sized on the forecast token series;
- ``oracle``: the cheapest floor with no shortfall, knowing the future.

``fixed`` and ``token-aware`` share one forecast tape (the request rate and both token series,
fitted at every retrain with the same model kind), so they differ only in the sizing. Missing
load is never counted as zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from predictor.capacity import CapacityParams, PodModel
from predictor.capacity.demand import OUTPUT_TOKENS, PROMPT_TOKENS, REQUESTS, TokenRates, size_role
from predictor.capacity.demand_compare import average_lengths
from predictor.errors import CapacityError, PlanningError
from predictor.planning import Bounds, ColdStart
from predictor.runtime.policy import Cadence, Policy
from predictor.simulation.cluster import Cluster, Outcome, simulate
from predictor.simulation.floors import oracle_floor, reactive_floor
from predictor.simulation.predictive import ForecastTape, record_forecasts, replay_floor

ROWS = ("reactive", "fixed", "token-aware", "oracle")
# A rough split of the day for the summary (UTC): weekday working hours against the night.
WORKING_HOURS = (10, 16)
NIGHT_HOURS = (0, 6)


@dataclass(frozen=True)
class TokenReplay:
    """The four floors of a token replay and their outcomes, in units of the role's pods."""

    role: str
    index: pd.DatetimeIndex
    work: np.ndarray
    outcomes: dict[str, Outcome]
    fixed_lengths: tuple[float, float | None]
    reason: str | None

    @property
    def pod_hours_saved(self) -> float:
        """Pod-hours token-aware sizing spends less than fixed-length sizing (negative: more)."""
        return self.outcomes["fixed"].pod_hours - self.outcomes["token-aware"].pod_hours

    @property
    def shortfall_avoided_minutes(self) -> float:
        """Shortfall minutes token-aware sizing avoids against fixed-length sizing (negative: more)."""
        return self.outcomes["fixed"].shortfall_minutes - self.outcomes["token-aware"].shortfall_minutes

    def mean_floor(self, row: str, hours: tuple[int, int], *, weekdays: bool = True) -> float:
        """The mean floor of ``row`` over the hours ``[from, to)`` UTC (weekdays only by default)."""
        hour = self.index.hour
        keep = (hour >= hours[0]) & (hour < hours[1])
        if weekdays:
            keep &= self.index.day_of_week < 5
        floor = self.outcomes[row].floor
        return float(np.mean(floor[keep])) if keep.any() else float("nan")

    def summary(self) -> dict[str, Any]:
        """JSON-ready totals per row, the saving against fixed lengths and the day/night floors."""
        return {
            "role": self.role,
            "fixed_lengths": list(self.fixed_lengths),
            "reason": self.reason,
            "policies": {row: self.outcomes[row].totals() for row in ROWS},
            "pod_hours_saved": round(self.pod_hours_saved, 3),
            "shortfall_avoided_minutes": round(self.shortfall_avoided_minutes, 3),
            "mean_floor": {
                row: {
                    "working_hours": round(self.mean_floor(row, WORKING_HOURS), 3),
                    "night": round(self.mean_floor(row, NIGHT_HOURS, weekdays=False), 3),
                }
                for row in ("fixed", "token-aware", "oracle")
            },
        }


def _work_rows(
    tape: ForecastTape, quantile: float, params: CapacityParams, role: str, *, tokens: bool
) -> np.ndarray:
    """The work per tape row and point at ``quantile``: on the token forecasts, or fixed lengths."""
    q = next(k for k in tape.rates if abs(k - quantile) < 1e-9)
    rates = tape.rates[q]
    shape = rates.shape

    def flat(column: str) -> np.ndarray | None:
        if not tokens or column not in tape.tokens:
            return None
        values = tape.tokens[column][q]
        return None if np.isnan(values).all() else values.ravel()

    demand = TokenRates(rates.ravel(), flat(PROMPT_TOKENS), flat(OUTPUT_TOKENS))
    return size_role(demand, params, role, utilization=1.0).exact_pods.reshape(shape)


def replay_tokens(
    frame: pd.DataFrame,
    start: pd.Timestamp,
    *,
    params: CapacityParams,
    role: str,
    pod: PodModel,
    policy: Policy,
    cadence: Cadence,
    cold_start: ColdStart,
    bounds: Bounds,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> TokenReplay:
    """Replay ``frame[start:]`` (1-minute UTC bins; the request column and the token columns the
    role reads) under the four floors of the module docstring, trained on the data before."""
    if frame.index.freq is None or pd.Timedelta(frame.index.freq) != pd.Timedelta(minutes=1):
        raise PlanningError("the token replay needs 1-minute bins")
    needed = [PROMPT_TOKENS] if role == "prefill" else [PROMPT_TOKENS, OUTPUT_TOKENS]
    lacking = [c for c in (REQUESTS, *needed) if c not in frame.columns]
    if lacking:
        raise PlanningError(f"the token replay of the {role} role needs the series {', '.join(lacking)}")
    before = frame[frame.index < start]
    prompt, output = average_lengths(before)
    if prompt is None or (role != "prefill" and output is None):
        raise PlanningError("no token data before the replay to take the fixed lengths from")
    fixed_params = params.model_copy(update={"prompt_tokens": prompt, "output_tokens": output})
    replay = frame[frame.index >= start]
    try:
        work = size_role(TokenRates.from_frame(replay), params, role, utilization=1.0).exact_pods
    except CapacityError as e:
        raise PlanningError(f"the token trace cannot be sized: {e}") from e
    tape = record_forecasts(
        frame[REQUESTS],
        start,
        pod=pod,
        cold_start=cold_start,
        policy=policy,
        cadence=cadence,
        progress=progress,
        seed=seed,
        token_history=frame[[c for c in (PROMPT_TOKENS, OUTPUT_TOKENS) if c in frame.columns]],
    )
    floor = policy.floor
    floors: dict[str, np.ndarray] = {}
    for row, sized, tokens in (("fixed", fixed_params, False), ("token-aware", params, True)):
        rows = _work_rows(tape, floor.quantile, sized, role, tokens=tokens)
        median = _work_rows(tape, 0.5, sized, role, tokens=tokens)
        floors[row] = replay_floor(tape, floor, pod=pod, bounds=bounds, work=(rows, median)).floor
    cluster = Cluster(
        pod_rps=1.0,
        utilization=floor.utilization,
        cold_start_s=cold_start.seconds,
        min_replicas=bounds.baseline,
        max_replicas=bounds.max_replicas,
        scale_down_window_s=floor.rules.scale_down_window_s,
        step_s=60.0,
    )
    floors["reactive"] = reactive_floor(len(work), cluster)
    floors["oracle"] = oracle_floor(work, cluster)
    outcomes = {row: simulate(work, floors[row], cluster) for row in ROWS}
    reason = size_role(TokenRates.from_frame(replay.iloc[:1]), params, role, utilization=1.0).reason
    return TokenReplay(
        role=role,
        index=pd.DatetimeIndex(replay.index),
        work=work,
        outcomes=outcomes,
        fixed_lengths=(float(prompt), None if output is None else float(output)),
        reason=reason,
    )
