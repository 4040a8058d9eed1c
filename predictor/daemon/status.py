"""The daemon's last decisions on disk (``state_dir/status.json``), for `predictor status`.

Written atomically after every reconcile cycle (a temporary file, then ``os.replace``), so a
reader never sees half a file and a SIGTERM never leaves one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from predictor.daemon.target import Decision, TargetRuntime

STATUS_FILE = "status.json"


def write_status(
    state_dir: Path, now: pd.Timestamp, decisions: list[Decision], targets: dict[str, TargetRuntime]
) -> None:
    by_name = {d.target: d for d in decisions}
    payload = {
        "written_at": now.isoformat(),
        "targets": {
            name: {
                **(asdict(by_name[name]) if name in by_name else {}),
                "state": rt.state,
                "last_error": rt.last_error,
                "cold_start_s": rt.cold_start.seconds,
                "cold_start_source": rt.cold_start.source,
                "trained_at": rt.artifact.trained_at.isoformat() if rt.artifact is not None else None,
            }
            for name, rt in targets.items()
        },
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".status-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=2, default=str)
        os.replace(tmp, state_dir / STATUS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The last status the daemon wrote, or None if there is none (or it cannot be read)."""
    try:
        return json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
