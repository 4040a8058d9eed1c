"""Configuration: the example file is complete, errors name the file and key path, env overrides."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from predictor.config import Settings, format_settings, load_settings
from predictor.config.errors import _inner_model
from predictor.errors import ConfigError
from tests.support.cli import in_process

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "predictor.example.yaml"

COLD_START_STAGES = {
    "scheduling",
    "image_pull",
    "weight_download",
    "profile_run",
    "torch_compile",
    "cuda_graph_capture",
    "warmup",
}
MINIMAL_TARGET = {
    "name": "chat",
    "scaled_object": "inference/chat",
    "query": "sum(rate(requests_total[5m]))",
    "capacity": {"profile": "llama-3-70b-h100-tp8"},
}


def write(tmp_path: Path, data: Any, name: str = "predictor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def test_example_file_loads():
    settings = load_settings(EXAMPLE)
    names = [t.name for t in settings.targets]
    assert names == [
        *("llama-chat", "qwen-prefill", "demo-synthetic", "code-assist"),
        *("qwen3-prefill", "qwen3-decode"),  # the service qwen3, one target per role
    ]
    assert [t.service for t in settings.targets[-2:]] == ["qwen3", "qwen3"]


def _missing_keys(model: type[BaseModel], node: Any, path: str, walked: set[type] | None = None) -> list[str]:
    """Field paths of ``model`` that never appear in ``node`` (lists: the union of their items).

    A nested model is documented once, where it first appears: a target's policy holds only its
    overrides (the policy keys are documented at the top), and a service's role reuses the
    capacity and cold start documented under the first target.
    """
    walked = set() if walked is None else walked
    walked.add(model)
    items = node if isinstance(node, list) else [node]
    items = [i for i in items if isinstance(i, dict)]
    missing = []
    for name, field in model.model_fields.items():
        present = [i[name] for i in items if name in i]
        if not present:
            missing.append(f"{path}{name}")
            continue
        inner = _inner_model(field.annotation)
        # A target's events and holidays use the keys documented at the top level.
        top_level_only = f"{path}{name}" in {"targets.events", "targets.holidays"}
        if inner is not None and inner not in walked and not top_level_only:
            values = [v for p in present for v in (p if isinstance(p, list) else [p])]
            missing += _missing_keys(inner, values, f"{path}{name}.", walked)
    return missing


def test_every_setting_appears_in_the_example_file():
    documented = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert _missing_keys(Settings, documented, "") == []


def test_every_setting_in_the_example_has_a_comment():
    # The first time a key appears it carries a comment (on its line or the line above);
    # repeats in the second target, and the named cold-start stages, need none.
    documented: set[str] = set()
    undocumented = []
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^\s*(?:- )?(\w+):", line)
        if not match or line.lstrip().startswith("#"):
            continue
        key = match.group(1)
        if "#" in line or lines[i - 1].lstrip().startswith("#"):
            documented.add(key)
        elif key not in documented and key not in COLD_START_STAGES:
            undocumented.append(line.strip())
    assert undocumented == []


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, {"policy": {"utilization_target": 0.7}, "targets": [MINIMAL_TARGET]})
    monkeypatch.setenv("PREDICTOR_POLICY__UTILIZATION_TARGET", "0.55")
    monkeypatch.setenv("PREDICTOR_SCHEDULE__RECONCILE_INTERVAL_S", "30")
    settings = load_settings(path)
    assert settings.policy.utilization_target == 0.55
    assert settings.schedule.reconcile_interval_s == 30
    # A target inherits the (overridden) default unless it overrides the key itself.
    assert settings.targets[0].policy.utilization_target == 0.55


def test_config_path_from_the_environment(tmp_path, monkeypatch):
    path = write(tmp_path, {"targets": [MINIMAL_TARGET]})
    monkeypatch.setenv("PREDICTOR_CONFIG", str(path))
    assert load_settings().targets[0].name == "chat"


def test_target_policy_overrides_defaults_and_profile_fills_capacity(tmp_path):
    target = {**MINIMAL_TARGET, "capacity": {"profile": "llama-3-70b-h100-tp8", "max_concurrency": 150}}
    target["policy"] = {"spike_buffer": 0.5}
    settings = load_settings(write(tmp_path, {"policy": {"cooldown_s": 600}, "targets": [target]}))
    t = settings.targets[0]
    assert t.capacity.max_concurrency == 150  # the override wins
    assert t.capacity.kv_capacity_tokens == 1_000_000  # the profile fills the rest
    assert t.policy.spike_buffer == 0.5 and t.policy.cooldown_s == 600
    assert t.cold_start.configured_s == 800  # the profile's stages


def test_cold_start_shorthands(tmp_path):
    targets = [
        {**MINIMAL_TARGET, "cold_start": 600},
        {**MINIMAL_TARGET, "name": "b", "scaled_object": "inference/b", "cold_start": "learn"},
    ]
    t600, learned = load_settings(write(tmp_path, {"targets": targets})).targets
    assert t600.cold_start.configured_s == 600 and not t600.cold_start.learn
    assert learned.cold_start.learn and learned.cold_start.configured_s == 800


def test_relative_history_file_is_relative_to_the_config_file(tmp_path):
    target = {**MINIMAL_TARGET, "history_file": "data/h.csv"}
    del target["query"]
    settings = load_settings(write(tmp_path, {"targets": [target]}))
    assert settings.targets[0].history_file == tmp_path / "data" / "h.csv"


def test_settings_are_frozen():
    settings = load_settings(EXAMPLE)
    with pytest.raises(ValueError, match="frozen"):
        settings.policy.utilization_target = 0.1  # type: ignore[misc]


def test_show_masks_secrets(monkeypatch):
    monkeypatch.setenv("PREDICTOR_PROMETHEUS__BASIC_AUTH_PASSWORD", "hunter2")
    shown = format_settings(load_settings(EXAMPLE))
    assert "hunter2" not in shown
    assert "basic_auth_password: '**********'" in shown


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"polcy": {}}, "polcy: unknown key; did you mean 'policy'?"),
        (
            {"policy": {"utilization_target": -0.5}},
            "policy.utilization_target: Input should be greater than 0",
        ),
        (
            {"policy": {"utilization_target": 1.5}},
            "policy.utilization_target: Input should be less than or equal",
        ),
        (
            {"targets": [{k: v for k, v in MINIMAL_TARGET.items() if k != "query"}]},
            "targets[0].query: set one of query (PromQL), history_file or history_synthetic",
        ),
        (
            {"targets": [{**MINIMAL_TARGET, "capacity": {"profile": "nope"}}]},
            "targets[0].capacity.profile: unknown serving profile 'nope' (known: ",
        ),
        (
            {"targets": [{**MINIMAL_TARGET, "capacity": {"ttft_s": 1}}]},
            "targets[0].capacity: role 'aggregated' needs tpot_s, prompt_tokens",
        ),
        (
            {"targets": [MINIMAL_TARGET, {**MINIMAL_TARGET, "scaled_object": "x/y"}]},
            "targets[1].name: 'chat' is already used by targets[0]",
        ),
        (
            {"targets": [{**MINIMAL_TARGET, "scaled_object": "no-namespace"}]},
            "targets[0].scaled_object: String",
        ),
        ({"targets": [{**MINIMAL_TARGET, "cold_start": "soon"}]}, "targets[0].cold_start: expected seconds"),
        ({"targets": [{**MINIMAL_TARGET, "role": "both"}]}, "targets[0].role: Input should be 'aggregated'"),
        ("policy: [1\n", "line 2, column 1: invalid YAML"),
        ("- a\n- b\n", "(top level): expected a mapping"),
    ],
)
def test_bad_files_name_the_file_the_key_path_and_the_problem(tmp_path, data, expected):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_settings(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("data", "key_path", "through"),
    [
        ({"policy": {"utilization_targett": 0.5}}, "policy.utilization_targett: unknown key", "python -m"),
        ({"policy": {"utilization_target": -1}}, "policy.utilization_target: ", "in process"),
        (
            {"targets": [{k: v for k, v in MINIMAL_TARGET.items() if k != "query"}]},
            "targets[0].query: ",
            "in process",
        ),
    ],
)
def test_config_check_prints_one_line_and_exits_2_without_traceback(tmp_path, data, key_path, through):
    """One case through ``python -m predictor``; the others on the same app in this process."""
    path = write(tmp_path, data)
    if through == "python -m":
        result = subprocess.run(
            [sys.executable, "-m", "predictor", "config", "check", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    else:
        result = in_process("config", "check", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {path}: {key_path}")
    assert "Traceback" not in result.stderr


def test_config_check_accepts_the_example():
    result = subprocess.run(
        [sys.executable, "-m", "predictor", "config", "check", str(EXAMPLE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "6 targets" in result.stdout
