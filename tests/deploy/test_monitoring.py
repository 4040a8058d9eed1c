"""Monitoring objects in deploy/: the PrometheusRule's alerts, the release label kube-prometheus-stack
selects by, the recording rules `predictor config rules` prints, and the Grafana dashboard's queries,
checked with the real promtool and evaluated by a real Prometheus server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.deploy.manifests import DEPLOY, one, overlay, render
from tests.support.cli import predictor
from tests.support.prometheus_server import build_tsdb, find_binaries, start_prometheus

pytestmark = pytest.mark.integration  # the real kubectl, promtool and Prometheus

DASHBOARD = DEPLOY / "grafana" / "predictor-dashboard.json"
T0 = pd.Timestamp("2026-01-05T00:00", tz="UTC")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def promtool_check(groups: list[dict], tmp_path: Path) -> None:
    _, promtool = find_binaries()
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}), encoding="utf-8")
    done = subprocess.run(
        [str(promtool), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def exported_metrics() -> set[str]:
    from prometheus_client import CollectorRegistry

    from predictor.daemon.metrics import DaemonMetrics

    registry = CollectorRegistry()
    DaemonMetrics(registry)
    return {s for m in registry.collect() for s in (m.name, f"{m.name}_total")}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def grafana(expr: str, target: str = ".*") -> str:
    return expr.replace("$target", target)


def test_the_prometheus_rule_has_the_guides_alerts_and_they_are_valid(tmp_path):
    rule = one(overlay("servicemonitor"), "PrometheusRule", "predictor")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {"PredictorTargetInFallback", "PredictorNoSingleLeader", "PredictorErrorsGrowing"}
    assert 'state="fallback"' in alerts["PredictorTargetInFallback"]["expr"]
    assert alerts["PredictorTargetInFallback"]["for"] == "30m"
    assert "sum(predictor_is_leader) != 1" in alerts["PredictorNoSingleLeader"]["expr"]
    assert "predictor_errors_total" in alerts["PredictorErrorsGrowing"]["expr"]
    used = {n for r in alerts.values() for n in re.findall(r"predictor_[a-z_]+", r["expr"])}
    assert used <= exported_metrics()
    promtool_check(rule["spec"]["groups"], tmp_path)


@pytest.mark.parametrize("name", ["servicemonitor", "metric"])
def test_monitoring_objects_carry_the_label_kube_prometheus_stack_selects(name):
    objects = overlay(name)
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert one(objects, kind, "predictor")["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_the_release_label_is_patchable_as_the_component_says(tmp_path):
    doc = (DEPLOY / "components" / "servicemonitor" / "kustomization.yaml").read_text(encoding="utf-8")
    comments = [line[1:] for line in doc.splitlines() if line.startswith("#")]
    first = next(i for i, line in enumerate(comments) if line.strip() == "patches:")
    patch = textwrap.dedent("\n".join(comments[first:]))
    base = os.path.relpath(DEPLOY / "overlays" / "servicemonitor", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(f"resources:\n  - {base}\n{patch}\n", encoding="utf-8")
    objects = render(tmp_path)
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert one(objects, kind, "predictor")["metadata"]["labels"]["release"] == "my-prometheus"


def test_config_rules_records_each_targets_actual_rate(tmp_path):
    done = predictor("config", "rules", str(DEPLOY / "examples" / "install" / "predictor.yaml"))
    assert done.returncode == 0, done.stderr
    rule = yaml.safe_load(done.stdout)
    assert (
        rule["kind"] == "PrometheusRule" and rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    )
    (record,) = rule["spec"]["groups"][0]["rules"]
    assert record["record"] == "predictor:actual_rps"
    assert (
        'vllm:request_success_total{namespace="inference"' in record["expr"]
        and '"llama-chat"' in record["expr"]
    )
    promtool_check(rule["spec"]["groups"], tmp_path)
    assert any("predictor:actual_rps" in e for e in dashboard_exprs())  # what the dashboard draws


def test_every_dashboard_query_is_valid_promql_on_known_metrics(tmp_path):
    exprs = dashboard_exprs()
    promtool_check(
        [
            {
                "name": "dashboard",
                "rules": [{"record": f"q:{i}", "expr": grafana(e)} for i, e in enumerate(exprs)],
            }
        ],
        tmp_path,
    )
    used = {n for e in exprs for n in re.findall(r"(?<![:\w])predictor_[a-z_]+", e)}
    assert used <= exported_metrics()
    legends = [
        t.get("legendFormat", "")
        for p in json.loads(DASHBOARD.read_text())["panels"]
        for t in p.get("targets", [])
    ]
    assert not any("p{{quantile}}" in legend for legend in legends)  # the label is already "p90"


def write_gauges(path: Path, series: dict[str, list[tuple[dict[str, str], float]]]) -> Path:
    lines = []
    for metric, samples in series.items():
        lines.append(f"# TYPE {metric} gauge")
        for labels, value in samples:
            text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            for minute in range(10):
                lines.append(f"{metric}{{{text}}} {value} {int(T0.timestamp()) + 60 * minute}")
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def instant(url: str, expr: str) -> list[dict]:
    at = (T0 + pd.Timedelta(minutes=5)).timestamp()
    query = urllib.parse.urlencode({"query": expr, "time": at})
    with _NO_PROXY.open(f"{url}/api/v1/query?{query}", timeout=30) as answer:
        body = json.loads(answer.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_the_hpa_series_match_targets_named_after_the_scaled_object_or_discovered(tmp_path):
    hpa = "kube_horizontalpodautoscaler_status_current_replicas"
    gauges = {
        hpa: [
            ({"horizontalpodautoscaler": "keda-hpa-llama-chat", "namespace": "inference"}, 5),
            ({"horizontalpodautoscaler": "keda-hpa-qwen-decode", "namespace": "serving"}, 7),
            ({"horizontalpodautoscaler": "keda-hpa-unmanaged", "namespace": "serving"}, 9),
        ],
        "predictor_floor_recommended_replicas": [
            ({"target": "llama-chat"}, 3),  # from the config file, named after its ScaledObject
            ({"target": "serving.qwen-decode"}, 4),  # discovered: <namespace>.<name>
        ],
    }
    tsdb = build_tsdb(write_gauges(tmp_path / "gauges.om", gauges), tmp_path / "tsdb")
    (expr,) = [e for e in dashboard_exprs() if hpa in e]
    with start_prometheus(tsdb, tmp_path / "run") as server:
        every = instant(server.url, grafana(expr))
        assert {r["metric"]["target"]: r["value"][1] for r in every} == {
            "llama-chat": "5",
            "serving.qwen-decode": "7",
        }
        one_target = instant(server.url, grafana(expr, "serving.qwen-decode"))
        assert [r["metric"]["target"] for r in one_target] == ["serving.qwen-decode"]
