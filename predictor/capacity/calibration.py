"""From a load-test sweep of one pod to the numbers a serving profile sizes with (pure).

A sweep is a set of runs of ``vllm bench serve`` against one pod, one run per request rate or
concurrency level. Ordered by the load offered, latency stays flat while the pod has spare slots
and rises once it saturates. Given latency objectives, the **knee** is the run with the highest
load per pod that still meets all of them:

- load per pod is the throughput the run achieved (``request_throughput``, req/s), not the rate it
  offered: past saturation a pod completes fewer requests than it is sent;
- the knee ends the first stretch of passing runs. A run that passes again above a failing one is
  noise (a benchmark's own variance), reported in the notes, never taken as the knee;
- a run whose failed requests exceed what the percentile allows (more than 1 % for p99) misses;
- if every run meets the objectives, the knee is only a lower bound (say so; extend the sweep);
  if none does, there is no knee (:meth:`Calibration.require_knee` says how to fix the sweep).

The numbers at the knee, each measured rather than assumed:

- ``ttft_s`` and ``tpot_s``: the **means** at the knee, because the formula's duration
  ``D = TTFT + output × TPOT`` is the mean time a request holds a slot (Little's law needs the mean);
- ``prompt_tokens`` and ``output_tokens``: ``total_input_tokens`` and ``total_output_tokens`` over
  ``completed``;
- the mean end-to-end latency: ``mean_e2el_ms`` when the run measured it, else derived per vLLM's
  own definition of TPOT as ``TTFT + (output − 1) × TPOT``;
- concurrency at the knee by Little's law: ``request_throughput × mean end-to-end latency``;
  ``max_concurrency`` is that, rounded down, so the formula never claims more than was measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from predictor.capacity.formula import PodModel
from predictor.capacity.slo import Slo
from predictor.errors import CapacityError

# Mean prompt or output lengths that differ by more than this across runs were not one workload.
_SHAPE_TOLERANCE = 0.1


@dataclass(frozen=True)
class BenchRun:
    """One run of a load test, as its result file reports it. Latencies keep the file's keys (ms)."""

    source: str
    request_rate: float  # offered, req/s; math.inf = all requests at once
    max_concurrency: int | None
    duration_s: float
    completed: int
    failed: int | None
    request_throughput: float  # achieved, req/s
    total_input_tokens: int
    total_output_tokens: int
    latencies_ms: Mapping[str, float]  # e.g. {"mean_ttft_ms": 41.2, "p99_ttft_ms": 130.5}
    num_prompts: int | None = None
    output_throughput: float | None = None
    date: str | None = None
    model_id: str | None = None
    generation: str = "vllm bench serve"

    @property
    def mean_prompt_tokens(self) -> float:
        return self.total_input_tokens / self.completed

    @property
    def mean_output_tokens(self) -> float:
        return self.total_output_tokens / self.completed

    @property
    def failed_share(self) -> float:
        failed = self.failed or 0
        return failed / (failed + self.completed)

    def latency_s(self, metric: str, stat: str) -> float | None:
        """The ``stat`` (``mean``, ``median``, ``p99``) of ``metric`` in seconds, None if not measured."""
        value = self.latencies_ms.get(f"{stat}_{metric}_ms")
        return None if value is None else value / 1000.0

    @property
    def offered(self) -> str:
        """The load this run offered, as a person reads it: ``8 req/s``, ``32 concurrent``."""
        parts = []
        if math.isfinite(self.request_rate):
            parts.append(f"{self.request_rate:g} req/s")
        if self.max_concurrency is not None:
            parts.append(f"{self.max_concurrency} concurrent")
        return ", ".join(parts) or "all at once"

    def sort_key(self) -> tuple[float, float]:
        return (self.request_rate, math.inf if self.max_concurrency is None else self.max_concurrency)


@dataclass(frozen=True)
class SweepPoint:
    """One run judged against the objectives. ``values_s`` follow the order of the objectives."""

    run: BenchRun
    values_s: tuple[float, ...]
    meets: bool
    misses: tuple[str, ...]  # why it misses, one phrase per objective or failure share
    e2e_s: float
    e2e_derived: bool

    @property
    def rps(self) -> float:
        """Load per pod: the throughput the run achieved, req/s."""
        return self.run.request_throughput

    @property
    def concurrency(self) -> float:
        """Requests in the pod on average, by Little's law: throughput × mean end-to-end latency."""
        return self.run.request_throughput * self.e2e_s


