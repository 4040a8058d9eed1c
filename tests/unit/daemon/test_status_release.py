"""`predictor status` and `predictor release`, as subprocesses, against the fake API server via a kubeconfig.

A daemon cycle (in-process, wired to the same fake) writes the models and status.json first, as
`predictor run` does; the commands then read them and the ScaledObjects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from predictor.actuation.scaledobject import (
    APPLIED_ANNOTATION,
    BASELINE_ANNOTATION,
    FORECAST_ANNOTATION,
    REASON_ANNOTATION,
    UPDATED_AT_ANNOTATION,
)
from predictor.cli.main import app
from predictor.config import load_settings
from tests.unit.daemon.conftest import NS, scaled_object

REPO = Path(__file__).resolve().parents[3]
PREDICTOR_ANNOTATIONS = {
    BASELINE_ANNOTATION: "2",
    APPLIED_ANNOTATION: "7",
    REASON_ANNOTATION: "p90 forecast 45 req/s at 07:50 needs 7 pods",
    UPDATED_AT_ANNOTATION: "2026-11-18T07:45:00Z",
    FORECAST_ANNOTATION: "p90 peaks at 131 req/s in the next 6 h; model harmonic",
}


def managed(name: str, *, floor: int, baseline: int, paused: bool = False) -> dict:
    """A ScaledObject as predictor leaves it after a raise, with someone else's annotation too."""
    obj = scaled_object(name, min_replicas=floor)
    annotations = {
        **PREDICTOR_ANNOTATIONS,
        BASELINE_ANNOTATION: str(baseline),
        APPLIED_ANNOTATION: str(floor),
    }
    annotations["team.example.com/owner"] = "inference"
    if paused:
        annotations["autoscaling.keda.sh/paused"] = "true"
    obj["metadata"]["annotations"] = annotations
    return obj


def write_config(tmp_path: Path, kubeconfig: Path) -> Path:
    def target(name: str) -> dict:
        return {
            "name": name,
            "scaled_object": f"{NS}/{name}",
            "history_synthetic": {"seed": 3},
            "capacity": {"profile": "llama-3-8b-l40s-tp2"},
            "cold_start": 600,
        }

    config = {
        "kubernetes": {"mode": "kubeconfig", "kubeconfig_path": str(kubeconfig), "request_timeout_s": 3},
        "state_dir": str(tmp_path / "state"),
        "policy": {"actuation_mode": "patch", "model": "harmonic", "history_window_days": 21},
        "targets": [target("chat"), target("code"), target("idle"), target("frozen")],
    }
    path = tmp_path / "predictor.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def predictor(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300"}  # one table row per line
    return subprocess.run(
        [sys.executable, "-m", "predictor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env=env,
    )


def put_objects(rig) -> None:
    rig.kube.put_object(managed("chat", floor=7, baseline=2))
    rig.kube.put_object(managed("code", floor=5, baseline=3))
    rig.kube.put_object(scaled_object("idle", min_replicas=1))  # configured, never changed by predictor
    rig.kube.put_object(managed("frozen", floor=6, baseline=2, paused=True))
    rig.kube.put_object(scaled_object("other", min_replicas=4))  # not configured at all


def row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.split()[:1] == [name])


def test_status_shows_every_target_with_the_daemons_view(rig, tmp_path):
    put_objects(rig)
    config = write_config(tmp_path, rig.kube.write_kubeconfig(tmp_path / "kubeconfig"))
    settings = load_settings(config)
    # The daemon's last cycle, at the real "now" (status plans on the wall clock): models stored,
    # and a failed read of "code" recorded in status.json.
    rig.clock.moment = pd.Timestamp.now(tz="UTC")
    daemon = rig.daemon(settings)
    daemon.retrain_all()
    rig.kube.faults.add(method="GET", path_contains="/scaledobjects/code", status=403, times=1)
    rig.leader = False  # a follower's cycle: it changes nothing, so the objects stay as put
    daemon.reconcile_all()
    assert (tmp_path / "state" / "status.json").is_file()
    requests_before = len(rig.kube.requests)

    done = predictor("status", "--config", str(config))

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["TARGET", "STATE", "FLOOR", "PLANNED", "NEXT", "CHANGE", "MODEL"]
    table = lines[: lines.index("")]
    assert all(len(line) <= 80 for line in table), done.stdout  # designed for 80 columns, notes below
    assert not set("│┃━─┏┗╭╰") & set(done.stdout)  # no box drawing when stdout is not a terminal
    chat = row(done.stdout, "chat").split()
    assert chat[:3] == ["chat", "healthy", "7"]
    assert "harmonic" in row(done.stdout, "chat")
    assert any(line.startswith("code: ") and "forbidden" in line for line in lines)  # the daemon's last error
    assert "paused" in row(done.stdout, "frozen")
    assert "daemon status written at" in done.stdout
    # Read-only: reads only, no Lease, nothing written.
    verbs = {r.verb for r in rig.kube.requests[requests_before:] if r.resource}
    assert verbs <= {"get", "list"}, verbs
    assert rig.kube.get_object("ScaledObject", NS, "chat")["spec"]["minReplicaCount"] == 7


