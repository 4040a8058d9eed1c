"""Token-aware sizing: each serving role sized on its own work, with lengths that change over time.

A target's load is three rates per point: requests λ (req/s), prompt tokens P and output tokens O
(tokens/s). Their ratios are the mean lengths at that point, and each role is sized with the
fixed-length formulas of :mod:`predictor.capacity.formula` at those lengths::

    prompt = P / λ        output = O / λ                          tokens per request
    C      = min(kv_capacity_tokens / (prompt + output), max_concurrency)
    prefill     pods = ceil(λ × prompt × (1 − hit) / (prefill_tokens_per_s × u))   = P (1 − hit) / (tps u)
    decode      pods = ceil(λ × output × TPOT / (C × u))                           = O × TPOT / (C u)
    aggregated  pods = ceil(λ × (TTFT + output × TPOT) / (C × u))

then ``ceil(pods × (1 + buffer))``. Which bound gives ``C`` is reported per point. TTFT, TPOT and
the prefill throughput stay the profile's numbers; only the lengths follow the load.

The lengths at each point and their fallbacks are those of :mod:`predictor.capacity.lengths`.
With both token series absent the result equals
:func:`~predictor.capacity.formula.pods_for_rates` on the profile's pod model, point for point.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from predictor.capacity.formula import (
    _CEIL_TOLERANCE,
    ROLES,
    CapacityParams,
    check_policy_numbers,
    missing_fields,
)
from predictor.capacity.lengths import (
    MIN_RPS_FOR_LENGTHS,
    OUTPUT_TOKENS,
    PROMPT_TOKENS,
    REQUESTS,
    MeanLengths,
    TokenRates,
    mean_lengths,
)
from predictor.errors import CapacityError

__all__ = [
    "MIN_RPS_FOR_LENGTHS",
    "OUTPUT_TOKENS",
    "PROMPT_TOKENS",
    "REQUESTS",
    "MeanLengths",
    "RolePods",
    "TokenRates",
    "TokenSizing",
    "mean_lengths",
    "pods_for_work",
    "size_role",
    "size_tokens",
]

# What can bind, by code (None: missing, or no requests); codes keep long vectors cheap.
_LIMITS: tuple[str | None, ...] = ("kv_cache", "compute", "prefill_throughput", None)
# The lengths each role's formula reads: prefill needs the prompt only; the others both (the KV bound).
_LENGTHS_USED = {"prefill": ("prompt",), "decode": ("prompt", "output"), "aggregated": ("prompt", "output")}


@dataclass(frozen=True)
class RolePods:
    """Pods of one role at each point, with what a person would check (arrays of equal length).

    ``pods`` includes the spike buffer and is NaN where the load is missing, exactly like
    :func:`~predictor.capacity.formula.pods_for_rates`, so the planner can take it as is.
    ``exact_pods`` is ``in_flight / (concurrency × u)`` before rounding and the buffer;
    ``in_flight`` the requests being served (for prefill: busy pods at full throughput, with a
    concurrency of 1). ``kv_bound``/``compute_bound`` are NaN for prefill. ``limited_by`` names
    the binding limit per point (``None`` where missing, or idle: no requests and no length to
    size on, which needs 0 pods); ``reason`` says, in a sentence, which
    lengths fell back to the profile because a series was absent (``None`` if none did).
    """

    role: str
    pods: np.ndarray
    exact_pods: np.ndarray
    in_flight: np.ndarray
    seconds_per_request: np.ndarray
    concurrency: np.ndarray
    kv_bound: np.ndarray
    compute_bound: np.ndarray
    limited_by: tuple[str | None, ...]
    lengths: MeanLengths
    reason: str | None

    def low_rate_note(self, min_rps: float = MIN_RPS_FOR_LENGTHS) -> str | None:
        """A sentence on the points that took the profile's lengths for a low rate, or ``None``."""
        used = self.lengths.prompt_from_profile | (self.role != "prefill") & self.lengths.output_from_profile
        count = int((used & self.lengths.low_rate).sum())
        if count == 0:
            return None
        return (
            f"at {count} of {len(self.pods)} points the request rate is below {min_rps:g} req/s, "
            "where the profile's lengths are used"
        )


