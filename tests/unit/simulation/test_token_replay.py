"""The token replay: on a trace whose prompt length doubles in working hours, the prefill floor sized
on the forecast tokens rises above fixed-length sizing by day and falls below it at night, with no
more shortfall; with lengths that do not move, the two sizings cost the same."""

from __future__ import annotations

import pandas as pd
import pytest

from predictor.capacity import pod_model
from predictor.config import PolicySettings, load_profile
from predictor.errors import PlanningError
from predictor.planning import Bounds, configured_cold_start
from predictor.runtime.policy import Cadence
from predictor.runtime.targets import policy_from_settings
from predictor.simulation.token_replay import NIGHT_HOURS, WORKING_HOURS, replay_tokens
from predictor.sources.synthetic_tokens import TokenMix, synthetic_token_trace

PREFILL = "qwen3-32b-h100-tp2-prefill"


def replay(mix: TokenMix, role: str = "prefill", profile: str = PREFILL):
    # Monday 2026-01-05 for 10 days: a week to train on, then Tuesday to Thursday replayed.
    trace = synthetic_token_trace(days=10, step_s=60, seed=8, base_rps=20, peak_rps=200, mix=mix)
    p = load_profile(profile)
    return replay_tokens(
        trace,
        trace.index[0] + pd.Timedelta(days=8),
        params=p.capacity,
        role=role,
        pod=pod_model(p.capacity, role),
        policy=policy_from_settings(PolicySettings(model="harmonic", history_window_days=7)),
        # Retrained twice a day: what is compared is how the floor is sized, not how fresh the model is.
        cadence=Cadence(retrain_every_s=12 * 3600, reconcile_every_s=60),
        cold_start=configured_cold_start(total_s=p.cold_start.total_s, stages_s=p.cold_start.stages_s),
        bounds=Bounds(1),
    )


@pytest.fixture(scope="module")
def shifted():
    return replay(TokenMix())  # prompts 1,000 tokens at night, 2,000 in working hours


def test_prompts_that_double_by_day_get_more_prefill_pods_then_and_fewer_at_night(shifted):
    day = {row: shifted.mean_floor(row, WORKING_HOURS) for row in ("fixed", "token-aware")}
    night = {row: shifted.mean_floor(row, NIGHT_HOURS, weekdays=False) for row in ("fixed", "token-aware")}
    assert day["token-aware"] > day["fixed"]
    assert night["token-aware"] < night["fixed"]
    fixed, aware = shifted.outcomes["fixed"], shifted.outcomes["token-aware"]
    assert aware.shortfall_minutes <= fixed.shortfall_minutes
    # The fixed lengths are the request-weighted means before the replay, between the two mixes.
    prompt, _ = shifted.fixed_lengths
    assert 1_200 < prompt < 1_800


def test_the_summary_reports_the_saving_against_fixed_lengths(shifted):
    summary = shifted.summary()
    policies = summary["policies"]
    assert set(policies) == {"reactive", "fixed", "token-aware", "oracle"}
    assert summary["pod_hours_saved"] == pytest.approx(
        policies["fixed"]["pod_hours"] - policies["token-aware"]["pod_hours"], abs=1e-3
    )
    assert policies["oracle"]["shortfall_minutes"] == 0
    assert policies["oracle"]["pod_hours"] <= policies["token-aware"]["pod_hours"]


def test_lengths_that_do_not_move_cost_the_same_either_way():
    flat = TokenMix(
        prompt_tokens_night=1_500, prompt_tokens_day=1_500, output_tokens_night=300, output_tokens_day=300
    )
    result = replay(flat)
    fixed, aware = result.outcomes["fixed"], result.outcomes["token-aware"]
    assert aware.pod_hours == pytest.approx(fixed.pod_hours, rel=0.03)
    assert abs(aware.shortfall_minutes - fixed.shortfall_minutes) <= 3


def test_a_trace_without_the_prompt_series_cannot_be_replayed_for_prefill():
    trace = synthetic_token_trace(days=3, step_s=60, seed=1)[["requests_per_s"]]
    p = load_profile(PREFILL)
    with pytest.raises(PlanningError, match="needs the series prompt_tokens_per_s"):
        replay_tokens(
            trace,
            trace.index[0] + pd.Timedelta(days=2),
            params=p.capacity,
            role="prefill",
            pod=pod_model(p.capacity, "prefill"),
            policy=policy_from_settings(PolicySettings(model="harmonic", history_window_days=1)),
            cadence=Cadence(retrain_every_s=3 * 3600, reconcile_every_s=60),
            cold_start=configured_cold_start(total_s=600),
            bounds=Bounds(1),
        )
