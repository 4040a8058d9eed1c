"""``model: auto``: the backtest picks the model whose answer is known, falls back, keeps every score.

Most tests use small fakes at our own Forecaster interface (a seasonal lag copy, an oracle, a
failing model) so that the right answer is known exactly; one test runs the real registry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from predictor.errors import ForecastError
from predictor.forecasting import backtest, combination, registry, selection
from predictor.forecasting.base import DAY_S, DEFAULT_QUANTILES, WEEK_S, FittedModel, Forecast, Forecaster
from predictor.forecasting.selection import FALLBACK, SelectionSettings
from predictor.sources.synthetic import synthetic_trace

STEP_S = 300


class CopyModel(FittedModel):
    """Repeats the value seen ``lag_s`` earlier (or a known ``truth``); p90 = 1.2 x mean."""

    kind: ClassVar[str] = "copy"

    def __init__(self, history: pd.Series, lag_s: int, truth: pd.Series | None, scale: float):
        self.history, self.lag, self.truth, self.scale = history, pd.Timedelta(seconds=lag_s), truth, scale

    def predict(
        self, start: pd.Timestamp, periods: int, quantiles: Sequence[float] = DEFAULT_QUANTILES
    ) -> Forecast:
        index = pd.date_range(start, periods=periods, freq=f"{STEP_S}s")
        if self.truth is not None:
            values = self.truth.reindex(index).fillna(0.0).to_numpy()
        else:
            end = self.history.index[-1]
            source = [t - self.lag * math.ceil((t - end) / self.lag) for t in index]
            values = self.history.reindex(source).fillna(self.history.mean()).to_numpy() * self.scale
        return Forecast(index, values, {q: values * (1 + q - 0.5) for q in quantiles}, self.kind)

    def to_state(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> FittedModel:
        raise NotImplementedError


class CopyForecaster(Forecaster):
    """A seasonal naive fake; ``truth`` makes it an oracle, ``fails`` decides when fit raises."""

    kind: ClassVar[str] = "copy"

    def __init__(
        self,
        lag_s: int = DAY_S,
        *,
        min_history_s: int = DAY_S,
        truth: pd.Series | None = None,
        fails: Callable[[pd.Series], bool] = lambda history: False,
        scale: float = 1.0,
    ):
        self.lag_s, self.min_history_s, self.truth, self.fails, self.scale = (
            lag_s,
            min_history_s,
            truth,
            fails,
            scale,
        )

    def fit(self, history: pd.Series, *, seed: int = 0) -> FittedModel:
        if self.fails(history):
            raise ForecastError("boom: this fake always fails here")
        return CopyModel(history, self.lag_s, self.truth, self.scale)


def weekly_trace(days: float, *, seed: int = 0) -> pd.Series:
    # From a Monday; 23 days end after a Tuesday, so the backtest origins see Saturday to Monday.
    return synthetic_trace(days=days, step_s=STEP_S, weekend_factor=0.3, noise=0.03, bursts=0, seed=seed)


def fakes(**extra: Forecaster) -> dict[str, Forecaster]:
    return {
        FALLBACK: CopyForecaster(DAY_S),
        "seasonal_naive_weekly": CopyForecaster(WEEK_S, min_history_s=WEEK_S),
        **extra,
    }


def settings(*extra: str, **changes: Any) -> SelectionSettings:
    """The fakes are not log-space models: they are compared one by one, not combined."""
    changes.setdefault("ensemble", False)
    return SelectionSettings(candidates=(FALLBACK, "seasonal_naive_weekly", *extra), **changes)


def no_clock() -> float:
    return 0.0


def test_weekly_pattern_picks_the_weekly_model_and_keeps_every_score():
    history = weekly_trace(23)
    result = selection.select_model(history, settings=settings(), forecasters=fakes(), timer=no_clock)

    assert result.kind == "seasonal_naive_weekly"
    assert result.fallback_reason is None
    assert list(result.scores) == [FALLBACK, "seasonal_naive_weekly"]
    weekly, daily = result.scores["seasonal_naive_weekly"], result.scores[FALLBACK]
    assert weekly.status == daily.status == "ok"
    assert weekly.mase < 0.8 * daily.mase
    assert weekly.wape < daily.wape
    assert 0.0 <= weekly.coverage <= 1.0
    assert weekly.folds == len(result.origins) == SelectionSettings().folds
    assert result.model.predict(history.index[-1], 3).mean.shape == (3,)


def test_origins_are_spaced_and_leave_the_longest_horizon_scored():
    history = weekly_trace(23)
    s = settings(folds=3, fold_spacing_s=DAY_S, horizons_s=(900, 2 * 3600))
    result = selection.select_model(history, settings=s, forecasters=fakes(), timer=no_clock)
    end = history.index[-1] + pd.Timedelta(seconds=STEP_S)
    assert list(result.origins) == [end - pd.Timedelta(hours=2) - k * pd.Timedelta(days=1) for k in range(3)]


class LeadBiasModel(CopyModel):
    """Knows the truth, but is off by 1 req/s before a 1-hour lead and by 3 req/s after it."""

    def predict(
        self, start: pd.Timestamp, periods: int, quantiles: Sequence[float] = DEFAULT_QUANTILES
    ) -> Forecast:
        index = pd.date_range(start, periods=periods, freq=f"{STEP_S}s")
        bias = np.where(np.arange(periods) * STEP_S < 3600, 1.0, 3.0)
        values = self.truth.reindex(index).to_numpy() + bias
        return Forecast(index, values, {q: values for q in quantiles}, self.kind)


class LeadBiasForecaster(CopyForecaster):
    def fit(self, history: pd.Series, *, seed: int = 0) -> FittedModel:
        return LeadBiasModel(history, self.lag_s, self.truth, self.scale)


def test_each_horizon_bucket_weighs_the_same_whatever_its_number_of_bins():
    history = weekly_trace(4)
    window = backtest.Window((900, 3600, 4 * 3600), folds=2, fold_spacing_s=DAY_S)
    at = backtest.origins(history, window, min_train_s=DAY_S)
    result = backtest.run(
        LeadBiasForecaster(truth=history), history, at, window, quantile=0.9, seed=0, timer=no_clock
    )
    # 9 bins (15 min-1 h) off by 1 and 36 bins (1-4 h) off by 3: (1 + 3) / 2, not 117 / 45
    assert result.mae == pytest.approx(2.0)
    assert result.points == 2 * 45
    assert result.coverage == 1.0


def test_recent_origins_weigh_more_in_the_ranking_error():
    history = weekly_trace(4)
    index = history.index
    origins = [index[-200], index[-500]]  # latest first, as backtest.origins gives them
    actual = np.full(48, 10.0)

    def fold(origin: pd.Timestamp, error: float) -> backtest.Fold:
        return backtest.Fold(origin, actual + error, actual + error, actual)

    alike = backtest.Window((900, 3600, 4 * 3600), folds=2, fold_spacing_s=DAY_S)
    recent = backtest.Window((900, 3600, 4 * 3600), folds=2, fold_spacing_s=DAY_S, fold_halflife=1.0)
    wrong_lately = [fold(origins[0], 4.0), fold(origins[1], 1.0)]
    wrong_before = [fold(origins[0], 1.0), fold(origins[1], 4.0)]
    assert backtest.score(wrong_lately, history, alike).mae == pytest.approx(2.5)
    assert backtest.score(wrong_before, history, alike).mae == pytest.approx(2.5)
    # weights 1 and 0.5: (4 + 0.5) / 1.5 = 3 against (1 + 2) / 1.5 = 2, in either fold order
    assert backtest.score(wrong_lately, history, recent).mae == pytest.approx(3.0)
    assert backtest.score(wrong_before[::-1], history, recent).mae == pytest.approx(2.0)
    with pytest.raises(ForecastError, match="fold_halflife"):
        backtest.Window((900, 3600), folds=2, fold_spacing_s=DAY_S, fold_halflife=0.0)


def test_a_small_win_keeps_seasonal_naive():
    history = weekly_trace(23)
    measured = selection.select_model(history, settings=settings(min_gain=0.0), forecasters=fakes())
    weekly, daily = measured.scores["seasonal_naive_weekly"].mae, measured.scores[FALLBACK].mae
    gain = 1 - weekly / daily
    assert gain > 0

    result = selection.select_model(history, settings=settings(min_gain=gain + 0.01), forecasters=fakes())
    assert result.kind == FALLBACK
    assert "seasonal_naive_weekly beat seasonal naive by under" in result.fallback_reason


def test_under_two_days_falls_back_to_daily_naive_without_a_backtest():
    history = weekly_trace(1.5)
    result = selection.select_model(history, settings=settings(), forecasters=fakes())
    assert result.kind == FALLBACK
    assert "under 2.0 d" in result.fallback_reason
    assert {s.status for s in result.scores.values()} == {"skipped"}
    assert result.origins == ()
    assert isinstance(result.model, CopyModel)


def test_weekly_models_are_not_candidates_under_two_weeks():
    history = weekly_trace(10)
    oracle = CopyForecaster(truth=history, min_history_s=WEEK_S)  # would win if it ran
    s = settings("weekly_oracle", weekly_kinds=frozenset({"seasonal_naive_weekly"}))
    result = selection.select_model(history, settings=s, forecasters=fakes(weekly_oracle=oracle))
    assert result.kind == FALLBACK
    for kind in ("seasonal_naive_weekly", "weekly_oracle"):  # by name, and by its declared history
        assert result.scores[kind].status == "skipped"
        assert "needs 14.0 d" in result.scores[kind].error
    assert result.scores[FALLBACK].status == "ok"


def test_a_failing_candidate_is_out_with_its_error_and_the_rest_still_compete():
    history = weekly_trace(23)
    broken = CopyForecaster(fails=lambda h: True)
    result = selection.select_model(history, settings=settings("broken"), forecasters=fakes(broken=broken))
    assert result.kind == "seasonal_naive_weekly"
    assert result.scores["broken"].status == "failed"
    assert "ForecastError: boom" in result.scores["broken"].error
    assert math.isnan(result.scores["broken"].mase)


def test_a_winner_that_fails_to_refit_gives_way_to_the_next_best():
    history = weekly_trace(23)
    full = len(history)
    oracle = CopyForecaster(truth=history, fails=lambda h: len(h) == full)  # perfect, until the final fit
    result = selection.select_model(history, settings=settings("oracle"), forecasters=fakes(oracle=oracle))
    assert result.scores["oracle"].status == "failed"
    assert result.scores["oracle"].mase == 0.0  # the backtest score is kept
    assert result.scores["oracle"].error.startswith("refit: ForecastError")
    assert result.kind == "seasonal_naive_weekly"
    assert result.fallback_reason == "oracle failed to refit on the whole history"


def test_a_forced_seasonal_naive_that_fails_to_refit_gives_way_too():
    history = weekly_trace(23)
    fragile = fakes(**{FALLBACK: CopyForecaster(fails=lambda h: len(h) == len(history))})
    result = selection.select_model(history, settings=settings(min_gain=0.99), forecasters=fragile)
    assert result.kind == "seasonal_naive_weekly"
    assert result.scores[FALLBACK].status == "failed"
    assert result.fallback_reason == "seasonal_naive failed to refit on the whole history"


def test_a_candidate_whose_own_minimum_leaves_no_origin_is_skipped():
    history = weekly_trace(2.5)
    greedy = CopyForecaster(min_history_s=int(2.4 * DAY_S))  # the latest origin has 2.33 days before it
    result = selection.select_model(history, settings=settings("greedy"), forecasters=fakes(greedy=greedy))
    assert result.scores["greedy"].status == "skipped"
    assert "too short for one backtest origin" in result.scores["greedy"].error
    assert result.scores[FALLBACK].status == "ok"
    assert result.kind == FALLBACK
    assert len(result.origins) == 2  # 2.33 and 1.2 days of training, each >= seasonal naive's day


def test_every_candidate_failing_falls_back_to_daily_naive():
    history = weekly_trace(23)
    broken = fakes(seasonal_naive_weekly=CopyForecaster(WEEK_S, fails=lambda h: True))
    broken[FALLBACK] = CopyForecaster(fails=lambda h: len(h) < len(history))  # backtest only
    result = selection.select_model(history, settings=settings(), forecasters=broken)
    assert result.kind == FALLBACK
    assert "no candidate could be backtested" in result.fallback_reason
    assert {s.status for s in result.scores.values()} == {"failed"}


def test_when_even_seasonal_naive_cannot_fit_the_error_is_ours():
    history = weekly_trace(23)
    never = CopyForecaster(fails=lambda h: True)
    always = fakes(**{FALLBACK: never, "seasonal_naive_weekly": never})
    with pytest.raises(ForecastError, match="seasonal naive cannot be fitted"):
        selection.select_model(history, settings=settings(), forecasters=always)


def test_non_finite_forecasts_fail_the_candidate():
    history = weekly_trace(23)
    nan_model = CopyForecaster(scale=float("nan"))
    result = selection.select_model(history, settings=settings("nan"), forecasters=fakes(nan=nan_model))
    assert result.scores["nan"].status == "failed"
    assert "non-finite" in result.scores["nan"].error


def test_same_history_and_seed_give_the_same_choice_and_scores():
    history = weekly_trace(23)
    first = selection.select_model(history, settings=settings(), forecasters=fakes(), seed=7, timer=no_clock)
    again = selection.select_model(history, settings=settings(), forecasters=fakes(), seed=7, timer=no_clock)
    assert first.kind == again.kind
    assert first.scores == again.scores


def test_bad_settings_and_missing_forecasters_are_clear_errors():
    history = weekly_trace(3)
    for horizons in ((3600, 900), (900,), (-60, 900)):
        with pytest.raises(ForecastError, match="horizons_s must be"):
            selection.select_model(history, settings=settings(horizons_s=horizons), forecasters=fakes())
    with pytest.raises(ForecastError, match="no forecaster given"):
        selection.select_model(history, settings=settings("absent"), forecasters=fakes())


def test_real_models_find_the_weekly_pattern():
    assert set(SelectionSettings().candidates) <= set(registry.FORECASTERS)
    history = weekly_trace(21, seed=3)
    result = selection.select_model(history, settings=SelectionSettings(anchor=False), seed=0)
    assert result.kind != FALLBACK, result.scores
    assert result.scores[result.kind].mase < result.scores[FALLBACK].mase
    forecast = result.model.predict(history.index[-1] + pd.Timedelta(seconds=STEP_S), 12)
    assert np.all(np.isfinite(forecast.mean))
    anchored = selection.select_model(history, seed=0)  # the same choice, maybe leaning on yesterday
    assert anchored.kind in (result.kind, selection.ANCHORED)
    if anchored.kind == selection.ANCHORED:
        assert anchored.anchor is not None and anchored.anchor.startswith(f"{result.kind}, with")


class StepClock:
    """A fake timer that advances ``step`` seconds on every read."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_time_budget_skips_the_remaining_candidates_with_the_reason():
    history = weekly_trace(23)
    # Every read of the clock moves it 0.1 s: the fallback's backtest alone "takes" over 1 s.
    result = selection.select_model(
        history, settings=settings(budget_s=0.5), forecasters=fakes(), timer=StepClock(0.1)
    )
    assert result.budget_hit
    assert result.kind == FALLBACK
    weekly = result.scores["seasonal_naive_weekly"]
    assert weekly.status == "skipped" and "budget of 0.5 s used up" in (weekly.error or "")
    assert result.scores[FALLBACK].status == "ok"
    unbounded = selection.select_model(
        history, settings=settings(), forecasters=fakes(), timer=StepClock(0.1)
    )
    assert not unbounded.budget_hit and unbounded.kind == "seasonal_naive_weekly"


