"""Automatic model choice (``model: auto``), per target.

Each candidate runs a rolling-origin backtest on the target's own history
(:mod:`predictor.forecasting.backtest`). Only the bins whose lead time lies in the scored window
count: from the pre-warm lead time up to a few hours (``horizons_s``, default 15 min to 4 h,
in two buckets, 15 min-1 h and 1-4 h, that weigh the same). Beside the candidates, their
combination is scored (``ensemble``: a weighted geometric mean, weights by lead time from the
backtest errors, each origin scored with the other origins' weights; see
:mod:`predictor.forecasting.combination`). The one with the lowest error wins and is refitted on
the whole history, and its quantiles are recalibrated on its own backtest residuals by lead
time (:mod:`predictor.forecasting.calibration`). Every candidate's scores are kept (MASE, WAPE,
coverage of p90, fit seconds), including the ones that were skipped or failed, with the reason.
Last, on the weekdays where the history says yesterday guided about as well as last week or
better, the chosen model is mixed with seasonal naive (``anchored``, :mod:`predictor.forecasting.anchor`):
six origins cannot tell which kind of day comes next, the history's every past day can.

A time budget (``SelectionSettings.budget_s``, seconds on the injected ``timer``) bounds the
backtest: seasonal naive is always backtested first; before each further candidate, if the
budget is spent, that candidate and the rest are ``skipped`` with "fit time budget of B s used
up (S s spent)", ``Selection.budget_hit`` is set, and the choice is made among those scored
(the combination included). The final refit is not cut short.

Fallback to seasonal naive (daily), with the reason recorded in ``Selection.fallback_reason``:

- under 2 days of history: no backtest at all;
- weekly candidates (those declaring >= 1 week of ``min_history_s``, or listed in
  ``weekly_kinds``) are not candidates under 2 weeks of history;
- a candidate that raises (or returns non-finite values) at any origin is out;
- when no candidate beats seasonal naive by at least ``min_gain``, seasonal naive is kept (the
  default margin is 0: chosen by leave-one-trace-out, see ``bench/RESULTS.md``; a 2% margin
  cost 7% of day-ahead MASE, as the ensemble often wins by less on the backtest and by more on
  the day);
- when the winner fails to refit, the next best is tried, then seasonal naive.

Cost, and why the defaults are what they are. The budget is a median of 0.5 s per target
(28 days at 5-minute steps, one core) for the backtest plus the final fit. A backtest costs
``folds`` fits per candidate. Measured per fit + predict on the project's 2-core machine:
seasonal naive (daily or weekly) ~5 ms, harmonic ~40 ms, Holt-Winters ~55 ms, MSTL ~80 ms,
Prophet ~0.35 s tuned and ~1.5 s with the library defaults. So the default candidates are the
two seasonal naive models and the harmonic regression: 6 folds x 3 candidates + the refit take
~0.3 s (with the combination, which costs no backtest fit but a refit of each member, and the
day-ahead forecasts kept for calibration: 0.35 s median in ``bench/forecast_cost.py``).
Adding Holt-Winters and MSTL brings that to ~1.1 s (over budget) for a 2% lower mean MASE on
the real traces; Prophet would add 2-9 s and beat only daily seasonal naive there. They stay
selectable explicitly (``model: mstl``) or by listing them in ``candidates``. Six folds spaced
27 hours apart cover six days of the week and rotate through the hours of the day, so a weekly
effect (Monday after Sunday) and both the ramp and the peak show up in the score; three folds
were cheaper but no better. See ``bench/RESULTS.md`` for the measurements.

Pure: no wall clock (``timer`` is injected and only measures fit time), no I/O. Same history,
settings and seed -> the same choice and the same scores (except the measured ``fit_s``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from predictor.errors import ForecastError
from predictor.forecasting import anchor as anchoring
from predictor.forecasting import backtest, calibration, combination
from predictor.forecasting.base import DAY_S, WEEK_S, FittedModel, Forecaster
from predictor.forecasting.models.common import LogSpaceModel
from predictor.forecasting.models.naive import SeasonalNaive

FALLBACK = "seasonal_naive"
ENSEMBLE = "ensemble"
ANCHORED = anchoring.AnchoredModel.kind
DEFAULT_CANDIDATES: tuple[str, ...] = ("seasonal_naive", "seasonal_naive_weekly", "harmonic")


@dataclass(frozen=True)
class SelectionSettings:
    """How ``model: auto`` chooses. Durations in seconds."""

    #: Forecaster kinds to compare; the fallback is always compared too.
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    #: Scored lead times: from the first (the pre-warm lead time: cold start + margin) up to the
    #: last (exclusive); the edges between make buckets that weigh the same in the score.
    horizons_s: tuple[int, ...] = (15 * 60, 3600, 4 * 3600)
    #: Backtest origins; each costs one fit per candidate.
    folds: int = 6
    #: Distance between origins; a day plus a few hours rotates the scored hours of the day.
    fold_spacing_s: int = DAY_S + 3 * 3600
    #: The ranking error (and the ensemble's weights) weigh the k-th latest origin
    #: ``0.5 ** (k / fold_halflife)``; ``None``: all alike. 1 by leave-one-trace-out
    #: (``bench/RESULTS.md``): the latest days say most about tomorrow.
    fold_halflife: float | None = 1.0
    #: A candidate must beat seasonal naive's error by this share to replace it (0.02 = 2%).
    #: 0 by leave-one-trace-out (``bench/RESULTS.md``): a 2% margin kept seasonal naive on days
    #: where the combination would have won, costing 7% of day-ahead MASE.
    min_gain: float = 0.0
    #: Below this much history, seasonal naive (daily) is used without a backtest.
    min_history_s: int = 2 * DAY_S
    #: Weekly candidates need this much history.
    weekly_min_history_s: int = 2 * WEEK_S
    #: Kinds treated as weekly whatever their ``min_history_s``.
    weekly_kinds: frozenset[str] = frozenset({"seasonal_naive_weekly"})
    #: Quantile whose coverage is reported (0.9 -> share of actuals <= p90).
    quantile: float = 0.9
    #: Also compare a weighted combination of the backtested candidates (``ensemble``).
    ensemble: bool = True
    #: Ensemble weights are ``mae ** -ensemble_power`` (2: inverse squared error).
    ensemble_power: float = 2.0
    #: Recalibrate the chosen model's quantiles on its own backtest residuals (by horizon).
    calibrate: bool = True
    #: Each backtest origin forecasts this far for that calibration (seconds; unscored past
    #: the last of ``horizons_s``).
    calibration_horizon_s: int = DAY_S
    #: Seconds of backtest (on the injected timer) after which the remaining candidates are
    #: skipped, with the reason, and the best one scored so far is used; ``None``: no limit.
    #: Seasonal naive is always backtested first, so there is always a scored answer.
    budget_s: float | None = None
    #: Mix seasonal naive into the chosen model on the weekdays where the history says yesterday
    #: guided about as well as last week or better (:mod:`predictor.forecasting.anchor`: the ratio
    #: of their errors, median of the last three occurrences, above ``anchor_low``: share
    #: ``anchor_share``; above ``anchor_high``: seasonal naive alone). Constants by
    #: leave-one-trace-out (``bench/RESULTS.md`` round seven).
    anchor: bool = True
    anchor_low: float = anchoring.LOW
    anchor_high: float = anchoring.HIGH
    anchor_share: float = anchoring.SHARE

    def window(self) -> backtest.Window:
        return backtest.Window(tuple(self.horizons_s), self.folds, self.fold_spacing_s, self.fold_halflife)


@dataclass(frozen=True)
class CandidateScore:
    """One candidate's backtest; ``status`` is ``ok``, ``failed`` or ``skipped`` (then ``error`` says why)."""

    kind: str
    status: str
    mase: float = math.nan  # against seasonal naive (one day) on the target's history
    wape: float = math.nan  # sum|error| / sum|actual|
    coverage: float = math.nan  # share of actuals <= the ``quantile`` forecast
    mae: float = math.nan  # req/s, the ranking key
    fit_s: float = math.nan  # mean seconds per backtest fit
    folds: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Selection:
    """The outcome: the chosen kind, its model fitted on the whole history, and every score.

    ``calibration`` says where the quantiles came from (the backtest residuals, or the
    model's own); ``budget_hit`` is true when the time budget skipped candidates.
    """

    kind: str
    model: FittedModel
    scores: Mapping[str, CandidateScore]
    fallback_reason: str | None = None
    origins: tuple[pd.Timestamp, ...] = field(default=())
    calibration: str = "the model's own residuals"
    budget_hit: bool = False
    #: When the chosen model was mixed with seasonal naive on some weekdays (``kind`` is then
    #: ``anchored``): what was chosen and the shares, e.g. ``ensemble, with seasonal naive 0.7 on Tue``.
    anchor: str | None = None


