"""Token signals on targets, and a disaggregated service declared once that expands into role targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from predictor.config import format_settings, load_settings
from predictor.errors import ConfigError

QUERY = 'sum(rate(dynamo_frontend_requests_total{model="qwen"}[5m]))'
PROMPT = 'sum(rate(dynamo_frontend_input_sequence_tokens_sum{model="qwen"}[5m]))'
OUTPUT = 'sum(rate(dynamo_frontend_output_sequence_tokens_sum{model="qwen"}[5m]))'


def service(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "qwen",
        "query": QUERY,
        "prompt_tokens_query": PROMPT,
        "output_tokens_query": OUTPUT,
        "policy": {"forecast_quantile": 0.95},
        "roles": {
            "prefill": {
                "scaled_object": "inference/qwen-prefill",
                "capacity": {"profile": "qwen3-32b-h100-tp2-prefill"},
                "cold_start": "learn",
            },
            "decode": {
                "scaled_object": "inference/qwen-decode",
                "capacity": {"profile": "qwen3-32b-h100-tp2-decode"},
                "policy": {"spike_buffer": 0.4},
                "offline_max_replicas": 24,
            },
        },
    }
    base.update(changes)
    return base


def load(tmp_path: Path, data: dict[str, Any]):
    path = tmp_path / "predictor.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_settings(path)


def problem(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, data)
    lines = str(caught.value).splitlines()
    assert len(lines) == 1, lines
    return lines[0].split(": ", 1)[1]


def test_a_service_expands_into_one_target_per_role_sharing_its_signals(tmp_path):
    settings = load(tmp_path, {"policy": {"cooldown_s": 900}, "services": [service()]})
    prefill, decode = settings.targets
    assert (prefill.name, prefill.role, prefill.service) == ("qwen-prefill", "prefill", "qwen")
    assert (decode.name, decode.role, decode.service) == ("qwen-decode", "decode", "qwen")
    for target in (prefill, decode):
        assert (target.query, target.prompt_tokens_query, target.output_tokens_query) == (
            QUERY,
            PROMPT,
            OUTPUT,
        )
        assert target.policy.cooldown_s == 900  # the top level
        assert target.policy.forecast_quantile == 0.95  # the service
    assert (prefill.policy.spike_buffer, decode.policy.spike_buffer) == (0.2, 0.4)  # the role
    assert prefill.cold_start.learn and prefill.cold_start.configured_s == 535  # the profile's stages
    assert not decode.cold_start.learn and decode.cold_start.configured_s == 545
    assert prefill.capacity.prefill_tokens_per_s == 12_000 and decode.capacity.kv_capacity_tokens == 280_000
    assert decode.offline_max_replicas == 24
    assert [t.name for t in settings.services[0].targets()] == ["qwen-prefill", "qwen-decode"]


def test_a_role_can_name_its_target_and_services_sit_beside_targets(tmp_path):
    svc = service()
    svc["roles"]["decode"]["name"] = "qwen-dec"
    plain = {
        "name": "chat",
        "scaled_object": "inference/chat",
        "query": "sum(rate(x_total[5m]))",
        "capacity": {"profile": "llama-3-70b-h100-tp8"},
    }
    settings = load(tmp_path, {"targets": [plain], "services": [svc]})
    assert [t.name for t in settings.targets] == ["chat", "qwen-prefill", "qwen-dec"]
    assert settings.targets[0].service is None


def test_the_effective_configuration_loads_again_to_the_same_targets(tmp_path):
    settings = load(tmp_path, {"services": [service()]})
    again = tmp_path / "effective.yaml"
    again.write_text(format_settings(settings), encoding="utf-8")
    assert load_settings(again).targets == settings.targets


def test_relative_history_files_of_a_service_are_relative_to_the_config_file(tmp_path):
    svc = service(query=None, prompt_tokens_query=None, output_tokens_query=None)
    svc |= {
        "history_file": "history/qwen.csv",
        "history_value_column": "requests",
        "history_prompt_tokens_column": "prompt_tokens",
    }
    targets = load(tmp_path, {"services": [svc]}).targets
    assert {t.history_file for t in targets} == {tmp_path / "history" / "qwen.csv"}
    assert {t.history_prompt_tokens_column for t in targets} == {"prompt_tokens"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: s["roles"]["decode"]["policy"].update(model="mstl"),
            "services[0].roles.decode.policy.model: set it in the service's policy: "
            "both roles share one forecast",
        ),
        (
            lambda s: s["roles"]["decode"]["capacity"].update(profile="qwen3-32b-h100-tp2-prefill"),
            "services[0].roles.decode.capacity.profile: 'qwen3-32b-h100-tp2-prefill' is a prefill profile; "
            "the decode role needs a decode profile",
        ),
        (
            lambda s: s["roles"]["prefill"]["capacity"].update(profile="nope"),
            "services[0].roles.prefill.capacity.profile: unknown serving profile 'nope'",
        ),
        (
            lambda s: s["roles"]["decode"].update(capacity={"tpot_s": 0.03}),
            "services[0].roles.decode.capacity: role 'decode' needs prompt_tokens, output_tokens, "
            "kv_capacity_tokens, max_concurrency: name a profile or set them",
        ),
        (
            lambda s: s.update(query=None, history_file="h.csv", history_value_column="requests"),
            "services[0].prompt_tokens_query: needs query: token rates are read from Prometheus",
        ),
        (
            lambda s: s.update(query=None, prompt_tokens_query=None, output_tokens_query=None),
            "services[0].query: set one of query (PromQL), history_file or history_synthetic",
        ),
        (
            lambda s: s["roles"]["decode"].update(scaled_object="inference/qwen-prefill"),
            "services[0].roles.decode.scaled_object: 'inference/qwen-prefill' is already used by "
            "services[0].roles.prefill; each target needs its own",
        ),
        (
            lambda s: s["roles"].pop("decode"),
            "services[0].roles.decode: Field required",
        ),
        (
            lambda s: s["roles"]["prefill"].update(role="decode"),
            "services[0].roles.prefill.role: unknown key",
        ),
    ],
)
def test_each_problem_of_a_service_is_one_line_at_the_key_the_user_wrote(tmp_path, change, expected):
    svc = service()
    change(svc)
    assert problem(tmp_path, {"services": [svc]}).startswith(expected)


def test_a_role_target_may_not_reuse_a_target_name(tmp_path):
    taken = {
        "name": "qwen-prefill",
        "scaled_object": "inference/other",
        "query": QUERY,
        "capacity": {"profile": "qwen3-32b-h100-tp2-prefill"},
    }
    assert problem(tmp_path, {"targets": [taken], "services": [service()]}) == (
        "services[0].name: 'qwen-prefill' is already used by targets[0]; each target needs its own; "
        "set services[0].roles.prefill.name"
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            {"prompt_tokens_query": "  "},
            "targets[0].prompt_tokens_query: is empty; give PromQL returning one series in tokens/s",
        ),
        (
            {"query": None, "history_file": "h.csv", "history_value_column": "r", "output_tokens_query": "x"},
            "targets[0].output_tokens_query: needs query",
        ),
        (
            {"history_prompt_tokens_column": "prompt"},
            "targets[0].history_prompt_tokens_column: needs history_file",
        ),
        (
            {"query": None, "history_file": "h.csv", "history_prompt_tokens_column": "prompt"},
            "targets[0].history_value_column: name the request column too when token columns are given",
        ),
        (
            {
                "query": None,
                "history_file": "h.csv",
                "history_value_column": "requests",
                "history_prompt_tokens_column": "tokens",
                "history_output_tokens_column": "tokens",
            },
            "targets[0].history_output_tokens_column: column 'tokens' is already read as another series",
        ),
    ],
)
def test_token_signals_of_a_target_are_checked(tmp_path, target, expected):
    base = {
        "name": "chat",
        "scaled_object": "inference/chat",
        "query": "sum(rate(x_total[5m]))",
        "capacity": {"profile": "llama-3-70b-h100-tp8"},
    }
    assert problem(tmp_path, {"targets": [base | target]}).startswith(expected)


def test_token_signals_of_a_target_are_optional_and_each_alone_is_fine(tmp_path):
    base = {
        "name": "chat",
        "scaled_object": "inference/chat",
        "query": "sum(rate(x_total[5m]))",
        "prompt_tokens_query": "sum(rate(vllm:prompt_tokens_total[5m]))",
        "capacity": {"profile": "llama-3-70b-h100-tp8"},
    }
    synthetic = {
        "name": "demo",
        "scaled_object": "demo/chat",
        "history_synthetic": {"tokens": {"prompt_tokens_day": 3_000}},
        "capacity": {"profile": "llama-3-8b-l40s-tp2"},
    }
    chat, demo = load(tmp_path, {"targets": [base, synthetic]}).targets
    assert chat.output_tokens_query is None
    assert demo.history_synthetic is not None and demo.history_synthetic.tokens is not None
    assert demo.history_synthetic.tokens.prompt_tokens_day == 3_000
    assert demo.history_synthetic.tokens.prompt_tokens_night == 1_000


def test_targets_that_name_one_service_must_share_its_forecast(tmp_path):
    first = {
        "name": "a-prefill",
        "scaled_object": "inference/a-prefill",
        "query": QUERY,
        "service": "a",
        "role": "prefill",
        "capacity": {"profile": "qwen3-32b-h100-tp2-prefill"},
    }
    second = first | {"name": "a-decode", "scaled_object": "inference/a-decode", "role": "decode"}
    second["capacity"] = {"profile": "qwen3-32b-h100-tp2-decode"}
    assert len(load(tmp_path, {"targets": [first, second]}).targets) == 2

    other_query = second | {"query": "sum(rate(other_total[5m]))"}
    assert problem(tmp_path, {"targets": [first, other_query]}) == (
        "targets[1].query: differs from targets[0] of service 'a'; "
        "the targets of one service share one forecast"
    )
    other_model = second | {"policy": {"model_step_s": 600}}
    assert problem(tmp_path, {"targets": [first, other_model]}).startswith(
        "targets[1].policy.model_step_s: differs"
    )
    same_role = second | {"role": "prefill", "capacity": first["capacity"]}
    assert problem(tmp_path, {"targets": [first, same_role]}).startswith(
        "targets[1].role: targets[0] is already the prefill role of service 'a'"
    )


def test_config_check_reports_a_service_problem_in_one_line_and_exits_2(tmp_path):
    svc = service()
    svc["roles"]["decode"]["policy"] = {"history_window_days": 7}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"services": [svc]}), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "predictor", "config", "check", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {path}: services[0].roles.decode.policy.history_window_days: "
        "set it in the service's policy: both roles share one forecast"
    ]
    assert "Traceback" not in result.stderr
