"""The load of a target at each point, and the mean prompt and output lengths it implies (pure).

The load is three rates per point: requests λ (req/s), prompt tokens P and output tokens O
(tokens/s), with ``prompt = P / λ`` and ``output = O / λ`` tokens per request.

The rule for the lengths at one point (:func:`mean_lengths`):

- a missing (NaN) request rate or token rate gives a missing length, and missing pods: missing
  is never zero;
- a request rate below ``min_rps`` (default :data:`MIN_RPS_FOR_LENGTHS`, and 0 itself) leaves the
  mean over almost no requests undefined or noise, so the point takes the profile's lengths (and
  is flagged in ``low_rate``). The work is λ × length, so below 0.05 req/s the lengths change the
  pod count (one pod) only for requests of some 50,000 tokens or more with the shipped profiles:
  the fallback costs nothing real and keeps 0/0 and a handful of outliers out of the sizing;
- a token series that is absent altogether (``None``: not configured, or not read) gives the
  profile's length at every point, and the sizing (:attr:`predictor.capacity.demand.RolePods.reason`)
  says so in a sentence;
- the profile's lengths are needed only as these fallbacks: without them a low rate keeps the
  rates' ratio, and a rate of exactly 0 needs 0 pods (no requests, no work).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from predictor.errors import CapacityError

# Column names of a token trace or demand history (a DataFrame with one column per series).
REQUESTS = "requests_per_s"
PROMPT_TOKENS = "prompt_tokens_per_s"
OUTPUT_TOKENS = "output_tokens_per_s"

# Below this request rate a mean length is the average of a handful of requests (3 a minute, 15 per
# 5-minute rate window), or 0/0 at zero; such points take the profile's lengths.
MIN_RPS_FOR_LENGTHS = 0.05


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
