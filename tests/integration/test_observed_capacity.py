"""Observed capacity from vLLM's per-pod metrics backfilled into a real Prometheus server.

The server holds one day of three groups of pods:

- ``llama-3-8b``: five pod slots under the synthetic daily load, each pod replaced every 2.5 h
  (50 pods in all), a new pod six times slower and at half a share of traffic for 12 minutes;
  current metric names (``vllm:kv_cache_usage_perc``);
- ``llama-old``: two slots with the older names (``vllm:gpu_cache_usage_perc``,
  ``vllm:time_per_output_token_seconds``) and a TPOT histogram;
- ``nopod``: series without a ``pod`` label.

The generator's truth is the arrival rate at which the objective just holds
(:meth:`SyntheticPod.truth_rps`); the estimate must land within 10 % of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from predictor.capacity.observed import estimate_observed_capacity
from predictor.capacity.slo import Slo
from predictor.cli.main import app
from predictor.config import Settings, load_settings
from predictor.errors import SourceError
from predictor.runtime.capacity_check import check_capacity, metrics_source_for
from predictor.runtime.targets import find_target
from predictor.sources.synthetic_fleet import churning_fleet, production_samples
from predictor.sources.synthetic_serving import SyntheticPod
from predictor.sources.vllm_metrics import VllmMetricsSource
from tests.support.prometheus_server import build_tsdb, start_prometheus
from tests.support.vllm_metrics import Exported, write_vllm_openmetrics

pytestmark = pytest.mark.integration

START = pd.Timestamp("2026-03-02", tz="UTC")
END = START + pd.Timedelta(days=1)
POD = SyntheticPod()
OLD_POD = SyntheticPod(tpot_sigma=0.2)  # TPOT spreads wider: its p99 reaches 25 ms below saturation
TTFT = Slo("ttft", 99, 0.5)
TPOT = Slo("tpot", 99, 0.025)  # on a bucket bound of vLLM's TPOT histogram


@dataclass(frozen=True)
class Served:
    url: str
    config: Path
    pods: int
    replaced: int


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("vllm-prometheus")
    fleet = churning_fleet(START)
    old = churning_fleet(START, slots=2, replace_every_min=400, prefix="old", seed=5)
    current = production_samples(POD, fleet.load_rps, slowdown=fleet.slowdown, seed=1)
    older = production_samples(OLD_POD, old.load_rps, slowdown=old.slowdown, seed=2)
    unlabelled = production_samples(POD, old.load_rps.iloc[:120, :1], seed=3)
    groups = [
        Exported({"model_name": "llama-3-8b", "namespace": "inference"}, current),
        Exported(
            {"model_name": "llama-old", "namespace": "inference"}, older, old_names=True, with_tpot=True
        ),
        Exported({"model_name": "nopod"}, unlabelled, pod_label=False),
    ]
    tsdb = build_tsdb(write_vllm_openmetrics(work / "vllm.om", groups), work / "tsdb")
    with start_prometheus(tsdb, work / "server") as server:
        target = {
            "name": "chat",
            "scaled_object": "inference/chat",
            "query": 'sum(rate(vllm:request_success_total{model_name="llama-3-8b"}[5m]))',
            "capacity": {"profile": "llama-3-8b-l40s-tp2"},
            "pod_metrics_selector": 'model_name="llama-3-8b",namespace="inference"',
        }
        old_target = {
            **target,
            "name": "old",
            "scaled_object": "inference/old",
            "pod_metrics_selector": 'model_name="llama-old"',
            "policy": {"capacity_slo": {"tpot_p99_s": 0.025}},
        }
        config = {
            "prometheus": {"url": server.url, "timeout_s": 30},
            "policy": {"capacity_slo": {"ttft_p99_s": 0.5}},
            "targets": [target, old_target],
        }
        path = work / "predictor.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        yield Served(server.url, path, len(fleet.load_rps.columns), len(fleet.born))


def settings_of(served: Served, **policy) -> tuple[Settings, object]:
    settings = load_settings(served.config)
    target = find_target(settings, "chat")
    if policy:
        target = target.model_copy(update={"policy": target.policy.model_copy(update=policy)})
    return settings, target


def test_observed_capacity_is_within_ten_percent_of_the_truth(served):
    settings, target = settings_of(served)
    check = check_capacity(settings, target, END, window_s=86_400)
    observed = check.observed
    truth = POD.truth_rps(TTFT)
    assert observed.status == "measured" and observed.binding == TTFT
    assert abs(observed.rps_per_pod / truth - 1) < 0.10, (observed.rps_per_pod, truth)
    assert observed.pods == served.pods
    # Every pod's first 15 minutes are left out: the 45 replacements, and the first five too,
    # since nothing shows they ran before the data begins.
    assert observed.pods_warming == served.pods and observed.samples_warming >= 3 * served.replaced
    assert observed.concurrency == pytest.approx(POD.steady(truth).busy, rel=0.15)
    assert observed.kv_usage is not None and 0 < observed.kv_usage < 1
    # Configured: 64 / (0.12 + 250 x 0.02) = 12.5 req/s per pod; production crosses the objective ~17% lower.
    assert check.comparison.configured_rps_per_pod == pytest.approx(12.5)
    assert (
        not check.off
        and "below configured 12.5 req/s per pod (margin 25%): the profile holds" in check.reason
    )


def test_counting_warming_pods_would_under_report_capacity(served):
    """The warm-up exclusion alone (the steady-load filter off, since it also catches the jump of
    a new pod's share): with it, within 10 %; without it, far below the truth."""
    settings = load_settings(served.config)
    source = VllmMetricsSource(settings.prometheus, 'model_name="llama-3-8b"')
    metrics = source.read(["ttft"], START, END, lookback_s=900)
    truth = POD.truth_rps(TTFT)
    kept = estimate_observed_capacity(metrics, [TTFT], warmup_s=900, steadiness=None)
    counted = estimate_observed_capacity(metrics, [TTFT], warmup_s=0, steadiness=None)
    assert abs(kept.rps_per_pod / truth - 1) < 0.10
    assert counted.rps_per_pod < 0.5 * truth


def test_a_profile_off_by_more_than_the_margin_is_flagged_and_sizing_can_follow_production(served):
    settings, target = settings_of(served, capacity_mismatch_margin=0.1, size_with_observed_capacity=True)
    check = check_capacity(settings, target, END, window_s=86_400)
    assert check.off and "the profile overstates capacity" in check.reason
    assert check.sizing.limited_by == "observed"
    assert check.sizing.rps_per_pod(1.0) == pytest.approx(check.observed.rps_per_pod)
    opted_out = check_capacity(*settings_of(served, capacity_mismatch_margin=0.1), END, window_s=86_400)
    assert opted_out.sizing.limited_by == "compute" and "is off" in opted_out.sizing_reason


def test_older_metric_names_are_read(served):
    settings = load_settings(served.config)
    source = VllmMetricsSource(settings.prometheus, 'model_name="llama-old"')
    metrics = source.read(["tpot", "ttft"], START, END, step_s=300, lookback_s=900)
    assert metrics.histograms["tpot"].name == "vllm:time_per_output_token_seconds"
    assert metrics.histograms["ttft"].name == "vllm:time_to_first_token_seconds"
    assert metrics.kv_usage is not None and metrics.kv_usage.notna().to_numpy().any()  # gpu_cache_usage_perc
    check = check_capacity(settings, find_target(settings, "old"), END, window_s=86_400)
    assert check.observed.status == "measured" and check.observed.binding == TPOT
    assert abs(check.observed.rps_per_pod / OLD_POD.truth_rps(TPOT) - 1) < 0.10
    assert check.observed.notes == ()  # 25 ms is a bucket bound: read exactly


def test_pods_are_keyed_by_namespace_and_name_and_lives_are_found(served):
    settings = load_settings(served.config)
    source = VllmMetricsSource(settings.prometheus, 'model_name="llama-3-8b"')
    metrics = source.read(["ttft"], START + pd.Timedelta(hours=6), END, lookback_s=900)
    assert all(pod.startswith("inference/vllm-") for pod in metrics.throughput_rps.columns)
    # Slot 0's pods start at 01:30, 04:00, 06:30, ... (every 150 min).
    assert metrics.lives["inference/vllm-0-2"] == []  # running before the lookback: no start inside it
    # vllm-0-3 starts at 06:30; its first scrape (06:31) is seen at the next 5-minute instant.
    assert metrics.lives["inference/vllm-0-3"] == [pd.Timestamp("2026-03-02 06:35", tz="UTC")]


def test_a_selector_that_matches_nothing_is_no_data_never_zero(served):
    settings, target = settings_of(served)
    source = metrics_source_for(settings, target, 'model_name="absent"')
    check = check_capacity(settings, target, END, source=source, window_s=86_400)
    assert check.observed.status == "no-data" and check.observed.rps_per_pod is None
    assert 'for {model_name="absent"}' in check.observed.reason and not check.off


def test_series_without_a_pod_label_are_refused(served):
    settings, target = settings_of(served)
    source = metrics_source_for(settings, target, 'model_name="nopod"')
    with pytest.raises(SourceError, match=r"a series has no pod label .* vLLM's series per pod"):
        check_capacity(settings, target, END, source=source, window_s=86_400)


runner = CliRunner()


def test_profiles_observe_shows_configured_against_observed(served):
    args = ["profiles", "observe", "--config", served.config, "--target", "chat", "--at", END.isoformat()]
    result = runner.invoke(app, [*map(str, args), "--window", "1d"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "chat: capacity per pod, configured against observed" in text
    assert "12.5 (C / D)" in text and "(measured)" in text and "ok:" in text
    assert "Requests within the objective by load per pod" in " ".join(text.split())
    out = json.loads(
        runner.invoke(app, [*map(str, args), "--window", "1d", "--json"], catch_exceptions=False).stdout
    )
    assert out["observed"]["status"] == "measured" and out["off"] is False
    assert out["window"] == {"start": START.isoformat(), "end": END.isoformat()}


def test_profiles_observe_without_data_fails_in_one_line(served):
    args = ["profiles", "observe", "--config", served.config, "--target", "chat", "--at", END.isoformat()]
    result = runner.invoke(
        app, [*map(str, args), "--selector", 'model_name="absent"'], catch_exceptions=False
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: target chat: no per-pod samples of vllm:request_success_total")
    assert result.stderr.count("\n") == 1
