"""Benchmark: the cost of one self-tuning of one target, as the daemon would run it.

One tuning = 14 days of the built-in synthetic trace at one-minute steps replayed under every
candidate of the shipped policy (``tune_quantiles`` × ``tune_buffers`` at or above
``tune_min_quantile``), with 28 days of history before them, the daemon's forecasting (``auto``,
a retrain every 6 h) replayed once and shared by the candidates. Measured twice: choosing the
model at every retrain (exactly the daemon's forecasting, the default) and choosing it once
(``reselect=False``). CPU seconds of this process (less sensitive to other load than wall time)
and wall seconds, median of ``--runs``.

    python bench/tune_cost.py --runs 3 --out /tmp/tune_cost.md
"""

from __future__ import annotations

import functools
import os
import sys

from _timing import repeat, table_main, timed  # bench/_timing.py: the script's folder is on sys.path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def one(reselect: bool) -> tuple[tuple[str, int], float, float]:
    """The tuning's reason and candidate count, and the CPU and wall seconds it took."""
    import pandas as pd

    from predictor.capacity import pod_model_for_peak
    from predictor.config import PolicySettings, ScheduleSettings, load_profile
    from predictor.planning import Bounds, configured_cold_start
    from predictor.runtime.targets import cadence_from_schedule, policy_from_settings, tuning_from_settings
    from predictor.simulation.tuning import tune_policy
    from predictor.sources.synthetic import synthetic_trace

    trace = synthetic_trace(days=42, step_s=60, seed=0)
    settings = PolicySettings()
    policy = policy_from_settings(settings)
    stages = load_profile("llama-3-70b-h100-tp8").cold_start.stages_s
    now = trace.index[-1] + pd.Timedelta(minutes=1)
    result, cpu, wall = timed(
        lambda: tune_policy(
            trace,
            policy,
            cold_start=configured_cold_start(stages_s=stages),
            pod=pod_model_for_peak(float(trace.max()), 20, utilization=settings.utilization_target),
            bounds=Bounds(1, 100),
            tuning=tuning_from_settings(settings),
            cadence=cadence_from_schedule(ScheduleSettings()),
            now=now,
            reselect=reselect,
        )
    )
    return (result.reason, len(result.candidates)), cpu, wall


def rows(runs: int):
    for reselect in (True, False):
        measured = repeat(functools.partial(one, reselect), runs)
        label = (
            "model chosen at every retrain (default)" if reselect else "model chosen once (reselect=False)"
        )
        reason, candidates = measured.last
        yield (
            f"| {label} | {candidates} | {measured.median_cpu_s:.1f} | {measured.median_wall_s:.1f} "
            f"| {', '.join(f'{c:.1f}' for c in measured.cpu_s)} | {reason.split(':')[0]} |"
        )


def main() -> int:
    header = [
        "| forecasting in the replay | candidates | CPU s (median) | wall s (median) | runs (CPU s) "
        "| chosen |",
        "|---|---:|---:|---:|---|---|",
    ]
    return table_main(__doc__.splitlines()[0], header, rows)


if __name__ == "__main__":
    sys.exit(main())
