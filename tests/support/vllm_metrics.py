"""vLLM's per-pod metrics for a real Prometheus: the OpenMetrics file of a synthetic fleet.

:func:`write_vllm_openmetrics` writes what the pods of
:func:`predictor.sources.synthetic_fleet.churning_fleet` export (vLLM's metric names, one series
per pod, ``pod``/``namespace``/``model_name`` labels, a 60 s scrape) for
:func:`tests.support.prometheus_server.build_tsdb`: timestamps in seconds, each series ascending,
families not interleaved, ``# EOF`` at the end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from predictor.sources.synthetic_fleet import PodSamples


@dataclass(frozen=True)
class Exported:
    """One group of pods (one model) and the metric names its vLLM version exports."""

    labels: Mapping[str, str]
    samples: PodSamples
    old_names: bool = False
    with_tpot: bool = False  # also the TPOT histogram (twice the size; only where a test reads it)
    pod_label: bool = True  # False: series without a pod label (scraped through a proxy, say)


def _name(labels: Mapping[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _series(
    metric: str,
    labels: Mapping[str, str],
    values: np.ndarray,
    starts_s: np.ndarray,
    step_s: int,
    *,
    counter: bool,
) -> Iterator[str]:
    """One series: a counter of the per-step counts (0 at the first present step's start), or a
    gauge sampled at the end of each present step. ``starts_s`` are the steps' starts, Unix s."""
    present = ~np.isnan(values)
    if not present.any():
        return
    seconds = starts_s[present]
    data = values[present]
    head = f"{metric}{{{_name(labels)}}} "
    if counter:
        yield f"{head}0 {int(seconds[0])}"
        data = np.cumsum(data)
    for t, v in zip((seconds + step_s).tolist(), data.tolist(), strict=True):
        yield f"{head}{v:.10g} {t}"


def _pod_series(group: Exported, pod: str) -> Iterator[tuple[str, str, str, dict[str, str], np.ndarray]]:
    """(family, type, sample name, labels, per-step values) of every series one pod exports."""
    s, old = group.samples, group.old_names
    labels = {**group.labels, "pod": pod} if group.pod_label else {**group.labels, "instance": pod}
    yield (
        "vllm:request_success",
        "counter",
        "vllm:request_success_total",
        {**labels, "finished_reason": "stop"},
        s.requests[pod].to_numpy(),
    )
    histograms = [("vllm:time_to_first_token_seconds", s.ttft_buckets, s.ttft_sum_s)]
    if group.with_tpot:
        tpot = "vllm:time_per_output_token_seconds" if old else "vllm:request_time_per_output_token_seconds"
        histograms.append((tpot, s.tpot_buckets, None))
    for family, buckets, total_s in histograms:
        for bound, frame in buckets.items():
            yield family, "histogram", f"{family}_bucket", {**labels, "le": _le(bound)}, frame[pod].to_numpy()
        counts = buckets[math.inf][pod].to_numpy()
        yield family, "histogram", f"{family}_count", labels, counts
        sums = total_s[pod].to_numpy() if total_s is not None else counts * 0.02
        yield family, "histogram", f"{family}_sum", labels, sums
    for family, frame in (
        ("vllm:num_requests_running", s.running),
        ("vllm:num_requests_waiting", s.waiting),
        ("vllm:gpu_cache_usage_perc" if old else "vllm:kv_cache_usage_perc", s.kv_usage),
    ):
        yield family, "gauge", family, labels, frame[pod].to_numpy()


def _families(groups: Iterable[Exported]) -> dict[str, tuple[str, list[str]]]:
    families: dict[str, tuple[str, list[str]]] = {}
    for group in groups:
        step = group.samples.step_s
        index = group.samples.requests.index
        starts = ((index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy()
        for pod in group.samples.requests.columns:
            for family, kind, sample, labels, values in _pod_series(group, pod):
                lines = _series(sample, labels, values, starts, step, counter=kind != "gauge")
                families.setdefault(family, (kind, []))[1].extend(lines)
    return families


def write_vllm_openmetrics(path: Path, groups: Iterable[Exported]) -> Path:
    """Write every group's pods as vLLM exports them; returns ``path``."""
    lines: list[str] = []
    for family, (kind, samples) in _families(groups).items():
        lines += [f"# HELP {family} Backfilled vLLM metric (tests).", f"# TYPE {family} {kind}", *samples]
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
