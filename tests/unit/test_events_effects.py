"""The effects of active windows on a forecast and on the floor, and how overlaps combine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor import events as ev
from predictor.errors import ForecastError
from predictor.events.training import HolidayLevel

INDEX = pd.date_range("2026-03-05 08:00", periods=6 * 12, freq="300s", tz="UTC")  # Thu 08:00-14:00
QS = (0.5, 0.9)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def window(name, start, end, kind, value, *, order=0, zone="UTC", holiday=False) -> ev.ActiveWindow:
    return ev.ActiveWindow(
        name=name,
        event=name,
        effect=ev.Effect(kind, value),
        start=utc(start),
        end=utc(end),
        timezone=zone,
        order=order,
        holiday=holiday,
    )


def flat(level: float = 10.0) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    n = len(INDEX)
    return np.full(n, level), {0.5: np.full(n, level), 0.9: np.full(n, level * 1.3)}


def at(clock: str) -> int:
    return int(INDEX.get_loc(utc(f"2026-03-05 {clock}")))


LAUNCH = window("launch-day", "2026-03-05 09:00", "2026-03-05 12:00", "multiply", 2.5)


def test_multiply_scales_the_window_and_says_so():
    mean, qs = flat()
    new_mean, new_qs, notes = ev.adjust_forecast(INDEX, mean, qs, [LAUNCH])
    assert new_mean[at("08:55")] == 10 and new_mean[at("09:00")] == 25 and new_mean[at("11:55")] == 25
    assert new_mean[at("12:00")] == 10
    assert new_qs[0.9][at("10:00")] == pytest.approx(32.5)
    assert notes == ("launch-day: ×2.5 from 09:00 to 12:00",)
    assert mean[at("10:00")] == 10  # the inputs are not changed


def test_a_bin_that_overlaps_the_window_counts():
    late = window("late", "2026-03-05 09:07", "2026-03-05 09:20", "add_rps", 5)
    new_mean, _, _ = ev.adjust_forecast(INDEX, *flat(), [late])
    assert [new_mean[at(c)] for c in ("09:00", "09:05", "09:10", "09:15", "09:20")] == [10, 15, 15, 15, 10]


def test_factors_multiply_and_amounts_add_after_them():
    other = window("mail", "2026-03-05 10:00", "2026-03-05 11:00", "multiply", 2.0, order=1)
    extra = window("batch", "2026-03-05 10:30", "2026-03-05 13:00", "add_rps", 7.0, order=2)
    new_mean, _, notes = ev.adjust_forecast(INDEX, *flat(), [LAUNCH, other, extra])
    assert new_mean[at("09:30")] == 25  # ×2.5
    assert new_mean[at("10:15")] == 50  # ×2.5 ×2
    assert new_mean[at("10:45")] == 57  # ×2.5 ×2 +7
    assert new_mean[at("12:30")] == 17  # +7
    assert len(notes) == 3


def test_a_negative_amount_never_takes_the_forecast_below_zero():
    drain = window("moved", "2026-03-05 09:00", "2026-03-05 10:00", "add_rps", -50.0)
    new_mean, new_qs, notes = ev.adjust_forecast(INDEX, *flat(), [drain])
    assert new_mean[at("09:30")] == 0 and new_qs[0.9][at("09:30")] == 0
    assert notes == ("moved: −50 req/s from 09:00 to 10:00",)


def test_missing_stays_missing():
    mean, qs = flat()
    mean[at("10:00")] = np.nan
    qs[0.9][at("10:05")] = np.nan
    new_mean, new_qs, _ = ev.adjust_forecast(INDEX, mean, qs, [LAUNCH])
    assert np.isnan(new_mean[at("10:00")]) and np.isnan(new_qs[0.9][at("10:05")])
    assert new_qs[0.5][at("10:05")] == 25


def like_provider(calls: list[pd.DatetimeIndex]):
    """Forecasts any time as 100 + the day of the week (Monday = 0), so the weekday is visible."""

    def provide(times: pd.DatetimeIndex):
        calls.append(times)
        level = 100.0 + times.weekday.to_numpy()
        return level, {0.5: level, 0.9: level * 1.2}

    return provide


def test_like_forecasts_the_same_local_time_on_the_nearest_weekday():
    calls: list[pd.DatetimeIndex] = []
    quiet = window("strike", "2026-03-05 10:00", "2026-03-05 12:00", "like", 6, zone="Europe/Berlin")
    new_mean, new_qs, notes = ev.adjust_forecast(INDEX, *flat(), [quiet], like_provider(calls))
    assert new_mean[at("10:00")] == 106 and new_qs[0.9][at("11:55")] == pytest.approx(127.2)
    assert new_mean[at("09:55")] == 10 and new_mean[at("12:00")] == 10
    (asked,) = calls
    # Thursday -> the nearest Sunday is three days later, same local clock time.
    assert asked[0] == utc("2026-03-08 10:00")
    assert notes == ("strike: like a Sunday from 11:00 to 13:00 CET",)


def test_like_keeps_the_local_clock_across_a_dst_switch():
    calls: list[pd.DatetimeIndex] = []
    # Friday 27 Mar 2026 09:00 CET, like the nearest Sunday (29 Mar, after the switch to CEST).
    index = pd.date_range("2026-03-27 08:00", periods=3, freq="300s", tz="UTC")
    quiet = window("quiet", "2026-03-27 08:00", "2026-03-27 09:00", "like", 6, zone="Europe/Berlin")
    ev.adjust_forecast(index, np.ones(3), {0.5: np.ones(3)}, [quiet], like_provider(calls))
    assert calls[0][0] == utc("2026-03-29 07:00")  # 09:00 CEST


def test_an_explicit_like_beats_a_holiday_and_the_first_like_wins():
    calls: list[pd.DatetimeIndex] = []
    holiday = window("Some Day", "2026-03-05 00:00", "2026-03-06 00:00", "holiday", 6, order=2, holiday=True)
    first = window("first", "2026-03-05 09:00", "2026-03-05 10:00", "like", 5, order=0)
    second = window("second", "2026-03-05 09:30", "2026-03-05 11:00", "like", 0, order=1)
    new_mean, _, notes = ev.adjust_forecast(INDEX, *flat(), [holiday, second, first], like_provider(calls))
    assert new_mean[at("09:15")] == 105  # first: Saturday
    assert new_mean[at("09:45")] == 105  # first still wins where both apply
    assert new_mean[at("10:30")] == 100  # second: Monday
    assert new_mean[at("12:00")] == 106  # the holiday (no level learned): like Sunday
    assert "second: like a Monday from 09:30 to 11:00; overlaps first, which applies there" in notes
    assert any(
        n.startswith("Some Day (holiday): like a Sunday (no past holiday in the history)") for n in notes
    )


def test_a_learned_holiday_level_scales_the_usual_day():
    holiday = window("Labour Day", "2026-03-05 00:00", "2026-03-06 00:00", "holiday", 6, holiday=True)
    level = HolidayLevel(0.4, 3)
    new_mean, new_qs, notes = ev.adjust_forecast(INDEX, *flat(), [holiday], None, holiday_level=level)
    assert new_mean[at("10:00")] == pytest.approx(4.0) and new_qs[0.9][at("10:00")] == pytest.approx(5.2)
    assert notes == ("Labour Day (holiday): 0.4× a usual day (learned from 3 past holidays) on Thu 5 Mar",)


def test_like_without_a_provider_is_a_clear_error():
    quiet = window("quiet", "2026-03-05 10:00", "2026-03-05 11:00", "like", 6)
    with pytest.raises(
        ForecastError, match="quiet: forecasting the window like a Sunday needs a like_provider"
    ):
        ev.adjust_forecast(INDEX, *flat(), [quiet])


def test_a_provider_that_returns_too_little_is_a_clear_error():
    quiet = window("quiet", "2026-03-05 10:00", "2026-03-05 11:00", "like", 6)
    with pytest.raises(ForecastError, match="must return the mean and quantiles"):
        ev.adjust_forecast(INDEX, *flat(), [quiet], lambda t: (np.ones(len(t)), {0.5: np.ones(len(t))}))


@settings(max_examples=60, deadline=None)
@given(
    factor=st.floats(0, 20),
    added=st.floats(-200, 200),
    like_level=st.floats(0, 500),
    spread=st.lists(st.floats(0, 3), min_size=3, max_size=3),
)
def test_quantiles_stay_ordered_and_finite_whatever_the_effects(factor, added, like_level, spread):
    base = np.linspace(1, 50, len(INDEX))
    qs = {0.5: base, 0.9: base * (1 + spread[0]), 0.95: base * (1 + spread[0] + spread[1])}
    windows = [
        window("f", "2026-03-05 09:00", "2026-03-05 12:00", "multiply", factor),
        window("a", "2026-03-05 10:00", "2026-03-05 13:00", "add_rps", added, order=1),
        window("l", "2026-03-05 11:00", "2026-03-05 12:00", "like", 6, order=2),
    ]

    def provider(times):
        # A provider whose own quantiles cross: the result must still be ordered.
        n = len(times)
        return np.full(n, like_level), {
            0.5: np.full(n, like_level * (1 + spread[2])),
            0.9: np.full(n, like_level),
            0.95: np.full(n, like_level * 0.5),
        }

    mean, new_qs, _ = ev.adjust_forecast(INDEX, base, qs, windows, provider)
    stacked = np.stack([new_qs[q] for q in sorted(new_qs)])
    assert np.isfinite(stacked).all() and np.isfinite(mean).all()
    assert (stacked >= 0).all() and (np.diff(stacked, axis=0) >= 0).all()


def test_floor_limits_take_the_highest_minimum_and_the_lowest_maximum():
    index = INDEX
    windows = [
        window("launch", "2026-03-05 09:00", "2026-03-05 12:00", "min_floor", 14),
        window("warm", "2026-03-05 08:30", "2026-03-05 10:00", "min_floor", 6, order=1),
        window("budget", "2026-03-05 11:00", "2026-03-05 13:00", "max_floor", 20, order=2),
        window("night", "2026-03-05 12:30", "2026-03-05 13:30", "max_floor", 3, order=3),
        window("mail", "2026-03-05 09:00", "2026-03-05 12:00", "multiply", 2, order=4),  # not a floor
    ]
    low, high, notes = ev.floor_limits(index, windows)
    assert np.isnan(low[at("08:25")]) and low[at("08:30")] == 6 and low[at("09:30")] == 14
    assert np.isnan(high[at("10:55")]) and high[at("11:30")] == 20 and high[at("12:45")] == 3
    assert notes[0] == "launch: at least 14 pods from 09:00 to 12:00"
    assert len(notes) == 4


def test_a_minimum_above_a_maximum_wins_and_is_noted():
    windows = [
        window("launch", "2026-03-05 09:00", "2026-03-05 10:00", "min_floor", 14),
        window("cap", "2026-03-05 09:30", "2026-03-05 11:00", "max_floor", 4, order=1),
    ]
    low, high, notes = ev.floor_limits(INDEX, windows)
    assert low[at("09:45")] == 14 and np.isnan(high[at("09:45")]) and high[at("10:15")] == 4
    assert notes[-1].startswith(
        "at Thu 09:30 UTC and 5 more points the minimum of 14 pods is above the maximum"
    )


def test_a_min_floor_applied_before_the_lead_time_window_raises_one_lead_time_ahead():
    """The planner's rule: the floor at t is the max over [t, t + L] of the per-point need."""
    low, _, _ = ev.floor_limits(
        INDEX, [window("launch", "2026-03-05 09:00", "2026-03-05 10:00", "min_floor", 14)]
    )
    need = np.full(len(INDEX), 2.0)
    lead_points = 3  # 15 minutes at 5-minute steps
    per_point = np.fmax(need, low)
    floor = np.array([per_point[i : i + lead_points + 1].max() for i in range(len(INDEX) - lead_points)])
    first_raised = INDEX[int(np.flatnonzero(floor == 14)[0])]
    assert first_raised == utc("2026-03-05 08:45")


