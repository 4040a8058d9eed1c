"""The capacity formula: Little's law with KV-cache and compute bounds, per serving role.

Aggregated serving (prefill and decode in one pod)::

    D = TTFT + output_tokens * TPOT                      seconds a request stays in the pod
    C = min(kv_capacity_tokens / (prompt + output), max_concurrency)
    pods = ceil(rps * D / (C * u))                       u = target utilisation
    pods_with_buffer = ceil(pods * (1 + buffer))

Disaggregated serving sizes each role on its own work:

- prefill: ``ceil(rps * prompt * (1 - prefix_cache_hit_rate) / (prefill_tokens_per_s * u))``;
- decode:  ``ceil(rps * output * TPOT / (C * u))`` with the same ``C`` as above.

All three have one shape, ``pods = ceil(in_flight / (C * u))``, where ``in_flight`` is the
average number of requests being worked on (Little's law: arrival rate times time in service).
For prefill the "concurrency" of a pod is 1: it works through its token budget as one stream.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from predictor.errors import CapacityError

Role = Literal["aggregated", "prefill", "decode"]
ROLES: tuple[str, ...] = get_args(Role)
# benchmark / observed: a pod model measured as a whole (a load test's knee, production metrics).
LimitedBy = Literal["kv_cache", "compute", "prefill_throughput", "benchmark", "observed"]

# ceil() of a float product can land one pod too high when the exact value is an integer
# (e.g. 6.000000000001); this tolerance absorbs that rounding noise and nothing more.
_CEIL_TOLERANCE = 1e-9


class CapacityParams(BaseModel):
    """What one pod of a model on given hardware can serve, and the request shape it serves.

    Every field is optional here because a serving role needs only some of them;
    :func:`pod_model` names the ones a role is missing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ttft_s: float | None = Field(
        None, gt=0, description="Typical time to first token of one request, seconds (includes prefill)."
    )
    tpot_s: float | None = Field(
        None, gt=0, description="Typical time per output token while decoding, seconds."
    )
    prompt_tokens: int | None = Field(None, ge=0, description="Average prompt length, tokens.")
    output_tokens: int | None = Field(None, gt=0, description="Average output length, tokens.")
    kv_capacity_tokens: int | None = Field(
        None, gt=0, description="KV-cache capacity of one pod, tokens (what vLLM reports at start-up)."
    )
    max_concurrency: int | None = Field(
        None,
        gt=0,
        description="Compute-limited effective batch of one pod, requests (vLLM max_num_seqs or lower).",
    )
    prefill_tokens_per_s: float | None = Field(
        None, gt=0, description="Prefill throughput of one prefill pod, prompt tokens per second."
    )
    prefix_cache_hit_rate: float = Field(
        0.0, ge=0, lt=1, description="Fraction of prompt tokens served from the prefix cache, 0..1."
    )


REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "aggregated": (
        "ttft_s",
        "tpot_s",
        "prompt_tokens",
        "output_tokens",
        "kv_capacity_tokens",
        "max_concurrency",
    ),
    "prefill": ("prompt_tokens", "prefill_tokens_per_s"),
    "decode": ("tpot_s", "prompt_tokens", "output_tokens", "kv_capacity_tokens", "max_concurrency"),
}


def missing_fields(params: CapacityParams, role: str) -> list[str]:
    """The fields ``role`` needs that ``params`` leaves unset."""
    return [name for name in REQUIRED_FIELDS[role] if getattr(params, name) is None]


@dataclass(frozen=True)
class PodModel:
    """Per-role constants of one pod, derived once from :class:`CapacityParams`.

    ``seconds_per_request`` is the time a request occupies one concurrency slot;
    ``concurrency`` is how many slots a pod has. ``kv_bound``/``compute_bound`` are
    reported so a reader sees which limit binds (``None`` for prefill).
    """

    role: str
    seconds_per_request: float
    concurrency: float
    limited_by: LimitedBy
    kv_bound: float | None
    compute_bound: float | None

    def rps_per_pod(self, utilization: float) -> float:
        """Requests per second one pod serves at the target utilisation."""
        return self.concurrency * utilization / self.seconds_per_request


