"""One policy value, built once, drives the planner, the daemon and the replay: no knob can drift."""

from __future__ import annotations

import pytest
import typer.main

from predictor.cli.main import app
from predictor.config import PolicySettings
from predictor.errors import PlanningError
from predictor.planning import FloorPolicy, StepRules
from predictor.runtime.targets import policy_from_settings, tuning_from_settings

# Settings of the policy group that are not about the forecast or the floor itself.
NOT_FLOOR_SHAPING = {"actuation_mode"}
# Capacity from production: read by predictor.runtime.capacity_check, which says what to size with.
NOT_FLOOR_SHAPING |= {
    "capacity_slo",
    "observed_capacity_window_s",
    "observed_capacity_warmup_s",
    "capacity_mismatch_margin",
    "size_with_observed_capacity",
}
# Where each PolicySettings field lands in Policy.to_dict().
MAPPED = {
    "history_window_days": "train_days",
    "model_step_s": "step_s",
    "model": "model",
    "forecast_quantile": "quantile",
    "horizon_s": "horizon_s",
    "utilization_target": "utilization",
    "spike_buffer": "buffer",
    "cooldown_s": "cooldown_s",
    "max_step_down_pods": "max_step_down_pods",
    "step_down_interval_s": "step_down_interval_s",
    "lead_time_margin_s": "margin_s",
    "max_replicas_cap": "cap",
    "max_forecast_age_s": "max_forecast_age_s",
    "floor_utilization": "floor_utilization",
    "floor_window": "window",
    "scale_down_window_s": "scale_down_window_s",
}
# Where each self-tuning setting lands in Tuning.to_dict() (the objective is nested).
TUNING = {
    "tune": "enabled",
    "tune_history_days": "history_days",
    "tune_interval_s": "interval_s",
    "tune_min_quantile": "min_quantile",
    "tune_quantiles": "quantiles",
    "tune_buffers": "buffers",
    "objective_shortfall_minutes_per_day": "objective.shortfall_minutes_per_day",
    "objective_shortfall_share": "objective.shortfall_share",
    "tune_reselect": "reselect",
    "tune_margin": "margin",
}


def test_every_policy_setting_reaches_the_policy_value():
    unmapped = set(PolicySettings.model_fields) - set(MAPPED) - set(TUNING) - NOT_FLOOR_SHAPING
    assert not unmapped, f"policy settings that never reach the planner or the replay: {unmapped}"
    # Values that differ from every default, so a field read from the wrong place shows.
    settings = PolicySettings(
        history_window_days=9,
        model_step_s=600,
        model="harmonic",
        forecast_quantile=0.8,
        horizon_s=7_200,
        utilization_target=0.55,
        spike_buffer=0.35,
        cooldown_s=1_234,
        max_step_down_pods=3,
        step_down_interval_s=420,
        lead_time_margin_s=77,
        max_replicas_cap=17,
        max_forecast_age_s=43_000,
        floor_utilization=0.85,
        floor_window="pooled",
        scale_down_window_s=123,
        tune=False,
        tune_history_days=9.5,
        tune_interval_s=7_777,
        tune_min_quantile=0.65,
        tune_quantiles=(0.66, 0.77),
        tune_buffers=(0.05, 0.15),
        objective_shortfall_minutes_per_day=3.25,
        objective_shortfall_share=0.07,
        tune_reselect=True,
        tune_margin=0.45,
    )
    flat = policy_from_settings(settings).to_dict()
    for field, key in MAPPED.items():
        assert flat[key] == getattr(settings, field), field
    tuning = tuning_from_settings(settings).to_dict()
    for field, key in TUNING.items():
        value: object = tuning
        for part in key.split("."):
            value = value[part]  # type: ignore[index]
        expected = getattr(settings, field)
        assert value == (list(expected) if isinstance(expected, tuple) else expected), field


def _options(command: str) -> set[str]:
    group = typer.main.get_command(app)
    return {opt for p in group.commands[command].params for opt in p.opts}  # type: ignore[attr-defined]


def test_forecast_and_backtest_take_the_same_policy_flags():
    shared = {
        "--model",
        "--quantile",
        "--buffer",
        "--utilization",
        "--floor-utilization",
        "--train-days",
        "--cold-start",
    }
    assert shared <= _options("forecast")
    assert shared <= _options("backtest")


@pytest.mark.parametrize(
    "changes", [{"quantile": 1.0}, {"quantile": 0.0}, {"utilization": 0.0}, {"buffer": -0.1}, {"cap": 0}]
)
def test_a_floor_policy_refuses_impossible_values(changes):
    good = {
        "quantile": 0.9,
        "utilization": 0.7,
        "floor_utilization": 1.0,
        "buffer": 0.2,
        "margin_s": 120.0,
        "cap": None,
    }
    with pytest.raises(PlanningError):
        FloorPolicy(**{**good, **changes}, rules=StepRules(1800, 2, 300, 300))
