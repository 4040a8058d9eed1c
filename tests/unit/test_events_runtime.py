"""Known events through the one forecasting path (``forecast_target``) that the CLI, the daemon
and the replay share: training without past windows, effects after the clamp, floor limits with
the lead time, overlapping effects, and the events named in reasons, tables and JSON."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from predictor import events as ev
from predictor.capacity import pod_model_for_peak
from predictor.config import PolicySettings
from predictor.planning import Bounds, configured_cold_start
from predictor.runtime.forecast import TargetForecast, forecast_target, forecast_targets
from predictor.runtime.targets import policy_from_settings, request_from_policy
from predictor.sources.synthetic import synthetic_trace
from tests.support.cli import in_process, one_error, predictor

START = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday
COLD = configured_cold_start(total_s=600)  # + the 120 s margin: a 12-minute lead time
LEAD = pd.Timedelta(minutes=12)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def history(days: int = 28) -> pd.Series:
    return synthetic_trace(start=START, days=days, step_s=300, bursts=0, seed=1)


def one_off(name: str, start: str, end: str, kind: str, value: float) -> ev.Event:
    return ev.Event(name, ev.OneOff(utc(start), utc(end)), ev.Effect(kind, value))  # type: ignore[arg-type]


def holidays(*days: dt.date) -> ev.Event:
    return ev.Event("holidays", ev.HolidayDates(None, None, days), ev.Effect("holiday", 6))


def run(
    series: pd.Series,
    now: pd.Timestamp,
    events: tuple[ev.Event, ...] = (),
    *,
    model: str = "harmonic",
    horizon_s: int = 6 * 3600,
) -> TargetForecast:
    policy = policy_from_settings(
        PolicySettings(model=model, history_window_days=28, horizon_s=horizon_s, cooldown_s=600)
    )
    pod = pod_model_for_peak(float(series.max()), 20, utilization=0.7)
    request = request_from_policy(
        "chat", policy, pod=pod, cold_start=COLD, bounds=Bounds(1, 60), events=events
    )
    return forecast_target(series, request, now)


def between(tf: TargetForecast, start: str, end: str) -> np.ndarray:
    index = tf.forecast.index
    return (index >= utc(start)) & (index < utc(end))


@pytest.mark.parametrize("kind", ["seasonal_naive_weekly", "harmonic"])
def test_a_holiday_in_the_history_does_not_lower_the_next_weekdays_forecast(kind):
    clean = history()
    dirty = clean.copy()
    dirty[dirty.index.normalize() == utc("2026-01-26")] *= 0.3  # the last Monday was a holiday
    now = utc("2026-02-02 06:00")  # the next Monday morning
    usual = run(clean, now, model=kind, horizon_s=12 * 3600)
    bent = run(dirty, now, model=kind, horizon_s=12 * 3600)
    kept_out = run(dirty, now, (holidays(dt.date(2026, 1, 26)),), model=kind, horizon_s=12 * 3600)
    day = between(usual, "2026-02-02 08:00", "2026-02-02 18:00")
    assert bent.forecast.mean[day].mean() < 0.9 * usual.forecast.mean[day].mean()  # it bends the curve
    assert kept_out.forecast.mean[day].mean() == pytest.approx(usual.forecast.mean[day].mean(), rel=0.05)
    assert kept_out.plan.floor.max() >= usual.plan.floor.max() - 1


def test_a_multiply_event_scales_the_forecast_after_the_clamp_and_the_reason_names_it():
    series = history()
    now = utc("2026-02-02 07:00")
    plain = run(series, now)
    launch = one_off("launch-day", "2026-02-02 09:00", "2026-02-02 12:00", "multiply", 2.5)
    tf = run(series, now, (launch,))
    inside = between(tf, "2026-02-02 09:00", "2026-02-02 12:00")
    np.testing.assert_allclose(tf.forecast.mean[inside], 2.5 * plain.forecast.mean[inside])
    np.testing.assert_allclose(tf.forecast.mean[~inside], plain.forecast.mean[~inside])
    assert tf.forecast.clamps == plain.forecast.clamps  # the clamp ran first, on the model's forecast
    raises = [c for c in tf.plan.changes if c.kind == "raise" and c.reason.startswith("launch-day: ")]
    assert raises, [c.reason for c in tf.plan.changes]
    assert raises[0].reason.startswith("launch-day: ×2.5 from 09:00 to 12:00; p90 forecast ")
    assert tf.plan.floor.max() > plain.plan.floor.max()
    names = dict(zip(tf.forecast.index, tf.effects.names, strict=True))
    assert names[utc("2026-02-02 09:00")] == "launch-day" and names[utc("2026-02-02 12:00")] == ""


def test_a_min_floor_raises_one_lead_time_ahead_and_steps_down_after():
    series = history()
    now = utc("2026-02-02 01:00")  # night: the forecast asks for a pod or two
    tf = run(series, now, (one_off("launch", "2026-02-02 03:00", "2026-02-02 04:00", "min_floor", 30),))
    floor = pd.Series(tf.plan.floor, index=tf.plan.index)
    raise_ = next(c for c in tf.plan.changes if c.to_pods == 30)
    # The first point whose lead-time window [t, t + L] reaches 03:00, on the 5-minute grid.
    assert (
        utc("2026-02-02 03:00") - LEAD - pd.Timedelta(minutes=5) < raise_.at <= utc("2026-02-02 03:00") - LEAD
    )
    assert floor[: raise_.at - pd.Timedelta(minutes=5)].max() < 30
    assert floor[utc("2026-02-02 03:00") : utc("2026-02-02 03:55")].min() == 30
    assert raise_.reason.startswith("launch: at least 30 pods from 03:00 to 04:00; p90 forecast ")
    assert "the events ask for 30 pods" in raise_.reason
    lowers = [c for c in tf.plan.changes if c.kind == "lower" and c.at >= utc("2026-02-02 04:00")]
    assert lowers and lowers[0].at == utc("2026-02-02 04:00")  # the cooldown since 02:45 has passed
    assert all(c.from_pods - c.to_pods <= 2 for c in lowers)  # max_step_down_pods
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(lowers)]
    assert all(g >= 300 for g in gaps)  # step_down_interval_s


def test_a_max_floor_caps_the_floor_within_its_window():
    series = history()
    now = utc("2026-02-02 09:00")
    plain = run(series, now)
    tf = run(series, now, (one_off("freeze", "2026-02-02 11:00", "2026-02-02 13:00", "max_floor", 3),))
    window = (tf.plan.index >= utc("2026-02-02 11:30")) & (tf.plan.index < utc("2026-02-02 12:40"))
    assert plain.plan.floor[window].min() > 3
    assert tf.plan.floor[window].max() == 3


def test_overlapping_effects_combine_as_documented():
    series = history()
    now = utc("2026-02-02 07:00")
    plain = run(series, now)
    both = (
        one_off("campaign", "2026-02-02 09:00", "2026-02-02 11:00", "multiply", 1.5),
        one_off("launch", "2026-02-02 10:00", "2026-02-02 12:00", "multiply", 2.0),
        one_off("batch", "2026-02-02 10:00", "2026-02-02 10:30", "add_rps", 5.0),
        one_off("small", "2026-02-02 08:00", "2026-02-02 09:00", "min_floor", 20),
        one_off("large", "2026-02-02 08:30", "2026-02-02 09:00", "min_floor", 25),
    )
    tf = run(series, now, both)
    mean, base = (
        pd.Series(tf.forecast.mean, tf.forecast.index),
        pd.Series(plain.forecast.mean, tf.forecast.index),
    )
    assert mean[utc("2026-02-02 09:30")] == pytest.approx(1.5 * base[utc("2026-02-02 09:30")])
    assert mean[utc("2026-02-02 10:15")] == pytest.approx(3.0 * base[utc("2026-02-02 10:15")] + 5.0)
    assert mean[utc("2026-02-02 11:30")] == pytest.approx(2.0 * base[utc("2026-02-02 11:30")])
    low = pd.Series(tf.effects.min_pods, tf.forecast.index)
    assert low[utc("2026-02-02 08:15")] == 20 and low[utc("2026-02-02 08:45")] == 25  # the highest wins
    names = dict(zip(tf.forecast.index, tf.effects.names, strict=True))
    assert names[utc("2026-02-02 10:15")] == "campaign, launch, batch"


def test_a_min_floor_counts_where_the_forecast_is_missing_and_a_max_floor_never_invents_a_need():
    from predictor.planning.planner import limit_pods

    required = np.array([np.nan, 2.0, np.nan, 9.0])
    low = np.array([5.0, 5.0, np.nan, np.nan])
    high = np.array([np.nan, np.nan, 3.0, 3.0])
    out = limit_pods(required, low, high)
    assert out[0] == 5 and out[1] == 5 and np.isnan(out[2]) and out[3] == 3


# The CLI.


def config(tmp_path: Path, events: list[dict]) -> Path:
    csv = tmp_path / "history.csv"
    frame = history(days=21).rename("requests_per_s").to_frame()
    frame.index.name = "timestamp"
    frame.to_csv(csv, date_format="%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "predictor.yaml"
    target = {
        "name": "chat",
        "scaled_object": "inference/chat",
        "history_file": str(csv),
        "capacity": {"profile": "llama-3-8b-l40s-tp2"},
        "policy": {"model": "harmonic"},
    }
    path.write_text(
        yaml.safe_dump({"kubernetes": {"mode": "offline"}, "events": events, "targets": [target]})
    )
    return path


def test_forecast_json_and_table_name_the_active_events_per_point(tmp_path):
    launch = {
        "name": "launch-day",
        "start": "2026-01-26T09:00:00Z",
        "end": "2026-01-26T12:00:00Z",
        "multiply": 2.5,
    }
    path = config(tmp_path, [launch])
    done = in_process(  # the table below goes through the console script
        "forecast", "--config", str(path), "--target", "chat", "--at", "2026-01-26T07:00", "--json"
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    by_time = {p["t"]: p["events"] for p in document["points"]}
    assert by_time["2026-01-26T09:00:00Z"] == ["launch-day"] and by_time["2026-01-26T08:55:00Z"] == []
    assert [w["text"] for w in document["events"]] == ["launch-day: ×2.5 from 09:00 to 12:00"]
    assert any(c["reason"].startswith("launch-day: ×2.5") for c in document["changes"])
    table = predictor("forecast", "--config", str(path), "--target", "chat", "--at", "2026-01-26T07:00")
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith("Mon 09:00")]
    assert rows and rows[0].rstrip().endswith("launch-day")
    assert "event: launch-day: ×2.5 from 09:00 to 12:00" in table.stdout


def test_the_forecast_plot_shades_each_event_window(tmp_path):
    from predictor.cli.plots import event_spans

    series = history()
    now = utc("2026-02-02 07:00")
    tf = run(series, now, (one_off("launch-day", "2026-02-02 09:00", "2026-02-02 12:00", "multiply", 2.5),))
    assert event_spans(tf, now, now + pd.Timedelta(hours=6)) == [
        ("launch-day: ×2.5", utc("2026-02-02 09:00"), utc("2026-02-02 12:00"))
    ]
    assert event_spans(tf, now, utc("2026-02-02 08:00")) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "events:\n  - name: x\n    start: 2026-01-26T09:00Z\n"
            "    end: 2026-01-26T08:00Z\n    multiply: 2\n",
            "events[0].end: the window ends",
        ),
        (
            "events:\n  - name: x\n    cron: '0 9 * * *'\n    duration_s: 60\n"
            "    timezone: Mars/Olympus\n    multiply: 2\n",
            "events[0].timezone: ",
        ),
        ("events: []\nholidays: {country: XX}\n", "holidays.country: unknown country 'XX'"),
        ("targets: []\n", "targets: "),
    ],
    ids=["backwards", "time-zone", "calendar", "unknown-key"],
)
def test_backtest_events_file_with_a_bad_definition_exits_2_with_one_line(tmp_path, content, expected):
    """The first case through the console script, the others on its app in this process."""
    bad = tmp_path / "events.yaml"
    bad.write_text(content)
    csv = tmp_path / "h.csv"
    csv.write_text("timestamp,requests_per_s\n2026-01-05T00:00:00Z,1\n")
    run = predictor if "the window ends" in expected else in_process
    line = one_error(run("backtest", "--history", str(csv), "--events", str(bad)), 2)
    assert line.startswith(f"error: {bad}: {expected}"), line


def test_backtest_refuses_events_and_no_events_together(tmp_path):
    csv = tmp_path / "h.csv"
    csv.write_text("timestamp,requests_per_s\n2026-01-05T00:00:00Z,1\n")
    bad = tmp_path / "events.yaml"
    bad.write_text("events: []\n")
    done = predictor("backtest", "--history", str(csv), "--events", str(bad), "--no-events")
    assert one_error(done, 2) == "error: give --events FILE or --no-events, not both"


def test_one_off_and_recurring_windows_across_the_spring_switch_land_on_local_time():
    from predictor.config.events import EventSettings

    daily = EventSettings(
        name="standup", cron="0 9 * * *", duration_s=3600, timezone="Europe/Berlin", multiply=2
    )
    night = EventSettings(
        name="migration",
        start="2026-03-29T01:00",
        end="2026-03-29T04:00",
        timezone="Europe/Berlin",
        min_floor=9,
    )
    series = synthetic_trace(start=utc("2026-02-27"), days=28, step_s=300, bursts=0, seed=1)
    now = utc("2026-03-27 06:00")  # a Friday in CET; the clocks go forward on Sunday the 29th
    tf = run(series, now, (daily.to_event(), night.to_event()), horizon_s=4 * 86_400)
    names = pd.Series(tf.effects.names, tf.forecast.index)
    standup = names[names.str.contains("standup")].index
    assert list(standup[standup.minute == 0].strftime("%d %H:%M")) == [
        "27 08:00", "28 08:00", "29 07:00", "30 07:00"
    ]  # fmt: skip
    migration = names[names.str.contains("migration")].index
    assert (migration[0], migration[-1]) == (utc("2026-03-29 00:00"), utc("2026-03-29 01:55"))  # 2 real hours
    low = pd.Series(tf.effects.min_pods, tf.forecast.index)
    assert low[utc("2026-03-29 00:00")] == 9 and np.isnan(low[utc("2026-03-29 02:00")])


def test_each_role_of_a_service_learns_its_holiday_level_on_its_own_calendar():
    """One fit for the service, but the holiday level is each role's: a role without a calendar
    has none, and a role with one learns it even when it is not the first."""
    series = history()
    for day in ("2026-01-19", "2026-01-26"):  # two past holidays, at 40% of a usual Monday
        series[series.index.normalize() == utc(day)] *= 0.4
    now = utc("2026-02-02 06:00")  # the next holiday's morning
    calendar = (holidays(dt.date(2026, 1, 19), dt.date(2026, 1, 26), dt.date(2026, 2, 2)),)
    policy = policy_from_settings(
        PolicySettings(model="harmonic", history_window_days=28, horizon_s=12 * 3600)
    )
    pod = pod_model_for_peak(float(series.max()), 20, utilization=0.7)

    def role(name: str, events: tuple[ev.Event, ...]):
        return request_from_policy(
            name, policy, pod=pod, cold_start=COLD, bounds=Bounds(1, 60), events=events
        )

    plain, with_holidays = forecast_targets(series, [role("plain", ()), role("off", calendar)], now)
    alone = forecast_target(series, role("off", calendar), now)
    level = alone.effects.holiday_level
    assert level is not None and level.ratio == pytest.approx(0.4, abs=0.05)
    assert with_holidays.effects.holiday_level == level
    assert plain.effects.holiday_level is None
    day = between(with_holidays, "2026-02-02 08:00", "2026-02-02 18:00")
    assert {with_holidays.effects.names[i] for i in np.flatnonzero(day)} == {"custom holiday"}
