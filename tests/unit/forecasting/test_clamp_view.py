"""The forecast table, ``--json`` and the plot say when and what was clamped, and the floor is
sized on the clamped values."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from predictor.capacity.formula import pod_model_for_peak
from predictor.cli import forecast_view, plots
from predictor.forecasting import bounds, registry
from predictor.forecasting.models import common
from predictor.forecasting.quantiles import LEVELS, ResidualQuantiles
from predictor.planning import Bounds, FloorPolicy, FloorState, StepRules
from predictor.planning.leadtime import configured_cold_start
from predictor.runtime.forecast import ForecastRequest, TargetForecast, predict_and_plan
from predictor.runtime.policy import Policy
from predictor.sources.synthetic import synthetic_trace


def clamped_forecast() -> TargetForecast:
    history = synthetic_trace(days=7, step_s=600, base_rps=250, peak_rps=1_600, seed=3)
    model = registry.make_forecaster("seasonal_naive").fit(history)
    assert isinstance(model, common.LogSpaceModel)
    rows = tuple(tuple(float(v) for v in np.linspace(-1.0, 12.0, len(LEVELS))) for _ in range(1))
    model.residuals = ResidualQuantiles((0.0,), rows)  # a residual table like the blow-up's
    policy = Policy(
        model="seasonal_naive",
        step_s=600,
        train_days=28,
        horizon_s=6 * 3_600,
        max_forecast_age_s=21_600,
        floor=FloorPolicy(
            quantile=0.9,
            utilization=0.7,
            floor_utilization=1.0,
            buffer=0.0,
            margin_s=120,
            rules=StepRules(1_800, 2, 300, 300),
        ),
    )
    request = ForecastRequest(
        name="chat",
        policy=policy,
        pod=pod_model_for_peak(float(history.max()), 20, utilization=0.7),
        cold_start=configured_cold_start(total_s=600),
        bounds=Bounds(1, 10_000),
    )
    now = history.index[-1] + pd.Timedelta(minutes=10)
    forecast, plan = predict_and_plan(model, request, now, FloorState(1))
    return TargetForecast(request, now, history, "seasonal_naive", {}, None, forecast, plan)


def test_json_lists_every_clamp_and_the_points_hold_the_clamped_values() -> None:
    tf = clamped_forecast()
    doc = json.loads(json.dumps(forecast_view.to_json(tf)))
    assert doc["clamped"] is True
    p90 = next(c for c in doc["clamps"] if c["series"] == "p90" and "peak" in c["rule"])
    assert p90["raw"] > 1e6 and p90["first"] <= p90["last"]
    assert p90["text"].startswith("p90 clamped from")
    assert max(p["p90"] for p in doc["points"]) <= p90["bound"] * (1 + 1e-9)
    # Pods and floor are sized on the clamped p90: a pod serves the peak / 20 at u = 0.7, so
    # the bound needs about 20 x bound / peak pods, not millions.
    needed = int(np.ceil(20 * p90["bound"] / float(tf.history.max())))
    assert needed <= 20 * bounds.PEAK_FACTOR * bounds.MAX_GROWTH
    assert max(p["pods"] for p in doc["points"]) <= needed + 1
    assert max(p["floor"] for p in doc["points"] if p["floor"] is not None) <= needed + 1


def test_the_table_and_the_plot_say_so(tmp_path: Path) -> None:
    tf = clamped_forecast()
    console = Console(record=True, width=160)
    console.print(forecast_view.render(tf))
    text = console.export_text()
    assert "clamped: p90 clamped from" in text and "UTC (" in text
    assert "clamped" in forecast_view.hourly_table(tf).columns[-1].header
    path = plots.forecast_plot(tf, tmp_path / "forecast.png")
    assert path.stat().st_size > 10_000


def test_an_unclamped_forecast_has_no_clamp_column() -> None:
    tf = clamped_forecast()
    plain = dataclasses.replace(tf, forecast=dataclasses.replace(tf.forecast, clamps=()))
    assert forecast_view.to_json(plain)["clamps"] == []
    assert "clamped" not in [c.header for c in forecast_view.hourly_table(plain).columns]
