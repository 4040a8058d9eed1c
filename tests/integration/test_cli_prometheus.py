"""`predictor forecast` and `predictor backtest` end to end against the real Prometheus server."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from predictor.cli.main import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def write_config(tmp_path: Path, backfilled) -> Path:
    config = {
        "prometheus": {"url": backfilled.url, "timeout_s": 20, "retries": 1},
        "targets": [
            {
                "name": "chat",
                "scaled_object": "inference/chat",
                "query": f"sum(rate({backfilled.metric}[2m]))",
                "capacity": {"profile": "llama-3-8b-l40s-tp2"},
                "cold_start": 900,
                "policy": {"history_window_days": 21},
            }
        ],
    }
    path = tmp_path / "predictor.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_forecast_from_prometheus_prewarms_before_the_morning_peak(backfilled_prometheus, tmp_path):
    # The history runs Monday to Sunday for four weeks: the last Friday, before the ramp.
    at = backfilled_prometheus.trace.index[-1].normalize() - pd.Timedelta(days=2) + pd.Timedelta(hours=5)
    assert at.day_of_week < 5, "the test needs a weekday morning"
    config = write_config(tmp_path, backfilled_prometheus)
    args = ["forecast", "--config", str(config), "--target", "chat", "--at", at.isoformat(), "--json"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["target"] == "chat"
    assert out["trained_on"]["points"] > 20 * 288  # three weeks at 5 minutes, less the 4-hour gap
    assert pd.Timestamp(out["trained_on"]["end"]) < at
    prewarm = pd.Timestamp(out["prewarm"]["at"])
    assert at < prewarm < at + pd.Timedelta(hours=4)
    peak_hour = max(out["points"], key=lambda p: p["p90"])
    assert 10 <= pd.Timestamp(peak_hour["t"]).hour <= 15  # the synthetic trace peaks around 13:00 UTC


def test_backtest_from_prometheus(backfilled_prometheus, tmp_path):
    end = backfilled_prometheus.trace.index[-1].normalize() - pd.Timedelta(days=1)  # replay the last Friday
    config = write_config(tmp_path, backfilled_prometheus)
    args = ["backtest", "--config", str(config), "--target", "chat", "--end", end.isoformat(), "--days", "1"]
    args += [
        "--train-days",
        "14",
        "--reconcile-every",
        "5m",
        "--model",
        "harmonic",
        "--peak-pods",
        "20",
        "--json",
    ]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["window"]["minutes"] == 1440
    assert out["setup"]["cold_start_s"] == 900
    assert out["policies"]["oracle"]["shortfall_minutes"] == 0
    assert (
        out["policies"]["predictive"]["shortfall_minutes"] <= out["policies"]["reactive"]["shortfall_minutes"]
    )


def test_an_unreachable_prometheus_is_reported_per_target(tmp_path, backfilled_prometheus):
    config = write_config(tmp_path, backfilled_prometheus)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["prometheus"]["url"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["forecast", "--config", str(config), "--at", "2026-01-20T05:00"])
    assert result.exit_code == 1
    assert "target chat:" in result.stderr and "127.0.0.1:9" in result.stderr