def test_the_ensemble_combines_real_candidates_and_round_trips():
    history = weekly_trace(21, seed=5)
    result = selection.select_model(history, seed=0)
    combined = result.scores[selection.ENSEMBLE]
    assert combined.status == "ok" and np.isfinite(combined.mae)
    members = [s for k, s in result.scores.items() if k != selection.ENSEMBLE and s.status == "ok"]
    assert combined.mae <= max(s.mae for s in members)  # a weighted mean is never worse than the worst
    fitted = combination.fit_combination(  # the refit the ranking would do if it won
        _results(history),
        selection.default_forecasters(SelectionSettings().candidates),
        history,
        0,
        SelectionSettings().window(),
        2.0,
    )
    assert fitted.kind == "ensemble"
    state = fitted.to_state()
    loaded = registry.fitted_model_class("ensemble").from_state(state)
    start = history.index[-1] + pd.Timedelta(seconds=STEP_S)
    np.testing.assert_allclose(fitted.predict(start, 24).mean, loaded.predict(start, 24).mean, rtol=1e-12)


def _results(history: pd.Series) -> dict[str, backtest.BacktestResult]:
    window = SelectionSettings().window()
    at = backtest.origins(history, window, min_train_s=2 * DAY_S)
    return {
        kind: backtest.run(f, history, at, window, quantile=0.9, seed=0, timer=no_clock, keep_s=DAY_S)
        for kind, f in selection.default_forecasters(SelectionSettings().candidates).items()
    }


