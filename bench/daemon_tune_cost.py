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

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def one(reselect: bool) -> tuple[float, float, str]:
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
        cpu, wall = time.process_time(), time.perf_counter()
        assert daemon.tune("chat"), daemon.targets["chat"].tune_job.last_error
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        choice = daemon.targets["chat"].tuned
        app.close()
    return cpu, wall, choice.label if choice is not None else "not tuned"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=argparse.FileType("w"))
    args = parser.parse_args()
    lines = [
        "| tune_reselect | CPU s (median) | wall s (median) | runs (wall s) | chosen |",
        "|---|---:|---:|---|---|",
    ]
    for reselect in (False, True):
        runs = [one(reselect) for _ in range(args.runs)]
        cpu, wall = [r[0] for r in runs], [r[1] for r in runs]
        label = "true" if reselect else "false (shipped)"
        lines.append(
            f"| {label} | {statistics.median(cpu):.1f} | {statistics.median(wall):.1f} "
            f"| {', '.join(f'{w:.1f}' for w in wall)} | {runs[-1][2]} |"
        )
        print(lines[-1], file=sys.stderr)
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
