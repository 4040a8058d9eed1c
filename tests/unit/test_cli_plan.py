"""`predictor plan`: the worked example through the real command line, profiles, roles, thresholds."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from predictor.cli.main import app

runner = CliRunner()
WORKED_EXAMPLE = [
    *("plan", "--rps", "100", "--ttft", "0.2", "--tpot", "0.03", "--prompt-tokens", "500"),
    *("--output-tokens", "300", "--kv-capacity-tokens", "1000000", "--max-concurrency", "200"),
    *("--utilization", "0.7", "--buffer", "0.3"),
]


def run(args: list[str]):
    return runner.invoke(app, args, catch_exceptions=False)


def test_worked_example_as_json_through_the_console_script():
    result = subprocess.run(
        [sys.executable, "-m", "predictor", *WORKED_EXAMPLE, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(result.stdout)
    assert out["pods"] == 7
    assert out["pods_with_buffer"] == 10
    assert out["duration_s"] == 9.2
    assert out["per_pod_concurrency"] == 200
    assert out["limited_by"] == "compute"
    assert out["in_flight"] == 920


def test_table_shows_the_arithmetic_step_by_step():
    result = run(WORKED_EXAMPLE)
    assert result.exit_code == 0
    for step in ("0.2 + 300 × 0.03", "1,000,000", "compute binds", "ceil(6.57)", "ceil(7 × 1.3)"):
        assert step in result.stdout


def test_profile_supplies_numbers_and_flags_override_them():
    from_profile = json.loads(
        run(["plan", "--rps", "100", "--profile", "llama-3-70b-h100-tp8", "--json"]).stdout
    )
    assert from_profile["pods"] == 7
    overridden = json.loads(
        run(
            [
                "plan",
                "--rps",
                "100",
                "--profile",
                "llama-3-70b-h100-tp8",
                "--max-concurrency",
                "100",
                "--json",
            ]
        ).stdout
    )
    assert overridden["per_pod_concurrency"] == 100
    assert overridden["pods"] == 14  # ceil(920 / 70)


def test_role_formulas_from_profiles():
    prefill = json.loads(
        run(["plan", "--rps", "10", "--profile", "qwen3-32b-h100-tp2-prefill", "--json"]).stdout
    )
    assert prefill["role"] == "prefill"
    assert prefill["limited_by"] == "prefill_throughput"
    assert prefill["pods"] == 2  # 10 x 2000 x 0.7 / (12000 x 0.7) = 1.67
    decode = json.loads(
        run(
            ["plan", "--rps", "10", "--profile", "qwen3-32b-h100-tp2-decode", "--role", "decode", "--json"]
        ).stdout
    )
    assert decode["limited_by"] == "kv_cache"


def test_bad_values_exit_2_with_a_clear_message():
    zero = run(["plan", "--rps", "100", "--profile", "llama-3-70b-h100-tp8", "--kv-capacity-tokens", "0"])
    assert zero.exit_code == 2
    assert "kv_capacity_tokens: Input should be greater than 0" in zero.stderr
    high_u = run(["plan", "--rps", "100", "--profile", "llama-3-70b-h100-tp8", "--utilization", "1.5"])
    assert high_u.exit_code == 2
    assert "utilization must be in (0, 1]" in high_u.stderr
    no_rps = run(["plan", "--profile", "llama-3-70b-h100-tp8"])
    assert no_rps.exit_code == 2 and "--rps is required" in no_rps.stderr
    missing = run(["plan", "--rps", "1", "--ttft", "0.2"])
    assert missing.exit_code == 2 and "needs tpot_s" in missing.stderr


def test_thresholds_from_the_slo():
    args = ["plan", "thresholds", "--slo-ttft-p95", "0.5", "--prefill-time", "0.1"]
    args += ["--step-time", "0.05", "--max-num-seqs", "32"]
    out = json.loads(run([*args, "--json"]).stdout)
    assert out["queue_depth_threshold"] == 256
    assert (out["scale_up"], out["warning"], out["critical"]) == (128, 204, 256)
    table = run(args).stdout
    assert "budget × slower drain" in table and "scale-up 128" in table and "critical 256" in table
    assert "Only the prefill-bound drain rate is known" in table


def test_profiles_command_lists_every_profile():
    result = run(["profiles"])
    assert result.exit_code == 0
    assert "KV cache" in result.stdout and "compute" in result.stdout


def test_help_reads_well():
    result = run(["--help"])
    assert result.exit_code == 0
    assert "plan" in result.stdout and "config" in result.stdout
