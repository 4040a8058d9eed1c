"""`predictor profiles`: listing, `calibrate` end to end on generated sweeps (table, profile, plot,
one clear line and exit 2 for bad input), and `plan` with a calibrated profile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import yaml
from matplotlib.colors import to_hex
from typer.testing import CliRunner

from predictor.capacity.calibration import calibrate as find_knee
from predictor.capacity.slo import Slo
from predictor.cli.capacity_plot import MEETS, MISSES, calibration_figure
from predictor.cli.main import app
from predictor.config import load_profile
from predictor.sources.vllm_bench import read_bench_files

runner = CliRunner()
BASE = "llama-3-8b-l40s-tp2"


def run(args: list[str]):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def console_script(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "predictor", *map(str, args)], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    result = run(["profiles", "sweep-example", folder])
    assert result.exit_code == 0 and "wrote 11 result files" in result.stdout
    return folder


@pytest.fixture(scope="module")
def calibrated(sweep, tmp_path_factory) -> Path:
    """A profiles folder holding my-llama.yaml, calibrated at TTFT p99 <= 0.5 s."""
    folder = tmp_path_factory.mktemp("profiles")
    args = [
        "profiles",
        "calibrate",
        sweep,
        "--slo-ttft-p99",
        "0.5",
        "--base",
        BASE,
        "--out",
        folder / "my-llama.yaml",
    ]
    result = run(args)
    assert result.exit_code == 0, result.stdout
    return folder


def test_profiles_and_profiles_list_list_the_bundled_ones():
    for args in (["profiles"], ["profiles", "list"]):
        result = run(args)
        assert result.exit_code == 0
        assert "llama-3-70b-h100-tp8" in result.stdout and "qwen3-32b-h100-tp2-prefill" in result.stdout
        assert "measured by a load test" not in result.stdout


def test_a_calibrated_profile_is_listed_as_measured(calibrated):
    result = run(["profiles", "--profiles-dir", calibrated])
    assert "my-llama" in result.stdout
    assert "measured by a load test: my-llama (" in result.stdout and "TTFT p99 ≤ 0.5 s)" in result.stdout


def test_calibrate_shows_the_sweep_the_knee_and_where_each_number_came_from(sweep, tmp_path):
    out = tmp_path / "mine.yaml"
    result = run(["profiles", "calibrate", sweep, "--slo-ttft-p99", "0.5", "--base", BASE, "--out", out])
    assert result.exit_code == 0
    text = result.stdout
    assert "Sweep against TTFT p99 ≤ 0.5 s" in text and "◀ knee" in text
    assert "knee: 9.55 req/s per pod at 10 req/s (rate-10.json)" in text
    assert "crossed between 9.55 and 10.5 req/s" in text
    assert "Little's law at the knee" in text and "profile llama-3-8b-l40s-tp2" in text
    assert f"wrote {out}" in text


def test_the_written_profile_loads_and_records_its_evidence(calibrated, sweep):
    profile = load_profile("my-llama", calibrated)
    c = profile.calibration
    assert c is not None and c.method == "vllm-bench-serve" and c.slo == {"ttft_p99_s": 0.5}
    assert profile.capacity.max_concurrency == 42 and profile.capacity.kv_capacity_tokens == 500_000
    assert profile.cold_start == load_profile(BASE).cold_start
    assert profile.model == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert c.knee.file.endswith("rate-10.json") and c.knee.rps_per_pod == pytest.approx(9.55, abs=0.01)
    assert len(c.runs) == 11 and [r.meets for r in c.runs].count(True) == 7
    assert all(len(r.sha256) == 64 and r.generation == "vllm bench serve" for r in c.runs)
    measured = {"ttft_s", "tpot_s", "prompt_tokens", "output_tokens", "max_concurrency"}
    assert set(c.sources) == measured | {"kv_capacity_tokens", "cold_start"}
    raw = (calibrated / "my-llama.yaml").read_text(encoding="utf-8")
    assert raw.startswith("# my-llama: calibrated from a load test")
    assert "learn_percentile" not in raw  # only the numbers that were set are written
    assert yaml.safe_load(raw)["calibration"]["knee"]["lower_bound"] is False


def test_calibrate_without_base_needs_kv_cache_and_cold_start(sweep, tmp_path):
    out = tmp_path / "bare.yaml"
    args = ["profiles", "calibrate", sweep, "--slo-ttft-p99", "0.5", "--out", out]
    missing_kv = run(args)
    assert missing_kv.exit_code == 2 and missing_kv.stderr.startswith("error: --kv-capacity-tokens or --base")
    missing_cold = run([*args, "--kv-capacity-tokens", "400000"])
    assert (
        missing_cold.exit_code == 2
        and "error: --cold-start DURATION or --base PROFILE is needed" in missing_cold.stderr
    )
    done = run([*args, "--kv-capacity-tokens", "400000", "--cold-start", "6m", "--hardware", "2x L40S"])
    assert done.exit_code == 0, done.stderr
    profile = load_profile("bare", tmp_path)
    assert profile.cold_start.total_s == 360 and profile.capacity.kv_capacity_tokens == 400_000
    assert profile.calibration.sources["kv_capacity_tokens"] == "--kv-capacity-tokens"


def test_calibrate_keeps_an_existing_profile_unless_forced(calibrated, sweep):
    out = calibrated / "my-llama.yaml"
    before = out.read_text(encoding="utf-8")
    kept = run(["profiles", "calibrate", sweep, "--slo-ttft-p99", "0.3", "--base", BASE, "--out", out])
    assert kept.exit_code == 2 and kept.stderr == f"error: {out}: exists; pass --force to replace it\n"
    assert out.read_text(encoding="utf-8") == before


def test_a_sweep_that_never_meets_the_objective_is_one_line_and_exit_2(sweep, tmp_path):
    out = tmp_path / "never.yaml"
    # Through the console script: the exit code and stderr a shell sees, and never a traceback.
    result = console_script(
        "profiles", "calibrate", sweep, "--slo-ttft-p99", "0.05", "--base", BASE, "--out", out
    )
    assert result.returncode == 2
    assert "Sweep against TTFT p99 ≤ 0.05 s" in result.stdout  # the sweep is still shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: no run meets TTFT p99 ≤ 0.05 s: even the lowest load"
    )
    assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (lambda p: p.write_text("{broken", encoding="utf-8"), "not JSON (line 1, column 2"),
        (lambda p: p.write_text('{"request_rate": 1}', encoding="utf-8"), "missing key 'duration'"),
    ],
)
def test_a_malformed_file_is_one_line_and_exit_2(sweep, tmp_path, write, problem):
    bad = tmp_path / "bad.json"
    write(bad)
    result = run(["profiles", "calibrate", sweep / "rate-1.json", bad, "--slo-ttft-p99", "0.5"])
    assert result.exit_code == 2
    assert (
        result.stderr.count("\n") == 1
        and result.stderr.startswith(f"error: {bad}: ")
        and problem in result.stderr
    )


def test_bad_objectives_are_one_line_and_exit_2(sweep):
    none = run(["profiles", "calibrate", sweep, "--base", BASE])
    assert (
        none.exit_code == 2 and none.stderr == "error: give an objective, e.g. --slo-ttft-p99 0.5 (seconds)\n"
    )
    bad = run(["profiles", "calibrate", sweep, "--slo", "ttft=0.3"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --slo 'ttft=0.3': ")
    custom = run(["profiles", "calibrate", sweep, "--slo", "ttft_p99=0.3", "--base", BASE])
    assert custom.exit_code == 0 and "Sweep against TTFT p99 ≤ 0.3 s" in custom.stdout


def test_calibrate_json_prints_the_profile(sweep):
    result = run(["profiles", "calibrate", sweep, "--slo-ttft-p99", "0.5", "--base", BASE, "--json"])
    profile = json.loads(result.stdout)
    assert profile["capacity"]["max_concurrency"] == 42
    assert profile["calibration"]["knee"]["file"].endswith("rate-10.json")


def test_the_plot_draws_latency_against_load_the_objective_and_the_knee(sweep, tmp_path):
    calibration = find_knee(read_bench_files([sweep]), [Slo("ttft", 99, 0.5), Slo("tpot", 99, 0.022)])
    fig = calibration_figure(calibration)
    try:
        ttft_ax, tpot_ax = fig.axes
        for i, ax in enumerate((ttft_ax, tpot_ax)):
            curve, limit, knee = ax.get_lines()
            assert list(curve.get_xdata()) == [p.rps for p in calibration.points]
            assert list(curve.get_ydata()) == [p.values_s[i] for p in calibration.points]
            assert list(limit.get_ydata()) == [calibration.slos[i].limit_s] * 2  # the objective's line
            assert list(knee.get_xdata()) == [calibration.knee.rps] * 2  # the knee's line
            meet, miss = ax.collections
            assert to_hex(meet.get_facecolor()[0]) == to_hex(MEETS) and to_hex(
                miss.get_facecolor()[0]
            ) == to_hex(MISSES)
            assert len(meet.get_offsets()) == 6 and len(miss.get_offsets()) == 5  # 9 req/s is the knee
        assert ttft_ax.get_yscale() == "log" and tpot_ax.get_yscale() == "linear"
        assert "knee 8.59 req/s per pod" in [t.get_text() for t in ttft_ax.get_legend().get_texts()]
        assert "sent 16" in [t.get_text() for t in ttft_ax.texts]  # past saturation: what was sent
    finally:
        plt.close(fig)
    png = tmp_path / "knee.png"
    result = run(["profiles", "calibrate", sweep, "--slo-ttft-p99", "0.5", "--base", BASE, "--plot", png])
    assert result.exit_code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_with_a_calibrated_profile_shows_both_counts_and_uses_the_benchmark(calibrated):
    args = [
        "plan",
        "--rps",
        "100",
        "--profile",
        "my-llama",
        "--profiles-dir",
        calibrated,
        "--utilization",
        "0.7",
    ]
    table = run(args)
    assert table.exit_code == 0
    assert "Formula against benchmark" in table.stdout
    assert "ceil(100 / (9.55 × 0.7))" in table.stdout and "uses the benchmark" in table.stdout
    out = json.loads(run([*args, "--json"]).stdout)
    assert out["uses"] == "benchmark" and out["benchmark"]["pods"] == 15 and out["formula"]["pods"] == 16
    assert out["pods"] == 15 and out["limited_by"] == "benchmark"  # the top level is what the plan uses


def test_plan_uses_the_formula_when_flags_change_what_was_measured(calibrated):
    args = [
        "plan",
        "--rps",
        "100",
        "--profile",
        "my-llama",
        "--profiles-dir",
        calibrated,
        "--output-tokens",
        "500",
    ]
    out = json.loads(run([*args, "--json"]).stdout)
    assert (
        out["uses"] == "formula"
        and out["uses_reason"] == "--output-tokens changes what the load test measured"
    )
    assert out["pods"] == out["formula"]["pods"] and out["limited_by"] == "compute"


def test_plan_with_an_uncalibrated_profile_is_unchanged():
    out = json.loads(run(["plan", "--rps", "100", "--profile", "llama-3-70b-h100-tp8", "--json"]).stdout)
    assert out["pods"] == 7 and "uses" not in out and "benchmark" not in out


def test_sweep_example_writes_each_generation(tmp_path):
    result = run(
        ["profiles", "sweep-example", tmp_path, "--rates", "2,10", "--generation", "benchmark_serving.py"]
    )
    assert result.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rate-10.json", "rate-2.json"]
    first = json.loads((tmp_path / "rate-2.json").read_text())
    assert "burstiness" in first and "endpoint_type" not in first
    bad = run(["profiles", "sweep-example", tmp_path, "--rates", "2,x"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --rates '2,x': expected numbers")
