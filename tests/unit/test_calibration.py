"""Calibration from load-test sweeps the project generates: the knee, the numbers there, both file
generations, and one clear line for every sweep or file that cannot be calibrated."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from predictor.capacity import size
from predictor.capacity.calibration import BenchRun, calibrate, knee_pod_model
from predictor.capacity.slo import Slo, slo_from_key
from predictor.errors import CapacityError, ConfigError
from predictor.sources.synthetic_loadtest import GENERATIONS, bench_result, sweep
from predictor.sources.synthetic_serving import SyntheticPod
from predictor.sources.vllm_bench import generation_of, read_bench_file, read_bench_files

POD = SyntheticPod()
RATES = (1, 2, 4, 6, 8, 9, 10, 11, 12, 14, 16)
TTFT = Slo("ttft", 99, 0.5)


def write_sweep(folder: Path, rates=RATES, **kwargs) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, result in sweep(POD, rates, **kwargs):
        (folder / name).write_text(json.dumps(result), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def current(tmp_path_factory) -> Path:
    return write_sweep(tmp_path_factory.mktemp("sweep"))


def test_latency_is_flat_then_rises_past_saturation(current):
    points = calibrate(read_bench_files([current]), [TTFT]).points
    p99 = [p.values_s[0] for p in points]
    assert [p.run.request_rate for p in points] == list(RATES)  # ordered by offered load
    assert max(p99[:6]) < 2 * min(p99[:6])  # flat while the pod has spare slots
    assert p99[-1] > 30 * p99[0]  # and far past the objective once saturated
    throughput = [p.rps for p in points]
    assert max(throughput) < POD.max_rps  # past saturation a pod completes at most its capacity
    assert throughput[-1] < 0.8 * RATES[-1]


def test_the_knee_is_the_highest_load_meeting_the_objective(current):
    truth = POD.truth_rps(TTFT)  # 10.9 req/s arrival rate for TTFT p99 <= 0.5 s
    result = calibrate(read_bench_files([current]), [TTFT])
    knee, miss = result.knee, result.first_miss
    assert knee is not None and miss is not None
    assert knee.run.request_rate == 10 and miss.run.request_rate == 11
    assert knee.run.request_rate <= truth < miss.run.request_rate
    assert knee.values_s[0] <= 0.5 < miss.values_s[0]
    assert knee.rps < result.crossing_rps() < miss.rps
    assert not result.lower_bound


def test_a_tighter_tpot_objective_moves_the_knee_down(current):
    runs = read_bench_files([current])
    tpot = Slo("tpot", 99, 0.022)
    both = calibrate(runs, [TTFT, tpot])
    assert both.knee.run.request_rate == 9  # TPOT binds first: truth 9.33 req/s
    assert both.knee.run.request_rate <= POD.truth_rps(tpot) < both.first_miss.run.request_rate
    assert "TPOT p99" in both.first_miss.misses[0]


def test_the_numbers_at_the_knee(current):
    result = calibrate(read_bench_files([current]), [TTFT])
    knee = result.knee
    numbers = result.capacity_numbers()
    assert numbers["prompt_tokens"] == POD.prompt_tokens and numbers["output_tokens"] == POD.output_tokens
    assert numbers["ttft_s"] == pytest.approx(knee.run.latencies_ms["mean_ttft_ms"] / 1000, abs=1e-6)
    assert numbers["tpot_s"] == pytest.approx(knee.run.latencies_ms["mean_tpot_ms"] / 1000, abs=1e-6)
    # Little's law: throughput x mean end-to-end latency, the latter derived as TTFT + (out - 1) x TPOT.
    e2e = numbers["ttft_s"] + (POD.output_tokens - 1) * numbers["tpot_s"]
    assert knee.e2e_derived and knee.e2e_s == pytest.approx(e2e, rel=1e-4)
    assert knee.concurrency == pytest.approx(knee.rps * knee.e2e_s, rel=1e-9)
    assert numbers["max_concurrency"] == math.floor(knee.concurrency)
    # The generator's own busy slots at that load: the measured concurrency is the pod's.
    assert knee.concurrency == pytest.approx(POD.steady(10).busy, rel=0.1)


def test_a_measured_e2e_latency_is_used_when_the_run_has_it(tmp_path):
    runs = read_bench_files([write_sweep(tmp_path, metrics=("ttft", "tpot", "itl", "e2el"))])
    result = calibrate(runs, [TTFT])
    assert not result.knee.e2e_derived
    assert result.knee.e2e_s == pytest.approx(result.knee.run.latencies_ms["mean_e2el_ms"] / 1000)
    assert not any("derived" in note for note in result.notes)


@pytest.mark.parametrize("generation", GENERATIONS[1:])
def test_both_generations_of_the_format_give_the_same_knee(tmp_path, current, generation):
    older = read_bench_files([write_sweep(tmp_path, generation=generation)])
    assert {run.generation for run in older} == {generation}
    new = calibrate(read_bench_files([current]), [TTFT])
    old = calibrate(older, [TTFT])
    assert old.knee.run.request_rate == new.knee.run.request_rate
    assert old.capacity_numbers() == new.capacity_numbers()
    first = json.loads((tmp_path / "rate-1.json").read_text())
    if generation == GENERATIONS[2]:
        assert "best_of" in first and "max_concurrency" not in first and "total_token_throughput" not in first
    else:
        assert "burstiness" in first and "endpoint_type" not in first and "failed" not in first


def test_the_generation_is_recognised():
    assert generation_of(bench_result(POD, request_rate=1)) == "vllm bench serve"
    assert generation_of(bench_result(POD, request_rate=1, generation=GENERATIONS[1])) == GENERATIONS[1]
    assert generation_of(bench_result(POD, request_rate=1, generation=GENERATIONS[2])) == GENERATIONS[2]


def test_a_concurrency_sweep_finds_its_knee(tmp_path):
    for level in (8, 16, 32, 64, 96):
        result = bench_result(POD, max_concurrency=level)
        (tmp_path / f"c{level}.json").write_text(json.dumps(result), encoding="utf-8")
    points = calibrate(read_bench_files([tmp_path]), [Slo("tpot", 99, 0.022)])
    assert [p.run.max_concurrency for p in points.points] == [8, 16, 32, 64, 96]
    assert points.knee.run.max_concurrency == 32
    assert points.knee.run.offered == "32 concurrent"


def test_append_result_files_hold_one_run_per_line(tmp_path):
    path = tmp_path / "appended.json"
    lines = [json.dumps(bench_result(POD, request_rate=r)) for r in (2, 10, 12)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runs = read_bench_file(path)
    assert [run.source for run in runs] == [f"{path}#1", f"{path}#2", f"{path}#3"]
    assert calibrate(runs, [TTFT]).knee.run.request_rate == 10


def test_a_sweep_that_never_meets_the_objective_says_what_to_do(current):
    result = calibrate(read_bench_files([current]), [Slo("ttft", 99, 0.05)])
    assert result.knee is None
    with pytest.raises(CapacityError) as error:
        result.require_knee()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("no run meets TTFT p99 ≤ 0.05 s: even the lowest load (1 req/s,")
    assert "rate-1.json" in message and "sweep lower loads or relax the objective" in message


def test_a_sweep_that_always_meets_gives_a_lower_bound(tmp_path):
    result = calibrate(read_bench_files([write_sweep(tmp_path, rates=(1, 2, 4))]), [TTFT])
    assert result.lower_bound and result.knee.run.request_rate == 4
    assert result.crossing_rps() is None
    assert any("at least the highest load tested" in note for note in result.notes)


def run_with(source: str, rate: float, p99_ttft_ms: float, **changes) -> BenchRun:
    base = {
        "source": source,
        "request_rate": rate,
        "max_concurrency": None,
        "duration_s": 100.0,
        "completed": 1000,
        "failed": 0,
        "request_throughput": rate * 0.98,
        "total_input_tokens": 1000 * 500,
        "total_output_tokens": 1000 * 200,
        "latencies_ms": {"mean_ttft_ms": 80.0, "mean_tpot_ms": 20.0, "p99_ttft_ms": p99_ttft_ms},
    }
    return BenchRun(**{**base, **changes})


def test_a_run_passing_again_above_a_miss_is_noise_not_the_knee():
    runs = [run_with("a", 1, 100), run_with("b", 2, 600), run_with("c", 3, 400), run_with("d", 4, 900)]
    result = calibrate(runs, [TTFT])
    assert result.knee.run.source == "a"
    assert any(note.startswith("c meets the objectives again") for note in result.notes)


def test_failed_requests_beyond_the_percentile_miss():
    runs = [run_with("a", 1, 100), run_with("b", 2, 100, failed=20, completed=980)]
    result = calibrate(runs, [TTFT])
    assert result.knee.run.source == "a"
    assert "20 failed requests (2.0% > 1.0%)" in result.points[1].misses


def test_a_missing_percentile_names_the_file_key_and_flag(current):
    with pytest.raises(CapacityError) as error:
        calibrate(read_bench_files([current]), [Slo("ttft", 95, 0.5)])
    message = str(error.value)
    assert "rate-1.json: no p95_ttft_ms for the objective TTFT p95 ≤ 0.5 s" in message
    assert "(the file has mean_ttft_ms, median_ttft_ms, p99_ttft_ms, std_ttft_ms)" in message
    assert message.endswith("--metric-percentiles 95")
    with pytest.raises(CapacityError, match=r"no p99_e2el_ms .* run the load test with --percentile-metrics"):
        calibrate(read_bench_files([current]), [Slo("e2el", 99, 10)])


def test_runs_of_different_models_are_refused():
    runs = [run_with("a", 1, 100, model_id="m1"), run_with("b", 2, 100, model_id="m2")]
    with pytest.raises(CapacityError, match=r"different models \(a: m1, b: m2\)"):
        calibrate(runs, [TTFT])


def test_the_benchmark_pod_model_sizes_at_u_of_the_knee():
    model = knee_pod_model(8.0, 40.0)
    assert model.limited_by == "benchmark" and model.rps_per_pod(0.7) == pytest.approx(5.6)
    assert size(100, model, utilization=0.7).pods == math.ceil(100 / (8.0 * 0.7))  # 18
    with pytest.raises(CapacityError):
        knee_pod_model(0.0, 40.0)


def test_objective_keys():
    assert slo_from_key("ttft_p99_s", 0.5) == TTFT
    slo = slo_from_key("e2el_p99.9_s", 12)
    assert (slo.stat, slo.key, slo.label) == ("p99.9", "e2el_p99.9_s", "E2E latency p99.9 ≤ 12 s")
    for bad in ("ttft_99_s", "latency_p99_s", "ttft_p99"):
        with pytest.raises(CapacityError, match="is not an objective like ttft_p99_s"):
            slo_from_key(bad, 0.5)
    with pytest.raises(CapacityError, match="the limit must be a finite number of seconds > 0"):
        slo_from_key("ttft_p99_s", 0)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "the file is empty"),
        ("{not json", "not JSON (line 1, column 2"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"date": "x"}', "missing key 'request_rate'"),
        ("REMOVE completed", "missing key 'completed'"),
        ("SET request_throughput=fast", "request_throughput: expected a number, got 'fast'"),
        ("SET completed=0", "completed is 0: no request of this run finished"),
        ("SET completed=10.5", "completed: expected a whole number, got 10.5"),
        ("SET request_rate=0", 'request_rate: must be > 0 or "inf"'),
        ("DROP LATENCIES", "no latency statistics"),
    ],
)
def test_a_malformed_file_is_one_line_naming_it(tmp_path, content, problem):
    path = tmp_path / "run.json"
    result = bench_result(POD, request_rate=4)
    if content.startswith("REMOVE "):
        result.pop(content.removeprefix("REMOVE "))
        content = json.dumps(result)
    elif content.startswith("SET "):
        key, value = content.removeprefix("SET ").split("=")
        result[key] = json.loads(value) if value[0].isdigit() else value
        content = json.dumps(result)
    elif content == "DROP LATENCIES":
        content = json.dumps({k: v for k, v in result.items() if not k.endswith("_ms")})
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        read_bench_files([path])
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}") and problem in message


def test_missing_files_and_empty_folders(tmp_path):
    with pytest.raises(ConfigError, match=r"nothing\.json: file not found"):
        read_bench_files([tmp_path / "nothing.json"])
    with pytest.raises(ConfigError, match=r"a folder with no \*\.json result files"):
        read_bench_files([tmp_path])


def test_request_rate_inf_is_all_at_once(tmp_path):
    path = tmp_path / "inf.json"
    path.write_text(json.dumps(bench_result(POD, request_rate=math.inf)), encoding="utf-8")
    (run,) = read_bench_file(path)
    assert math.isinf(run.request_rate) and run.offered == "all at once"
