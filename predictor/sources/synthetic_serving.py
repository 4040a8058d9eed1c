"""A synthetic vLLM pod: load tests and per-pod metrics whose true capacity is known (pure).

:func:`bench_result` and :func:`sweep` write what a load test of one pod reports;
:func:`churning_fleet` and :func:`production_samples` what a fleet of them exports in production.

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
import pandas as pd

from predictor.capacity.observed import LatencyHistogram, PodMetrics
from predictor.capacity.slo import Slo
from predictor.sources.synthetic import daily_shape

# vLLM's bucket bounds, seconds (vllm/v1/metrics/loggers.py).
TTFT_BUCKETS_S = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                  7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
TPOT_BUCKETS_S = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
                  7.5, 10.0, 20.0, 40.0, 80.0)  # fmt: skip
GENERATIONS = ("vllm bench serve", "benchmark_serving.py", "benchmark_serving.py (oldest)")
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


def _noisy(rng: np.random.Generator, value: float, jitter: float) -> float:
    return value * float(np.exp(rng.normal(0.0, jitter))) if jitter else value


def bench_result(
    pod: SyntheticPod,
    *,
    request_rate: float = math.inf,
    max_concurrency: int | None = None,
    num_prompts: int = 1000,
    percentiles: Sequence[float] = (99,),
    metrics: Sequence[str] = ("ttft", "tpot", "itl"),
    generation: str = GENERATIONS[0],
    date: str = "20260302-101500",
    jitter: float = 0.01,
    seed: int = 0,
) -> dict[str, object]:
    """One run's result as ``--save-result`` writes it, for the chosen format ``generation``."""
    if generation not in GENERATIONS:
        raise ValueError(f"generation must be one of {GENERATIONS}")
    rng = np.random.default_rng([seed, round(min(request_rate, 1e9) * 1000), max_concurrency or 0])
    if max_concurrency is not None and math.isinf(request_rate):
        state = pod.closed_loop(max_concurrency)
    elif request_rate < pod.max_rps:
        state = pod.steady(request_rate)
    else:
        state = pod.overloaded(request_rate, num_prompts)
    e2e = state.ttft_mean_s + (pod.output_tokens - 1) * state.tpot.mean_s
    throughput = _noisy(rng, state.throughput_rps, jitter / 2)
    # From the first request sent to the last answer: the last arrival's own latency is included.
    if state.wait.rate is None and state.wait.p > 0:
        duration = num_prompts / throughput + pod.duration_s(state.busy)
    else:
        duration = num_prompts / throughput + e2e
    completed = num_prompts
    result: dict[str, object] = {"date": date, "backend": "vllm"}
    if generation == GENERATIONS[0]:
        result |= {"endpoint_type": "openai", "label": None}
    result |= {"model_id": pod.model_id, "tokenizer_id": pod.model_id}
    if generation == GENERATIONS[2]:
        result |= {"best_of": 1, "use_beam_search": False}
    result |= {
        "num_prompts": num_prompts,
        "request_rate": "inf" if math.isinf(request_rate) else request_rate,
    }
    if generation != GENERATIONS[2]:
        result |= {"burstiness": 1.0, "max_concurrency": max_concurrency}
    total_in, total_out = completed * pod.prompt_tokens, completed * pod.output_tokens
    result |= {"duration": duration, "completed": completed}
    if generation == GENERATIONS[0]:
        result |= {"failed": 0}
    result |= {
        "total_input_tokens": total_in,
        "total_output_tokens": total_out,
        "request_throughput": completed / duration,
        "request_goodput": None,
        "output_throughput": total_out / duration,
    }
    if generation == GENERATIONS[2]:
        result["input_throughput"] = total_in / duration
    else:
        result["total_token_throughput"] = (total_in + total_out) / duration
    if generation == GENERATIONS[0]:
        result |= {
            "max_output_tokens_per_s": state.busy / state.tpot.mean_s,
            "max_concurrent_requests": round(state.busy + state.waiting),
        }
    for metric in metrics:
        result |= _latency_keys(pod, state, metric, percentiles, rng, jitter)
    return result


