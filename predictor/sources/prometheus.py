"""History from a Prometheus range query. The only module that imports the Prometheus client and requests.

Conventions, so that the result keeps the history contract of :mod:`predictor.sources.base`:

- The query must return **one** series of request rates in req/s, e.g.
  ``sum(rate(vllm:request_success_total{model_name="x"}[5m]))``. Several series are an error that asks
  the user to aggregate, because adding them up silently could double-count replicas.
- A sample that Prometheus evaluates at time ``t`` describes the step that *ends* at ``t`` (``rate(x[5m])``
  looks back), so it is labelled ``t - step_s``, the start of its bin. ``fetch(start, end, step_s)`` thus
  evaluates at the end of every bin that lies wholly inside ``[start, end)``.
- Range queries are split so that each asks for at most ``settings.max_points_per_query`` points
  (Prometheus refuses more than 11,000 per series).
- An empty result, and any step Prometheus has no sample for, is NaN: missing, never zero.
  The sample value ``"NaN"`` is NaN too.
- Every failure is a :class:`~predictor.errors.SourceError` naming the URL, the query and the HTTP status
  when there is one; the library's exception is chained, never raised as is. A password in the URL
  (``http://user:secret@host``) is masked in every message.
- ``settings.headers`` (e.g. ``X-Scope-OrgID`` for a multi-tenant Mimir, Cortex or Thanos) go with every
  request, beside the bearer token when one is configured.
"""

from __future__ import annotations

import http
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import requests
import urllib3.exceptions
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from predictor.config.secrets import mask_text, mask_url
from predictor.config.settings import PrometheusSettings
from predictor.errors import SourceError
from predictor.sources.regular import bin_range, empty_history, on_bins, regularise

# Statuses worth retrying: overload and gateway trouble. A 400 (bad PromQL) or 422 never heals.
_RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
# Short, because a reconcile cycle must not stall: 0 s, then 0.5 s, 1 s, ... between attempts.
_BACKOFF_FACTOR_S = 0.25

Labels = tuple[tuple[str, str], ...]


