"""Leaning on yesterday: the weekday evidence, the shares, the mixed model, and ``auto`` using it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictor.errors import ForecastError
from predictor.forecasting import anchor, combination, registry, selection
from predictor.forecasting.models import naive as naive_models
from predictor.forecasting.quantiles import ResidualQuantiles
from predictor.forecasting.selection import SelectionSettings
from predictor.sources.synthetic import synthetic_trace

STEP_S = 300
MONDAY = pd.Timestamp("2026-03-02", tz="UTC")


def growing(days: int = 28, growth: float = 0.03, seed: int = 3) -> pd.Series:
    """Weekdays alike and weekends their own, the level rising ``growth`` per day: yesterday is
    close on a weekday after a weekday, last week is ``(1 + growth) ** 7`` off."""
    base = synthetic_trace(start=MONDAY, days=days, step_s=STEP_S, bursts=0, noise=0.02, seed=seed)
    age_days = (base.index - base.index[0]) / pd.Timedelta(days=1)
    return base * (1.0 + growth) ** np.asarray(age_days)


def test_yesterday_wins_after_a_day_of_the_same_kind_and_loses_after_a_change() -> None:
    evidence = anchor.weekday_evidence(growing())
    assert all(len(r) == 3 for r in evidence)  # three weeks back on 28 days
    for day in (1, 2, 3, 4, 6):  # Tue-Fri after a weekday, Sunday after Saturday
        assert min(evidence[day]) > anchor.HIGH, anchor.WEEKDAYS[day]
    for day in (0, 5):  # Monday after Sunday, Saturday after Friday
        assert max(evidence[day]) < anchor.LOW, anchor.WEEKDAYS[day]
    assert anchor.weekday_shares(growing()) == (0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0)


def test_the_middle_band_gets_the_share_and_the_constants_are_settable() -> None:
    shares = anchor.weekday_shares(growing(), low=0.5, high=1e9, share=0.4)
    assert shares[1:5] == (0.4,) * 4 and shares[0] == 0.0


def test_a_missing_day_is_no_evidence_never_a_zero_error() -> None:
    history = growing()
    last_tuesday = history.index[-1].floor("D") - pd.Timedelta(days=(history.index[-1].dayofweek - 1) % 7)
    gap = (history.index >= last_tuesday) & (history.index < last_tuesday + pd.Timedelta(days=1))
    history = history.mask(gap)
    evidence = anchor.weekday_evidence(history)
    assert len(evidence[1]) == 2  # the blank Tuesday is skipped, not read as a perfect day
    assert len(evidence[2]) == 2  # and so is the Wednesday whose yesterday it was
    assert all(np.isfinite(evidence[1]))


def test_under_eight_days_there_is_no_evidence_and_no_share() -> None:
    short = growing(days=7)
    assert anchor.weekday_evidence(short) == ((),) * 7
    assert anchor.weekday_shares(short) == (0.0,) * 7


def _members(history: pd.Series):
    chosen = registry.make_forecaster("seasonal_naive_weekly").fit(history)
    naive = registry.make_forecaster("seasonal_naive").fit(history)
    return chosen, naive


def _anchored(history: pd.Series, shares) -> anchor.AnchoredModel:
    chosen, naive = _members(history)
    return anchor.AnchoredModel.of(
        "seasonal_naive_weekly", chosen, naive, shares, combination.log_offset(history)
    )


def test_the_mix_follows_the_share_of_each_step_weekday() -> None:
    history = growing()
    model = _anchored(history, (0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0))
    chosen, naive = _members(history)
    start = history.index[-1] + pd.Timedelta(seconds=STEP_S)  # Monday 00:00, 28 days on
    assert start.dayofweek == 0
    got = model.predict(start, 3 * 288, (0.9,))
    weekly, daily = chosen.predict(start, 3 * 288, (0.9,)), naive.predict(start, 3 * 288, (0.9,))
    monday, tuesday, wednesday = slice(0, 288), slice(288, 576), slice(576, 864)
    np.testing.assert_allclose(got.mean[monday], weekly.mean[monday], rtol=1e-9)
    np.testing.assert_allclose(got.quantile(0.9)[monday], weekly.quantile(0.9)[monday], rtol=1e-9)
    np.testing.assert_allclose(got.mean[tuesday], daily.mean[tuesday], rtol=1e-9)
    np.testing.assert_allclose(got.quantile(0.9)[tuesday], daily.quantile(0.9)[tuesday], rtol=1e-9)
    off = model.offset
    geometric = np.sqrt((weekly.mean[wednesday] + off) * (daily.mean[wednesday] + off)) - off
    np.testing.assert_allclose(got.mean[wednesday], geometric, rtol=1e-9)
    assert (got.quantile(0.9) >= got.mean).all()


def test_the_state_round_trips_and_bad_shares_are_clear_errors() -> None:
    history = growing()
    model = _anchored(history, (0.0, 0.7, 0.7, 1.0, 0.7, 0.0, 0.0))
    start = history.index[-1] + pd.Timedelta(hours=3)
    loaded = registry.fitted_model_class("anchored").from_state(model.to_state())
    np.testing.assert_allclose(loaded.predict(start, 48).mean, model.predict(start, 48).mean)
    state = model.to_state()
    state["params"]["shares"] = [0.0, 1.5, 0, 0, 0, 0, 0]
    with pytest.raises(ForecastError, match="anchored: invalid model state: anchor shares must be 7 values"):
        registry.fitted_model_class("anchored").from_state(state)
    assert model.describe() == "seasonal_naive_weekly, with seasonal naive 0.7 on Tue, Wed, Fri; 1 on Thu"


def test_auto_anchors_its_choice_on_the_weekdays_the_evidence_names() -> None:
    history = growing()
    result = selection.select_model(history)
    assert result.kind == "anchored"
    assert result.anchor is not None and result.anchor.endswith("seasonal naive 1 on Tue, Wed, Thu, Fri, Sun")
    assert result.model.shares == (0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0)
    plain = selection.select_model(history, settings=SelectionSettings(anchor=False))
    assert plain.kind != "anchored" and plain.anchor is None
    assert result.anchor.startswith(f"{plain.kind}, with")
    start = history.index[-1] + pd.Timedelta(seconds=STEP_S)  # a Monday: share 0, the choice itself
    np.testing.assert_allclose(result.model.predict(start, 288).mean, plain.model.predict(start, 288).mean)


def _last_week_residuals(history: pd.Series, offset: float, weekdays=range(7)) -> np.ndarray:
    """Seasonal naive's log residuals over the last week, on ``weekdays`` only."""
    z = np.log(history.to_numpy(dtype=float) + offset)
    week, day = 7 * 288, 288
    residuals = z[-week:] - z[-week - day : -day]
    return residuals[np.isin(history.index[-week:].dayofweek, list(weekdays))]