def default_forecasters(kinds: tuple[str, ...]) -> dict[str, Forecaster]:
    """Forecasters with their default settings, from the registry (ForecastError if a kind is unknown)."""
    from predictor.forecasting import registry  # imported here: the registry imports every model

    return {kind: registry.make_forecaster(kind) for kind in kinds}


def _is_weekly(kind: str, forecaster: Forecaster, settings: SelectionSettings) -> bool:
    return kind in settings.weekly_kinds or forecaster.min_history_s >= WEEK_S


def _days(seconds: float) -> str:
    return f"{seconds / DAY_S:.1f} d"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def select_model(
    history: pd.Series,
    *,
    settings: SelectionSettings | None = None,
    forecasters: Mapping[str, Forecaster] | None = None,
    seed: int = 0,
    timer: Callable[[], float] = time.perf_counter,
) -> Selection:
    """Choose and fit a model for one target's ``history`` (req/s, see :mod:`predictor.sources.base`).

    ``forecasters`` maps a kind to its forecaster (default: the registry's, default settings);
    it must hold every candidate and the fallback. Raises :class:`ForecastError` only when even
    seasonal naive cannot be fitted (e.g. less than a day of data).
    """
    settings = settings or SelectionSettings()
    kinds = tuple(dict.fromkeys((*settings.candidates, FALLBACK)))
    if forecasters is None:
        forecasters = default_forecasters(kinds)
    missing = [kind for kind in kinds if kind not in forecasters]
    if missing:
        raise ForecastError(f"no forecaster given for {missing}")
    window = settings.window()
    step_s = backtest.step_seconds(history)
    span_s = backtest.data_span_s(history, step_s)
    scores: dict[str, CandidateScore] = {}

    fallback_needs_s = forecasters[FALLBACK].min_history_s
    if span_s < fallback_needs_s:
        raise ForecastError(
            f"history covers {span_s / 3_600:.1f} h; forecasting needs at least "
            f"{fallback_needs_s / 3_600:g} h ({fallback_needs_s / DAY_S:g} day) of history"
        )
    if span_s < settings.min_history_s:
        reason = f"history is {_days(span_s)}, under {_days(settings.min_history_s)}: no backtest"
        scores = {kind: CandidateScore(kind, "skipped", error=reason) for kind in kinds}
        return _refit([], scores, forecasters, history, seed, reason, (), settings=settings)

    eligible = []
    for kind in kinds:
        forecaster = forecasters[kind]
        need = max(forecaster.min_history_s, settings.min_history_s)
        if _is_weekly(kind, forecaster, settings):
            need = max(need, settings.weekly_min_history_s)
        if span_s < need:
            scores[kind] = CandidateScore(kind, "skipped", error=f"needs {_days(need)} of history")
        else:
            eligible.append(kind)

    # All candidates share the origins; one whose own minimum leaves no origin is dropped.
    at: list[pd.Timestamp] = []
    while eligible:
        min_train_s = max(max(forecasters[k].min_history_s for k in eligible), DAY_S)
        at = backtest.origins(history, window, min_train_s=min_train_s)
        if at:
            break
        greediest = max(eligible, key=lambda k: (forecasters[k].min_history_s, k != FALLBACK))
        eligible.remove(greediest)
        scores[greediest] = CandidateScore(
            greediest, "skipped", error=f"history too short for one backtest origin ({_days(span_s)})"
        )

    results: dict[str, backtest.BacktestResult] = {}
    started = timer()
    budget_hit = False
    keep_s = settings.calibration_horizon_s if settings.calibrate else 0
    for kind in sorted(eligible, key=lambda k: k != FALLBACK):  # the fallback first: always an answer
        spent = timer() - started
        if settings.budget_s is not None and spent > settings.budget_s:
            budget_hit = True
            reason = f"fit time budget of {settings.budget_s:g} s used up ({spent:.2f} s spent)"
            scores[kind] = CandidateScore(kind, "skipped", error=reason)
            continue
        try:
            result = backtest.run(
                forecasters[kind],
                history,
                at,
                window,
                quantile=settings.quantile,
                seed=seed,
                timer=timer,
                keep_s=keep_s,
            )
        except Exception as exc:  # any failing candidate is out, never the whole target
            scores[kind] = CandidateScore(kind, "failed", folds=len(at), error=_describe(exc))
            continue
        results[kind] = result
        scores[kind] = _score_of(kind, result, len(at))
    scores = {kind: scores[kind] for kind in kinds}  # report in the configured order
    if settings.ensemble:
        combined = combination.backtest_combination(results, history, window, settings.ensemble_power)
        if combined is not None:
            results[ENSEMBLE] = combined[0]
            scores[ENSEMBLE] = replace(_score_of(ENSEMBLE, combined[0], len(at)), coverage=math.nan)

    ranked, forced = _rank(scores, settings)
    selection = _refit(ranked, scores, forecasters, history, seed, forced, tuple(at), results, settings)
    if settings.anchor:
        selection = _anchored(selection, forecasters, history, seed, results, settings)
    return replace(selection, budget_hit=budget_hit)