def test_status_without_a_daemon_says_so(rig, tmp_path):
    put_objects(rig)
    config = write_config(tmp_path, rig.kube.write_kubeconfig(tmp_path / "kubeconfig"))

    done = predictor("status", "--config", str(config))

    assert done.returncode == 0, done.stderr
    assert "no daemon status in" in done.stderr
    # No model here, and the forecast behind the floor (its last change, days ago) is past the age
    # limit: one bounded step back to the baseline.
    assert row(done.stdout, "chat").split()[1:4] == ["fallback", "7", "5"]


def test_release_is_a_dry_run_by_default_and_restores_the_baselines_with_yes(rig, tmp_path):
    put_objects(rig)
    config = write_config(tmp_path, rig.kube.write_kubeconfig(tmp_path / "kubeconfig"))
    before = {o["metadata"]["name"]: o for o in rig.kube.list_objects("ScaledObject", NS)}

    dry = predictor("release", "--config", str(config))

    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "would restore" in row(dry.stdout, "inference/chat")
    assert "not managed by predictor" in row(dry.stdout, "inference/idle")
    assert rig.kube.requests_for("patch") == []
    assert {o["metadata"]["name"]: o for o in rig.kube.list_objects("ScaledObject", NS)} == before

    done = predictor("release", "--config", str(config), "--yes")

    assert done.returncode == 0, done.stderr
    after = {o["metadata"]["name"]: o for o in rig.kube.list_objects("ScaledObject", NS)}
    for name, baseline in (("chat", 2), ("code", 3)):
        assert after[name]["spec"]["minReplicaCount"] == baseline
        annotations = after[name]["metadata"]["annotations"]
        assert annotations == {"team.example.com/owner": "inference"}  # only predictor's are removed
    assert "patched" in row(done.stdout, "inference/chat")
    # Untouched: never managed, not configured, and paused (KEDA's pause wins; unpause it first).
    for name in ("idle", "other", "frozen"):
        assert after[name] == before[name], name
    assert {r.name for r in rig.kube.requests_for("patch")} == {"chat", "code"}
    assert all(r.body["metadata"]["resourceVersion"] for r in rig.kube.requests_for("patch"))

    again = predictor("release", "--config", str(config), "--yes")  # idempotent: nothing left to do
    assert again.returncode == 0 and "not managed by predictor" in row(again.stdout, "inference/chat")
    assert len(rig.kube.requests_for("patch")) == 2


DECLARED = {
    "predictor.io/query": "sum(rate(vllm:request_success_total[5m]))",
    "predictor.io/profile": "llama-3-8b-l40s-tp2",
    "predictor.io/actuation-mode": "patch",
}


def test_status_and_release_cover_discovered_targets_and_release_keeps_the_declarations(rig, tmp_path):
    put_objects(rig)
    discovered = managed("found", floor=6, baseline=2)
    discovered["metadata"]["labels"] = {"predictor.io/enabled": "true"}
    discovered["metadata"]["annotations"].update(DECLARED)
    rig.kube.put_object(discovered)
    config = write_config(tmp_path, rig.kube.write_kubeconfig(tmp_path / "kubeconfig"))
    text = yaml.safe_load(config.read_text())
    text["kubernetes"]["namespaces"] = [NS]
    config.write_text(yaml.safe_dump(text))
    cli = CliRunner()

    shown = cli.invoke(app, ["status", "--config", str(config), "--output", "json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    by_name = {t["target"]: t for t in document["targets"]}
    assert set(by_name) == {"chat", "code", "idle", "frozen", f"{NS}.found"}
    assert by_name[f"{NS}.found"]["origin"] == "discovered" and by_name["chat"]["origin"] == "config"
    assert by_name[f"{NS}.found"]["floor"] == 6

    wide = cli.invoke(app, ["status", "--config", str(config), "-o", "wide"])
    assert wide.exit_code == 0, wide.output
    assert wide.stdout.splitlines()[0].split()[-5:] == ["ORIGIN", "BASE", "NEXT", "RETRAIN", "POLICY"]
    found_row = row(wide.stdout, f"{NS}.found").split()
    assert found_row[-6:-3] == ["patch", "discovered", "2"]
    assert found_row[-2:] == ["p90+20%", "configured"]  # the sizing policy in force, and its source

    released = cli.invoke(app, ["release", "--config", str(config), "--yes"])
    assert released.exit_code == 0, released.output
    found = rig.kube.get_object("ScaledObject", NS, "found")
    assert found["spec"]["minReplicaCount"] == 2
    assert found["metadata"]["annotations"] == {"team.example.com/owner": "inference", **DECLARED}
    assert found["metadata"]["labels"] == {"predictor.io/enabled": "true"}
