"""config/demo.yaml runs the daemon with no cluster: CSV and synthetic history, dry-run and metric."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[3] / "config" / "demo.yaml"


def test_the_demo_config_decides_for_every_target_with_no_cluster(tmp_path):
    # Never write into the repository; a wide table so that cells are not folded.
    env = {**os.environ, "PREDICTOR_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "predictor",
            "run",
            "--config",
            str(DEMO),
            "--once",
            "--clock-start",
            "2026-02-04T07:30",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    for target in ("demo-csv", "demo-chat", "demo-prefill"):
        assert f"{target}: p90 forecast" in out  # each one planned from its forecast
    assert "would raise" in out and "metric" in out
    assert (tmp_path / "state" / "status.json").is_file()
