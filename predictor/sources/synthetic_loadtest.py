"""What ``vllm bench serve --save-result`` would write for a load test of a synthetic pod (pure).

:func:`bench_result` is one run at a request rate (open loop) or a concurrency level (closed
loop), in any of the three format generations; :func:`sweep` is one run per rate, named
``rate-8.json`` for 8 req/s. Run-to-run noise is seeded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from predictor.sources.synthetic_serving import LogNormal, PodState, SyntheticPod

GENERATIONS = ("vllm bench serve", "benchmark_serving.py", "benchmark_serving.py (oldest)")


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
