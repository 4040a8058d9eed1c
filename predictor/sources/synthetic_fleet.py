"""What a fleet of synthetic vLLM pods exports in production, per pod and per minute (pure).

:func:`churning_fleet` is a day of load per pod with pods replaced now and then and slow while
they warm up; :func:`production_samples` turns it into what vLLM exports (requests, latency
histograms, gauges); :func:`as_pod_metrics` reads that the way Prometheus's ``rate()`` would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from predictor.capacity.observed import LatencyHistogram, PodMetrics
from predictor.sources.synthetic import daily_shape
from predictor.sources.synthetic_serving import TPOT_BUCKETS_S, TTFT_BUCKETS_S, PodState, SyntheticPod


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