def pod_model(params: CapacityParams, role: str = "aggregated") -> PodModel:
    """Derive the per-pod model for ``role``; raises :class:`CapacityError` on missing values."""
    if role not in ROLES:
        raise CapacityError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    missing = missing_fields(params, role)
    if missing:
        raise CapacityError(f"role {role!r} needs {', '.join(missing)}")
    if role == "prefill":
        assert params.prompt_tokens is not None and params.prefill_tokens_per_s is not None
        effective_prompt = params.prompt_tokens * (1.0 - params.prefix_cache_hit_rate)
        if effective_prompt <= 0:
            raise CapacityError("prefill needs prompt_tokens > 0 after the prefix-cache hit rate")
        return PodModel(
            role=role,
            seconds_per_request=effective_prompt / params.prefill_tokens_per_s,
            concurrency=1.0,
            limited_by="prefill_throughput",
            kv_bound=None,
            compute_bound=None,
        )
    assert params.prompt_tokens is not None and params.output_tokens is not None
    assert params.kv_capacity_tokens is not None and params.max_concurrency is not None
    assert params.tpot_s is not None
    kv_bound = params.kv_capacity_tokens / (params.prompt_tokens + params.output_tokens)
    compute_bound = float(params.max_concurrency)
    limited_by: LimitedBy = "kv_cache" if kv_bound < compute_bound else "compute"
    decode_s = params.output_tokens * params.tpot_s
    if role == "aggregated":
        assert params.ttft_s is not None
        seconds = params.ttft_s + decode_s
    else:
        seconds = decode_s
    return PodModel(
        role=role,
        seconds_per_request=seconds,
        concurrency=min(kv_bound, compute_bound),
        limited_by=limited_by,
        kv_bound=kv_bound,
        compute_bound=compute_bound,
    )


def pod_model_for_peak(peak_rps: float, peak_pods: int, *, utilization: float) -> PodModel:
    """A pod sized so that ``peak_rps`` needs exactly ``peak_pods`` pods at ``utilization``.

    Real traces differ by orders of magnitude; this normalises a trace to a pod count so that
    policies can be compared across traces. One request takes one second of one slot.
    """
    if not (math.isfinite(peak_rps) and peak_rps > 0):
        raise CapacityError(f"the peak rate must be a finite number > 0, got {peak_rps}")
    if peak_pods < 1:
        raise CapacityError(f"peak pods must be >= 1, got {peak_pods}")
    check_policy_numbers(utilization, 0.0)
    return PodModel(
        role="aggregated",
        seconds_per_request=1.0,
        concurrency=peak_rps / (peak_pods * utilization),
        limited_by="compute",
        kv_bound=None,
        compute_bound=None,
    )


def ceil_pods(value: float) -> int:
    """Round a fractional pod count up, ignoring float noise below 1e-9 pods."""
    return max(0, math.ceil(value - _CEIL_TOLERANCE))


def check_policy_numbers(utilization: float, buffer: float) -> None:
    """Reject a utilisation outside (0, 1] or a negative buffer with a clear message."""
    if not (isinstance(utilization, int | float) and 0 < utilization <= 1):
        raise CapacityError(f"utilization must be in (0, 1], got {utilization}")
    if not (isinstance(buffer, int | float) and math.isfinite(buffer) and buffer >= 0):
        raise CapacityError(f"buffer must be a finite number >= 0, got {buffer}")


@dataclass(frozen=True)
class Sizing:
    """The pod count for one request rate, with every intermediate value a person would check."""

    role: str
    rps: float
    utilization: float
    buffer: float
    duration_s: float
    per_pod_concurrency: float
    limited_by: str
    kv_bound: float | None
    compute_bound: float | None
    in_flight: float
    exact_pods: float
    pods: int
    pods_with_buffer: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict; floats rounded to 6 decimals so 9.2 prints as 9.2."""
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


def size(rps: float, model: PodModel, *, utilization: float, buffer: float = 0.0) -> Sizing:
    """Pods needed to serve ``rps`` requests per second at ``utilization``, plus a spike ``buffer``.

    ``rps`` must be finite and >= 0: a missing rate is the caller's to handle, never a zero.
    """
    if not (isinstance(rps, int | float) and math.isfinite(rps) and rps >= 0):
        raise CapacityError(f"rps must be a finite number >= 0, got {rps}")
    check_policy_numbers(utilization, buffer)
    in_flight = rps * model.seconds_per_request
    exact = in_flight / (model.concurrency * utilization)
    pods = ceil_pods(exact)
    return Sizing(
        role=model.role,
        rps=float(rps),
        utilization=float(utilization),
        buffer=float(buffer),
        duration_s=model.seconds_per_request,
        per_pod_concurrency=model.concurrency,
        limited_by=model.limited_by,
        kv_bound=model.kv_bound,
        compute_bound=model.compute_bound,
        in_flight=in_flight,
        exact_pods=exact,
        pods=pods,
        pods_with_buffer=ceil_pods(pods * (1.0 + buffer)),
    )


def pods_for_rates(
    rates: np.ndarray, model: PodModel, *, utilization: float, buffer: float = 0.0
) -> np.ndarray:
    """Vectorised :func:`size`: pods with buffer for each rate; NaN (missing) rates stay NaN.

    Returns a float array so that missing stays visibly missing; present values are whole numbers.
    """
    check_policy_numbers(utilization, buffer)
    rates = np.asarray(rates, dtype=float)
    if np.any(rates[~np.isnan(rates)] < 0):
        raise CapacityError("rates must be >= 0 where present")
    exact = rates * model.seconds_per_request / (model.concurrency * utilization)
    pods = np.maximum(0.0, np.ceil(exact - _CEIL_TOLERANCE))
    return np.maximum(0.0, np.ceil(pods * (1.0 + buffer) - _CEIL_TOLERANCE)) + 0.0  # no -0.0