@dataclass(frozen=True)
class Calibration:
    """The sweep, the knee and what it implies. ``knee`` is None when no run meets the objectives."""

    slos: tuple[Slo, ...]
    points: tuple[SweepPoint, ...]
    knee_index: int | None
    lower_bound: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def knee(self) -> SweepPoint | None:
        return None if self.knee_index is None else self.points[self.knee_index]

    @property
    def first_miss(self) -> SweepPoint | None:
        """The run right above the knee (the first that misses), if the sweep has one."""
        index = 0 if self.knee_index is None else self.knee_index + 1
        return self.points[index] if index < len(self.points) else None

    @property
    def slo_label(self) -> str:
        return " and ".join(slo.label for slo in self.slos)

    def require_knee(self) -> SweepPoint:
        """The knee, or a CapacityError in one line saying why there is none and what to do."""
        if self.knee is not None:
            return self.knee
        lowest = self.points[0]
        return _raise(
            f"no run meets {self.slo_label}: even the lowest load ({lowest.run.offered}, "
            f"{lowest.run.source}) has {'; '.join(lowest.misses)}; sweep lower loads or relax the objective"
        )

    def crossing_rps(self) -> float | None:
        """Where the objectives are crossed between the knee and the first miss, by linear
        interpolation of each missed latency against load per pod (req/s); None without both runs."""
        knee, miss = self.knee, self.first_miss
        if knee is None or miss is None:
            return None
        if miss.rps <= knee.rps:  # saturated: more load completed no more requests
            return knee.rps
        found = [miss.rps]
        for slo, before, after in zip(self.slos, knee.values_s, miss.values_s, strict=True):
            if after > slo.limit_s and after > before:
                share = (slo.limit_s - before) / (after - before)
                found.append(knee.rps + share * (miss.rps - knee.rps))
        return min(found)

    def capacity_numbers(self) -> dict[str, float | int]:
        """The profile's capacity numbers measured at the knee (see the module docstring)."""
        knee = self.require_knee()
        ttft = knee.run.latency_s("ttft", "mean")
        tpot = knee.run.latency_s("tpot", "mean")
        if ttft is None or tpot is None:
            missing = "mean_ttft_ms" if ttft is None else "mean_tpot_ms"
            _raise(f"{knee.run.source}: no {missing}; the profile's TTFT and TPOT are the means at the knee")
        return {
            "ttft_s": round(float(ttft), 6),
            "tpot_s": round(float(tpot), 6),
            "prompt_tokens": round(knee.run.mean_prompt_tokens),
            "output_tokens": max(1, round(knee.run.mean_output_tokens)),
            "max_concurrency": max(1, math.floor(knee.concurrency + 1e-9)),
        }


def _raise(message: str) -> NoReturn:
    raise CapacityError(message)


def _e2e_mean_s(run: BenchRun) -> tuple[float, bool]:
    measured = run.latency_s("e2el", "mean")
    if measured is not None:
        return measured, False
    ttft, tpot = run.latency_s("ttft", "mean"), run.latency_s("tpot", "mean")
    if ttft is None or tpot is None:
        raise CapacityError(
            f"{run.source}: no mean_e2el_ms, and no mean_ttft_ms and mean_tpot_ms to derive it from"
        )
    return ttft + max(0.0, run.mean_output_tokens - 1.0) * tpot, True


def _stats_present(run: BenchRun, metric: str) -> list[str]:
    suffix = f"_{metric}_ms"
    return sorted(key.removesuffix(suffix) for key in run.latencies_ms if key.endswith(suffix))


