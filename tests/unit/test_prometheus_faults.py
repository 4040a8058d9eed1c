"""PrometheusSource against a tiny stdlib HTTP server playing a faulty Prometheus.

Every failure must come out as our SourceError naming the URL, the query and the HTTP status, with the
library's exception chained; a dead or slow server must fail within the configured time.
"""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

from predictor.config.settings import PrometheusSettings
from predictor.errors import SourceError
from predictor.sources.prometheus import PrometheusSource

T0 = pd.Timestamp("2026-01-05 00:00", tz="UTC")
T0_S = int((T0 - pd.Timestamp(0, tz="UTC")).total_seconds())
QUERY = "sum(rate(vllm:request_success_total[1m]))"

# What the fake answers: given the query parameters, (HTTP status, body, seconds to wait first).
Answer = Callable[[dict[str, str]], tuple[int, object, float]]


class FakePrometheus:
    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.requests: list[dict[str, str]] = []
        self.release = threading.Event()  # ends every pending slow answer at teardown
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                params = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                fake.requests.append(params)
                status, body, delay_s = fake.answer(params)
                if delay_s:
                    fake.release.wait(delay_s)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout): nothing to answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture()
def fake() -> Iterator[Callable[..., FakePrometheus]]:
    started: list[FakePrometheus] = []

    def start(answer: Answer, tls: ssl.SSLContext | None = None) -> FakePrometheus:
        started.append(FakePrometheus(answer, tls))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def matrix(*series: tuple[dict[str, str], list[tuple[float, str]]]) -> dict[str, object]:
    result = [{"metric": labels, "values": [[t, v] for t, v in values]} for labels, values in series]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def echo_rate(params: dict[str, str]) -> tuple[int, object, float]:
    """One series whose value at evaluation time t is (t - T0_S) / 60: the index of the bin ending at t."""
    start, end, step = int(params["start"]), int(params["end"]), int(params["step"])
    values = [(t, str((t - T0_S) / 60)) for t in range(start, end + 1, step)]
    return 200, matrix(({}, values)), 0.0


def settings(url: str, **overrides: object) -> PrometheusSettings:
    return PrometheusSettings(url=url, **overrides)


def fetch(source: PrometheusSource, minutes: int = 5, step_s: int = 60) -> pd.Series:
    return source.fetch(T0, T0 + pd.Timedelta(minutes=minutes), step_s)