def _anchored(
    selection: Selection,
    forecasters: Mapping[str, Forecaster],
    history: pd.Series,
    seed: int,
    results: Mapping[str, backtest.BacktestResult],
    settings: SelectionSettings,
) -> Selection:
    """``selection`` mixed with seasonal naive on the weekdays the evidence names, else unchanged.

    Seasonal naive is refitted on the whole history, its own residuals taken on the anchored
    weekdays only, and its band calibrated on its own backtest, like a chosen model's; if it
    cannot be fitted, the choice stands.
    """
    chosen = selection.model
    if selection.kind == FALLBACK or not isinstance(chosen, LogSpaceModel):
        return selection
    shares = anchoring.weekday_shares(
        history, low=settings.anchor_low, high=settings.anchor_high, share=settings.anchor_share
    )
    if not any(shares):
        return selection
    fallback = forecasters[FALLBACK]
    if isinstance(fallback, SeasonalNaive):
        fallback = fallback.on_weekdays(anchoring.anchored_weekdays(shares))
    try:
        naive = fallback.fit(history, seed=seed)
    except Exception:  # the choice stands without its anchor
        return selection
    if not isinstance(naive, LogSpaceModel):
        return selection
    if settings.calibrate and FALLBACK in results:
        calibration.calibrate(naive, results[FALLBACK], history)
    model = anchoring.AnchoredModel.of(selection.kind, chosen, naive, shares, combination.log_offset(history))
    return replace(selection, kind=ANCHORED, model=model, anchor=model.describe())


