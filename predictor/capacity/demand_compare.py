"""Token-aware against fixed-length sizing of one role, scored on what a token trace really needed (pure).

Given the actual token trace and a forecast of it (frames with the columns of
:mod:`predictor.capacity.demand`, on the same bins), :func:`compare_sizing` sizes the role from the
forecast twice and scores both against the actual need:

- **token-aware**: :func:`~predictor.capacity.demand.size_role` on the forecast's request and token
  rates, each point at its own mean lengths;
- **fixed-length**: the same formula on the forecast's request rate alone, every point at one pair
  of fixed mean lengths (default: the profile's; :func:`average_lengths` of the training window is
  the fair choice, since it is what a fixed-length setting would best be tuned to);
- **need** at a point: the pods the *actual* rates ask for, token-aware, at the same utilisation and
  without the spike buffer, ``ceil(work / (C × u))`` (the buffer is headroom, not need);
- **shortfall** at a point: ``max(0, need − pods)``, in pods. The totals are *shortfall pod-hours*
  (the sum over points × step / 3600) and *shortfall points* (points with a shortfall > 0);
  *pod-hours* sum the provisioned pods the same way.

Only points where the need and both sizings are known count, the same points for both; the others
are reported as missing, never scored as zero. This is the pointwise comparison of the sizing alone:
the lead time, the floor's step rules and cold starts are the replay's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from predictor.capacity.demand import (
    OUTPUT_TOKENS,
    PROMPT_TOKENS,
    REQUESTS,
    TokenRates,
    size_role,
)
from predictor.capacity.formula import CapacityParams
from predictor.errors import CapacityError

_HOUR_S = 3600.0


def average_lengths(frame: pd.DataFrame) -> tuple[float | None, float | None]:
    """Request-weighted mean prompt and output tokens per request over a trace: Σ tokens/s ÷ Σ req/s
    over the points where both are present. ``None`` for a column that is absent or has no data."""
    if REQUESTS not in frame.columns:
        raise CapacityError(f"the trace needs a {REQUESTS!r} column")
    rps = frame[REQUESTS].to_numpy(dtype=float)
    out: list[float | None] = []
    for column in (PROMPT_TOKENS, OUTPUT_TOKENS):
        if column not in frame.columns:
            out.append(None)
            continue
        tokens = frame[column].to_numpy(dtype=float)
        both = ~np.isnan(rps) & ~np.isnan(tokens)
        total = float(rps[both].sum())
        out.append(float(tokens[both].sum()) / total if total > 0 else None)
    return out[0], out[1]


@dataclass(frozen=True)
class SizingOutcome:
    """One way of sizing, scored against the need over the scored points."""

    pods: pd.Series
    shortfall: pd.Series
    pod_hours: float
    shortfall_pod_hours: float
    shortfall_points: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "pod_hours": round(self.pod_hours, 6),
            "shortfall_pod_hours": round(self.shortfall_pod_hours, 6),
            "shortfall_points": self.shortfall_points,
        }


@dataclass(frozen=True)
class SizingComparison:
    """Token-aware and fixed-length sizing of one role over a trace (see the module docstring)."""

    role: str
    need: pd.Series
    token_aware: SizingOutcome
    fixed: SizingOutcome
    fixed_lengths: tuple[float, float | None]
    scored_points: int
    missing_points: int
    reason: str | None

    @property
    def pod_hours_saved(self) -> float:
        """Pod-hours the token-aware sizing spends less than the fixed-length one (negative: more)."""
        return self.fixed.pod_hours - self.token_aware.pod_hours

    @property
    def shortfall_avoided_pod_hours(self) -> float:
        """Shortfall pod-hours the token-aware sizing avoids (negative: it falls short more)."""
        return self.fixed.shortfall_pod_hours - self.token_aware.shortfall_pod_hours

    def to_dict(self) -> dict[str, object]:
        return {
            "role": self.role,
            "fixed_lengths": list(self.fixed_lengths),
            "scored_points": self.scored_points,
            "missing_points": self.missing_points,
            "token_aware": self.token_aware.to_dict(),
            "fixed": self.fixed.to_dict(),
            "pod_hours_saved": round(self.pod_hours_saved, 6),
            "shortfall_avoided_pod_hours": round(self.shortfall_avoided_pod_hours, 6),
            "reason": self.reason,
        }


def _step_s(index: pd.DatetimeIndex, step_s: float | None) -> float:
    if step_s is not None:
        return float(step_s)
    if index.freq is None:
        raise CapacityError("the trace needs a regular index with a frequency, or pass step_s")
    return pd.Timedelta(index.freq).total_seconds()


def _outcome(pods: np.ndarray, need: np.ndarray, scored: np.ndarray, index: pd.DatetimeIndex, step_s: float):
    shortfall = np.where(scored, np.maximum(0.0, need - pods), np.nan)
    return SizingOutcome(
        pods=pd.Series(pods, index=index, name="pods"),
        shortfall=pd.Series(shortfall, index=index, name="shortfall"),
        pod_hours=float(pods[scored].sum()) * step_s / _HOUR_S,
        shortfall_pod_hours=float(shortfall[scored].sum()) * step_s / _HOUR_S,
        shortfall_points=int((shortfall[scored] > 0).sum()),
    )


def compare_sizing(
    actual: pd.DataFrame,
    forecast: pd.DataFrame,
    params: CapacityParams,
    role: str = "aggregated",
    *,
    utilization: float,
    buffer: float = 0.0,
    fixed_lengths: tuple[float, float | None] | None = None,
    step_s: float | None = None,
) -> SizingComparison:
    """Score token-aware and fixed-length sizing of ``role`` from ``forecast`` against ``actual``.

    ``forecast`` is aligned to ``actual``'s index (bins it lacks are missing). ``fixed_lengths``
    is (prompt, output) tokens per request, default the profile's. The actual trace must have the
    token columns the role reads (prefill: prompt; decode and aggregated: both).
    """
    needed = [PROMPT_TOKENS] if role == "prefill" else [PROMPT_TOKENS, OUTPUT_TOKENS]
    lacking = [c for c in needed if c not in actual.columns]
    if lacking:
        raise CapacityError(f"the actual trace needs {', '.join(lacking)} to score {role} sizing")
    index = pd.DatetimeIndex(actual.index)
    forecast = forecast.reindex(index)
    if fixed_lengths is None:
        assert params.prompt_tokens is not None  # size_role rejects a role without its lengths
        fixed_lengths = (float(params.prompt_tokens), params.output_tokens)
    prompt, output = fixed_lengths
    fixed_params = params.model_copy(update={"prompt_tokens": prompt, "output_tokens": output})

    need = size_role(TokenRates.from_frame(actual), params, role, utilization=utilization).pods
    aware = size_role(TokenRates.from_frame(forecast), params, role, utilization=utilization, buffer=buffer)
    fixed = size_role(
        TokenRates(forecast[REQUESTS].to_numpy(dtype=float)),
        fixed_params,
        role,
        utilization=utilization,
        buffer=buffer,
    ).pods
    scored = ~np.isnan(need) & ~np.isnan(aware.pods) & ~np.isnan(fixed)
    step = _step_s(index, step_s)
    return SizingComparison(
        role=role,
        need=pd.Series(need, index=index, name="need"),
        token_aware=_outcome(aware.pods, need, scored, index, step),
        fixed=_outcome(fixed, need, scored, index, step),
        fixed_lengths=(float(prompt), None if output is None else float(output)),
        scored_points=int(scored.sum()),
        missing_points=int((~scored).sum()),
        reason=aware.reason,
    )
