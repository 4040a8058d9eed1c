"""What people read, through the installed console script at 80 columns with stdout piped: every
line fits, no word is broken across lines, no box-drawing characters; `plan thresholds` shows both
drain rates; `profiles` has --output json|wide. JSON, which programs read, is checked on the
console script's app in process."""

from __future__ import annotations

import json
import re

import pytest

from predictor.capacity import queue_thresholds
from tests.support.cli import in_process, predictor
from tests.unit.test_cli_first_run import FAST

BOX = re.compile("[\u2500-\u257f]")  # the Unicode box-drawing block


def check_80_columns(text: str, words: tuple[str, ...] = ()) -> None:
    lines = text.splitlines()
    assert lines, "no output"
    for line in lines:
        assert len(line.rstrip()) <= 80, line
        assert not BOX.search(line), line
    flat = " ".join(line.strip() for line in lines)
    for word in words:  # a header or value folded across lines would not appear whole
        assert re.search(rf"(^|\s){re.escape(word)}(\s|$)", flat), word


def test_plan_fits_80_columns():
    done = predictor("plan", "--rps", "100", "--profile", "llama-3-70b-h100-tp8")
    assert done.returncode == 0
    check_80_columns(done.stdout, ("arithmetic", "ceil(6.57)", "1,250", "compute binds"))


def test_thresholds_show_both_drain_rates_and_use_the_slower():
    done = predictor(
        *("plan", "thresholds", "--slo-ttft-p95", "0.5", "--prefill-time", "0.1", "--step-time", "0.05"),
        *("--max-num-seqs", "32", "--output-tokens", "300", "--tpot", "0.05"),
    )
    assert done.returncode == 0, done.stderr
    check_80_columns(done.stdout, ("640", "2.13", "Decode"))
    assert "drain, decode ◀" in done.stdout and "drain, prefill ◀" not in done.stdout
    out = json.loads(  # JSON is for programs, not read at 80 columns: on the app in process
        in_process(
            *("plan", "thresholds", "--slo-ttft-p95", "0.5", "--prefill-time", "0.1", "--step-time", "0.05"),
            *("--max-num-seqs", "32", "--output-tokens", "300", "--tpot", "0.05", "--json"),
        ).stdout
    )
    assert out["bound"] == "decode"
    assert out["prefill_drain_per_s"] == 640
    assert out["decode_drain_per_s"] == pytest.approx(32 / 15, abs=1e-6)
    # A queue of 128 at 2.13/s waits about 60 s: far beyond the 0.4 s budget.
    assert 128 / out["drain_rate_per_s"] == pytest.approx(60, abs=0.1)
    assert (out["scale_up"], out["warning"], out["critical"]) == (1, 1, 1)


def test_thresholds_from_a_profile():
    out = json.loads(
        in_process(
            *("plan", "thresholds", "--profile", "llama-3-8b-l40s-tp2", "--output-tokens", "250"),
            *("--slo-ttft-p95", "2", "--prefill-time", "0.12", "--step-time", "0.03", "--json"),
        ).stdout
    )
    assert (out["max_num_seqs"], out["output_tokens"], out["tpot_s"]) == (64, 250, 0.02)
    assert out["bound"] == "decode" and out["decode_drain_per_s"] == pytest.approx(12.8)


def test_the_prefill_bound_case_keeps_its_arithmetic():
    t = queue_thresholds(slo_ttft_p95_s=0.5, prefill_time_s=0.1, step_time_s=0.05, max_num_seqs=32)
    assert (t.bound, t.drain_rate_per_s, t.scale_up, t.critical) == ("prefill", 640, 128, 256)
    short = queue_thresholds(
        slo_ttft_p95_s=0.5,
        prefill_time_s=0.1,
        step_time_s=0.05,
        max_num_seqs=32,
        output_tokens=1,
        tpot_s=0.01,
    )
    assert short.bound == "prefill" and short.drain_rate_per_s == 640  # 3,200/s decode is faster


def test_thresholds_need_both_decode_numbers():
    done = predictor(
        *("plan", "thresholds", "--slo-ttft-p95", "0.5", "--prefill-time", "0.1", "--step-time", "0.05"),
        *("--max-num-seqs", "32", "--output-tokens", "300"),
    )
    assert done.returncode == 2 and "--tpot is needed too" in done.stderr


def test_profiles_table_wide_and_json():
    table = predictor("profiles")
    assert table.returncode == 0
    check_80_columns(table.stdout, ("binds", "KV cache", "prefill tok/s", "qwen3-32b-h100-tp2-prefill"))
    wide = predictor("profiles", "--output", "wide")
    header = next(line for line in wide.stdout.splitlines() if line.startswith("profile"))
    assert header.split() == [
        *("profile", "role", "binds", "per", "pod", "cold", "start", "TTFT", "TPOT", "prompt", "output"),
        *("KV", "tokens", "max", "conc.", "hardware"),
    ]
    rows = json.loads(in_process("profiles", "-o", "json").stdout)
    by_name = {r["profile"]: r for r in rows}
    assert by_name["llama-3-70b-h100-tp8"]["concurrency_per_pod"] == 200
    assert by_name["llama-3-70b-h100-tp8"]["capacity"]["kv_capacity_tokens"] == 1_000_000
    assert by_name["qwen3-32b-h100-tp2-decode"]["limited_by"] == "kv_cache"


def test_forecast_and_backtest_fit_80_columns(tmp_path):
    from predictor.sources.synthetic import synthetic_trace

    path = tmp_path / "chat.csv"
    synthetic_trace(days=10, step_s=60, seed=2).rename("rps").to_csv(path, index_label="t")
    forecast = predictor("forecast", "--history", str(path), *FAST)
    assert forecast.returncode == 0, forecast.stderr
    check_80_columns(forecast.stdout, ("MASE", "floor"))
    backtest = predictor(
        *("backtest", "--history", str(path), "--days", "1", "--train-days", "7", "--model", "seasonal_naive")
    )
    assert backtest.returncode == 0, backtest.stderr
    check_80_columns(
        backtest.stdout, ("pod-hours", "vs oracle", "short min", "vs KEDA", "unserved", "events")
    )