class PrometheusSource:
    """A :class:`~predictor.sources.base.HistorySource` reading one PromQL query.

    Nothing is sent on construction. Each :meth:`fetch` opens its own HTTP session and reads the bearer
    token file again, so rotated tokens (Kubernetes projected service-account tokens) are picked up.
    """

    def __init__(self, settings: PrometheusSettings, query: str) -> None:
        if not query or not query.strip():
            raise SourceError("the Prometheus query is empty; give PromQL returning one series in req/s")
        if settings.bearer_token_file is not None and settings.basic_auth_username is not None:
            raise SourceError(
                f"Prometheus at {settings.url}: set only one of bearer_token_file and basic_auth_username"
            )
        self.settings = settings
        self.query = query
        self.url = settings.url.rstrip("/")
        self.shown_url = mask_url(self.url)  # what messages and logs may show

    def __repr__(self) -> str:
        return f"PrometheusSource(url={self.shown_url!r}, query={self.query!r})"

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp, step_s: int) -> pd.Series:
        """Request rates in req/s for the bins of ``step_s`` wholly inside ``[start, end)``; NaN = no data."""
        try:
            return self._fetch(start, end, step_s)
        except SourceError as e:
            masked = mask_text(str(e))
            if masked == str(e):
                raise
            # The library's own exception stays chained; ours is rebuilt without the password.
            raise SourceError(masked) from e.__cause__

    def _fetch(self, start: pd.Timestamp, end: pd.Timestamp, step_s: int) -> pd.Series:
        bins = bin_range(start, end, step_s)
        if len(bins) == 0:
            return on_bins(empty_history(step_s), bins)
        found: dict[Labels, list[tuple[np.ndarray, np.ndarray]]] = {}
        with self._client() as (client, last_response):
            for first_eval, last_eval in self._chunks(bins, step_s):
                for labels, times, values in self._query(
                    client, last_response, first_eval, last_eval, step_s
                ):
                    found.setdefault(labels, []).append((times, values))
        if len(found) > 1:
            shown = "; ".join(_show(labels) for labels in list(found)[:3])
            raise SourceError(
                f"{self._where()}: the query returned {len(found)} series ({shown}"
                f"{'; ...' if len(found) > 3 else ''}); predictor needs one request rate per target, "
                f"so aggregate them, e.g. sum({self.query})"
            )
        if not found:
            return on_bins(empty_history(step_s), bins)
        (parts,) = found.values()
        times = np.concatenate([t for t, _ in parts])
        values = np.concatenate([v for _, v in parts])
        labels_us = np.round((times - step_s) * 1e6).astype(np.int64)
        points = pd.Series(
            values, index=pd.DatetimeIndex(labels_us.astype("datetime64[us]")).tz_localize("UTC")
        )
        try:
            history = regularise(points, step_s, source_step_s=step_s)
        except SourceError as e:
            raise SourceError(f"{self._where()}: {e}") from e
        return on_bins(history, bins)

    def fetch_series(
        self, start: pd.Timestamp, end: pd.Timestamp, step_s: int
    ) -> list[tuple[dict[str, str], pd.Series]]:
        """Every series the query returns, with its labels, evaluated at ``start``, ``start + step``,
        ... up to ``end``: a series indexed by those UTC instants, NaN where it has no sample.

        Unlike :meth:`fetch`, several series are expected (one per pod, say) and each is labelled by
        its evaluation instant, not by the start of a bin. No series at all is an empty list.
        """
        first = start.ceil(f"{step_s}s")
        instants = pd.date_range(first, end, freq=f"{step_s}s")
        if len(instants) == 0:
            return []
        found: dict[Labels, list[tuple[np.ndarray, np.ndarray]]] = {}
        size = self.settings.max_points_per_query
        with self._client() as (client, last_response):
            for i in range(0, len(instants), size):
                chunk = instants[i : i + size]
                for labels, times, values in self._query(client, last_response, chunk[0], chunk[-1], step_s):
                    found.setdefault(labels, []).append((times, values))
        index = instants.as_unit("us")
        result = []
        for labels, parts in found.items():
            times_us = np.round(np.concatenate([t for t, _ in parts]) * 1e6).astype(np.int64)
            values = np.concatenate([v for _, v in parts])
            points = pd.Series(
                values, index=pd.DatetimeIndex(times_us.astype("datetime64[us]")).tz_localize("UTC")
            )
            points = points[~points.index.duplicated(keep="last")]
            result.append((dict(labels), points.reindex(index)))
        return result

    def _chunks(self, bins: pd.DatetimeIndex, step_s: int) -> Iterator[tuple[pd.Timestamp, pd.Timestamp]]:
        """First and last evaluation time of each query: bin ends, at most max_points_per_query of them."""
        size = self.settings.max_points_per_query
        step = pd.Timedelta(seconds=step_s)
        for i in range(0, len(bins), size):
            yield bins[i] + step, bins[min(i + size, len(bins)) - 1] + step

    @contextmanager
    def _client(self) -> Iterator[tuple[PrometheusConnect, list[requests.Response]]]:
        settings = self.settings
        session = requests.Session()
        if settings.insecure_skip_verify:
            session.verify = False
        elif settings.ca_bundle_file is not None:
            session.verify = str(settings.ca_bundle_file)
        last_response: list[requests.Response] = []

        def remember(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            # The library raises without the response, so keep it to report its status and body.
            last_response[:] = [response]

        session.hooks["response"].append(remember)
        retries = settings.retries
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            backoff_factor=_BACKOFF_FACTOR_S,
            status_forcelist=_RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            # Hand the last error response back instead of raising RetryError, so its status is known.
            raise_on_status=False,
            # A server may ask for minutes; the next reconcile cycle is a better time to try again.
            respect_retry_after_header=False,
        )
        auth = None
        if settings.basic_auth_username is not None:
            password = settings.basic_auth_password
            auth = (settings.basic_auth_username, password.get_secret_value() if password else "")
        try:
            client = PrometheusConnect(
                url=self.url,
                headers=self._headers(),
                retry=retry,
                auth=auth,
                session=session,
                timeout=settings.timeout_s,
            )
        except (TypeError, ValueError) as e:
            session.close()
            raise SourceError(f"{self._where()}: cannot set up the client: {e}") from e
        try:
            yield client, last_response
        finally:
            client.close()

    def _headers(self) -> dict[str, str]:
        headers = dict(self.settings.headers)
        token_file = self.settings.bearer_token_file
        if token_file is None:
            return headers
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SourceError(f"{self._where()}: cannot read bearer_token_file {token_file}: {e}") from e
        if not token:
            raise SourceError(f"{self._where()}: bearer_token_file {token_file} is empty")
        return {**headers, "Authorization": f"Bearer {token}"}

    def _query(
        self,
        client: PrometheusConnect,
        last_response: list[requests.Response],
        first_eval: pd.Timestamp,
        last_eval: pd.Timestamp,
        step_s: int,
    ) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
        span = f"{first_eval.isoformat()} .. {last_eval.isoformat()} step {step_s}s"
        last_response.clear()
        try:
            result = client.custom_query_range(
                self.query,
                start_time=first_eval.to_pydatetime(),
                end_time=last_eval.to_pydatetime(),
                step=str(step_s),
            )
        except PrometheusApiClientException as e:
            raise SourceError(f"{self._where()} ({span}): {_http_problem(last_response)}") from e
        except requests.exceptions.JSONDecodeError as e:
            raise SourceError(
                f"{self._where()} ({span}): the answer is not JSON: {_body(last_response)}"
            ) from e
        except requests.exceptions.SSLError as e:
            raise SourceError(
                f"{self._where()}: TLS failed ({e}); set ca_bundle_file to the server's CA bundle"
            ) from e
        except requests.exceptions.RequestException as e:
            raise SourceError(f"{self._where()} ({span}): {self._transport_problem(e)}") from e
        except (KeyError, TypeError) as e:
            raise SourceError(f"{self._where()} ({span}): not a Prometheus API answer: {e!r}") from e
        try:
            return [_parse_series(item) for item in result]
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise SourceError(
                f"{self._where()} ({span}): cannot read the result as a range of samples: {e!r}"
            ) from e

    def _transport_problem(self, error: requests.exceptions.RequestException) -> str:
        tries = f"{self.settings.retries + 1} attempt(s)"
        if _timed_out(error):
            return f"no answer within timeout_s={self.settings.timeout_s:g} s ({tries})"
        if isinstance(error, requests.exceptions.ConnectionError):
            return f"cannot connect ({tries}): {_root_cause(error)}"
        return f"request failed: {error}"

    def _where(self) -> str:
        return f"Prometheus at {self.shown_url}, query {self.query!r}"