def _score_of(kind: str, result: backtest.BacktestResult, folds: int) -> CandidateScore:
    return CandidateScore(
        kind,
        "ok",
        mase=result.mase,
        wape=result.wape,
        coverage=result.coverage,
        mae=result.mae,
        fit_s=result.fit_s,
        folds=folds,
    )


def _rank(scores: Mapping[str, CandidateScore], settings: SelectionSettings) -> tuple[list[str], str | None]:
    """Kinds in the order to try (best first) and the reason when seasonal naive is forced first."""
    ok = [s for s in scores.values() if s.status == "ok" and np.isfinite(s.mae)]
    if not ok:
        failed = [s.kind for s in scores.values() if s.status == "failed"]
        why = f"failed: {', '.join(failed)}" if failed else "no scored bins with data"
        return [], f"no candidate could be backtested ({why})"
    ranked = [s.kind for s in sorted(ok, key=lambda s: (s.mae, s.kind != FALLBACK, s.kind))]
    naive = scores[FALLBACK]
    if (
        naive.status == "ok"
        and ranked[0] != FALLBACK
        and scores[ranked[0]].mae > naive.mae * (1 - settings.min_gain)
    ):
        reason = f"{ranked[0]} beat seasonal naive by under {settings.min_gain:.0%}"
        return [FALLBACK, *(k for k in ranked if k != FALLBACK)], reason
    return ranked, None


def _refit(
    ranked: list[str],
    scores: dict[str, CandidateScore],
    forecasters: Mapping[str, Forecaster],
    history: pd.Series,
    seed: int,
    reason: str | None,
    at: tuple[pd.Timestamp, ...],
    results: Mapping[str, backtest.BacktestResult] | None = None,
    settings: SelectionSettings | None = None,
) -> Selection:
    """Fit the best kind that fits on the whole history; seasonal naive is the last resort.

    The fitted model's quantiles are then recalibrated on its backtest residuals when the
    settings ask for it and there are enough, and widened for a history under a week (see
    :mod:`predictor.forecasting.calibration`).
    """
    results = results or {}
    error: Exception | None = None
    for kind in [*ranked, *([] if FALLBACK in ranked else [FALLBACK])]:
        try:
            if kind == ENSEMBLE:
                assert settings is not None  # an ensemble is only scored when the settings ask
                model = combination.fit_combination(
                    results, forecasters, history, seed, settings.window(), settings.ensemble_power
                )
            else:
                model = forecasters[kind].fit(history, seed=seed)
        except Exception as exc:  # any failure falls through to the next best
            error = exc
            scores[kind] = replace(scores[kind], status="failed", error=f"refit: {_describe(exc)}")
            reason = f"{kind} failed to refit on the whole history"
            continue
        note = "the model's own residuals"
        if settings is not None and settings.calibrate:
            if kind in results:
                note = calibration.calibrate(model, results[kind], history) or note
            floor = calibration.short_history_floor(model, history)
            note = f"{note}; {floor}" if floor else note
        return Selection(kind, model, scores, reason, at, note)
    assert error is not None  # the loop tries at least the fallback
    raise ForecastError(f"seasonal naive cannot be fitted either: {_describe(error)}") from error
