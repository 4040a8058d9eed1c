"""Capacity per pod at an objective, observed in production from vLLM's per-pod metrics (pure).

Input (:class:`PodMetrics`): per pod and per step, the requests it completed per second, its
latency histogram (the rate of requests at or below each bucket bound), and optionally its
requests in flight (running + waiting) and KV-cache usage.

The estimate:

1. **Warm-up.** A sample is left out when its step began less than ``warmup_s`` after the pod's
   series (re)appeared: a pod that has just started (cold caches, first compilations, a router
   still ramping it up) serves slower than it will, and counting it would under-report capacity
   and over-scale. A pod present from the start of what was read is older than that.
2. **Steady load.** A sample is also left out when its pod's load differs from the pod's
   previous or next sample by more than ``steadiness`` (10 %) and by more than counting noise: a
   5-minute step inside a burst or a steep ramp averages quiet minutes with saturated ones and
   reads as a miss at a moderate load.
3. **Binning by load.** The remaining samples (pod × step with requests) are put into equal-width
   bins of load per pod. In each bin the share of requests within the limit is pooled over its
   samples from the histogram: the requests at or below the limit (interpolated linearly between
   bucket bounds, as ``histogram_quantile`` does) over all requests. Pooling counts, rather than
   averaging per-sample percentiles, weighs each sample by its traffic. A bin needs
   ``min_samples`` samples and enough requests to see the tail (10 / (1 − q): 1,000 for p99).
4. **Monotone fit.** More load never makes a pod faster, so the share within the limit is fitted
   as a non-increasing function of load (weighted isotonic regression); one noisy bin cannot
   move the answer on its own.
5. **The crossing.** Capacity is where the fitted share falls below the percentile (0.99 for p99),
   interpolated linearly between the bins around it. With several objectives, the lowest crossing.

The answer says how much it can say (:attr:`ObservedCapacity.status`): ``measured`` (crossed
inside the loads seen), ``not-reached`` (met at every load seen: capacity is at least the highest),
``exceeded`` (missed at every load seen: capacity is below the lowest) or ``no-data``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from predictor.capacity.fitting import share_within
from predictor.capacity.load_bins import BinSamples, LoadBin, crossing_of, load_bins
from predictor.capacity.slo import Slo
from predictor.errors import CapacityError

Status = Literal["measured", "not-reached", "exceeded", "no-data"]
# Largest change of a pod's load to its neighbouring samples that keeps a sample (a fraction);
# chosen by leave-one-trace-out in bench/observed_capacity.py (see bench/RESULTS.md).
STEADINESS = 0.1


@dataclass(frozen=True)
class LatencyHistogram:
    """One cumulative latency histogram per pod: ``bucket_rps[le]`` is a frame (times × pods) of the
    rate of requests with latency ≤ ``le`` seconds, req/s; ``math.inf`` holds every request."""

    name: str
    bucket_rps: Mapping[float, pd.DataFrame]


@dataclass(frozen=True)
class PodMetrics:
    """What the metrics say about the pods of one target, on one grid of evaluation instants.

    Every frame has the same index (UTC instants; a sample covers the ``step_s`` before it) and one
    column per pod; NaN is missing, never zero. ``histograms`` maps an objective's metric
    (``ttft``...) to its histogram; ``lives`` maps a pod to the instants its series appeared (a
    pod already present at the first instant read has no entry for that life).
    """

    step_s: int
    throughput_rps: pd.DataFrame
    histograms: Mapping[str, LatencyHistogram]
    lives: Mapping[str, Sequence[pd.Timestamp]]
    in_flight: pd.DataFrame | None = None
    kv_usage: pd.DataFrame | None = None


@dataclass(frozen=True)
class ObservedCapacity:
    """Capacity per pod at the objectives as production shows it, with how sure it is and why.

    ``rps_per_pod`` is the crossing (``measured``), the highest load seen (``not-reached``, a lower
    bound), the lowest load seen (``exceeded``, an upper bound), or None (``no-data``).
    ``concurrency`` is the mean in-flight requests per pod there and ``kv_usage`` its KV-cache use.
    """

    status: Status
    rps_per_pod: float | None
    slos: tuple[Slo, ...]
    binding: Slo | None
    concurrency: float | None
    kv_usage: float | None
    pods: int
    pods_warming: int
    samples: int
    samples_warming: int
    requests: float
    bins: tuple[LoadBin, ...]
    reason: str
    notes: tuple[str, ...] = ()
    samples_unsteady: int = 0
    upper_rps: float | None = None  # not-reached: the objective was missed at this load, req/s

    @property
    def seconds_per_request(self) -> float | None:
        """Mean time a request spends in a pod at that load (Little's law), seconds."""
        if self.concurrency is None or not self.rps_per_pod:
            return None
        return self.concurrency / self.rps_per_pod

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "rps_per_pod": rounded(self.rps_per_pod),
            "slos": [slo.to_dict() for slo in self.slos],
            "binding": self.binding.key if self.binding else None,
            "concurrency": rounded(self.concurrency),
            "kv_usage": rounded(self.kv_usage),
            "pods": self.pods,
            "pods_warming": self.pods_warming,
            "samples": self.samples,
            "samples_warming": self.samples_warming,
            "samples_unsteady": self.samples_unsteady,
            "upper_rps": rounded(self.upper_rps),
            "requests": round(self.requests),
            "reason": self.reason,
            "notes": list(self.notes),
            "bins": [
                {
                    "load_rps": rounded(b.load_rps),
                    "samples": b.samples,
                    "requests": round(b.requests),
                    "within": [rounded(w) for w in b.within],
                    "fitted": [rounded(f) for f in b.fitted],
                }
                for b in self.bins
            ],
        }


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def unsteady_mask(load: pd.DataFrame, tolerance: float | None, step_s: float) -> np.ndarray:
    """True where a pod's load differs from its previous or next sample by more than
    ``tolerance`` (a fraction of the sample's own load) and by more than three standard deviations
    of Poisson counting noise over a ``step_s`` step: a step in a ramp or a burst averages quiet
    minutes with saturated ones, and reads as a miss at a moderate load."""
    if tolerance is None:
        return np.zeros(load.shape, dtype=bool)
    values = load.to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Two independent counts of n requests each differ by about sqrt(2 n): relative 3 sqrt(2 / n).
        noise = 3.0 * np.sqrt(2.0 / (values * step_s))
        limit = np.maximum(tolerance, noise)
        before = np.abs(values - load.shift(1).to_numpy(dtype=float)) / values
        after = np.abs(load.shift(-1).to_numpy(dtype=float) - values) / values
        return (np.nan_to_num(before, nan=0.0) > limit) | (np.nan_to_num(after, nan=0.0) > limit)


