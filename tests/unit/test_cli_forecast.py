"""`predictor forecast` on a synthetic history written to disk, through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from predictor.cli.main import app
from predictor.sources.synthetic import synthetic_trace

runner = CliRunner()
AT = "2026-01-22T05:00"  # a Thursday before the morning ramp; data starts Monday 2026-01-05


@pytest.fixture(scope="module")
def history_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("history") / "chat.csv"
    trace = synthetic_trace(days=21, step_s=300, seed=3)
    trace.rename("requests").to_csv(path, index_label="timestamp")
    return path


def forecast_json(*args: str) -> dict:
    result = runner.invoke(app, ["forecast", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_json_follows_the_documented_schema(history_csv):
    out = forecast_json("--history", str(history_csv), "--at", AT, "--peak-pods", "20", "--horizon", "6h")
    assert out["schema"] == "predictor.forecast/v1"
    assert out["generated_at"] == "2026-01-22T05:00:00Z"
    chosen = out["anchor"].split(",")[0] if out["model"] == "anchored" else out["model"]
    assert chosen in out["scores"]
    assert out["trained_on"]["end"] == "2026-01-22T04:55:00Z"  # nothing at or after --at
    points = out["points"]
    assert points[0]["t"] == "2026-01-22T05:00:00Z"
    assert len(points) >= 6 * 12  # six hours of 5-minute steps
    for p in points:
        assert 0 <= p["p50"] <= p["p90"] <= p["p95"]
        assert isinstance(p["pods"], int)
    planned = [p for p in points if p["floor"] is not None]
    assert all(p["floor"] >= p["pods"] for p in planned)  # the floor covers what the p90 needs, early
    for kind, score in out["scores"].items():
        assert score["status"] in {"ok", "skipped", "failed"}, kind


def test_prewarming_starts_before_the_morning_peak(history_csv):
    out = forecast_json("--history", str(history_csv), "--at", AT, "--peak-pods", "20", "--cold-start", "10m")
    prewarm = out["prewarm"]
    assert prewarm is not None and prewarm["kind"] == "raise"
    at = pd.Timestamp(prewarm["at"])
    assert pd.Timestamp(AT, tz="UTC") < at < pd.Timestamp("2026-01-22T09:00", tz="UTC")
    assert "cold start 10 min" in prewarm["reason"]
    assert out["lead_time_s"] == 600 + 120


def test_at_uses_only_the_data_before_it(history_csv, tmp_path):
    # Poison everything from --at on: the forecast must not change.
    frame = pd.read_csv(history_csv)
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    frame.loc[stamps >= pd.Timestamp(AT, tz="UTC"), "requests"] = 1e6
    poisoned = tmp_path / "poisoned.csv"
    frame.to_csv(poisoned, index=False)
    args = ("--at", AT, "--peak-pods", "20", "--model", "harmonic")
    clean = forecast_json("--history", str(history_csv), *args)
    dirty = forecast_json("--history", str(poisoned), *args)
    assert [p["p90"] for p in clean["points"]] == [p["p90"] for p in dirty["points"]]


def test_a_named_model_is_used_and_still_scored(history_csv):
    out = forecast_json(
        "--history", str(history_csv), "--at", AT, "--model", "seasonal_naive", "--peak-pods", "10"
    )
    assert out["model"] == "seasonal_naive"
    assert out["scores"]["seasonal_naive"]["status"] == "ok"


def test_the_json_and_the_table_say_where_the_band_came_from(history_csv):
    out = forecast_json("--history", str(history_csv), "--at", AT, "--peak-pods", "20")
    assert "pooled from 1 h with the backtest's" in out["band"]  # 17 days: no short-history floor
    assert "under a week" not in out["band"]
    result = runner.invoke(
        app,
        ["forecast", "--history", str(history_csv), "--at", AT, "--peak-pods", "20"],
        catch_exceptions=False,
    )
    assert f"quantiles from {out['band'][:40]}" in " ".join(result.stdout.split())


@pytest.mark.parametrize("model", ["auto", "harmonic", "seasonal_naive"])
def test_a_history_under_a_week_gets_the_wider_band_whichever_model(tmp_path, model):
    path = tmp_path / "short.csv"
    trace = synthetic_trace(days=21, step_s=300, seed=3)
    trace[trace.index >= pd.Timestamp("2026-01-17", tz="UTC")].rename("requests").to_csv(
        path, index_label="timestamp"
    )  # Saturday 2026-01-17 to the Thursday of --at: 5 days, a weekend then weekdays
    out = forecast_json("--history", str(path), "--at", AT, "--peak-pods", "20", "--model", model)
    assert "under a week of history" in out["band"], out["band"]


def test_table_output_and_plot(history_csv, tmp_path):
    png = tmp_path / "forecast.png"
    result = runner.invoke(
        app,
        ["forecast", "--history", str(history_csv), "--at", AT, "--peak-pods", "20", "--plot", str(png)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    for text in ("Backtest at the pre-warm horizons", "by the hour", "Floor now:", "Pre-warming starts at"):
        assert text in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000


def chat_config(path: Path, history_csv: Path, **top: object) -> Path:
    """A config with one target, ``chat``, reading ``history_csv``; ``top`` adds top-level keys."""
    target = {
        "name": "chat",
        "scaled_object": "inference/chat",
        "history_file": str(history_csv),
        "capacity": {"profile": "llama-3-8b-l40s-tp2"},
        "cold_start": 600,
    }
    path.write_text(yaml.safe_dump({**top, "targets": [target]}), encoding="utf-8")
    return path


def test_config_targets_with_a_history_file(history_csv, tmp_path):
    config = chat_config(tmp_path / "predictor.yaml", history_csv)
    out = forecast_json("--config", str(config), "--target", "chat", "--at", AT)
    assert out["target"] == "chat"
    assert out["lead_time_s"] == 720
    unknown = runner.invoke(app, ["forecast", "--config", str(config), "--target", "nope"])
    assert unknown.exit_code == 2
    assert "no target named 'nope' (targets: chat)" in unknown.stderr


def test_a_target_is_sized_with_the_daemons_tuned_choice_from_its_state_dir(history_csv, tmp_path):
    from predictor.daemon.persist import SavedTarget, TargetFiles
    from predictor.daemon.state import TunedChoice

    state = tmp_path / "state"
    config = chat_config(tmp_path / "predictor.yaml", history_csv, state_dir=str(state))
    args = ("--config", str(config), "--target", "chat", "--at", AT)
    configured = forecast_json(*args)
    assert configured["policy"] == {"quantile": 0.9, "buffer": 0.2, "source": "configured", "reason": None}

    def stored(quantile: float, buffer: float) -> None:
        at = pd.Timestamp("2026-01-21 06:00", tz="UTC")
        choice = TunedChoice(quantile, buffer, "the cheapest of 5 of 8 candidates meeting ...", at)
        TargetFiles(state).save("chat", SavedTarget(tuned=choice))

    stored(0.95, 0.0)
    tuned = forecast_json(*args)
    assert tuned["policy"]["source"] == "tuned"
    assert (tuned["policy"]["quantile"], tuned["policy"]["buffer"]) == (0.95, 0.0)
    assert tuned["policy"]["reason"].startswith("tuned at 2026-01-21 06:00 UTC: the cheapest of 5")
    assert tuned["quantile"] == 0.95
    table = runner.invoke(app, ["forecast", *args], catch_exceptions=False)
    assert "sized on p95 + 0% buffer (tuned)" in " ".join(table.stdout.split())
    flagged = forecast_json(*args, "--quantile", "0.8")
    assert flagged["policy"]["source"] == "flags" and flagged["policy"]["quantile"] == 0.8

    stored(0.7, 0.0)  # below tune_min_quantile 0.9: the daemon would not size with it either
    assert forecast_json(*args)["policy"]["source"] == "configured"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--history", "missing.csv"], 1, "missing.csv"),
        ([], 2, "give either --config (with --target) or --history FILE"),
        (["--history", "x.csv", "--horizon", "soon"], 2, "--horizon: 'soon' is not a duration"),
        (["--history", "x.csv", "--at", "yesterday-ish"], 2, "--at: 'yesterday-ish' is not a time"),
        (["--history", "x.csv", "--quantile", "1.5"], 2, "--quantile: Input should be less than 1 (got 1.5)"),
        (["--history", "x.csv", "--model", "nope"], 2, "--model: Input should be 'auto'"),
    ],
)
def test_bad_input_is_a_clear_error(args, code, message):
    result = runner.invoke(app, ["forecast", *args])
    assert result.exit_code == code
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_too_little_history_is_a_clear_error(tmp_path):
    path = tmp_path / "short.csv"
    index = pd.date_range("2026-01-05", periods=20, freq="5min", tz="UTC")
    pd.Series(np.full(20, 5.0), index=index).rename("requests").to_csv(path, index_label="timestamp")
    result = runner.invoke(app, ["forecast", "--history", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "forecasting needs at least 24 h (1 day) of history" in result.stderr


def test_an_anchored_choice_says_on_which_weekdays_and_a_named_model_is_never_anchored(tmp_path):
    # Weekdays alike, the level rising 3 % a day: yesterday beats last week after a weekday.
    trace = synthetic_trace(days=28, step_s=300, seed=4, bursts=0, noise=0.02)
    trace = trace * 1.03 ** np.asarray((trace.index - trace.index[0]) / pd.Timedelta(days=1))
    path = tmp_path / "growing.csv"
    trace.rename("requests").to_csv(path, index_label="timestamp")
    at = "2026-02-02T05:00"  # a Monday, right after the 28 days
    out = forecast_json("--history", str(path), "--at", at, "--peak-pods", "20", "--horizon", "30h")
    assert out["model"] == "anchored"
    chosen = out["anchor"].split(",")[0]
    assert chosen in out["scores"] and out["anchor"].endswith("seasonal naive 1 on Tue, Wed, Thu, Fri, Sun")
    table = runner.invoke(app, ["forecast", "--history", str(path), "--at", at, "--peak-pods", "20"])
    assert table.exit_code == 0 and f"anchored: {out['anchor']}" in " ".join(table.stdout.split())
    named = forecast_json("--history", str(path), "--at", at, "--peak-pods", "20", "--model", "harmonic")
    assert named["model"] == "harmonic" and named["anchor"] is None
