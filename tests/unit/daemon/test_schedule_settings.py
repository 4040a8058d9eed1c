"""The schedule is checked against the age limit at config load: one line naming the key."""

from __future__ import annotations

import pytest

from predictor.config import load_settings
from predictor.errors import ConfigError

TARGET = """
targets:
  - name: chat
    scaled_object: inference/chat
    history_synthetic: {seed: 1}
    capacity: {profile: llama-3-8b-l40s-tp2}
"""


def load(tmp_path, text: str):
    path = tmp_path / "predictor.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_the_shipped_defaults_leave_room_for_a_retrain():
    from predictor.config import Settings

    settings = Settings()
    assert settings.policy.max_forecast_age_s > settings.schedule.longest_retrain_gap_s == 12_000


def test_an_age_limit_below_interval_jitter_and_fit_time_is_refused(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, "schedule: {retrain_interval_s: 21600}\n" + TARGET)
    [line] = str(raised.value).splitlines()
    assert "policy.max_forecast_age_s: 21600 s must exceed schedule.retrain_interval_s" in line
    assert "(21600 + 300 + 900 = 22800 s)" in line


def test_a_target_of_its_own_is_checked_too(tmp_path):
    text = TARGET + "    policy: {max_forecast_age_s: 7200}\n"
    with pytest.raises(ConfigError, match=r"targets\[0\]\.policy\.max_forecast_age_s: 7200 s must exceed"):
        load(tmp_path, text)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            "{retrain_retry_s: 600, retrain_retry_max_s: 60}",
            "schedule.retrain_retry_max_s: retrain_retry_max_s",
        ),
        (
            "{liveness_timeout_s: 30, reconcile_interval_s: 60}",
            "schedule.liveness_timeout_s: liveness_timeout_s",
        ),
    ],
)
def test_inconsistent_schedules_are_refused(tmp_path, schedule, message):
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, f"schedule: {schedule}\n" + TARGET)