def pods_for_work(work: np.ndarray, *, utilization: float, buffer: float = 0.0) -> np.ndarray:
    """Pods for each point's work, ``ceil(work × (1 + buffer) / u)``; NaN (missing) stays NaN.

    ``work`` is :attr:`RolePods.exact_pods` at ``u = 1`` without a buffer: the pods that would be
    busy at full utilisation. The buffer scales the demand before rounding, like the floor's
    :func:`~predictor.planning.planner.floor_pods`, which this equals on a fixed-length pod model
    (``work = rate × D / C``).
    """
    check_policy_numbers(utilization, buffer)
    work = np.asarray(work, dtype=float)
    if np.any(work[~np.isnan(work)] < 0):
        raise CapacityError("work must be >= 0 where present")
    return np.maximum(0.0, np.ceil(work * (1.0 + buffer) / utilization - _CEIL_TOLERANCE)) + 0.0


def _fallback_reason(role: str, absent: tuple[str, ...], params: CapacityParams) -> str | None:
    used = [name for name in _LENGTHS_USED[role] if name in absent]
    if not used:
        return None
    fixed = {"prompt": params.prompt_tokens, "output": params.output_tokens}
    series = " or ".join(f"{name}-token" for name in used)
    lengths = " and ".join(f"{fixed[name]:,} {name}" for name in used)
    plural = "s" if len(used) > 1 else ""
    return (
        f"no {series} series: {role} pods are sized on the profile's fixed length{plural}, "
        f"{lengths} tokens per request"
    )


def size_role(
    rates: TokenRates,
    params: CapacityParams,
    role: str = "aggregated",
    *,
    utilization: float,
    buffer: float = 0.0,
    min_rps: float = MIN_RPS_FOR_LENGTHS,
) -> RolePods:
    """Pods of ``role`` at each point of ``rates``, each point at its own mean lengths.

    ``params`` supplies the per-pod numbers and the fallback lengths; raises
    :class:`~predictor.errors.CapacityError` on a role it cannot size or bad numbers.
    """
    if role not in ROLES:
        raise CapacityError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    given = {
        "prompt_tokens": rates.prompt_tokens_per_s is not None,
        "output_tokens": rates.output_tokens_per_s is not None,
    }
    lacking = [name for name in missing_fields(params, role) if not given.get(name)]
    if lacking:
        raise CapacityError(f"role {role!r} needs {', '.join(lacking)}")
    check_policy_numbers(utilization, buffer)
    lengths = mean_lengths(
        rates, prompt_tokens=params.prompt_tokens, output_tokens=params.output_tokens, min_rps=min_rps
    )
    rps = rates.requests_per_s
    missing = np.isnan(rps) | np.isnan(lengths.prompt_tokens)
    with np.errstate(divide="ignore", invalid="ignore"):
        if role == "prefill":
            assert params.prefill_tokens_per_s is not None
            seconds = (
                lengths.prompt_tokens * (1.0 - params.prefix_cache_hit_rate) / params.prefill_tokens_per_s
            )
            concurrency = np.ones_like(rps)
            kv_bound = compute_bound = np.full_like(rps, np.nan)
            binds = np.full(len(rps), _LIMITS.index("prefill_throughput"))
        else:
            assert params.kv_capacity_tokens is not None and params.max_concurrency is not None
            assert params.tpot_s is not None
            missing |= np.isnan(lengths.output_tokens)
            kv_bound = params.kv_capacity_tokens / (lengths.prompt_tokens + lengths.output_tokens)
            compute_bound = np.full_like(rps, float(params.max_concurrency))
            concurrency = np.minimum(kv_bound, compute_bound)
            binds = np.where(kv_bound < compute_bound, _LIMITS.index("kv_cache"), _LIMITS.index("compute"))
            seconds = lengths.output_tokens * params.tpot_s
            if role == "aggregated":
                assert params.ttft_s is not None
                seconds = params.ttft_s + seconds
        in_flight = rps * seconds
        exact = in_flight / (concurrency * utilization)
    pods = np.maximum(0.0, np.ceil(exact - _CEIL_TOLERANCE))
    pods = np.maximum(0.0, np.ceil(pods * (1.0 + buffer) - _CEIL_TOLERANCE)) + 0.0  # no -0.0
    # No requests at all: no work, so no pods, whatever the (undefined) lengths.
    idle = missing & (rps == 0)
    missing &= ~idle
    for array in (pods, exact, in_flight):
        array[idle] = 0.0
    for array in (pods, exact, in_flight, concurrency, seconds):
        array[missing] = np.nan
    binds[missing | idle] = _LIMITS.index(None)
    return RolePods(
        role=role,
        pods=pods,
        exact_pods=exact,
        in_flight=in_flight,
        seconds_per_request=seconds,
        concurrency=concurrency,
        kv_bound=np.where(missing, np.nan, kv_bound),
        compute_bound=np.where(missing, np.nan, compute_bound),
        limited_by=tuple(map(_LIMITS.__getitem__, binds.tolist())),
        lengths=lengths,
        reason=_fallback_reason(role, lengths.absent, params),
    )


