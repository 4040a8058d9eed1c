"""Benchmark: predictive floors against reactive KEDA and a perfect-foresight oracle on real traces.

For every trace in ../shared/data/traces/ and a cold start of 10 and 20 minutes: utilisation 0.7,
pods sized so the trace's peak needs 20 (``--peak-pods 20``), the replay scores the last week of
the trace (the last 2 days when the trace is shorter than three weeks) with up to 28 days of
training history before it. Targets: predictive shortfall minutes at most 10 % of reactive's,
and predictive pod-hours at most 1.10 x the oracle's.

    python bench/prewarm_replay.py --out /tmp/prewarm.md --json /tmp/prewarm.json

Takes 5-10 minutes on 2 cores (one replay per worker process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

TRACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
SHORTFALL_TARGET = 0.10
COST_TARGET = 1.10


def replay(
    trace: str, cold_s: int, folder: str, reconcile_s: int, quantile: float, cooldown_s: float
) -> dict:
    import pandas as pd

    from predictor.config import PolicySettings
    from predictor.planning import configured_cold_start
    from predictor.runtime.policy import Cadence
    from predictor.runtime.targets import policy_from_settings
    from predictor.simulation.replay import BacktestSettings, run_backtest
    from predictor.sources.files import read_history_file

    load = read_history_file(Path(folder) / trace, counts=True, step_s=60)
    span_days = (load.index[-1] - load.index[0]).total_seconds() / 86_400
    score_days = 7.0 if span_days >= 21 else 2.0
    end = load.index[-1] + pd.Timedelta(minutes=1)
    # Keep what the replay can use: 28 days of training before the scored window.
    load = load[load.index >= end - pd.Timedelta(days=score_days + 28)]
    policy = PolicySettings(
        spike_buffer=0.0,
        utilization_target=0.7,
        history_window_days=28,
        forecast_quantile=quantile,
        cooldown_s=round(cooldown_s),
    )
    settings = BacktestSettings(
        policy=policy_from_settings(policy),
        cadence=Cadence(retrain_every_s=86_400, reconcile_every_s=reconcile_s),
        cold_start=configured_cold_start(total_s=cold_s),
        score_days=score_days,
        peak_pods=20,
    )
    started = time.perf_counter()
    result = run_backtest(load, settings)
    summary = result.summary()
    summary["trace"] = trace
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["history_days"] = round(span_days, 1)
    return summary


def verdict(row: dict) -> tuple[str, str]:
    p = row["policies"]
    reactive, predictive, oracle = p["reactive"], p["predictive"], p["oracle"]
    if reactive["shortfall_minutes"] > 0:
        ratio = predictive["shortfall_minutes"] / reactive["shortfall_minutes"]
        short = f"{ratio:.0%}"
        short_ok = ratio <= SHORTFALL_TARGET
    else:
        short = "reactive has none"
        short_ok = predictive["shortfall_minutes"] == 0
    cost = predictive["pod_hours"] / oracle["pod_hours"]
    met = "yes" if short_ok and cost <= COST_TARGET else "no"
    return f"{short} / {cost:.3f}", met


def markdown(rows: list[dict]) -> str:
    lines = [
        "| trace | cold start | scored | reactive short min | predictive short min "
        "| oracle short min | reactive pod-h | predictive pod-h | oracle pod-h "
        "| short ×reactive / cost ×oracle | met | models |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        p = row["policies"]
        ratios, met = verdict(row)
        lines.append(
            f"| {row['trace']} | {row['setup']['cold_start_s'] / 60:.0f} min | "
            f"{row['window']['minutes'] / 1440:.0f} d | {p['reactive']['shortfall_minutes']:.0f} | "
            f"{p['predictive']['shortfall_minutes']:.0f} | {p['oracle']['shortfall_minutes']:.0f} | "
            f"{p['reactive']['pod_hours']:,.0f} | {p['predictive']['pod_hours']:,.0f} | "
            f"{p['oracle']['pod_hours']:,.0f} | {ratios} | {met} | "
            f"{', '.join(row['setup']['models_fitted'])} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reconcile-s", type=int, default=60)
    parser.add_argument("--quantile", type=float, default=0.9, help="forecast quantile that sizes the floor")
    parser.add_argument("--cooldown-s", type=float, default=1800.0, help="wait after a raise before lowering")
    parser.add_argument("--cold-starts", default="600,1200", help="cold starts to replay, seconds")
    parser.add_argument("--only", default="", help="comma-separated substrings of trace names to keep")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not args.traces.is_dir():
        print(f"no traces at {args.traces}: this benchmark reads ../shared/data/traces/", file=sys.stderr)
        return 1
    keep = [k for k in args.only.split(",") if k]
    traces = [t for t in sorted(args.traces.glob("*.csv")) if not keep or any(k in t.name for k in keep)]
    colds = [int(c) for c in args.cold_starts.split(",")]
    jobs = [(t.name, cold) for t in traces for cold in colds]
    rows = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [
            pool.submit(
                replay, name, cold, str(args.traces), args.reconcile_s, args.quantile, args.cooldown_s
            )
            for name, cold in jobs
        ]
        for done, future in enumerate(futures, 1):
            row = future.result()
            rows.append(row)
            cold = row["setup"]["cold_start_s"]
            print(f"[{done}/{len(jobs)}] {row['trace']} cold {cold:.0f}s: {verdict(row)}", file=sys.stderr)
    table = markdown(rows)
    print(table)
    if args.out:
        args.out.write_text(table + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
