"""A new user's first hour, through the installed console script: every bad input is one line naming
the file, key or flag, with exit 2 (bad input) or 1 (a runtime failure), never a traceback; files as
people write them are read, with notes on stderr saying how. The many cases of one kind (flag
errors, file layouts) run on the script's app in process, one of each kind through the script."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from predictor.sources.synthetic import synthetic_trace
from tests.support.cli import in_process, one_error, predictor

AT = "2026-01-22T05:00"  # a Thursday morning; the trace starts Monday 2026-01-05
FAST = ("--model", "seasonal_naive", "--peak-pods", "20", "--horizon", "2h")  # keep each run short
PROFILE = "llama-3-70b-h100-tp8"


@pytest.fixture(scope="module")
def trace() -> pd.Series:
    return synthetic_trace(days=21, step_s=300, seed=3)


@pytest.fixture(scope="module")
def history(tmp_path_factory, trace) -> Path:
    path = tmp_path_factory.mktemp("history") / "chat.csv"
    trace.rename("requests").to_csv(path, index_label="timestamp", date_format="%Y-%m-%dT%H:%M:%SZ")
    return path


def forecast_json(path: Path, *extra: str, run=predictor) -> tuple[dict, str]:
    done = run("forecast", "--history", str(path), "--at", AT, *FAST, *extra, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


# --- configuration files -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "show"])
def test_config_on_a_binary_or_non_utf8_file(tmp_path, command):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)))
    assert "not a UTF-8 text file" in one_error(predictor("config", command, str(binary)), 2)
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("# café\nprometheus: {url: http://x}\n".encode("latin-1"))
    line = one_error(predictor("config", command, str(latin)), 2)
    assert f"{latin}: not a UTF-8 text file (byte 0xe9" in line


@pytest.mark.parametrize("command", ["run", "status"])
def test_run_and_status_on_a_binary_config(tmp_path, command):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x00\x01\xfftargets")
    assert str(binary) in one_error(predictor(command, "--config", str(binary)), 2)


def test_config_check_refuses_empty_and_comment_only_files(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert "the file is empty" in one_error(predictor("config", "check", str(empty)), 2)
    comments = tmp_path / "comments.yaml"
    comments.write_text("# targets:\n#   - name: chat\n")
    assert "only comments" in one_error(predictor("config", "check", str(comments)), 2)


def test_config_check_refuses_a_missing_history_file(tmp_path):
    config = tmp_path / "p.yaml"
    target = {"name": "chat", "scaled_object": "ns/chat", "history_file": "gone.csv"}
    config.write_text(yaml.safe_dump({"targets": [{**target, "capacity": {"profile": PROFILE}}]}))
    line = one_error(predictor("config", "check", str(config)), 2)
    assert line == f"error: {config}: targets[0].history_file: {tmp_path / 'gone.csv'} does not exist"


def test_an_invalid_environment_value_is_blamed_on_the_variable(tmp_path):
    config = tmp_path / "p.yaml"
    config.write_text("policy: {utilization_target: 0.6}\n")
    done = predictor("config", "check", str(config), env={"PREDICTOR_POLICY__UTILIZATION_TARGET": "lots"})
    line = one_error(done, 2)
    assert line.startswith("error: $PREDICTOR_POLICY__UTILIZATION_TARGET: ") and str(config) not in line


def test_a_bad_policy_default_is_reported_once_not_per_target(tmp_path):
    targets = [
        {"name": n, "scaled_object": f"ns/{n}", "query": "up", "capacity": {"profile": PROFILE}}
        for n in ("a", "b", "c")
    ]
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump({"policy": {"forecast_quantile": 2}, "targets": targets}))
    assert "policy.forecast_quantile" in one_error(predictor("config", "check", str(config)), 2)


def test_config_show_masks_a_password_in_the_prometheus_url(tmp_path):
    config = tmp_path / "p.yaml"
    config.write_text("prometheus: {url: 'http://reader:hunter2@prom:9090'}\n")
    done = predictor("config", "show", str(config))
    assert done.returncode == 0 and "hunter2" not in done.stdout
    assert "url: http://reader:***@prom:9090" in done.stdout


# --- history files as people write them ---------------------------------------------------------


def test_unix_milliseconds_are_read_as_milliseconds(tmp_path, trace):
    path = tmp_path / "ms.csv"
    millis = (trace.index.as_unit("ms").asi8).astype(np.int64)
    pd.DataFrame({"t": millis, "rps": trace.to_numpy()}).to_csv(path, index=False)
    out, stderr = forecast_json(path)
    assert out["trained_on"]["start"] == "2026-01-05T00:00:00Z"
    assert "note: ms.csv: numeric timestamps read as Unix milliseconds" in stderr


def test_day_month_dates_ambiguous_or_told(tmp_path, trace):
    week = trace[trace.index < "2026-01-13"]  # days 05..12: every day <= 12, so no row tells
    path = tmp_path / "dm.csv"
    text = "".join(f"{t:%d/%m/%Y %H:%M},{v:.3f}\n" for t, v in week.items())
    path.write_text("timestamp,rps\n" + text)
    line = one_error(predictor("forecast", "--history", str(path), *FAST), 1)
    assert "can be read day first or month first" in line and "--timestamp-format" in line
    told = ("--timestamp-format", "%d/%m/%Y %H:%M", "--at", "2026-01-12T05:00")
    out, _ = forecast_json(path, *told, run=in_process)
    assert out["trained_on"]["end"] == "2026-01-12T04:55:00Z"


def test_naive_times_and_duplicates_are_said_in_notes(tmp_path, trace):
    path = tmp_path / "naive.csv"
    frame = pd.DataFrame({"t": trace.index.strftime("%Y-%m-%d %H:%M"), "rps": trace.round(3).to_numpy()})
    pd.concat([frame, frame.iloc[:3]]).to_csv(path, index=False)
    _, stderr = forecast_json(path)
    assert "note: naive.csv: timestamps have no time zone: read as UTC" in stderr
    assert "note: naive.csv: 3 row(s) repeat an earlier timestamp" in stderr


@pytest.mark.parametrize("layout", ["semicolon", "tsv", "parquet-index", "timestamp-second"])
def test_other_layouts_are_read(tmp_path, trace, layout):
    frame = pd.DataFrame({"t": trace.index.strftime("%Y-%m-%dT%H:%M:%SZ"), "rps": trace.round(3).to_numpy()})
    extra: tuple[str, ...] = ()
    if layout == "semicolon":
        path = tmp_path / "h.csv"
        frame.to_csv(path, sep=";", index=False)
        extra = ("--sep", ";")
    elif layout == "tsv":
        path = tmp_path / "h.tsv"
        frame.to_csv(path, sep="\t", index=False)
    elif layout == "parquet-index":
        path = tmp_path / "h.parquet"
        trace.rename("rps").to_frame().to_parquet(path)
    else:
        path = tmp_path / "h.csv"
        frame[["rps", "t"]].to_csv(path, index=False)
        extra = ("--timestamp-column", "t", "--value-column", "rps")
    out, _ = forecast_json(path, *extra, run=in_process)  # the console script reads the others
    assert out["trained_on"] == {
        "start": "2026-01-05T00:00:00Z",
        "end": "2026-01-22T04:55:00Z",
        "points": 4956,
    }


def test_counts_without_counts_get_a_hint(tmp_path, trace):
    path = tmp_path / "counts.csv"
    counts = (trace * 300).round().astype(int)
    pd.DataFrame({"t": trace.index.strftime("%Y-%m-%dT%H:%M:%SZ"), "requests": counts}).to_csv(
        path, index=False
    )
    _, stderr = forecast_json(path)
    assert "whole number" in stderr and "--counts" in stderr
    _, stderr = forecast_json(path, "--counts", run=in_process)
    assert "--counts" not in stderr


# --- flags ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--cold-start", "10"), "error: --cold-start: '10' has no unit; did you mean 10m or 10s?"),
        (("--horizon", "6"), "error: --horizon: '6' has no unit; did you mean 6m or 6s?"),
        (("--baseline", "-1"), "error: --baseline: must be 0 or more"),
        (("--baseline", "50", "--max-replicas", "10"), "error: --baseline 50 is above --max-replicas 10"),
        (("--at", "noonish"), "error: --at: 'noonish' is not a time"),
    ],
)
def test_forecast_flag_errors_name_the_flag(history, args, expected):
    assert one_error(in_process("forecast", "--history", str(history), *args), 2).startswith(expected)


def test_a_forecast_flag_error_through_the_console_script(history):
    done = predictor("forecast", "--history", str(history), "--cold-start", "10")
    assert one_error(done, 2) == "error: --cold-start: '10' has no unit; did you mean 10m or 10s?"


def test_go_style_durations_are_accepted(history):
    out, _ = forecast_json(history, "--cold-start", "1h30m", run=in_process)
    assert out["lead_time_s"] == 5400 + 120


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--days", "0"), "error: --days: must be more than 0"),
        (("--days", "-1"), "error: --days: must be more than 0"),
        (("--days", "30"), "error: --days 30: the history runs 2026-01-05 00:00"),
        (("--start", "2026-03-01"), "error: --start 2026-03-01 00:00 is at or after the end of the data"),
        (
            ("--start", "2026-01-20", "--end", "2026-01-19"),
            "error: --start 2026-01-20 00:00 is not before --end",
        ),
        (("--min-replicas", "5", "--max-replicas", "2"), "error: --min-replicas 5 is above --max-replicas 2"),
        (("--retrain-every", "0"), "error: --retrain-every: must be more than 0"),
        (("--reconcile-every", "0s"), "error: --reconcile-every: must be more than 0"),
        (("--cold-start", "10"), "error: --cold-start: '10' has no unit"),
        (("--report", "/etc/passwd"), "error: --report: /etc/passwd exists and is not a folder"),
        (("--export-csv", "/etc"), "error: --export-csv: /etc is a folder"),
    ],
)
def test_backtest_flag_errors_name_the_flag(history, args, expected):
    done = in_process("backtest", "--history", str(history), *args)
    assert one_error(done, 2).startswith(expected)
    assert "Backtest of" not in done.stdout  # refused before the replay, not after it


def test_a_backtest_flag_error_through_the_console_script(history):
    done = predictor("backtest", "--history", str(history), "--days", "0")
    assert one_error(done, 2).startswith("error: --days: must be more than 0")
    assert "Backtest of" not in done.stdout


def test_demo_refuses_an_output_that_is_a_file_before_the_work(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("keep me")
    done = predictor("demo", "--out", str(target))
    assert (
        one_error(done, 2)
        == f"error: --out: {target} exists and is not a folder; give a folder to write into"
    )
    assert target.read_text() == "keep me" and "predictor demo" not in done.stdout
