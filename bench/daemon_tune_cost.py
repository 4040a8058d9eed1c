"""Benchmark: one self-tuning of one target as the daemon runs it (its ``tune`` job).

The daemon is built as ``predictor run`` builds it (``build_app``, offline: no cluster), with one
target on the built-in synthetic trace and the shipped policy (``auto``, 28 days of training, 14
days tuned, the shipped candidates) and schedule (a retrain every 3 h). After its first retrain,
:meth:`Daemon.tune` is timed end to end: the history read (42 days at one-minute steps through the
target's source), the replay, the choice and the bookkeeping. Once with the shipped
``tune_reselect: false`` and once with ``true``. Wall seconds (the job's own duration metric) and
CPU seconds of this process, median of ``--runs``.

    python bench/daemon_tune_cost.py --runs 3 --out /tmp/daemon_tune.md
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile

from _timing import repeat, table_main, timed  # bench/_timing.py: the script's folder is on sys.path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def one(reselect: bool) -> tuple[str, float, float]:
    """The choice of one tuning, and the CPU and wall seconds of the tune job."""
    import pandas as pd

    from predictor.config import Settings
    from predictor.daemon.clock import ShiftedClock
    from predictor.daemon.wiring import build_app

    with tempfile.TemporaryDirectory() as state:
        settings = Settings(
            kubernetes={"mode": "offline"},
            state_dir=state,
            policy={"tune_reselect": reselect},
            targets=[
                {
                    "name": "chat",
                    "scaled_object": "inference/chat",
                    "history_synthetic": {"seed": 0},
                    "capacity": {"profile": "llama-3-70b-h100-tp8"},
                }
            ],
        )
        app = build_app(settings, clock=ShiftedClock(pd.Timestamp("2026-03-04 06:00", tz="UTC")))
        daemon = app.daemon
        daemon.restore()
        assert daemon.retrain_all() == 1
        tuned, cpu, wall = timed(lambda: daemon.tune("chat"))
        assert tuned, daemon.targets["chat"].tune_job.last_error
        choice = daemon.targets["chat"].tuned
        app.close()
    return (choice.label if choice is not None else "not tuned"), cpu, wall


def rows(runs: int):
    for reselect in (False, True):
        measured = repeat(functools.partial(one, reselect), runs)
        label = "true" if reselect else "false (shipped)"
        yield (
            f"| {label} | {measured.median_cpu_s:.1f} | {measured.median_wall_s:.1f} "
            f"| {', '.join(f'{w:.1f}' for w in measured.wall_s)} | {measured.last} |"
        )


def main() -> int:
    header = [
        "| tune_reselect | CPU s (median) | wall s (median) | runs (wall s) | chosen |",
        "|---|---:|---:|---|---|",
    ]
    return table_main(__doc__.splitlines()[0], header, rows)


if __name__ == "__main__":
    sys.exit(main())
