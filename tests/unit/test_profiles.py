"""Serving profiles in models/: they validate, carry the documented numbers, and explain them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
