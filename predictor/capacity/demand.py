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

The rule for the lengths at one point (:func:`mean_lengths`):

- a missing (NaN) request rate or token rate gives a missing length, and missing pods: missing
  is never zero;
- a request rate below ``min_rps`` (default :data:`MIN_RPS_FOR_LENGTHS`, and 0 itself) leaves the
  mean over almost no requests undefined or noise, so the point takes the profile's lengths (and
  is flagged in ``low_rate``). The work is λ × length, so below 0.05 req/s the lengths change the
  pod count (one pod) only for requests of some 50,000 tokens or more with the shipped profiles:
  the fallback costs nothing real and keeps 0/0 and a handful of outliers out of the sizing;
- a token series that is absent altogether (``None``: not configured, or not read) gives the
  profile's length at every point, and :attr:`RolePods.reason` says so in a sentence;
- the profile's lengths are needed only as these fallbacks: without them a low rate keeps the
  rates' ratio, and a rate of exactly 0 needs 0 pods (no requests, no work).

With both token series absent the result equals
:func:`~predictor.capacity.formula.pods_for_rates` on the profile's pod model, point for point.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from predictor.capacity.formula import (
    _CEIL_TOLERANCE,
    ROLES,
    CapacityParams,
    check_policy_numbers,
    missing_fields,
)
from predictor.errors import CapacityError

# Column names of a token trace or demand history (a DataFrame with one column per series).
REQUESTS = "requests_per_s"
PROMPT_TOKENS = "prompt_tokens_per_s"
OUTPUT_TOKENS = "output_tokens_per_s"

# Below this request rate a mean length is the average of a handful of requests (3 a minute, 15 per
# 5-minute rate window), or 0/0 at zero; such points take the profile's lengths.
MIN_RPS_FOR_LENGTHS = 0.05

# What can bind, by code (None: missing, or no requests); codes keep long vectors cheap.
_LIMITS: tuple[str | None, ...] = ("kv_cache", "compute", "prefill_throughput", None)
# The lengths each role's formula reads: prefill needs the prompt only; the others both (the KV bound).
_LENGTHS_USED = {"prefill": ("prompt",), "decode": ("prompt", "output"), "aggregated": ("prompt", "output")}


def _rate_array(values: object, name: str, size: int | None = None) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values, dtype=float))
    if array.ndim != 1:
        raise CapacityError(f"{name} must be one-dimensional, got shape {array.shape}")
    if size is not None and len(array) != size:
        raise CapacityError(f"{name} has {len(array)} points, the request rate {size}")
    present = array[~np.isnan(array)]
    if np.any(~np.isfinite(present)) or np.any(present < 0):
        raise CapacityError(f"{name} must be finite and >= 0 where present")
    return array


@dataclass(frozen=True)
class TokenRates:
    """The load at each point: req/s and prompt and output tokens/s, NaN where missing.

    A token series that is ``None`` is absent as a whole (no query configured, or it could not be
    read); its lengths come from the profile. Arrays are checked: one-dimensional, equal lengths,
    finite and >= 0 where present.
    """

    requests_per_s: np.ndarray
    prompt_tokens_per_s: np.ndarray | None = None
    output_tokens_per_s: np.ndarray | None = None

    def __post_init__(self) -> None:
        rps = _rate_array(self.requests_per_s, "the request rate")
        object.__setattr__(self, "requests_per_s", rps)
        for field, label in (
            ("prompt_tokens_per_s", "prompt tokens/s"),
            ("output_tokens_per_s", "output tokens/s"),
        ):
            value = getattr(self, field)
            if value is not None:
                object.__setattr__(self, field, _rate_array(value, label, len(rps)))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> TokenRates:
        """From a frame with the columns :data:`REQUESTS`, and optionally :data:`PROMPT_TOKENS` and
        :data:`OUTPUT_TOKENS`; a token column that is not there is an absent series."""
        if REQUESTS not in frame.columns:
            listed = ", ".join(map(str, frame.columns)) or "none"
            raise CapacityError(f"the demand needs a {REQUESTS!r} column; its columns are: {listed}")

        def column(name: str) -> np.ndarray | None:
            return frame[name].to_numpy(dtype=float) if name in frame.columns else None

        return cls(frame[REQUESTS].to_numpy(dtype=float), column(PROMPT_TOKENS), column(OUTPUT_TOKENS))


@dataclass(frozen=True)
class MeanLengths:
    """Mean prompt and output tokens per request at each point (NaN = missing), and where they came from.

    ``prompt_from_profile``/``output_from_profile`` mark the points that use the fallback length
    instead of the rates' ratio; ``low_rate`` the points whose request rate is below ``min_rps``;
    ``absent`` names the series that are absent altogether, ``"prompt"`` and/or ``"output"``.
    """

    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    prompt_from_profile: np.ndarray
    output_from_profile: np.ndarray
    low_rate: np.ndarray
    absent: tuple[str, ...]


def mean_lengths(
    rates: TokenRates,
    *,
    prompt_tokens: float | None,
    output_tokens: float | None,
    min_rps: float = MIN_RPS_FOR_LENGTHS,
) -> MeanLengths:
    """Tokens per request at each point: tokens/s ÷ req/s, with the fallbacks of the module docstring.

    ``prompt_tokens`` and ``output_tokens`` are the fixed lengths to fall back on (a profile's).
    Without one (``None``), an absent series leaves that length missing (a prefill profile needs no
    output length), and a low-rate point keeps the rates' ratio, the best there is (missing at 0).
    """
    if not (math.isfinite(min_rps) and min_rps > 0):
        raise CapacityError(f"min_rps must be a finite number > 0, got {min_rps}")
    rps = rates.requests_per_s
    missing_rate = np.isnan(rps)
    too_few = ~missing_rate & (rps < min_rps)
    safe_rps = np.where(missing_rate | (rps == 0), 1.0, rps)
    absent: list[str] = []
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for name, tokens, fixed in (
        ("prompt", rates.prompt_tokens_per_s, prompt_tokens),
        ("output", rates.output_tokens_per_s, output_tokens),
    ):
        fixed_value = np.nan if fixed is None else float(fixed)
        if tokens is None:
            absent.append(name)
            lengths = np.where(missing_rate, np.nan, fixed_value)
            from_profile = ~missing_rate & (fixed is not None)
        else:
            ratio = np.where(rps == 0, np.nan, tokens / safe_rps)
            from_profile = too_few & (fixed is not None)
            lengths = np.where(from_profile, fixed_value, ratio)
            lengths[missing_rate] = np.nan
        out.append((lengths, from_profile))
    (prompt, prompt_fixed), (output, output_fixed) = out
    return MeanLengths(prompt, output, prompt_fixed, output_fixed, too_few, tuple(absent))


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
    missing = [name for name in missing_fields(params, role) if not given.get(name)]
    if missing:
        raise CapacityError(f"role {role!r} needs {', '.join(missing)}")
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
