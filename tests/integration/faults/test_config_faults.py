"""An invalid configuration: exit 2, one clear line, no traceback."""

from __future__ import annotations

import pytest

from tests.integration.daemon_rig import PROFILE, QUERY, run_predictor, write_config

pytestmark = pytest.mark.integration


# Configuration.


def test_an_invalid_config_exits_2_with_one_clear_line(tmp_path):
    config = write_config(
        tmp_path / "bad.yaml",
        prometheus_url="http://127.0.0.1:9",
        kubeconfig=None,
        state_dir=tmp_path / "state",
        targets=[
            {
                "name": "chat",
                "scaled_object": "inference/chat",
                "query": QUERY,
                "capacity": {"profile": PROFILE},
                "cold_start": 600,
            }
        ],
        schedule={"reconcile_interval_s": 0},
    )
    done = run_predictor("run", "--config", str(config), timeout_s=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and "schedule.reconcile_interval_s" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "state").exists()  # nothing started