def _parse_series(item: dict[str, Any]) -> tuple[Labels, np.ndarray, np.ndarray]:
    labels = tuple(sorted((str(k), str(v)) for k, v in item.get("metric", {}).items()))
    samples = item["values"]
    times = np.array([float(sample[0]) for sample in samples], dtype=float)
    # float() reads Prometheus's "NaN", "+Inf" and "-Inf"; regularise() rejects the infinities.
    values = np.array([float(sample[1]) for sample in samples], dtype=float)
    return labels, times, values


def _http_problem(last_response: list[requests.Response]) -> str:
    if not last_response:
        return "the server answered with an error"
    response = last_response[-1]
    try:
        phrase = http.HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP {response.status_code} {phrase}: {_body(last_response)}".replace("  ", " ")


def _body(last_response: list[requests.Response]) -> str:
    """Prometheus's own error text when the body is its JSON error, else the start of the body."""
    if not last_response:
        return "(no body)"
    response = last_response[-1]
    try:
        payload = response.json()
        if isinstance(payload, dict) and payload.get("error"):
            return f"{payload.get('errorType', 'error')}: {payload['error']}"
    except ValueError:
        pass
    text = response.text.strip()
    return (text[:200] + "...") if len(text) > 200 else (text or "(empty body)")


def _timed_out(error: BaseException) -> bool:
    if isinstance(error, requests.exceptions.Timeout):
        return True
    # After its retries, urllib3 reports a read timeout as MaxRetryError(reason=ReadTimeoutError),
    # which requests turns into a plain ConnectionError.
    # NewConnectionError (refused) derives from ConnectTimeoutError for historical reasons: not a timeout.
    for arg in error.args:
        reason = getattr(arg, "reason", None)
        if isinstance(reason, urllib3.exceptions.TimeoutError) and not isinstance(
            reason, urllib3.exceptions.NewConnectionError
        ):
            return True
    return False


def _root_cause(error: BaseException) -> str:
    for arg in error.args:
        reason = getattr(arg, "reason", None)
        if reason is not None:
            return str(reason)
    return str(error)


def _show(labels: Labels) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"
