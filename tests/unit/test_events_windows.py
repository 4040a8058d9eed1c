"""Known events resolved to UTC windows: cron, one-off and holiday windows across DST switches."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from predictor import events as ev
from predictor.events.checks import check_recurring, conflict


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def recurring(name: str, cron: str, duration_s: float, effect: ev.Effect, zone: str = "UTC") -> ev.Event:
    return ev.Event(name, ev.Recurring(ev.parse_cron(cron), duration_s), effect, zone)


def one_off(name: str, start: str, end: str, effect: ev.Effect, zone: str = "UTC") -> ev.Event:
    return ev.Event(name, ev.OneOff(utc(start), utc(end)), effect, zone)


TIMES_2_5 = ev.Effect("multiply", 2.5)


def test_a_recurring_local_time_stays_local_across_the_spring_and_autumn_switch():
    event = recurring("standup", "0 9 * * *", 3600, TIMES_2_5, "Europe/Berlin")
    # Europe/Berlin: CET (+1) until Sun 29 Mar 2026 01:00 UTC, CEST (+2) until Sun 25 Oct 01:00 UTC.
    spring = ev.windows([event], utc("2026-03-27"), utc("2026-03-31"))
    assert [w.start for w in spring] == [
        utc("2026-03-27 08:00"),
        utc("2026-03-28 08:00"),
        utc("2026-03-29 07:00"),
        utc("2026-03-30 07:00"),
    ]
    autumn = ev.windows([event], utc("2026-10-24"), utc("2026-10-27"))
    assert [w.start for w in autumn] == [
        utc("2026-10-24 07:00"),
        utc("2026-10-25 08:00"),
        utc("2026-10-26 08:00"),
    ]
    for w in spring + autumn:
        local = w.start.tz_convert("Europe/Berlin")
        assert (local.hour, local.minute) == (9, 0)
        assert w.duration_s == 3600


def test_skipped_and_repeated_local_times_fire_once():
    event = recurring("night", "30 2 * * *", 600, TIMES_2_5, "Europe/Berlin")
    # 02:30 does not exist on 29 Mar (clocks jump 02:00 -> 03:00): it fires at 03:00 CEST.
    spring = ev.windows([event], utc("2026-03-29"), utc("2026-03-30"))
    assert [w.start for w in spring] == [utc("2026-03-29 01:00")]
    # 02:30 happens twice on 25 Oct: only the first (CEST) one fires.
    autumn = ev.windows([event], utc("2026-10-25"), utc("2026-10-26"))
    assert [w.start for w in autumn] == [utc("2026-10-25 00:30")]


def test_a_one_off_window_across_the_switch_keeps_its_true_length():
    # 01:00 to 04:00 local on the spring switch night is two real hours, not three.
    start = pd.Timestamp("2026-03-29 01:00").tz_localize("Europe/Berlin").tz_convert("UTC")
    end = pd.Timestamp("2026-03-29 04:00").tz_localize("Europe/Berlin").tz_convert("UTC")
    event = ev.Event("migration", ev.OneOff(start, end), ev.Effect("min_floor", 4), "Europe/Berlin")
    (w,) = ev.windows([event], utc("2026-03-28"), utc("2026-03-30"))
    assert (w.start, w.end) == (utc("2026-03-29 00:00"), utc("2026-03-29 02:00"))
    assert w.span() == "from Sun 29 Mar 01:00 to 04:00 CET"


def test_one_off_windows_are_found_when_they_overlap_the_span_and_not_cut():
    event = one_off("launch", "2026-03-05 09:00", "2026-03-05 12:00", TIMES_2_5)
    assert ev.windows([event], utc("2026-03-05 11:00"), utc("2026-03-06"))[0].start == utc("2026-03-05 09:00")
    assert ev.windows([event], utc("2026-03-05 12:00"), utc("2026-03-06")) == []
    assert ev.windows([event], utc("2026-03-04"), utc("2026-03-05 09:00")) == []


def test_a_recurring_window_that_began_before_the_span_is_included():
    event = recurring("batch", "0 23 * * *", 4 * 3600, ev.Effect("add_rps", 40))
    (w,) = ev.windows([event], utc("2026-03-05 01:00"), utc("2026-03-05 02:00"))
    assert (w.start, w.end) == (utc("2026-03-04 23:00"), utc("2026-03-05 03:00"))


def test_overlapping_occurrences_of_one_event_merge_so_the_effect_never_counts_twice():
    event = recurring("busy", "0 9,10 * * *", 7200, TIMES_2_5)
    found = ev.windows([event], utc("2026-03-05"), utc("2026-03-06"))
    assert [(w.start, w.end) for w in found] == [(utc("2026-03-05 09:00"), utc("2026-03-05 12:00"))]


def test_windows_are_sorted_by_start_and_keep_the_list_order():
    a = one_off("a", "2026-03-05 10:00", "2026-03-05 11:00", TIMES_2_5)
    b = one_off("b", "2026-03-05 09:00", "2026-03-05 11:00", ev.Effect("min_floor", 3))
    found = ev.windows([a, b], utc("2026-03-05"), utc("2026-03-06"))
    assert [(w.name, w.order) for w in found] == [("b", 1), ("a", 0)]
    assert [w.name for w in ev.active_at(found, utc("2026-03-05 10:30"))] == ["a", "b"]
    assert ev.active_at(found, utc("2026-03-05 11:00")) == []


def test_holidays_last_from_local_midnight_to_midnight_and_carry_their_names():
    calendar = ev.Event(
        "holidays",
        ev.HolidayDates("US", "CA", (dt.date(2026, 12, 24),)),
        ev.Effect("holiday", ev.parse_weekday("sunday")),
        "America/Los_Angeles",
    )
    found = ev.windows([calendar], utc("2026-12-20"), utc("2026-12-27"))
    assert [(w.name, w.start, w.end) for w in found] == [
        ("custom holiday", utc("2026-12-24 08:00"), utc("2026-12-25 08:00")),
        ("Christmas Day", utc("2026-12-25 08:00"), utc("2026-12-26 08:00")),
    ]
    assert all(w.holiday and w.masks_training for w in found)
    assert found[1].describe() == "Christmas Day (holiday): like a Sunday on Fri 25 Dec"


def test_a_holiday_on_a_switch_day_lasts_23_hours():
    calendar = ev.Event(
        "holidays",
        ev.HolidayDates(None, None, (dt.date(2026, 3, 29),)),
        ev.Effect("holiday", 6),
        "Europe/Berlin",
    )
    (w,) = ev.windows([calendar], utc("2026-03-28"), utc("2026-03-31"))
    assert w.duration_s == 23 * 3600


def test_recurring_floor_schedules_stay_in_training_and_everything_else_is_masked():
    schedule = recurring("office", "0 8 * * mon-fri", 36_000, ev.Effect("min_floor", 2))
    batch = recurring("batch", "0 2 * * *", 3600, ev.Effect("add_rps", 40))
    launch = one_off("launch", "2026-03-05 09:00", "2026-03-05 12:00", ev.Effect("min_floor", 9))
    found = ev.windows([schedule, batch, launch], utc("2026-03-05"), utc("2026-03-06"))
    assert {w.name: w.masks_training for w in found} == {"office": False, "batch": True, "launch": True}


def test_transitions_announce_each_start_and_end_once():
    event = one_off("launch", "2026-03-05 09:00", "2026-03-05 12:00", TIMES_2_5)
    found = ev.windows([event], utc("2026-03-05"), utc("2026-03-06"))
    assert ev.transitions(found, utc("2026-03-05 08:59"), utc("2026-03-05 09:00"))[0].kind == "started"
    assert ev.transitions(found, utc("2026-03-05 09:00"), utc("2026-03-05 11:59")) == []
    (ended,) = ev.transitions(found, utc("2026-03-05 11:59"), utc("2026-03-05 12:01"))
    assert ended.describe(utc("2026-03-05 12:00")) == "launch ended: ×2.5 from 09:00 to 12:00"


def test_windows_refuse_naive_times():
    with pytest.raises(ValueError, match="no time zone"):
        ev.windows([], pd.Timestamp("2026-03-05"), utc("2026-03-06"))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * *", "has 3 fields; a cron expression has 5"),
        ("60 * * * *", "minute: 60 is out of range 0-59"),
        ("0 24 * * *", "hour: 24 is out of range 0-23"),
        ("0 9 * * funday", "day of week: 'funday' is not a number"),
        ("0 9 5-1 * *", "day of month: range '5-1' runs backwards"),
        ("*/0 * * * *", "minute: step '0' must be a whole number of 1 or more"),
        ("@often", "unknown macro '@often'"),
    ],
)
def test_bad_cron_expressions_say_which_field_is_wrong(expression, expected):
    with pytest.raises(ev.CronSyntaxError, match=expected):
        ev.parse_cron(expression)


def test_cron_names_steps_lists_and_the_either_day_rule():
    cron = ev.parse_cron("*/20 9-11 * jan,mar mon-fri")
    assert cron.minutes == {0, 20, 40} and cron.hours == {9, 10, 11}
    assert cron.months == {1, 3} and cron.weekdays == {0, 1, 2, 3, 4}  # Monday = 0
    assert ev.parse_cron("0 0 * * 7").weekdays == ev.parse_cron("0 0 * * sun").weekdays == {6}
    assert ev.parse_cron("@weekly").weekly and not ev.parse_cron("@monthly").weekly
    # Day of month 13 OR Friday, as in Vixie cron.
    days = ev.parse_cron("0 0 13 * fri").matching_days(pd.Timestamp("2026-03-01"), pd.Timestamp("2026-03-31"))
    assert [d.day for d in days] == [6, 13, 20, 27]


def test_a_cron_that_never_fires_and_one_that_covers_most_of_the_time_are_refused():
    never = recurring("never", "0 0 30 2 *", 60, TIMES_2_5)
    assert "never fires" in str(check_recurring(never))
    always = recurring("always", "0 * * * *", 3600, TIMES_2_5)
    assert "covers 100% of the time" in str(check_recurring(always))
    # A floor schedule may cover most of the time: it does not change the forecast.
    assert check_recurring(recurring("day", "0 6 * * *", 17 * 3600, ev.Effect("min_floor", 2))) is None


def test_contradicting_overlaps_are_found_and_agreeing_ones_are_not():
    sat = recurring("sat", "0 9 * * sat", 7200, ev.Effect("like", 6))
    mon = one_off("mon", "2026-03-07 10:00", "2026-03-07 11:00", ev.Effect("like", 0))
    assert "overlaps 'sat' (like a Sunday) at 2026-03-07 10:00 UTC" in str(conflict(sat, mon))
    assert (
        conflict(sat, one_off("later", "2026-03-07 11:00", "2026-03-07 12:00", ev.Effect("like", 0))) is None
    )
    low = recurring("low", "0 3 * * sun", 7200, ev.Effect("max_floor", 2))
    high = recurring("high", "0 4 * * *", 600, ev.Effect("min_floor", 5))
    assert "a min_floor above a max_floor" in str(conflict(low, high))
    assert conflict(low, recurring("ok", "0 4 * * *", 600, ev.Effect("min_floor", 2))) is None
    # Factors, amounts and floors of different kinds combine; they never conflict.
    assert conflict(recurring("x", "0 9 * * *", 3600, TIMES_2_5), high) is None


def test_the_fingerprint_changes_with_any_window_zone_or_effect():
    base = [recurring("batch", "0 2 * * *", 3600, ev.Effect("add_rps", 40))]
    same = [recurring("batch", "0 2 * * *", 3600, ev.Effect("add_rps", 40))]
    assert ev.fingerprint(base) == ev.fingerprint(same)
    for changed in (
        [recurring("batch", "0 3 * * *", 3600, ev.Effect("add_rps", 40))],
        [recurring("batch", "0 2 * * *", 3600, ev.Effect("add_rps", 40), "Europe/Berlin")],
        [recurring("batch", "0 2 * * *", 3600, ev.Effect("multiply", 40))],
        [],
    ):
        assert ev.fingerprint(changed) != ev.fingerprint(base)