def _latency_keys(
    pod: SyntheticPod,
    state: PodState,
    metric: str,
    percentiles: Sequence[float],
    rng: np.random.Generator,
    jitter: float,
) -> dict[str, float]:
    tokens = pod.output_tokens - 1
    if metric == "ttft":
        mean, std = state.ttft_mean_s, math.sqrt(state.ttft_service.var_s2 + state.wait.var_s2)

        def quantile(q: float) -> float:
            return state.ttft_quantile(q)
    elif metric in ("tpot", "itl"):
        # Per token, inter-token gaps spread wider than their per-request mean (TPOT).
        spread = state.tpot if metric == "tpot" else LogNormal(state.tpot.mean_s, 0.3)
        mean, std = spread.mean_s, math.sqrt(spread.var_s2)
        quantile = spread.quantile
    elif metric == "e2el":
        mean = state.ttft_mean_s + tokens * state.tpot.mean_s
        std = math.sqrt(state.ttft_service.var_s2 + state.wait.var_s2 + tokens**2 * state.tpot.var_s2)

        def quantile(q: float) -> float:
            return state.ttft_quantile(q) + tokens * state.tpot.quantile(q)
    else:
        raise ValueError(f"unknown metric {metric!r}")
    noise = _noisy(rng, 1.0, jitter)
    keys = {
        f"mean_{metric}_ms": mean * 1000 * noise,
        f"median_{metric}_ms": quantile(0.5) * 1000 * noise,
        f"std_{metric}_ms": std * 1000 * noise,
    }
    for p in percentiles:
        name = str(int(p)) if float(p).is_integer() else f"{p:g}"
        keys[f"p{name}_{metric}_ms"] = quantile(p / 100) * 1000 * noise
    return keys


def sweep(pod: SyntheticPod, rates: Sequence[float], **kwargs: object) -> list[tuple[str, dict[str, object]]]:
    """(file name, result) for a request-rate sweep: ``rate-8.json`` for 8 req/s."""
    return [(f"rate-{rate:g}.json", bench_result(pod, request_rate=rate, **kwargs)) for rate in rates]  # type: ignore[arg-type]


@dataclass(frozen=True)
class PodSamples:
    """Per-pod production metrics, per step (counts, not yet counters): requests completed, TTFT
    and TPOT histogram counts (cumulative by bound, the last ``math.inf``), the TTFT sum, and the
    gauges (requests running and waiting, KV-cache use). Frames are times × pods; NaN where a pod
    does not exist."""

    step_s: int
    requests: pd.DataFrame
    ttft_buckets: dict[float, pd.DataFrame]
    ttft_sum_s: pd.DataFrame
    tpot_buckets: dict[float, pd.DataFrame]
    running: pd.DataFrame
    waiting: pd.DataFrame
    kv_usage: pd.DataFrame


def production_samples(
    pod: SyntheticPod,
    load_rps: pd.DataFrame,
    *,
    slowdown: pd.DataFrame | None = None,
    step_s: int = 60,
    seed: int = 0,
) -> PodSamples:
    """What a fleet of identical pods exports when each gets ``load_rps`` (times × pods, NaN =
    the pod does not exist). ``slowdown`` stretches a pod's service times (warming up). Requests
    are Poisson per step; their TTFTs fall into buckets by the steady-state distribution."""
    rng = np.random.default_rng(seed)
    bounds = (*TTFT_BUCKETS_S, math.inf)
    tpot_bounds = (*TPOT_BUCKETS_S, math.inf)
    shape = load_rps.shape
    counts, ttft_sum = np.full(shape, np.nan), np.full(shape, np.nan)
    buckets = {b: np.full(shape, np.nan) for b in bounds}
    tpot_buckets = {b: np.full(shape, np.nan) for b in tpot_bounds}
    running, waiting, kv = (np.full(shape, np.nan) for _ in range(3))
    cache: dict[tuple[float, float], tuple[np.ndarray, np.ndarray, PodState]] = {}
    loads = load_rps.to_numpy()
    slow = np.ones(shape) if slowdown is None else slowdown.reindex_like(load_rps).fillna(1.0).to_numpy()
    limit = pod.max_rps * 0.995
    for (i, j), rate in np.ndenumerate(loads):
        if not np.isfinite(rate):
            continue
        rate = min(max(rate, 1e-3), limit)
        key = (round(float(rate), 2), round(float(slow[i, j]), 2))
        if key not in cache:
            state = pod.steady(key[0], slowdown=key[1])
            ttft = np.diff(np.concatenate([[0.0], state.ttft_cdf(np.array(TTFT_BUCKETS_S)), [1.0]]))
            tpot = np.diff(np.concatenate([[0.0], state.tpot.cdf(np.array(TPOT_BUCKETS_S)), [1.0]]))
            cache[key] = (np.clip(ttft, 0, None), np.clip(tpot, 0, None), state)
        ttft_p, tpot_p, state = cache[key]
        n = rng.poisson(rate * step_s)
        counts[i, j] = n
        ttft_sum[i, j] = n * state.ttft_mean_s
        for k, c in enumerate(np.cumsum(rng.multinomial(n, ttft_p / ttft_p.sum()))):
            buckets[bounds[k]][i, j] = c
        for k, c in enumerate(np.cumsum(rng.multinomial(n, tpot_p / tpot_p.sum()))):
            tpot_buckets[tpot_bounds[k]][i, j] = c
        running[i, j] = state.busy
        waiting[i, j] = state.waiting
        kv[i, j] = min(1.0, state.busy * (pod.prompt_tokens + pod.output_tokens / 2) / pod.kv_capacity_tokens)

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=load_rps.index, columns=load_rps.columns)

    return PodSamples(
        step_s=step_s,
        requests=frame(counts),
        ttft_buckets={b: frame(v) for b, v in buckets.items()},
        ttft_sum_s=frame(ttft_sum),
        tpot_buckets={b: frame(v) for b, v in tpot_buckets.items()},
        running=frame(running),
        waiting=frame(waiting),
        kv_usage=frame(kv),
    )