def warming_mask(metrics: PodMetrics, warmup_s: float) -> pd.DataFrame:
    """True where a sample's step began less than ``warmup_s`` after its pod's series appeared."""
    times = metrics.throughput_rps.index
    mask = pd.DataFrame(False, index=times, columns=metrics.throughput_rps.columns, dtype=bool)
    step = pd.Timedelta(seconds=metrics.step_s)
    warmup = pd.Timedelta(seconds=warmup_s)
    for pod in mask.columns:
        for born in metrics.lives.get(pod, ()):
            mask.loc[(times >= born) & (times - step < born + warmup), pod] = True
    return mask


def estimate_observed_capacity(
    metrics: PodMetrics,
    slos: Sequence[Slo],
    *,
    warmup_s: float,
    bins: int = 20,
    min_samples: int = 3,
    steadiness: float | None = STEADINESS,
) -> ObservedCapacity:
    """Capacity per pod at ``slos`` from ``metrics`` (see the module docstring); ``steadiness``
    is the largest change of a pod's load to its neighbouring samples that keeps a sample (None:
    keep every sample)."""
    if not slos:
        raise CapacityError("observed capacity needs at least one objective (e.g. ttft_p99_s: 0.5)")
    missing = [slo.metric for slo in slos if slo.metric not in metrics.histograms]
    if missing:
        raise CapacityError(f"no latency histogram read for {', '.join(missing)}")
    load = metrics.throughput_rps
    warming = warming_mask(metrics, warmup_s).to_numpy(dtype=bool)
    first = metrics.histograms[slos[0].metric].bucket_rps
    if math.inf not in first:
        raise CapacityError("a latency histogram needs its +Inf bucket (the count of all requests)")
    counted = first[math.inf].reindex_like(load).to_numpy()
    rates = load.to_numpy()
    with np.errstate(invalid="ignore"):
        seen = np.isfinite(rates) & (rates > 0) & np.isfinite(counted) & (counted > 0)
    unsteady = unsteady_mask(load, steadiness, metrics.step_s) & seen & ~warming
    used = seen & ~warming & ~unsteady
    tally = Tally(
        pods=int(seen.any(axis=0).sum()),
        pods_warming=int((seen & warming).any(axis=0).sum()),
        samples=int(used.sum()),
        samples_warming=int((seen & warming).sum()),
        warmup_s=warmup_s,
        samples_unsteady=int(unsteady.sum()),
    )
    if tally.samples == 0:
        return tally.capacity("no-data", slos, 0.0, (), "no samples with requests" + tally.outside())
    samples = _samples(metrics, slos, used)
    requests = float(samples.total[0].sum())
    found = load_bins(samples, slos, bins=bins, min_samples=min_samples)
    # Bins next to each other are one bin width apart; a crossing across more than two widths of
    # unseen load is not measured.
    max_gap_rps = 2.5 * float(samples.load.max() - samples.load.min()) / bins
    if not found:
        tail = f"too few requests per load bin to see the {slos[0].stat} tail"
        return tally.capacity("no-data", slos, requests, (), tail)
    observed = _crossing(found, slos, tally, requests, max_gap_rps)
    return replace(observed, notes=_resolution_notes(metrics, slos))


