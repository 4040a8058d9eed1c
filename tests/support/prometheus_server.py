"""Run a real Prometheus server with backfilled history, for integration and end-to-end tests.

The steps (facts checked on this kind of machine, see DESIGN.md "Test infrastructure"):

1. :func:`write_counter_openmetrics` turns req/s series into an OpenMetrics file of a counter:
   timestamps in **seconds**, ascending, ending with ``# EOF``. NaN bins write no sample (a gap).
2. :func:`build_tsdb` runs ``promtool tsdb create-blocks-from openmetrics --max-block-duration=1000h``
   (the hidden flag turns ~37 s into well under 1 s for 4 weeks of 1-minute samples).
3. :func:`start_prometheus` copies the TSDB (Prometheus writes into it), starts the server on
   ``127.0.0.1:0`` with ``--storage.tsdb.retention.time=10y`` (otherwise old blocks are deleted at
   start-up), reads the real port from its log and waits for ``/-/ready``.

The binaries come from the Debian package ``prometheus``. When they are missing, the tests fail with
:class:`PrometheusUnavailable` saying how to install them; they are never skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd

INSTALL_HINT = (
    "install the Debian package: `sudo apt-get install -y --no-install-recommends prometheus`, "
    "or without a system install: `apt-get download prometheus && dpkg-deb -x prometheus_*.deb /tmp/prom` "
    "and put /tmp/prom/usr/bin on PATH"
)
_LISTENING = re.compile(r'msg="Listening on".*address=\[?[0-9a-fA-F.:]*?\]?:(\d+)')
# Keeps the URL of a test server from going through a proxy set in the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PrometheusUnavailable(RuntimeError):
    """The prometheus or promtool binary is missing, or the server did not start."""


def find_binaries() -> tuple[Path, Path]:
    """Paths of ``prometheus`` and ``promtool``: from PATH, else /usr/bin. Raises with an install hint."""
    found = []
    for name in ("prometheus", "promtool"):
        path = shutil.which(name) or shutil.which(name, path="/usr/bin")
        if path is None:
            raise PrometheusUnavailable(f"'{name}' was not found on PATH or in /usr/bin; {INSTALL_HINT}")
        found.append(Path(path))
    return found[0], found[1]


def write_counter_openmetrics(
    path: Path,
    metric: str,
    series: pd.Series | Sequence[tuple[Mapping[str, str], pd.Series]],
    *,
    step_s: int | None = None,
) -> Path:
    """Write counters whose rate is ``series`` (req/s, one value per bin, labelled by bin start).

    ``metric`` is the sample name as queried and must end in ``_total`` (e.g. ``llm_requests_total``).
    ``series`` is one series, or ``(labels, series)`` pairs for several. The counter holds the requests
    seen so far: 0 at the start of the first bin, then a sample at the end of every present bin.
    A NaN bin writes no sample, so after a gap the first bin's rate is unknown to Prometheus too.
    ``step_s`` defaults to each series' ``index.freq``.
    """
    if not metric.endswith("_total"):
        raise ValueError(f"a counter's sample name ends in _total, got {metric!r}")
    pairs = [({}, series)] if isinstance(series, pd.Series) else list(series)
    family = metric.removesuffix("_total")
    lines = [f"# HELP {family} Requests (backfilled for tests).", f"# TYPE {family} counter"]
    for labels, rates in pairs:
        lines.extend(_counter_lines(metric, labels, rates, step_s))
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _counter_lines(metric: str, labels: Mapping[str, str], rates: pd.Series, step_s: int | None) -> list[str]:
    step = step_s or (int(pd.Timedelta(rates.index.freq).total_seconds()) if rates.index.freq else None)
    if step is None:
        raise ValueError("the series has no index.freq; pass step_s")
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    name = f"{metric}{{{label_text}}}" if label_text else metric
    rates = rates.sort_index()
    starts = (rates.index.tz_convert("UTC") - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    values = rates.to_numpy(dtype=float)
    present = ~np.isnan(values)
    counter = np.cumsum(np.where(present, values, 0.0) * step)
    lines = [f"{name} 0 {int(starts[0])}"] if present[0] else []
    lines += [
        f"{name} {c:.17g} {int(t) + step}" for t, c in zip(starts[present], counter[present], strict=True)
    ]
    return lines


def build_tsdb(openmetrics_file: Path, tsdb_dir: Path) -> Path:
    """Backfill ``openmetrics_file`` into a new TSDB folder ``tsdb_dir`` with promtool; returns it."""
    _, promtool = find_binaries()
    command = [
        str(promtool),
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        "--max-block-duration=1000h",  # hidden from --help; without it, backfill is ~40x slower
        str(openmetrics_file),
        str(tsdb_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise PrometheusUnavailable(f"promtool failed ({done.returncode}): {done.stderr or done.stdout}")
    return tsdb_dir


class PrometheusServer:
    """A running Prometheus. ``url`` is its base URL; :meth:`stop` ends it (also on ``with`` exit)."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)


def start_prometheus(tsdb_dir: Path, work_dir: Path, *, ready_timeout_s: float = 30.0) -> PrometheusServer:
    """Start Prometheus on a copy of ``tsdb_dir`` inside ``work_dir``, wait until ready, return it."""
    prometheus, _ = find_binaries()
    work_dir.mkdir(parents=True, exist_ok=True)
    data_dir = work_dir / "data"
    shutil.copytree(tsdb_dir, data_dir)
    config = work_dir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\n", encoding="utf-8")  # scrapes nothing
    log_path = work_dir / "prometheus.log"
    command = [
        str(prometheus),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        "--storage.tsdb.retention.time=10y",  # otherwise backfilled blocks are deleted at start-up
        "--web.listen-address=127.0.0.1:0",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = PrometheusServer(process, "", log_path)
    try:
        port = _wait_for_port(server, ready_timeout_s)
        server.url = f"http://127.0.0.1:{port}"
        _wait_until_ready(server, ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_for_port(server: PrometheusServer, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # The first "listening" line shows port 0; the real one comes in msg="Listening on".
        for match in _LISTENING.finditer(server.log()):
            if int(match.group(1)) != 0:
                return int(match.group(1))
        _check_alive(server)
        time.sleep(0.05)
    raise PrometheusUnavailable(f"Prometheus logged no port within {timeout_s} s:\n{server.log()[-2000:]}")


def _wait_until_ready(server: PrometheusServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with _NO_PROXY.open(f"{server.url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        _check_alive(server)
        time.sleep(0.05)
    raise PrometheusUnavailable(f"Prometheus was not ready within {timeout_s} s:\n{server.log()[-2000:]}")


def _check_alive(server: PrometheusServer) -> None:
    if server.process.poll() is not None:
        raise PrometheusUnavailable(
            f"Prometheus exited with {server.process.returncode}:\n{server.log()[-2000:]}"
        )
