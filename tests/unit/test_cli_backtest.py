"""`predictor backtest` and `predictor demo` through the command line, on synthetic traces."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from predictor.capacity import pod_model_for_peak
from predictor.cli.common import human_duration
from predictor.cli.main import app
from predictor.config import PolicySettings, ScheduleSettings
from predictor.runtime.targets import cadence_from_schedule, policy_from_settings
from predictor.sources.synthetic import synthetic_trace

runner = CliRunner()
FAST = ["--model", "harmonic", "--reconcile-every", "5m", "--train-days", "14", "--no-tune"]


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
    assert list(policies) == ["reactive", "predictive", "oracle"]
    for totals in policies.values():
        assert set(totals) == {"pod_hours", "shortfall_minutes", "unserved_fraction", "scale_events"}
    assert policies["oracle"]["shortfall_minutes"] == 0
    assert policies["reactive"]["shortfall_minutes"] > 0  # a 20-minute cold start misses the ramp
    assert policies["predictive"]["shortfall_minutes"] <= 0.1 * policies["reactive"]["shortfall_minutes"]
    assert out["window"]["minutes"] == 2 * 1440
    assert out["setup"]["lead_time_s"] == 1200 + 120
    assert 0.5 < out["forecast_accuracy"]["p90_coverage"] <= 1
    assert out["verdict"][0].startswith("predictor avoided")


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
    text = " ".join(result.stdout.split())
    assert "Pre-warming starts at" in text
    assert "As shipped, predictor's floor turned" in text
    # The headline is the shipped policy's: its floor settings and the daemon's schedule.
    shipped = policy_from_settings(PolicySettings())
    assert f"floor: {shipped.floor.describe()}" in text
    schedule = cadence_from_schedule(ScheduleSettings())
    shipped_cadence = (
        f"retrain every {human_duration(schedule.retrain_every_s)}, "
        f"reconcile every {human_duration(schedule.reconcile_every_s)}"
    )
    assert shipped_cadence in text
    for name in ("trace.csv", "forecast.png", "report/summary.md", "report/floor_timeline.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_by_default_the_backtest_replays_predictor_as_it_ships(trace_csv):
    out = json.loads(
        invoke(
            "backtest",
            "--history",
            str(trace_csv),
            "--days",
            "1",
            "--model",
            "harmonic",
            "--no-tune",
            "--json",
        ).stdout
    )
    setup, shipped = out["setup"], policy_from_settings(PolicySettings(model="harmonic"))
    assert setup["policy"] == shipped.to_dict()  # the spike buffer, quantile and floor sizing as shipped
    assert setup["cadence"] == {  # the daemon's schedule
        "retrain_every_s": ScheduleSettings().retrain_interval_s,
        "reconcile_every_s": round(ScheduleSettings().reconcile_interval_s),
    }
    assert setup["cold_start_s"] == 800  # the default profile's stages
    assert setup["cold_start_source"] == "sum of 7 stages of llama-3-70b-h100-tp8"
    assert setup["floor"] == shipped.floor.describe()


def test_the_table_output_prints_every_setting_that_shaped_the_floor(trace_csv):
    text = invoke("backtest", "--history", str(trace_csv), "--days", "1", *FAST).stdout
    for piece in (
        "cold start 13 min (sum of 7 stages of llama-3-70b-h100-tp8) + margin 2 min",
        "floor: p90 at 100% of a pod + 20% buffer; KEDA at 70%",
        f"retrain every {human_duration(ScheduleSettings().retrain_interval_s)}, reconcile every 5 min",
    ):
        assert piece in " ".join(text.split()), piece


def test_with_config_the_backtest_replays_the_targets_own_settings(trace_csv, tmp_path):
    config = tmp_path / "predictor.yaml"
    config.write_text(
        f"""
schedule: {{retrain_interval_s: 43200, reconcile_interval_s: 120}}
policy: {{model: harmonic, history_window_days: 14, tune: false, max_forecast_age_s: 86400}}
targets:
  - name: chat
    scaled_object: inference/chat
    history_file: {trace_csv}
    capacity: {{profile: llama-3-70b-h100-tp8}}
    cold_start: {{total_s: 1200}}
    policy: {{forecast_quantile: 0.8, spike_buffer: 0.1, cooldown_s: 900, floor_utilization: 0.9}}
