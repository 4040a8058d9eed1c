"""vLLM's per-pod metrics from Prometheus, shaped for the observed-capacity estimate.

The series read, each summed per pod (``sum by (namespace, pod)``; a pod is named
``namespace/pod`` when the series carry a namespace):

- requests completed: ``rate(vllm:request_success_total[step])`` (every ``finished_reason``);
- the latency histogram of each objective's metric, ``rate(<name>_bucket[step])`` by ``le``:
  ``vllm:time_to_first_token_seconds`` (ttft), ``vllm:request_time_per_output_token_seconds``
  or the older ``vllm:time_per_output_token_seconds`` (tpot), ``vllm:inter_token_latency_seconds``
  or the older ``vllm:time_per_output_token_seconds`` (itl), ``vllm:e2e_request_latency_seconds``
  (e2el). The first name with any series is used, so an exporter with both is not counted twice;
- requests in flight: ``vllm:num_requests_running`` + ``vllm:num_requests_waiting``;
- KV-cache use: ``vllm:kv_cache_usage_perc``, or the older ``vllm:gpu_cache_usage_perc``;
- pod age: a pod's life begins at the first sample of its ``vllm:num_requests_running`` series,
  and again whenever that series comes back after a missing step (a restarted container). This
  needs nothing beyond vLLM's own metrics (no kube-state-metrics), and it is what matters: a pod
  exports metrics once its server is up, and its warm-up runs from there.

``selector`` is PromQL label matchers for the target's pods, e.g.
``namespace="inference",model_name="llama-3-70b"``. The rate window is the step, so the step must
cover at least two scrapes (300 s by default). Samples are labelled by evaluation instant: each
describes the step before it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from predictor.capacity.observed import LatencyHistogram, PodMetrics
from predictor.config.settings import PrometheusSettings
from predictor.errors import SourceError
from predictor.sources.prometheus import PrometheusSource

HISTOGRAMS: dict[str, tuple[str, ...]] = {
    "ttft": ("vllm:time_to_first_token_seconds",),
    "tpot": ("vllm:request_time_per_output_token_seconds", "vllm:time_per_output_token_seconds"),
    "itl": ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
    "e2el": ("vllm:e2e_request_latency_seconds",),
}
REQUESTS = "vllm:request_success_total"
ALIVE = "vllm:num_requests_running"
IN_FLIGHT = ("vllm:num_requests_running", "vllm:num_requests_waiting")
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")


def clean_selector(selector: str) -> str:
    """Label matchers without the braces: ``{a="b"}`` and ``a="b"`` both give ``a="b"``."""
    text = selector.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if "{" in text or "}" in text:
        raise SourceError(
            f'the pod selector {selector!r} must be label matchers like namespace="x",pod=~"y-.*"'
        )
    return text


class VllmMetricsSource:
    """Reads :class:`~predictor.capacity.observed.PodMetrics` for the pods ``selector`` matches."""

    def __init__(self, settings: PrometheusSettings, selector: str) -> None:
        self.settings = settings
        self.selector = clean_selector(selector)

    def __repr__(self) -> str:
        return f"VllmMetricsSource(url={self.settings.url!r}, selector={self.selector!r})"

    def _matchers(self, *extra: str) -> str:
        return "{" + ",".join(part for part in (*extra, self.selector) if part) + "}"

    def _per_pod(
        self, query: str, start: pd.Timestamp, end: pd.Timestamp, step_s: int, *, by: str = ""
    ) -> dict[tuple[str, str], pd.Series]:
        """(pod, extra label value) -> series; a SourceError when a series has no pod label."""
        found = {}
        for labels, series in PrometheusSource(self.settings, query).fetch_series(start, end, step_s):
            if "pod" not in labels:
                raise SourceError(
                    f"Prometheus at {self.settings.url}, query {query!r}: a series has no pod label "
                    f"({labels or 'no labels'}); observed capacity needs vLLM's series per pod, "
                    "as Prometheus scrapes them in Kubernetes"
                )
            pod = f"{labels['namespace']}/{labels['pod']}" if labels.get("namespace") else labels["pod"]
            found[(pod, labels.get(by, "") if by else "")] = series
        return found

    def _frame(self, query: str, start: pd.Timestamp, end: pd.Timestamp, step_s: int) -> pd.DataFrame:
        series = {pod: s for (pod, _), s in self._per_pod(query, start, end, step_s).items()}
        index = pd.date_range(start.ceil(f"{step_s}s"), end, freq=f"{step_s}s").as_unit("us")
        return pd.DataFrame(series, index=index, dtype=float).sort_index(axis=1)

    def _histogram(
        self, metric: str, start: pd.Timestamp, end: pd.Timestamp, step_s: int
    ) -> LatencyHistogram:
        for name in HISTOGRAMS[metric]:
            query = f"sum by (namespace, pod, le) (rate({name}_bucket{self._matchers()}[{step_s}s]))"
            found = self._per_pod(query, start, end, step_s, by="le")
            if not found:
                continue
            buckets: dict[float, dict[str, pd.Series]] = {}
            for (pod, le), series in found.items():
                try:
                    bound = math.inf if le in {"+Inf", "Inf", "inf"} else float(le)
                except ValueError as e:
                    raise SourceError(f"{name}_bucket: a bucket bound le={le!r} is not a number") from e
                buckets.setdefault(bound, {})[pod] = series
            if math.inf not in buckets:
                raise SourceError(f'{name}_bucket has no le="+Inf" bucket; it is not a histogram')
            index = pd.date_range(start.ceil(f"{step_s}s"), end, freq=f"{step_s}s").as_unit("us")
            frames = {b: pd.DataFrame(v, index=index, dtype=float) for b, v in sorted(buckets.items())}
            return LatencyHistogram(name, frames)
        names = " or ".join(f"{n}_bucket" for n in HISTOGRAMS[metric])
        return LatencyHistogram(f"{names} (no series)", {math.inf: pd.DataFrame(dtype=float)})

    def _lives(
        self, start: pd.Timestamp, end: pd.Timestamp, step_s: int, lookback_s: float
    ) -> dict[str, list[pd.Timestamp]]:
        first = (start - pd.Timedelta(seconds=lookback_s + step_s)).floor(f"{step_s}s")
        query = f"count by (namespace, pod) ({ALIVE}{self._matchers()})"
        lives: dict[str, list[pd.Timestamp]] = {}
        for (pod, _), series in self._per_pod(query, first, end, step_s).items():
            present = series.notna().to_numpy()
            starts = [series.index[i] for i in range(1, len(present)) if present[i] and not present[i - 1]]
            lives[pod] = starts
        return lives

    def read(
        self,
        metrics: Sequence[str],
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        step_s: int = 300,
        lookback_s: float = 0.0,
    ) -> PodMetrics:
        """Everything the estimate needs over ``[start, end]``, histograms for ``metrics``
        (``ttft``...); pod lives are looked for ``lookback_s`` before ``start`` too (the warm-up)."""
        unknown = [m for m in metrics if m not in HISTOGRAMS]
        if unknown:
            raise SourceError(f"no vLLM histogram for {', '.join(unknown)} (known: {', '.join(HISTOGRAMS)})")
        window = f"[{step_s}s]"
        throughput = self._frame(
            f"sum by (namespace, pod) (rate({REQUESTS}{self._matchers()}{window}))", start, end, step_s
        )
        in_flight = self._frame(
            f"sum by (namespace, pod) ({self._matchers(_name_in(IN_FLIGHT))})", start, end, step_s
        )
        kv = self._frame(
            f"max by (namespace, pod) ({self._matchers(_name_in(KV_USAGE))})", start, end, step_s
        )
        return PodMetrics(
            step_s=step_s,
            throughput_rps=throughput,
            histograms={m: self._histogram(m, start, end, step_s) for m in dict.fromkeys(metrics)},
            lives=self._lives(start, end, step_s, lookback_s),
            in_flight=in_flight if not in_flight.empty else None,
            kv_usage=kv if not kv.empty else None,
        )


def _name_in(names: Sequence[str]) -> str:
    return '__name__=~"' + "|".join(names) + '"'
