"""A synthetic vLLM pod: load tests and per-pod metrics whose true capacity is known (pure).

What a load test of it reports is in :mod:`predictor.sources.synthetic_loadtest`; what a fleet of
such pods exports in production, in :mod:`predictor.sources.synthetic_fleet`.

The tests, the README's worked example and ``predictor profiles sweep-example`` use it; no GPU
needed. The pod is a queue with ``max_num_seqs`` slots:

- a request holds a slot for ``D(b) = TTFT_service(b) + (output − 1) × TPOT(b)`` seconds, where
  ``b`` is the mean number of busy slots: TPOT rises linearly with the batch (decode reads more KV
  cache per step) and prefill slows as it shares steps with a fuller batch;
- at an arrival rate λ below saturation, ``b = λ × D(b)`` (Little's law) and a request waits for a
  slot with Erlang C's probability, the wait being exponential (M/M/c with c = max_num_seqs);
- TTFT is the log-normal service time plus that wait; TPOT is log-normal around ``TPOT(b)``;
- at or above saturation (``λ ≥ max_num_seqs / D(max_num_seqs)``) a finite load test's queue grows:
  the k-th request waits ``k × (1/μ − 1/λ)``, so latency keeps rising with the load and the
  throughput stays at μ. Just below saturation (above about 95 % of μ) the stationary queue is
  longer than a finite test builds, so sweep rates there are not monotone; sweeps skip that band.

:meth:`SyntheticPod.truth_rps` is the highest arrival rate at which an objective holds, solved on
the same distributions, so an estimate can be scored against it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from predictor.capacity.slo import Slo

# vLLM's bucket bounds, seconds (vllm/v1/metrics/loggers.py).
TTFT_BUCKETS_S = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                  7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
TPOT_BUCKETS_S = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
                  7.5, 10.0, 20.0, 40.0, 80.0)  # fmt: skip
_NORMAL = NormalDist()
_GRID = 250  # points of the numeric convolution of service time and wait


def _erf(x: np.ndarray) -> np.ndarray:
    """erf, vectorised (Abramowitz and Stegun 7.1.26; absolute error below 1.5e-7)."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


@dataclass(frozen=True)
class Wait:
    """A queue wait: none with probability 1 − ``p``; else exponential with ``rate`` (1/s), or,
    with ``rate`` None, uniform on [0, ``span_s``] (a queue growing through a finite test)."""

    p: float
    rate: float | None = None
    span_s: float = 0.0

    @property
    def mean_s(self) -> float:
        if self.p == 0:
            return 0.0
        return self.p / self.rate if self.rate else self.span_s / 2

    @property
    def var_s2(self) -> float:
        if self.p == 0:
            return 0.0
        if self.rate:
            return 2 * self.p / self.rate**2 - (self.p / self.rate) ** 2
        return self.span_s**2 / 12

    def cdf(self, t: np.ndarray) -> np.ndarray:
        t = np.maximum(np.asarray(t, dtype=float), 0.0)
        if self.p == 0:
            return np.ones_like(t)
        if self.rate:
            return 1 - self.p * np.exp(-self.rate * t)
        return np.minimum(1.0, t / self.span_s) if self.span_s > 0 else np.ones_like(t)


@dataclass(frozen=True)
class LogNormal:
    """A log-normal latency with mean ``mean_s`` and log-spread ``sigma``."""

    mean_s: float
    sigma: float

    @property
    def mu(self) -> float:
        return math.log(self.mean_s) - self.sigma**2 / 2

    def cdf(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(t, 1e-300)) - self.mu) / (self.sigma * math.sqrt(2))
        return np.where(t > 0, 0.5 * (1 + _erf(z)), 0.0)

    def quantile(self, q: float) -> float:
        return math.exp(self.mu + self.sigma * _NORMAL.inv_cdf(q))

    @property
    def var_s2(self) -> float:
        return (math.exp(self.sigma**2) - 1) * self.mean_s**2


def sum_cdf(service: LogNormal, wait: Wait, t: Sequence[float] | np.ndarray) -> np.ndarray:
    """P(service + wait ≤ t) for each t, by numeric convolution over the wait."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    if wait.p == 0:
        return service.cdf(t)
    fractions = np.linspace(0.0, 1.0, _GRID)
    w = np.maximum(t, 0.0)[:, None] * fractions[None, :]  # one wait grid per t
    steps = np.diff(wait.cdf(w), axis=1)  # the continuous part; the mass 1 - p sits at zero
    middle = (w[:, 1:] + w[:, :-1]) / 2
    inside = np.sum(steps * service.cdf(t[:, None] - middle), axis=1)
    return np.where(t > 0, (1 - wait.p) * service.cdf(t) + inside, 0.0)


def sum_quantile(service: LogNormal, wait: Wait, q: float) -> float:
    """The q-quantile of service + wait: bracketed on a coarse grid, then found on a fine one."""
    high = service.quantile(q) + wait.span_s + 1.0
    if wait.rate:
        high += max(0.0, math.log(max(wait.p, 1e-12) / (1 - q))) / wait.rate
    while sum_cdf(service, wait, [high])[0] < q:
        high *= 2
    low = 0.0
    for points in (100, 100):
        grid = np.linspace(low, high, points)
        above = int(np.argmax(sum_cdf(service, wait, grid) >= q))
        low, high = float(grid[max(0, above - 1)]), float(grid[above])
    return high


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with ``offered`` Erlangs (< servers)."""
    b = 1.0
    for k in range(1, servers + 1):
        b = offered * b / (k + offered * b)
    rho = offered / servers
    return b / (1 - rho * (1 - b))


