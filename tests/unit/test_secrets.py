"""One masking rule for every place settings are shown: config show, the start-up log, errors."""

from __future__ import annotations

import socket

import pandas as pd
import pytest
import yaml

from predictor.config import format_settings, load_settings
from predictor.config.secrets import mask_headers, mask_url
from predictor.config.settings import PrometheusSettings
from predictor.errors import SourceError
from predictor.sources.prometheus import PrometheusSource


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:secret@prom:9090", "http://user:***@prom:9090"),
        ("https://u:p%40ss@prom.example/api?x=1", "https://u:***@prom.example/api?x=1"),
        ("http://:tok@prom", "http://:***@prom"),
        ("http://user@prom:9090", "http://user@prom:9090"),  # no password: nothing to hide
        ("http://prom:9090/path", "http://prom:9090/path"),
    ],
)
def test_mask_url(url, shown):
    assert mask_url(url) == shown


def test_only_credential_headers_are_masked():
    assert mask_headers({"X-Scope-OrgID": "team-a", "Authorization": "Bearer x", "X-Api-Key": "k"}) == {
        "X-Scope-OrgID": "team-a",
        "Authorization": "***",
        "X-Api-Key": "***",
    }


def test_config_show_and_the_startup_log_mask_the_url_password(tmp_path, monkeypatch):
    path = tmp_path / "p.yaml"
    path.write_text(
        yaml.safe_dump(
            {"prometheus": {"url": "http://u:hunter2@prom:9090", "headers": {"X-Scope-OrgID": "t1"}}}
        )
    )
    shown = format_settings(load_settings(path))  # the daemon logs exactly this at start-up
    assert "hunter2" not in shown
    assert "http://u:***@prom:9090" in shown and "X-Scope-OrgID: t1" in shown
    monkeypatch.setenv("PREDICTOR_PROMETHEUS__URL", "http://u:fromenv@prom:9090")
    assert "fromenv" not in format_settings(load_settings(path))


def test_a_connection_error_does_not_show_the_password():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = PrometheusSettings(url=f"http://reader:hunter2@127.0.0.1:{port}", retries=0, timeout_s=2)
    source = PrometheusSource(settings, "up")
    now = pd.Timestamp("2026-01-01", tz="UTC")
    with pytest.raises(SourceError) as e:
        source.fetch(now, now + pd.Timedelta(hours=1), 300)
    assert "hunter2" not in str(e.value) and "reader:***@127.0.0.1" in str(e.value)
    assert "cannot connect" in str(e.value)
