"""`predictor backtest` and `predictor demo` through the command line, on synthetic traces."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from predictor.capacity import pod_model_for_peak
from predictor.cli.main import app
from predictor.sources.synthetic import synthetic_trace

runner = CliRunner()
FAST = ["--model", "harmonic", "--reconcile-every", "5m", "--train-days", "14"]


@pytest.fixture(scope="module")
def trace_csv(tmp_path_factory) -> Path:
    # Ends on a Wednesday: the replayed days are weekdays with a morning ramp.
    path = tmp_path_factory.mktemp("trace") / "llm.csv"
    synthetic_trace(days=17, step_s=60, seed=7, bursts=0).rename("requests").to_csv(
        path, index_label="timestamp"
    )
    return path


def invoke(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


def test_json_compares_the_three_policies(trace_csv):
    out = json.loads(
        invoke(
            "backtest", "--history", str(trace_csv), "--days", "2", "--cold-start", "20m", *FAST, "--json"
        ).stdout
    )
    policies = out["policies"]
    assert set(policies) == {"reactive", "predictive", "oracle"}
    for totals in policies.values():
        assert set(totals) == {"pod_hours", "shortfall_minutes", "unserved_fraction", "scale_events"}
    assert policies["oracle"]["shortfall_minutes"] == 0
    assert policies["reactive"]["shortfall_minutes"] > 0  # a 20-minute cold start misses the ramp
    assert policies["predictive"]["shortfall_minutes"] <= 0.1 * policies["reactive"]["shortfall_minutes"]
    assert out["window"]["minutes"] == 2 * 1440
    assert out["setup"]["lead_time_s"] == 1200 + 120
    assert 0.5 < out["forecast_accuracy"]["p90_coverage"] <= 1


def test_export_csv_and_report(trace_csv, tmp_path):
    csv, report = tmp_path / "minutes.csv", tmp_path / "report"
    args = [
        "--history",
        str(trace_csv),
        "--days",
        "1",
        *FAST,
        "--export-csv",
        str(csv),
        "--report",
        str(report),
    ]
    result = invoke("backtest", *args)
    assert "reactive" in result.stdout and "predictive" in result.stdout and "oracle" in result.stdout
    frame = pd.read_csv(csv)
    assert list(frame.columns[:6]) == ["timestamp", "load", "forecast", "floor", "replicas", "ready"]
    assert len(frame) == 1440
    assert (frame["replicas"] >= frame["floor"]).all()
    assert (frame["ready"] <= frame["replicas"]).all()
    for png in ("load_vs_capacity.png", "floor_timeline.png", "cost_vs_shortfall.png"):
        assert (report / png).read_bytes()[:4] == b"\x89PNG"
        assert f"({png})" in (report / "summary.md").read_text(encoding="utf-8")


def test_a_window_without_earlier_history_is_a_clear_error(trace_csv):
    result = runner.invoke(
        app, ["backtest", "--history", str(trace_csv), "--start", "2026-01-05T00:00", *FAST]
    )
    assert result.exit_code == 1
    assert "must lie after the start of the history" in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--model", "nope"], "--model: Input should be 'auto'"),
        (["--utilization", "0"], "--utilization: Input should be greater than 0"),
        (["--quantile", "1.5"], "--quantile: Input should be less than 1"),
    ],
)
def test_bad_flags_exit_2_before_any_replay(trace_csv, flags, message):
    result = runner.invoke(app, ["backtest", "--history", str(trace_csv), *flags])
    assert result.exit_code == 2
    assert message in result.stderr


def test_the_replay_refuses_an_unknown_model_instead_of_running_without_one():
    from predictor.config import PolicySettings
    from predictor.errors import ForecastError
    from predictor.planning import Bounds, configured_cold_start
    from predictor.runtime.policy import Cadence
    from predictor.runtime.targets import policy_from_settings
    from predictor.simulation.predictive import predictive_floor

    load = synthetic_trace(days=3, step_s=60, seed=1)
    pod = pod_model_for_peak(float(load.max()), 10, utilization=0.7)
    with pytest.raises(ForecastError, match="unknown model 'nope'"):
        predictive_floor(
            load,
            load.index[-1440],
            pod=pod,
            cold_start=configured_cold_start(total_s=600),
            bounds=Bounds(1),
            # The settings refuse an unknown model, so build the value with one directly.
            policy=replace(policy_from_settings(PolicySettings()), model="nope"),
            cadence=Cadence(retrain_every_s=86_400, reconcile_every_s=60),
        )


def test_demo_runs_on_the_built_in_trace(tmp_path):
    result = invoke("demo", "--out", str(tmp_path), "--days", "1")
    assert "Pre-warming starts at" in result.stdout
    assert "Predictor's floor turned" in result.stdout
    for name in ("trace.csv", "forecast.png", "report/summary.md", "report/floor_timeline.png"):
        assert (tmp_path / name).stat().st_size > 0