@dataclass(frozen=True)
class TokenSizing:
    """One point of :func:`size_role` as plain numbers: the arithmetic of ``predictor plan``."""

    role: str
    rps: float
    prompt_tokens_per_s: float | None
    output_tokens_per_s: float | None
    prompt_tokens: float | None
    output_tokens: float | None
    prompt_tokens_from: str
    output_tokens_from: str
    reason: str | None
    utilization: float
    buffer: float
    duration_s: float | None
    per_pod_concurrency: float | None
    limited_by: str | None
    kv_bound: float | None
    compute_bound: float | None
    in_flight: float
    exact_pods: float
    pods: int
    pods_with_buffer: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict; floats rounded to 6 decimals."""
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def size_tokens(
    rps: float,
    params: CapacityParams,
    role: str = "aggregated",
    *,
    prompt_tokens_per_s: float | None = None,
    output_tokens_per_s: float | None = None,
    utilization: float,
    buffer: float = 0.0,
) -> TokenSizing:
    """Pods of ``role`` for one request rate and its token rates (``None`` = not given: the profile's
    length); the values must be finite and >= 0 (a missing rate is the caller's to handle)."""
    for label, value in (
        ("rps", rps),
        ("prompt tokens/s", prompt_tokens_per_s),
        ("output tokens/s", output_tokens_per_s),
    ):
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise CapacityError(f"{label} must be a finite number >= 0, got {value}")

    def one(value: float | None) -> np.ndarray | None:
        return None if value is None else np.array([value], dtype=float)

    rates = TokenRates(np.array([rps], dtype=float), one(prompt_tokens_per_s), one(output_tokens_per_s))
    r = size_role(rates, params, role, utilization=utilization, buffer=buffer)
    exact = float(r.exact_pods[0])
    pods = max(0, math.ceil(exact - _CEIL_TOLERANCE))
    return TokenSizing(
        role=role,
        rps=float(rps),
        prompt_tokens_per_s=None if prompt_tokens_per_s is None else float(prompt_tokens_per_s),
        output_tokens_per_s=None if output_tokens_per_s is None else float(output_tokens_per_s),
        prompt_tokens=_number(r.lengths.prompt_tokens[0]),
        output_tokens=_number(r.lengths.output_tokens[0]),
        prompt_tokens_from="profile" if r.lengths.prompt_from_profile[0] else "rates",
        output_tokens_from="profile" if r.lengths.output_from_profile[0] else "rates",
        reason=r.reason,
        utilization=float(utilization),
        buffer=float(buffer),
        duration_s=_number(r.seconds_per_request[0]),
        per_pod_concurrency=_number(r.concurrency[0]),
        limited_by=r.limited_by[0],
        kv_bound=_number(r.kv_bound[0]),
        compute_bound=_number(r.compute_bound[0]),
        in_flight=float(r.in_flight[0]),
        exact_pods=exact,
        pods=pods,
        pods_with_buffer=int(r.pods[0]),
    )
