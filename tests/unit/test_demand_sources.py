"""A target's demand sources from its settings: a history file's columns and the synthetic token trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictor.capacity.demand import OUTPUT_TOKENS, PROMPT_TOKENS, REQUESTS
from predictor.config import PolicySettings, PrometheusSettings, resolve_target
from predictor.errors import SourceError
from predictor.sources.demand import demand_sources_for
from predictor.sources.synthetic import SyntheticSource

START = pd.Timestamp("2026-01-05 00:00", tz="UTC")


def target(**fields):
    raw = {"name": "t", "scaled_object": "ns/t", "capacity": {"profile": "llama-3-8b-l40s-tp2"}, **fields}
    return resolve_target(raw, policy=PolicySettings(), profiles_dir=None, source="test")


def write_counts(path: Path) -> Path:
    index = pd.date_range(START, periods=12, freq="300s")
    requests = np.arange(12) * 300.0 + 300  # counts per 5-minute bin
    frame = pd.DataFrame(
        {
            "timestamp": index.strftime("%Y-%m-%d %H:%M:%S"),
            "requests": requests,
            "prompt_tokens": requests * 1_500,
            "output_tokens": requests * 200,
        }
    )
    frame.loc[4, "prompt_tokens"] = np.nan  # a gap in one column only
    frame.to_csv(path, index=False)
    return path


def test_a_history_file_gives_one_column_per_configured_series_as_rates(tmp_path):
    path = write_counts(tmp_path / "history.csv")
    t = target(
        history_file=str(path),
        history_value_column="requests",
        history_prompt_tokens_column="prompt_tokens",
        history_output_tokens_column="output_tokens",
        history_counts=True,
    )
    frame = demand_sources_for(PrometheusSettings(), t).fetch(START, START + pd.Timedelta(hours=1), 300)
    assert list(frame.columns) == [REQUESTS, PROMPT_TOKENS, OUTPUT_TOKENS]
    np.testing.assert_allclose(frame[REQUESTS], np.arange(12) + 1.0)  # counts / 300 s
    lengths = frame[PROMPT_TOKENS] / frame[REQUESTS]
    assert np.isnan(lengths.iloc[4]) and lengths.drop(lengths.index[4]).eq(1_500).all()
    np.testing.assert_allclose(frame[OUTPUT_TOKENS] / frame[REQUESTS], 200)


def test_a_token_column_left_out_is_not_a_column_at_all(tmp_path):
    path = write_counts(tmp_path / "history.csv")
    t = target(
        history_file=str(path), history_value_column="requests", history_prompt_tokens_column="prompt_tokens"
    )
    sources = demand_sources_for(PrometheusSettings(), t)
    assert sources.output_tokens is None
    frame = sources.fetch(START, START + pd.Timedelta(hours=1), 300)
    assert list(frame.columns) == [REQUESTS, PROMPT_TOKENS]


def test_an_unknown_token_column_is_a_source_error_naming_the_file(tmp_path):
    path = write_counts(tmp_path / "history.csv")
    t = target(
        history_file=str(path), history_value_column="requests", history_output_tokens_column="completion"
    )
    with pytest.raises(SourceError, match="has no value column 'completion'"):
        demand_sources_for(PrometheusSettings(), t).fetch(START, START + pd.Timedelta(hours=1), 300)


def test_the_synthetic_history_with_tokens_follows_the_clock():
    t = target(
        history_synthetic={"seed": 3, "tokens": {"prompt_tokens_night": 500, "prompt_tokens_day": 1_500}}
    )
    start = START + pd.Timedelta(days=2)
    frame = demand_sources_for(PrometheusSettings(), t).fetch(start, start + pd.Timedelta(days=1), 300)
    assert list(frame.columns) == [REQUESTS, PROMPT_TOKENS, OUTPUT_TOKENS]
    pd.testing.assert_series_equal(
        frame[REQUESTS], SyntheticSource(seed=3).fetch(start, start + pd.Timedelta(days=1), 300)
    )
    prompt = frame[PROMPT_TOKENS] / frame[REQUESTS]
    assert prompt[frame.index.hour == 3].median() == pytest.approx(500, rel=0.05)
    assert prompt[frame.index.hour == 13].median() == pytest.approx(1_500, rel=0.05)


def test_the_synthetic_history_without_tokens_is_requests_only():
    t = target(history_synthetic={"seed": 3})
    sources = demand_sources_for(PrometheusSettings(), t)
    assert (sources.prompt_tokens, sources.output_tokens) == (None, None)
    assert list(sources.named()) == [REQUESTS]


def test_prometheus_queries_make_one_source_each():
    t = target(
        query="sum(rate(a_total[5m]))", output_tokens_query="sum(rate(vllm:generation_tokens_total[5m]))"
    )
    sources = demand_sources_for(PrometheusSettings(url="http://prometheus:9090"), t)
    assert list(sources.named()) == [REQUESTS, OUTPUT_TOKENS]
    assert sources.output_tokens.query == "sum(rate(vllm:generation_tokens_total[5m]))"  # type: ignore[union-attr]
