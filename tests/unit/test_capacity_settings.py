"""The settings of capacity from production: objectives, the pod selector, and where a target's
objectives come from (its policy, else its calibrated profile)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from predictor.capacity.slo import Slo
from predictor.config import load_settings
from predictor.errors import ConfigError, SourceError
from predictor.runtime.capacity_check import metrics_source_for, objectives_for
from predictor.sources.vllm_metrics import clean_selector
from tests.unit.test_profiles import CALIBRATION

REPO = Path(__file__).resolve().parents[2]
TARGET = {
    "name": "chat",
    "scaled_object": "inference/chat",
    "query": "sum(rate(vllm:request_success_total[5m]))",
    "capacity": {"profile": "llama-3-8b-l40s-tp2"},
}


def settings_with(tmp_path: Path, target: dict, **top):
    path = tmp_path / "predictor.yaml"
    path.write_text(yaml.safe_dump({"targets": [target], **top}), encoding="utf-8")
    return load_settings(path)


def test_defaults_observe_a_week_and_never_size_with_production(tmp_path):
    policy = settings_with(tmp_path, TARGET).targets[0].policy
    assert policy.capacity_slo == {} and policy.observed_capacity_window_s == 7 * 86_400
    assert policy.observed_capacity_warmup_s == 900 and policy.capacity_mismatch_margin == 0.25
    assert policy.size_with_observed_capacity is False


def test_a_malformed_objective_is_one_line_naming_the_key(tmp_path):
    target = {**TARGET, "policy": {"capacity_slo": {"ttft_p99": 0.5}}}
    with pytest.raises(ConfigError) as error:
        settings_with(tmp_path, target)
    lines = str(error.value).splitlines()
    assert len(lines) == 1
    assert "targets[0].policy.capacity_slo: 'ttft_p99' is not an objective like ttft_p99_s" in lines[0]


def test_objectives_come_from_the_policy_first(tmp_path):
    target = {**TARGET, "policy": {"capacity_slo": {"tpot_p95_s": 0.03}}}
    chosen = settings_with(tmp_path, target, policy={"capacity_slo": {"ttft_p99_s": 0.5}}).targets[0]
    assert objectives_for(chosen) == ((Slo("tpot", 95, 0.03),), "policy.capacity_slo")
    inherited = settings_with(tmp_path, TARGET, policy={"capacity_slo": {"ttft_p99_s": 0.5}}).targets[0]
    assert objectives_for(inherited)[0] == (Slo("ttft", 99, 0.5),)


def test_objectives_come_from_a_calibrated_profile_otherwise(tmp_path):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    data = yaml.safe_load((REPO / "models" / "llama-3-8b-l40s-tp2.yaml").read_text(encoding="utf-8"))
    (profiles / "measured.yaml").write_text(
        yaml.safe_dump({**data, "name": "measured", "calibration": CALIBRATION}), encoding="utf-8"
    )
    target = {**TARGET, "capacity": {"profile": "measured"}}
    settings = settings_with(tmp_path, target, profiles_dir=str(profiles))
    assert objectives_for(settings.targets[0], settings.profiles_dir) == (
        (Slo("ttft", 99, 0.5),),
        "profile measured's calibration",
    )


def test_no_objective_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"target chat: no objective to observe capacity at; set policy"):
        objectives_for(settings_with(tmp_path, TARGET).targets[0])


def test_the_pod_selector(tmp_path):
    settings = settings_with(tmp_path, TARGET)
    with pytest.raises(ConfigError, match="target chat: pod_metrics_selector is not set"):
        metrics_source_for(settings, settings.targets[0])
    source = metrics_source_for(settings, settings.targets[0], '{model_name="m"}')
    assert source.selector == 'model_name="m"'
    configured = settings_with(tmp_path, {**TARGET, "pod_metrics_selector": 'namespace="a"'})
    assert metrics_source_for(configured, configured.targets[0]).selector == 'namespace="a"'
    with pytest.raises(SourceError, match="must be label matchers"):
        clean_selector('x{a="b"}')


def test_the_example_config_documents_a_selector():
    example = load_settings(REPO / "config" / "predictor.example.yaml")
    assert example.targets[0].pod_metrics_selector == 'namespace="inference",model_name="llama-3-70b"'
