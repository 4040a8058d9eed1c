"""Self-tuning's choice in the target's memory file: written, read back, refused when malformed, and
put in force only while it is one of the candidates the settings allow."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from predictor.config import Settings
from predictor.daemon.persist import SavedTarget, TargetFiles
from predictor.daemon.state import TargetState, TunedChoice
from predictor.runtime.targets import source_for

AT = pd.Timestamp("2026-03-04 06:00", tz="UTC")
CHOICE = TunedChoice(0.95, 0.1, "p95 + 10% buffer: the cheapest ...", AT, 120.5, 3.0)


def state(**policy: object) -> TargetState:
    settings = Settings(
        kubernetes={"mode": "offline"},
        policy=policy,
        targets=[
            {
                "name": "chat",
                "scaled_object": "inference/chat",
                "history_synthetic": {"seed": 0},
                "capacity": {"profile": "llama-3-8b-l40s-tp2"},
            }
        ],
    )
    return TargetState.create(settings.targets[0], source_for(settings, settings.targets[0]))


def test_the_choice_round_trips_through_the_memory_file(tmp_path):
    files = TargetFiles(tmp_path)
    files.save("chat", SavedTarget(tuned=CHOICE))
    assert files.load("chat").tuned == CHOICE
    files.save("chat", SavedTarget())  # not tuned: no key, and an older file reads the same
    assert "tuned" not in json.loads(files.path("chat").read_text()) and files.load("chat").tuned is None


def test_a_malformed_choice_is_a_clear_error(tmp_path):
    files = TargetFiles(tmp_path)
    files.path("chat").write_text(json.dumps({"schema_version": 1, "tuned": {"quantile": 0.9}}))
    with pytest.raises(ValueError, match=r"chat\.memory\.json is not a target memory file: tuned: 'buffer'"):
        files.load("chat")


def test_only_an_allowed_candidate_is_put_in_force():
    rt = state(tune_quantiles=[0.9, 0.95], tune_buffers=[0.0, 0.1])
    assert rt.apply_tuned(CHOICE)
    assert (rt.policy.quantile, rt.policy.floor.buffer) == (0.95, 0.1)
    assert (rt.configured_policy.quantile, rt.configured_policy.floor.buffer) == (0.9, 0.2)
    narrower = state(tune_quantiles=[0.9], tune_buffers=[0.0, 0.1])  # 0.95 is no longer a candidate
    assert not narrower.apply_tuned(CHOICE) and narrower.policy == narrower.configured_policy
    off = state(tune=False)
    assert not off.apply_tuned(CHOICE) and off.tuned is None