def _resolution_notes(metrics: PodMetrics, slos: Sequence[Slo]) -> tuple[str, ...]:
    """A limit between two bucket bounds is read by interpolation, which is only as good as the
    assumption that latencies spread evenly inside the bucket: say so."""
    notes = []
    for slo in slos:
        histogram = metrics.histograms[slo.metric]
        bounds = sorted(b for b in histogram.bucket_rps if math.isfinite(b))
        if any(math.isclose(b, slo.limit_s, rel_tol=1e-9) for b in bounds):
            continue
        lower = max((b for b in bounds if b < slo.limit_s), default=0.0)
        upper = min((b for b in bounds if b > slo.limit_s), default=math.inf)
        notes.append(
            f"{slo.label}: the limit lies between {histogram.name}'s bucket bounds {lower:g} and "
            f"{upper:g} s, so the share within it is interpolated and can be far off; "
            "an objective at a bucket bound is read exactly"
        )
    return tuple(notes)


@dataclass(frozen=True)
class Tally:
    """How many pods and samples an estimate saw, and how many it left out as warming up."""

    pods: int
    pods_warming: int
    samples: int
    samples_warming: int
    warmup_s: float
    samples_unsteady: int = 0

    def outside(self) -> str:
        return f" outside the first {self.warmup_s / 60:g} min of a pod" if self.samples_warming else ""

    def where(self) -> str:
        text = f"from {self.samples:,} samples of {self.pods} pods"
        if self.samples_warming:
            text += (
                f"; {self.samples_warming:,} samples of {self.pods_warming} pods in their first "
                f"{self.warmup_s / 60:g} min left out"
            )
        if self.samples_unsteady:
            text += f"; {self.samples_unsteady:,} samples in a ramp or a burst left out"
        return text

    def capacity(
        self,
        status: Status,
        slos: Sequence[Slo],
        requests: float,
        bins: tuple[LoadBin, ...],
        reason: str,
        *,
        rps_per_pod: float | None = None,
        binding: Slo | None = None,
        concurrency: float | None = None,
        kv_usage: float | None = None,
        upper_rps: float | None = None,
    ) -> ObservedCapacity:
        """The estimate with this tally's counts (see :class:`ObservedCapacity` for the fields)."""
        return ObservedCapacity(
            status=status,
            rps_per_pod=rps_per_pod,
            slos=tuple(slos),
            binding=binding,
            concurrency=concurrency,
            kv_usage=kv_usage,
            pods=self.pods,
            pods_warming=self.pods_warming,
            samples=self.samples,
            samples_warming=self.samples_warming,
            samples_unsteady=self.samples_unsteady,
            requests=requests,
            bins=bins,
            reason=reason,
            upper_rps=upper_rps,
        )