""",
        encoding="utf-8",
    )
    out = json.loads(
        invoke(
            "backtest",
            "--config",
            str(config),
            "--target",
            "chat",
            "--end",
            "2026-01-18",
            "--days",
            "1",
            "--json",
        ).stdout
    )
    policy, setup = out["setup"]["policy"], out["setup"]
    assert (policy["quantile"], policy["buffer"], policy["cooldown_s"], policy["floor_utilization"]) == (
        0.8,
        0.1,
        900,
        0.9,
    )
    assert setup["cadence"] == {"retrain_every_s": 43_200, "reconcile_every_s": 120}
    assert setup["cold_start_s"] == 1200 and "tuning" not in out


def test_tune_shows_the_search_and_replays_the_choice_on_the_window(tmp_path):
    # The trace's last eight days: four (a weekend in them) are tuned on, two train them first.
    path = tmp_path / "recent.csv"
    trace = synthetic_trace(days=17, step_s=60, seed=7, bursts=0).rename("requests")
    trace[trace.index >= trace.index[-1] - pd.Timedelta(days=8)].to_csv(path, index_label="timestamp")
    report = tmp_path / "report"
    args = ["backtest", "--history", str(path), "--days", "2", "--cold-start", "20m"]
    args += ["--model", "harmonic", "--reconcile-every", "5m", "--train-days", "7", "--tune"]
    text = " ".join(invoke(*args, "--report", str(report)).stdout.split())
    assert "Self-tuning on" in text and "← chosen" in text and "self-tuned" in text
    out = json.loads(invoke(*args, "--json").stdout)
    tuning = out["tuning"]
    assert list(out["policies"]) == ["reactive", "predictive", "tuned", "oracle"]
    assert tuning["tuned"] and tuning["window"]["end"] == out["window"]["start"]  # tuned on the past only
    chosen = [
        c
        for c in tuning["candidates"]
        if (c["quantile"], c["buffer"]) == (tuning["quantile"], tuning["buffer"])
    ]
    meeting = [c for c in tuning["candidates"] if c["meets_objective"]]
    assert chosen[0]["pod_hours"] == min(c["pod_hours"] for c in meeting)
    assert (report / "tuning.png").read_bytes()[:4] == b"\x89PNG"


def flat_csv(tmp_path: Path, days: int) -> Path:
    index = pd.date_range("2026-03-02", periods=days * 1440, freq="60s")
    path = tmp_path / "flat.csv"
    pd.Series(50.0, index=index, name="requests").to_csv(path, index_label="timestamp")
    return path


def test_the_verdict_says_when_there_is_no_shortfall_to_avoid(tmp_path):
    text = invoke("backtest", "--history", str(flat_csv(tmp_path, 4)), "--days", "1", *FAST).stdout
    assert "No shortfall to avoid" in " ".join(text.split())


def test_the_verdict_says_when_there_was_too_little_history(tmp_path):
    # One day: a model needs a day of history before the replay, so there is never one.
    never = invoke("backtest", "--history", str(flat_csv(tmp_path, 1)), "--start", "2026-03-02T12:00", *FAST)
    assert "predictor never had a model" in " ".join(never.stdout.split())
    # Two days from noon: the first model comes at midnight, a third of the way in.
    late = invoke("backtest", "--history", str(flat_csv(tmp_path, 2)), "--start", "2026-03-02T12:00", *FAST)
    assert "predictor had no usable forecast for 33% of the replay" in " ".join(late.stdout.split())


# --- The report's plots, checked for what they draw at the size they are written --------------------


@pytest.fixture(scope="module")
def bursty_result():
    from predictor.planning import configured_cold_start
    from predictor.runtime.policy import Cadence
    from predictor.simulation.replay import BacktestSettings, run_backtest

    load = synthetic_trace(days=12, step_s=60, seed=4, noise=0.3, bursts=6)
    settings = BacktestSettings(
        policy=policy_from_settings(PolicySettings(model="harmonic", history_window_days=7)),
        cadence=Cadence(retrain_every_s=21_600, reconcile_every_s=60),
        cold_start=configured_cold_start(total_s=1200),
        score_days=4,
    )
    return run_backtest(load, settings)


def test_every_shortfall_minute_is_inside_a_visible_red_span(bursty_result):
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from predictor.cli import report

    result = bursty_result
    fig = report.load_vs_capacity_figure(result)
    try:
        assert fig.get_size_inches().tolist() == [13, 2.6 * 3 + 1]
        reactive_ax = fig.axes[0]
        spans = [(p.get_x(), p.get_x() + p.get_width()) for p in reactive_ax.patches]
        outcome = result.outcomes["reactive"]
        short = np.flatnonzero(np.nan_to_num(result.load) > outcome.ready * result.cluster.pod_rps + 1e-9)
        assert len(short) == outcome.shortfall_minutes > 0
        minutes = mdates.date2num(result.index[short].to_pydatetime())
        assert all(any(a <= m <= b for a, b in spans) for m in minutes)
        window_days = (result.index[-1] - result.index[0]).total_seconds() / 86_400
        assert min(b - a for a, b in spans) >= window_days / 300 - 1e-9  # at least 1/300 of the width
        assert all(ax.get_ylim()[0] == 0 for ax in fig.axes)
    finally:
        plt.close(fig)


def test_the_floor_timeline_is_no_thicket_on_a_bursty_trace(bursty_result):
    import matplotlib.pyplot as plt

    from predictor.cli import report

    result = bursty_result
    changes = np.count_nonzero(np.diff(result.outcomes["reactive"].replicas))
    assert changes > 200, "the test needs a bursty trace"
    fig = report.floor_timeline_figure(result)
    try:
        ax = fig.axes[0]
        lines = {line.get_label(): line for line in ax.get_lines()}
        binned = [label for label in lines if "max per" in label]
        assert binned and all(len(lines[label].get_xdata()) <= report.DISPLAY_BINS + 1 for label in binned)
        floor = lines["predictive floor (minReplicaCount)"]
        np.testing.assert_array_equal(floor.get_ydata(), result.outcomes["predictive"].floor)  # exact
        assert ax.get_ylim()[0] == 0
    finally:
        plt.close(fig)


def test_cost_against_shortfall_starts_at_zero_and_keeps_every_label_inside(bursty_result):
    import matplotlib.pyplot as plt

    from predictor.cli import report

    points = [
        report.Point(name, o.pod_hours, o.shortfall_minutes, "C0")
        for name, o in bursty_result.outcomes.items()
    ]
    points.append(
        report.Point("a long label at the far right", max(p.pod_hours for p in points) * 1.2, 0, "C1")
    )
    fig = report.cost_vs_shortfall_points(points, title="t")
    try:
        fig.tight_layout()
        fig.canvas.draw()
        ax = fig.axes[0]
        assert ax.get_ylim()[0] == 0 and ax.get_xlim()[0] >= 0
        box = fig.bbox
        for text in [*ax.texts, ax.xaxis.label, ax.yaxis.label, ax.title]:
            extent = text.get_window_extent()
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1
    finally:
        plt.close(fig)