def test_the_chosen_model_is_pooled_with_its_backtest_residuals_from_one_hour():
    history = weekly_trace(21, seed=6)
    result = selection.select_model(history, seed=0)
    assert result.calibration.startswith("its own residuals, pooled from 1 h with the backtest's")
    own = selection.select_model(history, settings=SelectionSettings(calibrate=False), seed=0)
    assert own.calibration == "the model's own residuals"
    start = history.index[-1] + pd.Timedelta(seconds=STEP_S)
    a, b = result.model.predict(start, 288), own.model.predict(start, 288)
    assert result.kind == own.kind
    np.testing.assert_allclose(a.mean, b.mean)
    soon = slice(0, 3_600 // STEP_S)  # under an hour: the model's own table stands
    np.testing.assert_allclose(a.quantile(0.9)[soon], b.quantile(0.9)[soon])
    later = slice(3_600 // STEP_S, None)  # from 1 h: the mean of its own and the backtest's
    assert not np.allclose(a.quantile(0.9)[later], b.quantile(0.9)[later])
    assert (a.quantile(0.5) <= a.quantile(0.9)).all()


def test_under_a_week_of_history_the_backtest_is_pooled_at_every_lead_time():
    # A few days held out are no better an estimate of the short-lead band than the backtest.
    history = weekly_trace(5, seed=6)
    result = selection.select_model(history, seed=0)
    assert result.calibration.startswith("its own residuals, pooled from 0 h with the backtest's")
    own = selection.select_model(history, settings=SelectionSettings(calibrate=False), seed=0)
    start = history.index[-1] + pd.Timedelta(seconds=STEP_S)
    a, b = result.model.predict(start, 288), own.model.predict(start, 288)
    assert result.kind == own.kind
    np.testing.assert_allclose(a.mean, b.mean)
    soon = slice(0, 3_600 // STEP_S)  # the short-history floor starts at 6 h: this is the pooling
    assert not np.allclose(a.quantile(0.9)[soon], b.quantile(0.9)[soon])
    assert np.isfinite(a.quantile(0.95)).all()
    assert (a.quantile(0.5) <= a.quantile(0.9)).all() and (a.quantile(0.9) <= a.quantile(0.95)).all()


def test_under_a_day_of_history_the_error_states_the_minimum():
    short = weekly_trace(23).iloc[: 20 * 12]  # 20 hours
    with pytest.raises(ForecastError, match=r"covers 20.0 h; forecasting needs at least 24 h \(1 day\)"):
        selection.select_model(short)
