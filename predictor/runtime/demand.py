"""Token-aware demand at run time: forecast a target's token series, size its role on them.

Beside the request rate a target may read its prompt and output tokens per second
(:mod:`predictor.sources.demand`). Each token series is forecast on its own by the same model
kind as the request rate, with the same quantiles, and the role is sized at every forecast point
on its own work (:func:`~predictor.capacity.demand.size_role`):

- the floor is sized on the policy's quantile of every series: prefill on ``P_q``, decode on
  ``O_q × TPOT`` against ``C`` at the lengths ``P_q / λ_q`` and ``O_q / λ_q``, aggregated by
  Little's law at those lengths;
- the mean lengths shown per point are the mean forecasts' ratios, ``P / λ`` and ``O / λ``;
- a token series that is not configured, could not be read or could not be forecast is absent:
  its length comes from the profile, and the plan's reasons say so in a sentence.

The model kind: ``auto`` may choose ``ensemble``, which only selection builds; the token series
then take the best-scored single model of the same selection (a refit of a kind, not a second
selection, so the three series cost about one selection plus two fits).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from predictor.capacity import CapacityParams
from predictor.capacity.demand import (
    MIN_RPS_FOR_LENGTHS,
    OUTPUT_TOKENS,
    PROMPT_TOKENS,
    RolePods,
    TokenRates,
    mean_lengths,
    size_role,
)
from predictor.errors import CapacityError, ForecastError
from predictor.forecasting import registry
from predictor.forecasting.base import FittedModel, Forecast
from predictor.forecasting.selection import CandidateScore

TOKEN_COLUMNS = (PROMPT_TOKENS, OUTPUT_TOKENS)
_NAMES = {PROMPT_TOKENS: "prompt", OUTPUT_TOKENS: "output"}


@dataclass(frozen=True)
class TokenSizingSpec:
    """How a target's role is sized on tokens: its capacity numbers (with the fallback lengths)."""

    params: CapacityParams
    role: str
    min_rps: float = MIN_RPS_FOR_LENGTHS


@dataclass(frozen=True)
class TokenModels:
    """The fitted models of a target's token series (``None``: absent) and why any is absent."""

    prompt: FittedModel | None = None
    output: FittedModel | None = None
    kind: str | None = None
    reasons: tuple[str, ...] = ()

    def of(self, column: str) -> FittedModel | None:
        return self.prompt if column == PROMPT_TOKENS else self.output


def token_kind(kind: str, scores: Mapping[str, CandidateScore]) -> str:
    """The model kind for the token series: the request rate's, or its best-scored single model."""
    if kind in registry.FORECASTERS:
        return kind
    usable = [
        (s.mase, name)
        for name, s in scores.items()
        if name in registry.FORECASTERS and s.status == "ok" and math.isfinite(s.mase)
    ]
    return min(usable)[1] if usable else "seasonal_naive"


def fit_token_models(
    frame: pd.DataFrame | None,
    kind: str,
    *,
    fit: Callable[[pd.Series], FittedModel],
    problems: tuple[str, ...] = (),
) -> TokenModels:
    """Fit each token column of ``frame`` (``None``: no token series at all) with ``fit``.

    ``fit`` trains ``kind`` on a series' training window, as the request rate's model was trained
    (raising ForecastError when it cannot). A column that is not there stays absent without a
    word (the sizing names it); one that cannot be fitted is absent with its reason; ``problems``
    are sentences on series that could not be read.
    """
    if frame is None:
        return TokenModels(kind=kind, reasons=problems)
    fitted: dict[str, FittedModel | None] = {}
    reasons: list[str] = list(problems)
    for column in TOKEN_COLUMNS:
        fitted[column] = None
        if column not in frame.columns:
            continue
        try:
            fitted[column] = fit(frame[column])
        except ForecastError as e:
            reasons.append(f"the {_NAMES[column]}-token series could not be forecast ({e})")
    return TokenModels(fitted[PROMPT_TOKENS], fitted[OUTPUT_TOKENS], kind, tuple(reasons))