def _judge(run: BenchRun, slos: Sequence[Slo]) -> SweepPoint:
    values, misses = [], []
    for slo in slos:
        value = run.latency_s(slo.metric, slo.stat)
        if value is None:
            have = ", ".join(f"{stat}_{slo.metric}_ms" for stat in _stats_present(run, slo.metric))
            how = (
                f"--percentile-metrics with {slo.metric}"
                if not have
                else f"--metric-percentiles {slo.stat[1:]}"
            )
            raise CapacityError(
                f"{run.source}: no {slo.stat}_{slo.metric}_ms for the objective {slo.label} "
                f"(the file has {have or f'no {slo.metric} statistics'}); run the load test with {how}"
            )
        values.append(value)
        if value > slo.limit_s:
            misses.append(f"{slo.metric.upper()} {slo.stat} {value:.3g} s > {slo.limit_s:g} s")
    allowed = min(1.0 - slo.quantile for slo in slos)
    if run.failed_share > allowed:
        misses.append(f"{run.failed} failed requests ({run.failed_share:.1%} > {allowed:.1%})")
    e2e, derived = _e2e_mean_s(run)
    return SweepPoint(run, tuple(values), not misses, tuple(misses), e2e, derived)


def _check_one_workload(runs: Sequence[BenchRun]) -> list[str]:
    models = {run.model_id for run in runs if run.model_id}
    if len(models) > 1:
        shown = ", ".join(f"{run.source}: {run.model_id}" for run in runs if run.model_id)
        raise CapacityError(f"the runs are of different models ({shown}); calibrate one model at a time")
    notes = []
    for name, values in (
        ("prompt", [run.mean_prompt_tokens for run in runs]),
        ("output", [run.mean_output_tokens for run in runs]),
    ):
        low, high = min(values), max(values)
        if high > low * (1 + _SHAPE_TOLERANCE):
            notes.append(
                f"mean {name} length varies from {low:.0f} to {high:.0f} tokens across runs; "
                "a sweep should vary only the load"
            )
    return notes


def calibrate(runs: Sequence[BenchRun], slos: Sequence[Slo]) -> Calibration:
    """Judge every run against ``slos`` and find the knee (see the module docstring)."""
    if not slos:
        raise CapacityError("give at least one objective, e.g. --slo-ttft-p99 0.5")
    if not runs:
        raise CapacityError("no runs to calibrate from")
    notes = _check_one_workload(runs)
    points = tuple(_judge(run, slos) for run in sorted(runs, key=BenchRun.sort_key))
    knee_index: int | None = None
    for index, point in enumerate(points):
        if not point.meets:
            break
        knee_index = index
    lower_bound = knee_index == len(points) - 1
    start = 0 if knee_index is None else knee_index + 1
    again = [p.run.source for p in points[start:] if p.meets]
    if again and knee_index is not None:
        notes.append(
            f"{', '.join(again)} meet{'s' if len(again) == 1 else ''} the objectives again above a run "
            "that misses; taken as noise: the knee ends the first passing stretch"
        )
    if lower_bound:
        notes.append(
            "every run meets the objectives: the knee is at least the highest load tested; "
            "extend the sweep to higher loads to find it"
        )
    if any(p.e2e_derived for p in points):
        notes.append("end-to-end latency derived as TTFT + (output − 1) × TPOT (the runs have no e2el)")
    return Calibration(tuple(slos), points, knee_index, lower_bound, tuple(notes))


def knee_pod_model(rps_per_pod: float, concurrency: float, role: str = "aggregated") -> PodModel:
    """A pod that serves exactly ``rps_per_pod`` at full use: the benchmark's answer, for :func:`size`.

    ``concurrency`` (Little's law at the knee) over ``rps_per_pod`` is the time a request spends in
    the pod, so ``rps_per_pod(u)`` is ``u × rps_per_pod``: a pod is asked for ``u`` of its knee.
    """
    if not (math.isfinite(rps_per_pod) and rps_per_pod > 0):
        raise CapacityError(f"the knee's load per pod must be a finite number > 0, got {rps_per_pod}")
    if not (math.isfinite(concurrency) and concurrency > 0):
        raise CapacityError(f"the knee's concurrency must be a finite number > 0, got {concurrency}")
    return PodModel(
        role=role,
        seconds_per_request=concurrency / rps_per_pod,
        concurrency=concurrency,
        limited_by="benchmark",
        kv_bound=None,
        compute_bound=None,
    )
