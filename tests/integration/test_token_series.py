"""A target's three demand series read from a real Prometheus holding vLLM's token counters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictor.capacity.demand import OUTPUT_TOKENS, PROMPT_TOKENS, REQUESTS, TokenRates, size_role
from predictor.config import PolicySettings, PrometheusSettings, TargetSettings, load_profile, resolve_target
from predictor.sources.demand import demand_sources_for
from predictor.sources.synthetic_tokens import synthetic_token_trace
from tests.support.prometheus_server import build_tsdb, start_prometheus, write_counter_openmetrics

pytestmark = pytest.mark.integration

COUNTERS = {
    REQUESTS: "vllm:request_success_total",
    PROMPT_TOKENS: "vllm:prompt_tokens_total",
    OUTPUT_TOKENS: "vllm:generation_tokens_total",
}
QUERIES = {column: f"sum(rate({metric}[5m]))" for column, metric in COUNTERS.items()}
STEP_S = 300


@dataclass(frozen=True)
class TokenServer:
    url: str
    trace: pd.DataFrame  # one-minute bins, NaN in the prompt counter's gap
    gap: tuple[pd.Timestamp, pd.Timestamp]


def write_families(path: Path, trace: pd.DataFrame) -> Path:
    """One OpenMetrics file with a counter family per column (each written as its helper writes it)."""
    parts = []
    for column, metric in COUNTERS.items():
        single = path.with_suffix(f".{column}.om")
        write_counter_openmetrics(single, metric, trace[column], step_s=60)
        parts.append(single.read_text(encoding="utf-8").removesuffix("# EOF\n"))
    path.write_text("".join(parts) + "# EOF\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    trace = synthetic_token_trace(days=8, step_s=60, seed=21)
    gap = (trace.index[0] + pd.Timedelta(days=3, hours=2), trace.index[0] + pd.Timedelta(days=3, hours=5))
    trace.loc[(trace.index >= gap[0]) & (trace.index < gap[1]), PROMPT_TOKENS] = np.nan
    work = tmp_path_factory.mktemp("token-prometheus")
    tsdb = build_tsdb(write_families(work / "tokens.om", trace), work / "tsdb")
    with start_prometheus(tsdb, work / "server") as server:
        yield TokenServer(server.url, trace, gap)


def target(**queries: str | None) -> TargetSettings:
    raw = {
        "name": "chat",
        "scaled_object": "inference/chat",
        "capacity": {"profile": "qwen3-32b-h100-tp2-decode"},
    }
    return resolve_target({**raw, **queries}, policy=PolicySettings(), profiles_dir=None, source="test")


def test_all_three_series_are_read_on_the_same_bins_and_match_the_counters(token_server):
    settings = PrometheusSettings(url=token_server.url, timeout_s=20, retries=1)
    sources = demand_sources_for(
        settings,
        target(
            query=QUERIES[REQUESTS],
            prompt_tokens_query=QUERIES[PROMPT_TOKENS],
            output_tokens_query=QUERIES[OUTPUT_TOKENS],
        ),
    )
    start = token_server.trace.index[0] + pd.Timedelta(days=1)
    end = start + pd.Timedelta(days=6)

    frame = sources.fetch(start, end, STEP_S)

    assert list(frame.columns) == [REQUESTS, PROMPT_TOKENS, OUTPUT_TOKENS]
    assert len(frame) == 6 * 288 and frame.index.freq == f"{STEP_S}s" and str(frame.index.tz) == "UTC"
    expected = token_server.trace.resample(f"{STEP_S}s").mean().reindex(frame.index.as_unit("ns"))
    # After a gap the counter's first bin has no sample before it: Prometheus extrapolates it.
    after_gap = frame.index == token_server.gap[1]
    for column in frame.columns:
        both = frame[column].notna().to_numpy() & expected[column].notna().to_numpy() & ~after_gap
        assert both.sum() > 0.97 * len(frame)
        np.testing.assert_allclose(
            frame[column].to_numpy()[both], expected[column].to_numpy()[both], rtol=1e-6
        )

    # The gap in the prompt counter is missing data, never zero, and so are the pods it sizes.
    in_gap = (frame.index >= token_server.gap[0] + pd.Timedelta(minutes=5)) & (
        frame.index < token_server.gap[1]
    )
    assert frame.loc[in_gap, PROMPT_TOKENS].isna().all()
    assert frame.loc[in_gap, REQUESTS].notna().all()
    pods = size_role(
        TokenRates.from_frame(frame),
        load_profile("qwen3-32b-h100-tp2-decode").capacity,
        "decode",
        utilization=0.7,
    ).pods
    assert np.isnan(pods[in_gap]).all() and (pods[~in_gap & frame.notna().all(axis=1).to_numpy()] >= 1).all()

    # The mean prompt length per time of day doubles from night to working hours.
    prompt = frame[PROMPT_TOKENS] / frame[REQUESTS]
    weekday = frame.index.day_of_week < 5
    assert prompt[weekday & (frame.index.hour == 12)].median() == pytest.approx(2_000, rel=0.05)
    assert prompt[frame.index.hour == 3].median() == pytest.approx(1_000, rel=0.05)


def test_a_missing_token_query_is_an_absent_series_sized_on_the_profile_with_the_reason(token_server):
    settings = PrometheusSettings(url=token_server.url, timeout_s=20, retries=1)
    sources = demand_sources_for(
        settings, target(query=QUERIES[REQUESTS], prompt_tokens_query=QUERIES[PROMPT_TOKENS])
    )
    start = token_server.trace.index[0] + pd.Timedelta(days=6)
    frame = sources.fetch(start, start + pd.Timedelta(hours=6), STEP_S)

    assert list(frame.columns) == [REQUESTS, PROMPT_TOKENS]
    pods = size_role(
        TokenRates.from_frame(frame),
        load_profile("qwen3-32b-h100-tp2-decode").capacity,
        "decode",
        utilization=0.7,
    )
    assert pods.reason == (
        "no output-token series: decode pods are sized on the profile's fixed length, "
        "400 output tokens per request"
    )
    assert np.isfinite(pods.pods).all()


def service_config(path: Path, url: str, *, output_query: str) -> Path:
    """A disaggregated service declared once, reading its three series from the real Prometheus."""
    path.write_text(
        f"""