@dataclass(frozen=True)
class TokenDemand:
    """A role's token-aware demand over one forecast (on the request-rate forecast's ``index``).

    ``prompt``/``output`` are the token forecasts (``None``: absent); ``sizing`` the role sized
    at the sizing quantile of every series at full utilisation (``exact_pods`` is the work the
    planner sizes the floor on; ``limited_by`` what binds per point); ``median_work`` the same
    at the median; ``mean_prompt_tokens``/``mean_output_tokens`` the mean forecasts' lengths per
    point; ``reason`` the sentences on fallbacks (``None`` when every length is forecast).
    """

    role: str
    index: pd.DatetimeIndex
    quantile: float
    prompt: Forecast | None
    output: Forecast | None
    sizing: RolePods
    median_work: np.ndarray | None
    mean_prompt_tokens: np.ndarray
    mean_output_tokens: np.ndarray
    reason: str | None

    @property
    def work(self) -> np.ndarray:
        return self.sizing.exact_pods

    def to_frame(self, quantile_label: str) -> pd.DataFrame:
        """Per point: the token forecasts at the sizing quantile, the mean lengths, what binds."""
        columns: dict[str, object] = {}
        for name, forecast in (("prompt_tokens_per_s", self.prompt), ("output_tokens_per_s", self.output)):
            if forecast is not None:
                columns[f"{name}_mean"] = forecast.mean
                columns[f"{name}_{quantile_label}"] = forecast.quantile(self.quantile)
        columns["mean_prompt_tokens"] = self.mean_prompt_tokens
        columns["mean_output_tokens"] = self.mean_output_tokens
        columns["work_pods"] = self.work
        columns["limited_by"] = list(self.sizing.limited_by)
        return pd.DataFrame(columns, index=self.index)


def _quantile_or_none(forecast: Forecast | None, q: float) -> np.ndarray | None:
    return None if forecast is None else forecast.quantile(q)


def rate_ratio(rate: Forecast, before: Forecast) -> np.ndarray:
    """Per point, how much the known events scaled the mean request rate (1 where it was 0)."""
    base = np.asarray(before.mean, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(base > 0, np.asarray(rate.mean, dtype=float) / base, 1.0)
    return np.where(np.isfinite(ratio), ratio, 1.0)


def follow_rate(tokens: Forecast | None, ratio: np.ndarray | None) -> Forecast | None:
    """A token series' forecast scaled point by point by ``ratio`` (see :func:`rate_ratio`): the
    events change how many requests arrive, not how long each is, so the token rates follow."""
    if tokens is None or ratio is None:
        return tokens
    return Forecast(
        tokens.index,
        tokens.mean * ratio,
        {q: v * ratio for q, v in tokens.quantiles.items()},
        tokens.model,
        tokens.clamps,
    )


def token_demand(
    rate: Forecast,
    models: TokenModels,
    spec: TokenSizingSpec,
    quantile: float,
    quantiles: tuple[float, ...],
    *,
    before_events: Forecast | None = None,
) -> TokenDemand:
    """Forecast the token series over ``rate``'s index and size ``spec``'s role at every point.

    ``before_events`` is the rate forecast before the known events' effects: the token series then
    follow the rate's change in proportion (:func:`follow_rate`).
    """
    start, periods = rate.index[0], len(rate.index)
    ratio = None if before_events is None else rate_ratio(rate, before_events)
    prompt = None if models.prompt is None else models.prompt.predict(start, periods, quantiles)
    output = None if models.output is None else models.output.predict(start, periods, quantiles)
    prompt, output = follow_rate(prompt, ratio), follow_rate(output, ratio)

    def size(q: float) -> RolePods:
        rates = TokenRates(rate.quantile(q), _quantile_or_none(prompt, q), _quantile_or_none(output, q))
        return size_role(rates, spec.params, spec.role, utilization=1.0, min_rps=spec.min_rps)

    try:
        sizing = size(quantile)
        has_median = any(abs(q - 0.5) < 1e-9 for q in quantiles)
        median_work = size(0.5).exact_pods if has_median else None
        lengths = mean_lengths(
            TokenRates(
                rate.mean,
                None if prompt is None else prompt.mean,
                None if output is None else output.mean,
            ),
            prompt_tokens=spec.params.prompt_tokens,
            output_tokens=spec.params.output_tokens,
            min_rps=spec.min_rps,
        )
    except CapacityError as e:
        raise ForecastError(f"token-aware sizing failed: {e}") from e
    # The prefill role reads the prompts alone: what befell the output series is not its concern.
    own = [r for r in models.reasons if not (spec.role == "prefill" and r.startswith("the output-token"))]
    sentences = [*own, *([sizing.reason] if sizing.reason else [])]
    return TokenDemand(
        role=spec.role,
        index=rate.index,
        quantile=quantile,
        prompt=prompt,
        output=output,
        sizing=sizing,
        median_work=median_work,
        mean_prompt_tokens=lengths.prompt_tokens,
        mean_output_tokens=lengths.output_tokens,
        reason="; ".join(sentences) if sentences else None,
    )


def demand_notes(demand: TokenDemand) -> tuple[str, ...]:
    """What every reason of a token-aware plan adds: how the role was sized, and any fallback."""
    series = {"prefill": "prompt tokens/s", "decode": "output tokens/s × TPOT", "aggregated": "tokens/s"}
    note = f"{demand.role} sized on the forecast {series.get(demand.role, 'tokens/s')}"
    return (note, *([demand.reason] if demand.reason else []))