def _samples(metrics: PodMetrics, slos: Sequence[Slo], used: np.ndarray) -> BinSamples:
    load = metrics.throughput_rps

    def pick(frame: pd.DataFrame) -> np.ndarray:
        return frame.reindex_like(load).to_numpy()[used]

    within, total = [], []
    for slo in slos:
        buckets = {le: pick(frame) for le, frame in metrics.histograms[slo.metric].bucket_rps.items()}
        inside, count = share_within(buckets, slo.limit_s)
        within.append(np.nan_to_num(inside) * metrics.step_s)
        total.append(np.nan_to_num(count) * metrics.step_s)
    return BinSamples(
        load=pick(load),
        within=tuple(within),
        total=tuple(total),
        in_flight=None if metrics.in_flight is None else pick(metrics.in_flight),
        kv_usage=None if metrics.kv_usage is None else pick(metrics.kv_usage),
    )


def _crossing(
    found: list[LoadBin], slos: Sequence[Slo], tally: Tally, requests: float, max_gap_rps: float
) -> ObservedCapacity:
    """Where each objective's fitted share first falls below its percentile; the lowest wins."""
    crossings = [c for i, slo in enumerate(slos) if (c := crossing_of(found, i, slo, max_gap_rps))]
    status: Status
    upper: float | None = None
    if not crossings:
        top = found[-1]
        label = " and ".join(slo.label for slo in slos)
        status, rps, binding, in_flight, kv = "not-reached", top.load_rps, None, top.in_flight, top.kv_usage
        reason = (
            f"{label} held at every load seen, up to {rps:.3g} req/s per pod "
            f"(capacity is at least that), {tally.where()}"
        )
    else:
        first = min(crossings, key=lambda c: c.rps)
        rps, binding, in_flight, kv = first.rps, first.slo, first.in_flight, first.kv_usage
        if first.kind == "exceeded":
            status = "exceeded"
            reason = (
                f"{first.slo.label} missed even at the lowest load seen, {rps:.3g} req/s per pod "
                f"(capacity is below that), {tally.where()}"
            )
        elif first.kind == "gap":
            status = "not-reached"
            upper = min([first.upper or math.inf, *(c.rps for c in crossings if c is not first)])
            reason = (
                f"{first.slo.label} held up to {rps:.3g} req/s per pod and was missed at {upper:.3g}, "
                f"with no load seen between (capacity is at least {rps:.3g}), {tally.where()}"
            )
        else:
            status = "measured"
            reason = f"{first.slo.label} is crossed at {rps:.3g} req/s per pod, {tally.where()}"
    return tally.capacity(
        status,
        slos,
        requests,
        tuple(found),
        reason,
        rps_per_pod=rps,
        binding=binding,
        concurrency=in_flight,
        kv_usage=kv,
        upper_rps=upper,
    )
