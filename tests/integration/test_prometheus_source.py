"""PrometheusSource against a real Prometheus server holding 4 weeks of backfilled 1-minute history."""

from __future__ import annotations

import base64
import itertools

import numpy as np
import pandas as pd
import pytest

from predictor.config.settings import PrometheusSettings
from predictor.errors import SourceError
from predictor.sources.prometheus import PrometheusSource
from predictor.sources.regular import regularise

pytestmark = pytest.mark.integration

MINUTE = pd.Timedelta(minutes=1)


def whole_range(backfilled):
    return backfilled.trace.index[0], backfilled.trace.index[-1] + MINUTE


def test_a_four_week_query_is_split_into_chunks_of_at_most_11000_points(
    backfilled_prometheus, recording_proxy
):
    source = PrometheusSource(
        PrometheusSettings(url=recording_proxy.url), f"irate({backfilled_prometheus.metric}[2m])"
    )
    start, end = whole_range(backfilled_prometheus)

    history = source.fetch(start, end, 60)

    assert len(history) == 28 * 24 * 60
    queries = recording_proxy.range_queries()
    assert len(queries) == 4  # 40,320 points / 11,000
    points = [(int(q.params["end"]) - int(q.params["start"])) // 60 + 1 for q in queries]
    assert max(points) <= 11_000
    assert sum(points) == len(history)
    for before, after in itertools.pairwise(queries):
        assert int(after.params["start"]) == int(before.params["end"]) + 60  # no hole, no overlap


def test_the_rates_match_the_backfilled_trace(backfilled_prometheus):
    trace = backfilled_prometheus.trace
    source = PrometheusSource(
        PrometheusSettings(url=backfilled_prometheus.url), f"irate({backfilled_prometheus.metric}[2m])"
    )

    history = source.fetch(*whole_range(backfilled_prometheus), 60)

    # The sources keep microseconds; the trace generator nanoseconds: compare the instants.
    assert history.index.as_unit("ns").equals(trace.index.as_unit("ns"))
    assert str(history.index.tz) == "UTC" and history.index.freq == "60s"
    both = history.notna() & trace.notna()
    assert both.sum() > 0.99 * trace.notna().sum()
    np.testing.assert_allclose(history[both], trace[both], rtol=1e-6)


def test_a_five_minute_step_gives_the_mean_rate_of_each_bin(backfilled_prometheus):
    trace = backfilled_prometheus.trace
    source = PrometheusSource(
        PrometheusSettings(url=backfilled_prometheus.url), f"rate({backfilled_prometheus.metric}[5m])"
    )

    history = source.fetch(*whole_range(backfilled_prometheus), 300)

    expected = regularise(trace, 300)
    assert history.index.equals(expected.index)
    both = history.notna() & expected.notna()
    # rate() extrapolates at the edge of the gap; everywhere else it is the exact mean of the bin.
    np.testing.assert_allclose(history[both], expected[both], rtol=0.02)
    assert (abs(history[both] - expected[both]) / expected[both] < 1e-6).mean() > 0.999


def test_the_gap_comes_back_as_nan_never_zero(backfilled_prometheus):
    gap_start, gap_end = backfilled_prometheus.gap_start, backfilled_prometheus.gap_end
    source = PrometheusSource(
        PrometheusSettings(url=backfilled_prometheus.url), f"irate({backfilled_prometheus.metric}[2m])"
    )

    history = source.fetch(gap_start - pd.Timedelta(hours=1), gap_end + pd.Timedelta(hours=1), 60)

    in_gap = (history.index >= gap_start) & (history.index < gap_end)
    assert in_gap.sum() == 4 * 60
    # irate(x[2m]) at the first bin of the gap still reaches back to the last two samples before it;
    # from the second bin on, the look-back window holds no samples and Prometheus returns nothing.
    assert history[in_gap][1:].isna().all()
    assert (history.dropna() > 0).all()
    # After the gap only the first bin is unknown: a counter needs a sample before the bin starts.
    assert history[~in_gap].isna().sum() == 1


def test_a_query_with_no_data_gives_all_nan_not_zero(backfilled_prometheus):
    source = PrometheusSource(PrometheusSettings(url=backfilled_prometheus.url), "rate(no_such_metric[5m])")
    start = backfilled_prometheus.gap_start

    history = source.fetch(start, start + pd.Timedelta(hours=2), 300)

    assert len(history) == 24
    assert history.isna().all()


def test_several_series_ask_the_user_to_aggregate(backfilled_prometheus):
    query = 'vector(1) or label_replace(vector(2), "replica", "b", "", "")'
    source = PrometheusSource(PrometheusSettings(url=backfilled_prometheus.url), query)
    start = backfilled_prometheus.gap_start

    with pytest.raises(SourceError, match=r"2 series.*sum\("):
        source.fetch(start, start + pd.Timedelta(hours=1), 300)


def test_bad_promql_reports_the_status_and_prometheus_own_message(backfilled_prometheus):
    source = PrometheusSource(
        PrometheusSettings(url=backfilled_prometheus.url), "rate(llm_requests_total[5m]"
    )
    start = backfilled_prometheus.gap_start

    with pytest.raises(SourceError) as caught:
        source.fetch(start, start + pd.Timedelta(hours=1), 300)

    message = str(caught.value)
    assert "HTTP 400" in message and "parse error" in message
    assert backfilled_prometheus.url in message and "rate(llm_requests_total[5m]" in message


def test_basic_auth_is_sent(backfilled_prometheus, recording_proxy):
    settings = PrometheusSettings(
        url=recording_proxy.url, basic_auth_username="reader", basic_auth_password="s3cret"
    )
    start = backfilled_prometheus.gap_start - pd.Timedelta(hours=2)

    PrometheusSource(settings, f"rate({backfilled_prometheus.metric}[5m])").fetch(
        start, start + pd.Timedelta(hours=1), 300
    )

    expected = "Basic " + base64.b64encode(b"reader:s3cret").decode()
    assert [r.headers.get("Authorization") for r in recording_proxy.requests] == [expected]


def test_the_bearer_token_is_read_from_its_file_on_every_fetch(
    backfilled_prometheus, recording_proxy, tmp_path
):
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    settings = PrometheusSettings(url=recording_proxy.url, bearer_token_file=token_file)
    source = PrometheusSource(settings, f"rate({backfilled_prometheus.metric}[5m])")
    start = backfilled_prometheus.gap_start - pd.Timedelta(hours=2)

    source.fetch(start, start + pd.Timedelta(hours=1), 300)
    token_file.write_text("rotated-token\n")  # as a projected service-account token would be
    source.fetch(start, start + pd.Timedelta(hours=1), 300)

    sent = [r.headers.get("Authorization") for r in recording_proxy.requests]
    assert sent == ["Bearer first-token", "Bearer rotated-token"]


def test_extra_headers_go_with_every_query_beside_the_bearer_token(
    backfilled_prometheus, recording_proxy, tmp_path
):
    token_file = tmp_path / "token"
    token_file.write_text("tok\n")
    settings = PrometheusSettings(
        url=recording_proxy.url,
        bearer_token_file=token_file,
        headers={"X-Scope-OrgID": "team-a", "X-Extra": "1"},
        max_points_per_query=100,  # several chunks: every one carries the headers
    )
    start = backfilled_prometheus.gap_start - pd.Timedelta(hours=24)
    PrometheusSource(settings, f"rate({backfilled_prometheus.metric}[5m])").fetch(
        start, start + pd.Timedelta(hours=12), 60
    )
    assert len(recording_proxy.requests) > 1
    for r in recording_proxy.requests:
        assert r.headers.get("X-Scope-OrgID") == "team-a" and r.headers.get("X-Extra") == "1"
        assert r.headers.get("Authorization") == "Bearer tok"


def test_a_password_in_the_url_is_sent_but_never_shown(backfilled_prometheus, recording_proxy):
    url = recording_proxy.url.replace("http://", "http://reader:hunter2@")
    source = PrometheusSource(PrometheusSettings(url=url), "rate(nope[5m]")  # bad PromQL: HTTP 400
    start = backfilled_prometheus.gap_start - pd.Timedelta(hours=2)
    with pytest.raises(SourceError) as e:
        source.fetch(start, start + pd.Timedelta(hours=1), 300)
    assert "hunter2" not in str(e.value) and "hunter2" not in repr(source)
    assert "reader:***@127.0.0.1" in str(e.value) and "HTTP 400" in str(e.value)
    expected = "Basic " + base64.b64encode(b"reader:hunter2").decode()
    assert recording_proxy.requests[0].headers.get("Authorization") == expected