def test_each_sample_is_labelled_with_the_start_of_the_bin_it_ends(fake):
    server = fake(echo_rate)

    history = fetch(PrometheusSource(settings(server.url), QUERY))

    assert server.requests == [
        {"query": QUERY, "start": str(T0_S + 60), "end": str(T0_S + 300), "step": "60"}
    ]
    assert history.index[0] == T0 and history.index.freq == "60s" and str(history.index.tz) == "UTC"
    assert list(history) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_long_ranges_are_split_into_contiguous_chunks(fake):
    server = fake(echo_rate)
    source = PrometheusSource(settings(server.url, max_points_per_query=100), QUERY)

    history = fetch(source, minutes=250)

    spans = [(int(r["start"]), int(r["end"])) for r in server.requests]
    assert [(end - start) // 60 + 1 for start, end in spans] == [100, 100, 50]
    assert all(after[0] == before[1] + 60 for before, after in itertools.pairwise(spans))
    np.testing.assert_array_equal(history.to_numpy(), np.arange(1, 251, dtype=float))


def test_partial_bins_at_the_edges_are_not_requested(fake):
    server = fake(echo_rate)

    history = PrometheusSource(settings(server.url), QUERY).fetch(
        T0 + pd.Timedelta(seconds=30), T0 + pd.Timedelta(minutes=3, seconds=30), 60
    )

    assert list(history.index) == [T0 + pd.Timedelta(minutes=m) for m in (1, 2)]


def test_503_is_retried_as_configured_then_reported_with_url_query_and_status(fake):
    body = {"status": "error", "errorType": "unavailable", "error": "too many queries"}
    server = fake(lambda params: (503, body, 0.0))

    with pytest.raises(SourceError) as caught:
        fetch(PrometheusSource(settings(server.url, retries=2), QUERY))

    message = str(caught.value)
    assert "HTTP 503 Service Unavailable" in message and "too many queries" in message
    assert server.url in message and QUERY in message
    assert len(server.requests) == 3
    assert type(caught.value) is SourceError and caught.value.__cause__ is not None


def test_bad_promql_is_not_retried(fake):
    body = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error"}
    server = fake(lambda params: (400, body, 0.0))

    with pytest.raises(SourceError, match=r"HTTP 400 Bad Request: bad_data: 1:5: parse error"):
        fetch(PrometheusSource(settings(server.url, retries=3), QUERY))
    assert len(server.requests) == 1


def test_a_dead_server_fails_fast():
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = PrometheusSource(settings(f"http://127.0.0.1:{port}", retries=2), QUERY)

    began = time.monotonic()
    with pytest.raises(SourceError, match=r"cannot connect \(3 attempt\(s\)\)") as caught:
        fetch(source)

    assert time.monotonic() - began < 2.0
    assert f"127.0.0.1:{port}" in str(caught.value) and caught.value.__cause__ is not None


def test_a_slow_server_times_out_after_the_configured_timeout(fake):
    server = fake(lambda params: (200, matrix(), 5.0))
    source = PrometheusSource(settings(server.url, timeout_s=0.3, retries=1), QUERY)

    began = time.monotonic()
    with pytest.raises(SourceError, match=r"no answer within timeout_s=0.3 s \(2 attempt\(s\)\)"):
        fetch(source)

    assert time.monotonic() - began < 2.0
    assert len(server.requests) == 2


def test_an_empty_result_is_all_nan_not_zero(fake):
    server = fake(lambda params: (200, matrix(), 0.0))

    history = fetch(PrometheusSource(settings(server.url), QUERY), minutes=60, step_s=300)

    assert len(history) == 12 and history.isna().all()
    assert history.index.freq == "300s"


def test_nan_samples_and_missing_steps_are_nan(fake):
    values = [(T0_S + 60, "1.5"), (T0_S + 120, "NaN"), (T0_S + 240, "2.5")]  # nothing at +180, +300
    server = fake(lambda params: (200, matrix(({}, values)), 0.0))

    history = fetch(PrometheusSource(settings(server.url), QUERY))

    np.testing.assert_array_equal(history.to_numpy(), [1.5, np.nan, np.nan, 2.5, np.nan])


def test_several_series_ask_the_user_to_aggregate(fake):
    values = [(T0_S + 60, "1")]
    server = fake(lambda params: (200, matrix(({"pod": "a"}, values), ({"pod": "b"}, values)), 0.0))

    with pytest.raises(SourceError, match=r'2 series \(\{pod="a"\}; \{pod="b"\}\).*e\.g\. sum\('):
        fetch(PrometheusSource(settings(server.url), QUERY))


def test_series_that_change_between_chunks_also_count_as_several(fake):
    def answer(params: dict[str, str]) -> tuple[int, object, float]:
        pod = "a" if int(params["start"]) == T0_S + 60 else "b"  # a pod replaced mid-range
        return 200, matrix(({"pod": pod}, [(int(params["start"]), "1")])), 0.0

    server = fake(answer)
    source = PrometheusSource(settings(server.url, max_points_per_query=100), QUERY)

    with pytest.raises(SourceError, match="2 series"):
        fetch(source, minutes=150)


def test_infinite_values_are_refused_with_the_query(fake):
    server = fake(lambda params: (200, matrix(({}, [(T0_S + 60, "+Inf")])), 0.0))

    with pytest.raises(
        SourceError, match=r"query 'sum.*1 infinite value\(s\), the first at 2026-01-05T00:00"
    ):
        fetch(PrometheusSource(settings(server.url), QUERY))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>gateway says hi</html>", "not JSON: <html>gateway says hi</html>"),
        ({"status": "success"}, "not a Prometheus API answer"),
        ({"status": "success", "data": {"result": [{"metric": {}, "value": [1, "2"]}]}}, "range of samples"),
    ],
)
def test_answers_that_are_not_a_range_result(fake, body, message):
    server = fake(lambda params: (200, body, 0.0))

    with pytest.raises(SourceError, match=message):
        fetch(PrometheusSource(settings(server.url), QUERY))


def test_an_unreadable_token_file(tmp_path, fake):
    server = fake(echo_rate)
    source = PrometheusSource(settings(server.url, bearer_token_file=tmp_path / "missing"), QUERY)

    with pytest.raises(SourceError, match="cannot read bearer_token_file"):
        fetch(source)
    assert server.requests == []


@pytest.mark.parametrize(
    ("overrides", "query", "message"),
    [
        ({"bearer_token_file": "/t", "basic_auth_username": "u"}, QUERY, "set only one of"),
        ({}, "  ", "query is empty"),
    ],
)
def test_contradictory_settings_are_refused_up_front(overrides, query, message):
    with pytest.raises(SourceError, match=message):
        PrometheusSource(settings("http://127.0.0.1:9", **overrides), query)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    openssl = shutil.which("openssl")
    assert openssl, "the TLS tests need the openssl command: apt-get install -y openssl"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture()
def tls_server(fake, certificate) -> FakePrometheus:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return fake(echo_rate, tls=context)


def test_an_untrusted_certificate_fails_with_a_hint(tls_server):
    with pytest.raises(SourceError, match=r"TLS failed.*set ca_bundle_file"):
        fetch(PrometheusSource(settings(tls_server.url, retries=0), QUERY))


def test_a_ca_bundle_makes_the_certificate_trusted(tls_server, certificate):
    history = fetch(PrometheusSource(settings(tls_server.url, ca_bundle_file=certificate[0]), QUERY))

    assert list(history) == [1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_skip_verify_accepts_any_certificate(tls_server):
    history = fetch(PrometheusSource(settings(tls_server.url, insecure_skip_verify=True), QUERY))

    assert len(history) == 5