@dataclass(frozen=True)
class PodState:
    """What one pod looks like at one load: latency distributions, throughput, slots in use."""

    throughput_rps: float
    busy: float
    ttft_service: LogNormal
    wait: Wait
    tpot: LogNormal
    waiting: float  # requests queued for a slot, on average

    def ttft_cdf(self, t: Sequence[float] | np.ndarray) -> np.ndarray:
        return sum_cdf(self.ttft_service, self.wait, t)

    def ttft_quantile(self, q: float) -> float:
        return sum_quantile(self.ttft_service, self.wait, q)

    @property
    def ttft_mean_s(self) -> float:
        return self.ttft_service.mean_s + self.wait.mean_s


@dataclass(frozen=True)
class SyntheticPod:
    """One vLLM pod; the defaults resemble Llama-3-8B on 2x L40S with max_num_seqs 64."""

    max_num_seqs: int = 64
    prompt_tokens: int = 1000
    output_tokens: int = 250
    prefill_s: float = 0.04  # prefill of one prompt on an idle pod
    prefill_interference: float = 1.5  # prefill slows by this fraction at a full batch
    tpot_base_s: float = 0.012
    tpot_per_seq_s: float = 0.00012
    ttft_sigma: float = 0.5
    tpot_sigma: float = 0.12
    kv_capacity_tokens: int = 500_000
    model_id: str = "meta-llama/Meta-Llama-3-8B-Instruct"

    def tpot_s(self, busy: float) -> float:
        return self.tpot_base_s + self.tpot_per_seq_s * busy

    def ttft_service_s(self, busy: float) -> float:
        return self.prefill_s * (1 + self.prefill_interference * busy / self.max_num_seqs)

    def duration_s(self, busy: float) -> float:
        return self.ttft_service_s(busy) + (self.output_tokens - 1) * self.tpot_s(busy)

    @property
    def max_rps(self) -> float:
        """Throughput of a saturated pod, req/s."""
        return self.max_num_seqs / self.duration_s(self.max_num_seqs)

    def steady(self, rate: float, *, slowdown: float = 1.0) -> PodState:
        """The steady state at ``rate`` < :attr:`max_rps`; ``slowdown`` stretches service times
        (a pod warming up)."""
        if not 0 < rate < self.max_rps:
            raise ValueError(f"a steady state needs 0 < rate < {self.max_rps:.3f}, got {rate}")
        # D(b) = d0 + d1 b, so b = rate × D(b) solves in closed form.
        d0 = self.duration_s(0)
        d1 = (self.duration_s(self.max_num_seqs) - d0) / self.max_num_seqs
        busy = min(rate * d0 / (1 - rate * d1), self.max_num_seqs - 1e-6)
        duration = self.duration_s(busy) * slowdown
        offered = rate * duration
        if offered >= self.max_num_seqs:
            offered = self.max_num_seqs * (1 - 1e-6)
        p = erlang_c(self.max_num_seqs, offered)
        theta = (self.max_num_seqs - offered) / duration
        return PodState(
            throughput_rps=rate,
            busy=busy,
            ttft_service=LogNormal(self.ttft_service_s(busy) * slowdown, self.ttft_sigma),
            wait=Wait(p, theta),
            tpot=LogNormal(self.tpot_s(busy) * slowdown, self.tpot_sigma),
            waiting=p * rate / theta,
        )

    def overloaded(self, rate: float, num_prompts: int) -> PodState:
        """A finite load test at or above saturation: the queue grows through the run."""
        mu = self.max_rps
        busy = float(self.max_num_seqs)
        span = num_prompts * (1 / mu - (0.0 if math.isinf(rate) else 1 / rate))
        return PodState(
            throughput_rps=mu,
            busy=busy,
            ttft_service=LogNormal(self.ttft_service_s(busy), self.ttft_sigma),
            wait=Wait(1.0, None, max(span, 1e-6)),
            tpot=LogNormal(self.tpot_s(busy), self.tpot_sigma),
            waiting=mu * span / 2,
        )

    def closed_loop(self, concurrency: int) -> PodState:
        """``concurrency`` clients sending back to back (``--max-concurrency`` with rate inf)."""
        busy = float(min(concurrency, self.max_num_seqs))
        throughput = busy / self.duration_s(busy)
        queued = max(0, concurrency - self.max_num_seqs)
        return PodState(
            throughput_rps=throughput,
            busy=busy,
            ttft_service=LogNormal(self.ttft_service_s(busy), self.ttft_sigma),
            wait=Wait(1.0 if queued else 0.0, None, 2 * queued / throughput),
            tpot=LogNormal(self.tpot_s(busy), self.tpot_sigma),
            waiting=float(queued),
        )

    def meets(self, state: PodState, slo: Slo) -> bool:
        """Whether ``state`` meets ``slo``: the share of requests within the limit is at least q."""
        if slo.metric == "ttft":
            within = state.ttft_cdf([slo.limit_s])[0]
        elif slo.metric in ("tpot", "itl"):
            within = state.tpot.cdf(np.array([slo.limit_s]))[0]
        else:
            raise ValueError(f"the synthetic pod models ttft, tpot and itl, not {slo.metric}")
        return bool(within >= slo.quantile)

    def truth_rps(self, slo: Slo) -> float:
        """The highest steady arrival rate at which ``slo`` holds, req/s (bisection)."""
        low, high = 1e-6, self.max_rps * (1 - 1e-9)
        if not self.meets(self.steady(low), slo):
            return 0.0
        if self.meets(self.steady(high), slo):
            return high
        for _ in range(40):
            mid = (low + high) / 2
            if self.meets(self.steady(mid), slo):
                low = mid
            else:
                high = mid
        return low