prometheus: {{url: "{url}", timeout_s: 20, retries: 1}}
policy: {{model: harmonic, history_window_days: 6}}
services:
  - name: qwen
    query: "{QUERIES[REQUESTS]}"
    prompt_tokens_query: "{QUERIES[PROMPT_TOKENS]}"
    output_tokens_query: "{output_query}"
    roles:
      prefill: {{scaled_object: inference/qwen-prefill, capacity: {{profile: qwen3-32b-h100-tp2-prefill}}}}
      decode: {{scaled_object: inference/qwen-decode, capacity: {{profile: qwen3-32b-h100-tp2-decode}}}}
""",
        encoding="utf-8",
    )
    return path


def forecast_json(config: Path, at: pd.Timestamp) -> list[dict]:
    import json

    from tests.support.cli import predictor

    done = predictor(
        "forecast", "--config", str(config), "--at", f"{at:%Y-%m-%dT%H:%M:%SZ}", "--horizon", "8h", "--json"
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_predictor_forecast_reads_all_three_series_and_sizes_each_role_on_them(token_server, tmp_path):
    config = service_config(tmp_path / "qwen.yaml", token_server.url, output_query=QUERIES[OUTPUT_TOKENS])
    at = token_server.trace.index[0] + pd.Timedelta(days=7, hours=6)  # a Monday morning
    prefill, decode = forecast_json(config, at)

    for doc, role in ((prefill, "prefill"), (decode, "decode")):
        assert doc["tokens"] == {
            "role": role,
            "model": "harmonic",
            "series": [PROMPT_TOKENS, OUTPUT_TOKENS],
            "reason": None,
        }
    # One forecast for both roles: the same token forecasts at every point both show.
    for a, b in zip(prefill["points"], decode["points"], strict=False):
        assert a["t"] == b["t"] and a["prompt_tokens_per_s_p90"] == b["prompt_tokens_per_s_p90"]
    points = pd.DataFrame(prefill["points"]).set_index("t")
    points.index = pd.to_datetime(points.index)
    noon = points[points.index.hour == 12]
    early = points[points.index.hour == 6]
    # The forecast lengths follow the mix: about 2,000 prompt tokens at noon, 1,000 at dawn.
    assert noon["mean_prompt_tokens"].median() == pytest.approx(2_000, rel=0.15)
    assert early["mean_prompt_tokens"].median() == pytest.approx(1_000, rel=0.2)
    assert set(points["limited_by"]) == {"prefill_throughput"}
    decode_binds = {p["limited_by"] for p in decode["points"]}
    assert decode_binds <= {"kv_cache", "compute"} and decode_binds
    assert noon["pods"].max() > early["pods"].max()


def test_a_token_query_that_returns_nothing_falls_back_with_the_reason(token_server, tmp_path):
    config = service_config(
        tmp_path / "qwen.yaml", token_server.url, output_query="sum(rate(no_such_counter_total[5m]))"
    )
    at = token_server.trace.index[0] + pd.Timedelta(days=7, hours=6)
    prefill, decode = forecast_json(config, at)

    assert decode["tokens"]["series"] == [PROMPT_TOKENS]
    reason = decode["tokens"]["reason"]
    assert reason.startswith("the output-token series could not be ")
    assert reason.endswith(
        "no output-token series: decode pods are sized on the profile's fixed length, "
        "400 output tokens per request"
    )
    assert all(p["mean_output_tokens"] == 400 for p in decode["points"])
    assert all(reason in c["reason"] for c in decode["changes"])
    # The prefill role reads only prompts: nothing of it falls back.
    assert prefill["tokens"]["reason"] is None
