"""Serving profiles in models/: they validate, carry the documented numbers, and explain them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from predictor.capacity import pod_model
from predictor.config import list_profiles, load_profile
from predictor.config.profiles import read_profile_file
from predictor.errors import ConfigError

MODELS = Path(__file__).resolve().parents[2] / "models"
STAGES = {
    "scheduling",
    "image_pull",
    "weight_download",
    "profile_run",
    "torch_compile",
    "cuda_graph_capture",
    "warmup",
}


def test_the_three_models_are_there():
    names = set(list_profiles())
    assert {"llama-3-70b-h100-tp8", "llama-3-8b-l40s-tp2"} <= names
    assert {"qwen3-32b-h100-tp2-prefill", "qwen3-32b-h100-tp2-decode"} <= names


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_profile_validates_and_sizes(path):
    profile = read_profile_file(path)
    assert set(profile.cold_start.stages_s or {}) == STAGES
    model = pod_model(profile.capacity, profile.role)
    assert model.concurrency > 0 and model.seconds_per_request > 0


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_number_says_where_it_comes_from(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    text = "\n".join(lines)
    assert "STARTING POINTS, NOT MEASUREMENTS" in text
    for i, line in enumerate(lines):
        if re.match(r"^\s+\w+:\s*[\d.]+\s*(#.*)?$", line):
            # A number is explained by its own comment or by the comment opening its group of lines.
            j = i - 1
            while j > 0 and re.match(r"^\s+\w+:\s*[\d.]+\s*$", lines[j]):
                j -= 1
            commented = "#" in line or lines[j].lstrip().startswith("#")
            assert commented, (
                f"{path.name}:{i + 1}: {line.strip()!r} has no comment saying where it comes from"
            )


def test_documented_numbers():
    llama70 = load_profile("llama-3-70b-h100-tp8")
    assert llama70.capacity.kv_capacity_tokens == 1_000_000
    assert llama70.capacity.max_concurrency == 200
    assert (llama70.capacity.ttft_s, llama70.capacity.tpot_s) == (0.2, 0.03)
    assert load_profile("llama-3-8b-l40s-tp2").capacity.max_concurrency == 64
    assert load_profile("qwen3-32b-h100-tp2-prefill").role == "prefill"
    assert load_profile("qwen3-32b-h100-tp2-decode").role == "decode"


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown serving profile 'gpt-5' \(known: llama-3-70b"):
        load_profile("gpt-5")


def test_a_profile_dir_overrides_the_bundled_ones(tmp_path):
    text = (
        (MODELS / "llama-3-8b-l40s-tp2.yaml")
        .read_text(encoding="utf-8")
        .replace("max_concurrency: 64", "max_concurrency: 32")
    )
    (tmp_path / "llama-3-8b-l40s-tp2.yaml").write_text(text, encoding="utf-8")
    assert load_profile("llama-3-8b-l40s-tp2", tmp_path).capacity.max_concurrency == 32


def test_a_broken_profile_names_its_file_and_key(tmp_path):
    text = (
        (MODELS / "llama-3-8b-l40s-tp2.yaml")
        .read_text(encoding="utf-8")
        .replace("tpot_s: 0.02", "tpot_s: -1")
    )
    (tmp_path / "llama-3-8b-l40s-tp2.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"llama-3-8b-l40s-tp2.yaml: capacity.tpot_s: Input should be greater"
    ):
        load_profile("llama-3-8b-l40s-tp2", tmp_path)


CALIBRATION = {
    "method": "vllm-bench-serve",
    "calibrated_at": "2026-03-02T10:00:00Z",
    "slo": {"ttft_p99_s": 0.5},
    "knee": {
        "file": "sweep/rate-10.json",
        "rps_per_pod": 9.55,
        "concurrency": 42.6,
        "e2e_latency_s": 4.46,
        "e2e_derived": True,
        "lower_bound": False,
        "crossing_rps": 10.3,
        "values_s": {"ttft_p99_s": 0.236},
    },
    "runs": [
        {
            "file": "sweep/rate-10.json",
            "sha256": "0" * 64,
            "generation": "vllm bench serve",
            "date": "20260302-101500",
            "request_rate": 10.0,
            "rps": 9.55,
            "meets": True,
        }
    ],
    "sources": {"ttft_s": "mean_ttft_ms at the knee (sweep/rate-10.json)"},
}


def write_calibrated(tmp_path: Path, calibration: dict) -> Path:
    data = yaml.safe_load((MODELS / "llama-3-8b-l40s-tp2.yaml").read_text(encoding="utf-8"))
    data |= {"name": "measured", "calibration": calibration}
    path = tmp_path / "measured.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_calibrated_profile_loads_with_where_its_numbers_came_from(tmp_path):
    profile = read_profile_file(write_calibrated(tmp_path, CALIBRATION))
    c = profile.calibration
    assert c is not None and c.slo_label == "TTFT p99 ≤ 0.5 s" and c.knee.rps_per_pod == 9.55
    assert c.calibrated_at.isoformat() == "2026-03-02T10:00:00+00:00"
    assert c.runs[0].request_rate == 10.0 and c.notes == []
    assert read_profile_file(MODELS / "llama-3-8b-l40s-tp2.yaml").calibration is None  # starting points


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"slo": {"ttft_99": 0.5}}, "calibration.slo: 'ttft_99' is not an objective like ttft_p99_s"),
        ({"slo": {}}, "calibration.slo: Dictionary should have at least 1 item"),
        ({"method": "guess"}, "calibration.method: Input should be 'vllm-bench-serve'"),
        (
            {"knee": {**CALIBRATION["knee"], "rps_per_pod": 0}},
            "calibration.knee.rps_per_pod: Input should be greater",
        ),
        ({"runs": []}, "calibration.runs: List should have at least 1 item"),
        ({"extra": 1}, "calibration.extra: unknown key"),
    ],
)
def test_a_broken_calibration_section_names_its_key(tmp_path, change, problem):
    path = write_calibrated(tmp_path, {**CALIBRATION, **change})
    with pytest.raises(ConfigError) as error:
        read_profile_file(path)
    assert f"{path}: {problem}" in str(error.value)
