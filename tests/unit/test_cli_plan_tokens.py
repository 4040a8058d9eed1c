"""`predictor plan --prompt-tokens-rate/--output-tokens-rate` through the console script, and the
README's per-role worked example reproduced from it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from predictor.cli.main import app

README = Path(__file__).resolve().parents[2] / "README.md"
runner = CliRunner()
PREFILL = "qwen3-32b-h100-tp2-prefill"
DECODE = "qwen3-32b-h100-tp2-decode"
# The README's two forecast points: (req/s, prompt tokens/s, output tokens/s).
WORKING_HOURS = (40, 160_000, 10_000)
NIGHT = (10, 10_000, 3_500)


def plan_json(*args: str) -> dict:
    """`predictor plan ... --json` in this process (the console script is run once, above)."""
    result = runner.invoke(app, ["plan", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def token_plan(profile: str, point: tuple[int, int, int]) -> dict:
    rps, prompt, output = point
    rates = ["--prompt-tokens-rate", str(prompt), "--output-tokens-rate", str(output)]
    return plan_json("--profile", profile, "--rps", str(rps), *rates, "--buffer", "0")


def test_the_worked_example_from_token_rates_through_the_console_script():
    args = [
        *("--rps", "100", "--ttft", "0.2", "--tpot", "0.03", "--prompt-tokens-rate", "50000"),
        *("--output-tokens-rate", "30000", "--kv-capacity-tokens", "1000000", "--max-concurrency", "200"),
        *("--utilization", "0.7", "--buffer", "0.3", "--json"),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "predictor", "plan", *args], capture_output=True, text=True, check=True
    )
    out = json.loads(result.stdout)
    assert (out["prompt_tokens"], out["output_tokens"]) == (500, 300)
    assert (out["pods"], out["pods_with_buffer"], out["limited_by"]) == (7, 10, "compute")
    assert out["reason"] is None


def readme_row(label: str) -> str:
    """A row of the README's per-role worked example (the table after its heading)."""
    text = README.read_text(encoding="utf-8")
    example = text[text.index("**Worked example.** Qwen3-32B") :]
    rows = [line for line in example.splitlines() if line.startswith(f"| {label} |")]
    assert len(rows) == 1, f"one README row {label!r}"
    return rows[0]


@pytest.mark.parametrize(("column", "point"), [(0, WORKING_HOURS), (1, NIGHT)])
def test_the_readme_per_role_example_is_what_the_command_prints(column, point):
    prefill, decode = token_plan(PREFILL, point), token_plan(DECODE, point)
    rps = str(point[0])
    fixed_prefill = plan_json("--profile", PREFILL, "--rps", rps, "--buffer", "0")
    fixed_decode = plan_json("--profile", DECODE, "--rps", rps, "--buffer", "0")

    def cell(label: str) -> str:
        return readme_row(label).split(" | ")[1 + column]

    assert f"{decode['prompt_tokens']:,.0f} and {decode['output_tokens']:,.0f} tokens" in cell(
        "mean prompt, output"
    )
    assert f"{prefill['exact_pods']:.2f} → **{prefill['pods']}**" in cell("prefill")
    assert f"{fixed_prefill['exact_pods']:.2f} → {fixed_prefill['pods']}" in cell(
        "prefill, fixed 2,000 tokens"
    )
    binds = "KV cache binds" if decode["limited_by"] == "kv_cache" else "compute binds"
    assert f"= {decode['per_pod_concurrency']:,.2f}: {binds}".replace(".00:", ":") in cell("decode C")
    assert f"{decode['exact_pods']:.2f} → **{decode['pods']}**" in cell("decode")
    assert f"{fixed_decode['exact_pods']:.2f} → {fixed_decode['pods']}" in cell("decode, fixed 2,000 + 400")


def test_the_table_shows_where_each_length_came_from():
    result = runner.invoke(
        app,
        ["plan", "--profile", DECODE, "--rps", "10", "--prompt-tokens-rate", "10000"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    text = re.sub(r"\s+", " ", result.stdout)
    for step in (
        "10,000 / 10",
        "1,000 tok",
        "400 tok",
        "--output-tokens-rate)",
        "compute binds",
        "ceil(1.56)",
    ):
        assert step in text
    assert "no output-token series: decode pods are sized on the profile's fixed length" in text


def test_prefill_table_shows_the_prompt_work():
    result = runner.invoke(
        app,
        ["plan", "--profile", PREFILL, "--rps", "40", "--prompt-tokens-rate", "160000"],
        catch_exceptions=False,
    )
    text = re.sub(r"\s+", " ", result.stdout)
    for step in ("160,000 / 40", "4,000 tok", "112,000 tok/s", "ceil(13.33)"):
        assert step in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--prompt-tokens-rate", "-5"],
            "error: --prompt-tokens-rate must be a finite number of tokens/s >= 0",
        ),
        (
            ["--output-tokens-rate", "nan"],
            "error: --output-tokens-rate must be a finite number of tokens/s >= 0",
        ),
        (
            ["--prompt-tokens-rate", "5000", "--prompt-tokens", "400"],
            "error: --prompt-tokens-rate and --prompt-tokens both set the mean length; give one",
        ),
    ],
)
def test_bad_token_flags_exit_2_with_the_flag_named(args, message):
    result = runner.invoke(app, ["plan", "--profile", DECODE, "--rps", "10", *args])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)