def test_active_names_label_each_point():
    names = ev.active_names(
        INDEX, [LAUNCH, window("mail", "2026-03-05 11:00", "2026-03-05 13:00", "add_rps", 1, order=1)]
    )
    assert names[at("08:55")] == "" and names[at("09:00")] == "launch-day"
    assert names[at("11:30")] == "launch-day, mail" and names[at("12:30")] == "mail"


class _Forecast:
    def __init__(self, index, mean):
        self.index, self.mean = index, mean

    def quantile(self, q):
        return self.mean * (1 + q)


class _Model:
    """A fitted model whose forecast is the hour of the day (UTC), on a 300 s grid."""

    def __init__(self):
        self.calls = []

    def predict(self, start, periods, quantiles):
        self.calls.append((start, periods))
        index = pd.date_range(start, periods=periods, freq="300s")
        return _Forecast(index, index.hour.to_numpy() + index.minute.to_numpy() / 60)


def test_like_from_model_forecasts_the_asked_times_in_one_call():
    model = _Model()
    provide = ev.like_from_model(model, QS, 300)
    times = pd.DatetimeIndex([utc("2026-03-08 10:00"), utc("2026-03-08 10:05"), utc("2026-03-08 11:02")])
    mean, qs = provide(times)
    assert model.calls == [(utc("2026-03-08 10:00"), 13)]
    assert mean.tolist() == [10.0, 10 + 5 / 60, 11.0]
    assert qs[0.9][0] == pytest.approx(19.0)


def test_notes_at_say_what_is_active_and_a_holiday_its_learned_level():
    holiday = window(
        "Labour Day", "2026-03-05 00:00", "2026-03-06 00:00", "holiday", 6, order=1, holiday=True
    )
    found = [LAUNCH, holiday]
    assert ev.notes_at(found, utc("2026-03-05 10:00"), utc("2026-03-05 06:00")) == [
        "launch-day: ×2.5 from 09:00 to 12:00",
        "Labour Day (holiday): like a Sunday on Thu 5 Mar",
    ]
    learned = ev.notes_at(found, utc("2026-03-05 13:00"), holiday_level=HolidayLevel(0.5, 2))
    assert learned == ["Labour Day (holiday): 0.5× a usual day (learned from 2 past holidays) on Thu 5 Mar"]
