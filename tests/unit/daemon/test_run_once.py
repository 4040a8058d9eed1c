"""`predictor run --once` as a user runs it: the exit code says whether anything was achieved, the
table says why, and --output json is one document."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def config(tmp_path: Path, targets: list[dict], **server) -> Path:
    path = tmp_path / "predictor.yaml"
    document = {
        "prometheus": {"url": "http://127.0.0.1:9", "timeout_s": 0.5, "retries": 0},  # nothing listens
        "kubernetes": {"mode": "offline"},
        "server": {"log_format": "json", **server},
        "state_dir": str(tmp_path / "state"),
        "policy": {"model": "harmonic", "history_window_days": 21},
        "targets": targets,
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def target(name: str, **load) -> dict:
    return {
        "name": name,
        "scaled_object": f"demo/{name}",
        "capacity": {"profile": "llama-3-8b-l40s-tp2"},
        "cold_start": 600,
        **(load or {"query": "sum(rate(requests_total[5m]))"}),
    }


def predictor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "predictor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "80"},
    )


def test_every_retrain_failing_exits_1_and_says_so(tmp_path):
    path = config(tmp_path, [target("chat"), target("code")])

    done = predictor("run", "--config", str(path), "--once", "--clock-start", "2026-01-28T07:45")

    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: every retrain failed")
    assert "chat: " in errors[0] and "code: " in errors[0]
    assert "Traceback" not in done.stderr
    assert "retrain failed" in done.stdout and "holding the floor at 1" in done.stdout
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    retrain_logs = [r["msg"] for r in logs if "retrain failed" in r.get("msg", "")]
    assert len(retrain_logs) == 2
    assert all("no model yet" in m and "forecasting from the last model" not in m for m in retrain_logs)


def test_one_good_target_is_enough_and_json_is_one_document(tmp_path):
    path = config(tmp_path, [target("chat"), target("demo", history_synthetic={"seed": 3})])

    done = predictor(
        "run", "--config", str(path), "--once", "--clock-start", "2026-01-28T07:45", "--output", "json"
    )

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["retrained"] == 1 and set(document["retrain_failures"]) == {"chat"}
    by_target = {d["target"]: d for d in document["decisions"]}
    assert by_target["demo"]["action"] == "would raise" and by_target["demo"]["planned"] > 1
    assert by_target["chat"]["state"] == "no-model" and by_target["chat"]["planned"] == 1


def test_the_table_fits_80_columns_with_the_reasons_below(tmp_path):
    path = config(tmp_path, [target("demo", history_synthetic={"seed": 3})])

    done = predictor("run", "--config", str(path), "--once", "--clock-start", "2026-01-28T07:45")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("TARGET")))
    table = lines[header : lines.index("", header)]
    assert [len(line) <= 80 for line in table] == [True, True]
    assert table[0].split() == ["TARGET", "MODE", "STATE", "FLOOR", "ACTION", "NEXT"]
    assert any(line.startswith("demo: p90 forecast") for line in lines)
    assert not set("│┃━─┏┗╭╰") & set(done.stdout)


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        path = config(tmp_path, [target("demo", history_synthetic={"seed": 3})], port=port)
        done = predictor("run", "--config", str(path))
    finally:
        taken.close()
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: server.port: 0.0.0.0:{port} is already in use by another process; stop it or choose "
        "another server.port (0 picks a free one)"
    ]
    assert not (tmp_path / "state").exists()  # nothing started