@dataclass(frozen=True)
class Fleet:
    """Per-minute load of each pod (NaN when it does not exist), its slowdown, and when the pods
    that started inside the day were born."""

    load_rps: pd.DataFrame
    slowdown: pd.DataFrame
    born: dict[str, pd.Timestamp]


def churning_fleet(
    start: pd.Timestamp,
    *,
    shape: np.ndarray | None = None,
    noise: float = 0.03,
    hours: float = 24,
    slots: int = 5,
    peak_per_pod_rps: float = 12.2,
    replace_every_min: int = 150,
    warm_min: int = 12,
    warm_slowdown: float = 6.0,
    prefix: str = "vllm",
    seed: int = 3,
) -> Fleet:
    """One day (``hours``) of a fleet of ``slots`` identical pods, one minute at a time.

    The fleet's load follows ``shape`` (relative, one value per minute, the peak at 1; default: the
    synthetic working day) so that its busiest minute asks ``peak_per_pod_rps`` of every pod, with
    log-normal ``noise``. Each slot's pod is replaced every ``replace_every_min`` (staggered by
    slot: spot preemption, a rollout); a new pod is ``warm_slowdown`` times slower and gets half a
    share of the load for ``warm_min`` minutes, which is what the warm-up exclusion is for.
    """
    minutes = round(hours * 60) if shape is None else len(shape)
    index = pd.date_range(start, periods=minutes, freq="60s")
    end = index[-1] + pd.Timedelta(seconds=60)
    spans: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    born: dict[str, pd.Timestamp] = {}
    for slot in range(slots):
        changes = [start + pd.Timedelta(minutes=90 + 24 * slot + replace_every_min * i) for i in range(100)]
        times = [start, *(t for t in changes if t < end)]
        for life, begin in enumerate(times):
            name = f"{prefix}-{slot}-{life}"
            spans[name] = (begin, times[life + 1] if life + 1 < len(times) else end)
            if life:
                born[name] = begin
    present = pd.DataFrame({n: (index >= b) & (index < e) for n, (b, e) in spans.items()}, index=index)
    warm = pd.DataFrame(
        {
            n: (index >= b) & (index < b + pd.Timedelta(minutes=warm_min)) & (n in born)
            for n, (b, _) in spans.items()
        },
        index=index,
    )
    rng = np.random.default_rng(seed)
    hour = (index.hour + index.minute / 60).to_numpy()
    relative = (0.1 + 0.9 * daily_shape(hour)) if shape is None else np.asarray(shape, dtype=float)
    total = relative * peak_per_pod_rps * slots * np.exp(rng.normal(0, noise, len(index)))
    share = np.where(warm, 0.5, 1.0) * present.to_numpy()
    share = share / share.sum(axis=1, keepdims=True)
    load = pd.DataFrame(share * total[:, None], index=index, columns=present.columns).where(present)
    slowdown = pd.DataFrame(np.where(warm, warm_slowdown, 1.0), index=index, columns=present.columns)
    return Fleet(load, slowdown, born)


def as_pod_metrics(
    samples: PodSamples, lives: dict[str, list[pd.Timestamp]], *, step_s: int = 300
) -> PodMetrics:
    """What Prometheus's ``rate()`` at a ``step_s`` step reads from ``samples``, without a server:
    each step's counts over its length, labelled by the step's end (the evaluation instant)."""

    def per_step(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.resample(f"{step_s}s", label="right", closed="left").sum(min_count=1) / step_s

    def mean(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.resample(f"{step_s}s", label="right", closed="left").mean()

    histograms = {
        "ttft": LatencyHistogram(
            "vllm:time_to_first_token_seconds", {b: per_step(f) for b, f in samples.ttft_buckets.items()}
        ),
        "tpot": LatencyHistogram(
            "vllm:request_time_per_output_token_seconds",
            {b: per_step(f) for b, f in samples.tpot_buckets.items()},
        ),
    }
    return PodMetrics(
        step_s=step_s,
        throughput_rps=per_step(samples.requests),
        histograms=histograms,
        lives=lives,
        in_flight=mean(samples.running + samples.waiting),
        kv_usage=mean(samples.kv_usage),
    )