def test_seasonal_naive_calibrated_on_some_weekdays_sees_only_their_errors() -> None:
    history = growing()  # a Monday jumps from Sunday, a Saturday from Friday
    everyday = naive_models.SeasonalNaive().fit(history)
    tue_fri = naive_models.SeasonalNaive().on_weekdays((1, 2, 3, 4)).fit(history)
    lead = np.array([900.0])
    for model, days in ((everyday, range(7)), (tue_fri, (1, 2, 3, 4))):
        residuals = _last_week_residuals(history, model.offset, days)
        expected = ResidualQuantiles.from_residuals(residuals, np.zeros(len(residuals)))
        got = model.residuals.residual(0.9, lead)
        np.testing.assert_allclose(got, expected.residual(0.9, lead), rtol=1e-9)
    assert tue_fri.residuals.residual(0.9, lead)[0] < 0.5 * everyday.residuals.residual(0.9, lead)[0]
    np.testing.assert_allclose(tue_fri.profile, everyday.profile)  # only the band differs


def test_too_few_residuals_on_those_weekdays_keep_the_whole_week_and_bad_weekdays_are_refused() -> None:
    history = growing()
    last_tuesday = history.index[-1].floor("D") - pd.Timedelta(days=(history.index[-1].dayofweek - 1) % 7)
    tuesday = (history.index >= last_tuesday) & (history.index < last_tuesday + pd.Timedelta(days=1))
    history = history.mask(tuesday)
    only_tuesday = naive_models.SeasonalNaive().on_weekdays((1,)).fit(history)
    everyday = naive_models.SeasonalNaive().fit(history)
    lead = np.array([900.0])
    got, whole_week = only_tuesday.residuals.residual(0.9, lead), everyday.residuals.residual(0.9, lead)
    np.testing.assert_allclose(got, whole_week)
    with pytest.raises(ValueError, match=r"calibration weekdays must be 0 \(Monday\) to 6, got \[7\]"):
        naive_models.SeasonalNaive(calibration_weekdays=(7,))
    assert naive_models.SeasonalNaive(clip_spikes=False).on_weekdays((2,)).clip_spikes is False


def test_auto_calibrates_its_anchor_on_the_anchored_weekdays() -> None:
    history = growing()
    result = selection.select_model(history)
    anchored_days = anchor.anchored_weekdays(result.model.shares)
    assert anchored_days == (1, 2, 3, 4, 6)
    lead = np.array([900.0])  # under 1 h the own table stands; the backtest is pooled later
    own = naive_models.SeasonalNaive().on_weekdays(anchored_days).fit(history).residuals.residual(0.9, lead)
    everyday = naive_models.SeasonalNaive().fit(history).residuals.residual(0.9, lead)
    np.testing.assert_allclose(result.model.naive.residuals.residual(0.9, lead), own, rtol=1e-9)
    assert own[0] < everyday[0]


def test_without_evidence_auto_keeps_its_choice() -> None:
    week = growing(days=7)  # no day has both a yesterday and a last week
    result = selection.select_model(week)
    assert result.kind != "anchored" and result.anchor is None


def test_an_anchored_artifact_survives_a_restart_of_the_daemon(tmp_path) -> None:
    from predictor.forecasting.store import ModelArtifact, ModelStore

    history = growing()
    chosen = selection.select_model(history)
    assert chosen.kind == "anchored"
    end = history.index[-1] + pd.Timedelta(seconds=STEP_S)
    artifact = ModelArtifact(
        kind=chosen.kind,
        trained_at=end,
        data_start=history.index[0],
        data_end=end,
        step_s=STEP_S,
        scores={},
        model=chosen.model,
    )
    ModelStore(tmp_path).save("default/chat", artifact)
    loaded = ModelStore(tmp_path).load("default/chat")  # a new process reads what the last one wrote
    assert loaded is not None and loaded.kind == "anchored"
    start = end + pd.Timedelta(hours=20)  # into Tuesday: a share of 1
    before, after = chosen.model.predict(start, 96, (0.9,)), loaded.model.predict(start, 96, (0.9,))
    np.testing.assert_allclose(after.mean, before.mean, rtol=1e-12)
    np.testing.assert_allclose(after.quantile(0.9), before.quantile(0.9), rtol=1e-12)
