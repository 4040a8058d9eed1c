"""Events and holidays in the configuration, and ``predictor events list``, through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from predictor import events as ev
from predictor.cli.main import app
from predictor.config import load_settings
from predictor.config.events import events_for
from predictor.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "predictor.example.yaml"
PREDICTOR = Path(sys.executable).with_name("predictor")  # the installed console script
runner = CliRunner()

TARGET = {
    "name": "chat",
    "scaled_object": "inference/chat",
    "query": "sum(rate(requests_total[5m]))",
    "capacity": {"profile": "llama-3-70b-h100-tp8"},
}
LAUNCH = {
    "name": "launch-day",
    "start": "2026-03-05T09:00",
    "end": "2026-03-05T12:00",
    "timezone": "Europe/Berlin",
    "multiply": 2.5,
}
BATCH = {"name": "nightly-eval", "cron": "0 2 * * *", "duration_s": 3600, "add_rps": 40}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "predictor.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_target_gets_its_own_events_first_then_the_top_level_ones_and_its_own_calendar(tmp_path):
    own = {"name": "campaign", "cron": "0 14 * * tue", "duration_s": 5400, "multiply": 1.5}
    data = {
        "events": [LAUNCH, BATCH],
        "holidays": {"country": "us", "subdivision": "ca", "custom": ["2026-12-24"]},
        "targets": [
            {**TARGET, "events": [own], "holidays": {"country": "GB", "timezone": "Europe/London"}},
            {**TARGET, "name": "code", "scaled_object": "inference/code", "holidays": {}},
            {**TARGET, "name": "docs", "scaled_object": "inference/docs"},
        ],
    }
    settings = load_settings(write(tmp_path, data))
    chat, code, docs = (events_for(settings, t) for t in settings.targets)
    assert [e.name for e in chat] == ["campaign", "launch-day", "nightly-eval", "holidays"]
    assert chat[-1].when == ev.HolidayDates("GB", None, ()) and chat[-1].timezone == "Europe/London"
    assert [e.name for e in code] == ["launch-day", "nightly-eval"]  # holidays: {} = none
    assert docs[-1].when == ev.HolidayDates("US", "CA", (pd.Timestamp("2026-12-24").date(),))
    launch = chat[1].when
    assert isinstance(launch, ev.OneOff)
    assert (launch.start, launch.end) == (
        pd.Timestamp("2026-03-05 08:00", tz="UTC"),
        pd.Timestamp("2026-03-05 11:00", tz="UTC"),
    )


def test_times_with_an_offset_win_over_the_zone_and_a_date_is_local_midnight(tmp_path):
    events = [
        {
            "name": "a",
            "start": "2026-03-05T09:00:00+05:00",
            "duration_s": 60,
            "timezone": "Europe/Berlin",
            "min_floor": 2,
        },
        {
            "name": "b",
            "start": "2026-03-05",
            "end": "2026-03-06",
            "timezone": "America/New_York",
            "like": "Sun",
        },
    ]
    a, b = (e.to_event() for e in load_settings(write(tmp_path, {"events": events})).events)
    assert a.when.start == pd.Timestamp("2026-03-05 04:00", tz="UTC")
    assert b.when.start == pd.Timestamp("2026-03-05 05:00", tz="UTC") and b.effect == ev.Effect("like", 6)


def test_the_example_file_documents_events_and_holidays_that_load():
    settings = load_settings(EXAMPLE)
    assert [e.name for e in settings.events][:2] == ["launch-day", "nightly-eval"]
    kinds = {e.effect().kind for e in settings.events} | {
        e.effect().kind for t in settings.targets for e in t.events
    }
    assert kinds == {"multiply", "add_rps", "min_floor", "max_floor", "like"}
    assert settings.holidays is not None and settings.holidays.country == "US"


BAD = [
    (
        {"events": [{**LAUNCH, "end": "2026-03-05T08:00"}]},
        "events[0].end: the window ends (2026-03-05 08:00 CET) before",
    ),
    (
        {"events": [{**LAUNCH, "timezone": "Europe/Berln"}]},
        "events[0].timezone: unknown time zone 'Europe/Berln'",
    ),
    (
        {"events": [{**BATCH, "cron": "0 25 * * *"}]},
        "events[0].cron: '0 25 * * *': hour: 25 is out of range 0-23",
    ),
    ({"events": [{**BATCH, "cron": "0 2 * *"}]}, "events[0].cron: '0 2 * *': '0 2 * *' has 4 fields"),
    ({"events": [{**BATCH, "cron": "0 0 31 2 *"}]}, "events[0].cron: cron '0 0 31 2 *' never fires"),
    (
        {"events": [{**BATCH, "cron": "*/5 * * * *", "duration_s": 600}]},
        "events[0].cron: cron '*/5 * * * *' with",
    ),
    ({"events": [{**BATCH, "add_rps": None, "like": "funday"}]}, "events[0].like: 'funday' is not a weekday"),
    (
        {"events": [{**LAUNCH, "multiply": -2}]},
        "events[0].multiply: Input should be greater than or equal to 0",
    ),
    (
        {"events": [{**LAUNCH, "min_floor": 3}]},
        "events[0]: set exactly one effect: multiply, add_rps, min_floor, ",
    ),
    ({"events": [{**BATCH, "add_rps": None}]}, "events[0]: set exactly one effect"),
    ({"events": [{**BATCH, "duration_s": None}]}, "events[0].duration_s: a recurring event needs duration_s"),
    ({"events": [{**BATCH, "start": "2026-03-05"}]}, "events[0].cron: set either cron (recurring) or start"),
    (
        {"events": [{"name": "x", "multiply": 2}]},
        "events[0].start: set a window: start with end or duration_s",
    ),
    ({"events": [{**LAUNCH, "duration_s": 60}]}, "events[0].end: a one-off event needs end or duration_s"),
    ({"events": [{**LAUNCH, "name": "Launch Day"}]}, "events[0].name: String should match pattern"),
    ({"events": [{**LAUNCH, "multipy": 2}]}, "events[0].multipy: unknown key; did you mean 'multiply'?"),
    (
        {"events": [LAUNCH, {**BATCH, "name": "launch-day"}]},
        "events[1].name: event name 'launch-day' is already used by events[0]",
    ),
    (
        {
            "events": [
                {"name": "quiet", "cron": "0 9 * * sat", "duration_s": 7200, "like": "sunday"},
                {"name": "busy", "start": "2026-03-07T10:00", "end": "2026-03-07T11:00", "like": "monday"},
            ]
        },
        "events[1]: like a Monday overlaps 'quiet' (like a Sunday) at 2026-03-07 10:00 UTC; two like windows",
    ),
    (
        {
            "events": [{"name": "cap", "cron": "0 3 * * sun", "duration_s": 7200, "max_floor": 2}],
            "targets": [
                {
                    **TARGET,
                    "events": [{"name": "warm", "cron": "0 4 * * *", "duration_s": 600, "min_floor": 5}],
                }
            ],
        },
        "targets[0].events[0]: at least 5 pods overlaps 'cap' (at most 2 pods) at Sun 04:00 UTC",
    ),
    ({"holidays": {"country": "XX"}}, "holidays.country: unknown country 'XX' (an ISO 3166-1 code"),
    (
        {"holidays": {"country": "US", "subdivision": "ZZ"}},
        "holidays.subdivision: US has no subdivision 'ZZ' (known: AK",
    ),
    ({"holidays": {"subdivision": "CA"}}, "holidays.subdivision: a subdivision needs a country"),
    ({"holidays": {"like": "someday"}}, "holidays.like: 'someday' is not a weekday"),
    ({"holidays": {"custom": ["2026-13-01"]}}, "holidays.custom[0]: Input should be a valid date"),
    (
        {"targets": [{**TARGET, "holidays": {"timezone": "Mars/Olympus"}}]},
        "targets[0].holidays.timezone: unknown",
    ),
]


@pytest.mark.parametrize(
    ("data", "expected"), BAD, ids=[expected.split(":")[0] + f"-{i}" for i, (_, expected) in enumerate(BAD)]
)
def test_bad_event_definitions_give_one_clear_line_each(tmp_path, data, expected):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: {expected}")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PREDICTOR), *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("case", "command"),
    [(0, "config check"), (1, "events list"), (2, "events list"), (17, "config check")],
    ids=["window-backwards", "time-zone", "cron", "overlap"],
)
def test_the_console_script_exits_2_with_one_line_on_a_bad_event(tmp_path, case, command):
    data, expected = BAD[case]
    path = write(tmp_path, data)
    args = (
        ["config", "check", str(path)]
        if command == "config check"
        else ["events", "list", "--config", str(path)]
    )
    result = run(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: {expected}")
    assert result.stdout == ""


def test_a_bad_flag_exits_2_with_one_line_through_the_console_script(tmp_path):
    path = write(tmp_path, {"events": [LAUNCH], "targets": [TARGET]})
    result = run("events", "list", "--config", str(path), "--output", "xml")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == ["error: --output: 'xml' is not one of table, json"]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--from", "soon"], "error: --from: 'soon' is not a time like 2026-03-02T08:00 (UTC)"),
        (
            ["--from", "2026-03-05", "--to", "2026-03-01"],
            "error: --to: 2026-03-01T00:00:00Z is not after --from",
        ),
        (["--to", "-3d"], "error: --to: '-3d' is not a time"),
        (["--target", "nope"], "error: --target: no target named 'nope' (targets: chat)"),
    ],
)
def test_bad_flags_exit_2_with_one_line(tmp_path, flags, expected):
    path = write(tmp_path, {"events": [LAUNCH], "targets": [TARGET]})
    result = runner.invoke(app, ["events", "list", "--config", str(path), *flags])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected)
    assert result.stdout == ""


def config_with_targets(tmp_path: Path) -> Path:
    own = {"name": "campaign", "start": "2026-03-05T14:00", "duration_s": 3600, "multiply": 1.5}
    return write(
        tmp_path,
        {
            "events": [LAUNCH, BATCH],
            "holidays": {"custom": ["2026-03-06"], "timezone": "America/New_York", "like": "saturday"},
            "targets": [
                {**TARGET, "events": [own]},
                {**TARGET, "name": "code", "scaled_object": "inference/code"},
            ],
        },
    )


def test_events_list_json_lists_each_window_with_local_and_utc_times_and_its_targets(tmp_path):
    path = config_with_targets(tmp_path)
    result = runner.invoke(
        app,
        ["events", "list", "--config", str(path), "--from", "2026-03-05", "--to", "2d", "--output", "json"],
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["schema"] == "predictor.events/v1"
    assert (out["from"], out["to"]) == ("2026-03-05T00:00:00Z", "2026-03-07T00:00:00Z")
    names = [(w["name"], w["start"]) for w in out["windows"]]
    assert names == [
        ("nightly-eval", "2026-03-05T02:00:00Z"),
        ("launch-day", "2026-03-05T08:00:00Z"),
        ("campaign", "2026-03-05T14:00:00Z"),
        ("nightly-eval", "2026-03-06T02:00:00Z"),
        ("custom holiday", "2026-03-06T05:00:00Z"),
    ]
    launch = out["windows"][1]
    assert launch["start_local"] == "2026-03-05T09:00:00+01:00" and launch["timezone"] == "Europe/Berlin"
    assert launch["effect"] == {"kind": "multiply", "value": 2.5} and launch["description"] == "×2.5"
    assert launch["kind"] == "one-off" and launch["targets"] == ["chat", "code"]
    assert out["windows"][0]["kind"] == "recurring"
    assert out["windows"][2]["targets"] == ["chat"]
    assert out["windows"][4]["effect"] == {"kind": "holiday", "like": "saturday"}


def test_events_list_table_fits_80_columns_and_can_pick_one_target(tmp_path):
    path = config_with_targets(tmp_path)
    result = runner.invoke(
        app, ["events", "list", "--config", str(path), "--from", "2026-03-05", "--to", "2026-03-07"]
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("Thu 05 Mar 09:00–12:00 CET  08:00–11:00" in line and "launch-day" in line for line in lines)
    assert any("Fri 06 Mar all day EST" in line and "holiday*" in line for line in lines)
    assert lines[-1] == "* like the history's past holidays; like a Saturday when it holds none"
    only_code = runner.invoke(
        app, ["events", "list", "--config", str(path), "--target", "code", "--from", "2026-03-05"]
    )
    assert "campaign" not in only_code.stdout and "launch-day" in only_code.stdout


def test_events_list_says_when_nothing_is_ahead(tmp_path):
    path = write(tmp_path, {"targets": [TARGET]})
    result = runner.invoke(
        app, ["events", "list", "--config", str(path), "--from", "2026-03-05", "--to", "1d"]
    )
    assert result.exit_code == 0
    assert (
        result.stdout.strip()
        == "No known events or holidays from Thu 05 Mar 2026 00:00 to Fri 06 Mar 2026 00:00 UTC."
    )
