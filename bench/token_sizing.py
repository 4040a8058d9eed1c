"""Benchmark: token-aware against fixed-length sizing of each role, and what the token path costs.

Quality. The traces in ../shared/data/traces/ hold request counts only, so this runs on the
project's synthetic token trace (``predictor.sources.synthetic_tokens``): 28 days at 5 minutes,
30 req/s at night to 240 at the weekday peak, seeds 0..N-1, three mixes of lengths:

- ``shift``: the default, prompts 1,000 → 2,000 tokens and outputs 350 → 250 in working hours;
- ``strong``: prompts 500 → 4,000 and outputs 500 → 150;
- ``flat``: 1,500 and 300 all day, the control: token-aware sizing must cost what fixed costs.

Each trace trains on 21 days and scores the last 7: its three series are forecast by a model at
p90, each role (the Qwen3-32B prefill and decode profiles) is sized from the forecast, u = 0.7,
spike buffer 0.2, and scored against the actual need (``predictor.capacity.demand_compare``; the
fixed lengths are the training window's request-weighted means). Reported: the median and the
[min, max] over seeds of the pod-hours ratio token-aware / fixed and of the shortfall pod-hours
and shortfall points of each.

Replay (``--replay-seeds N``, default 3). The daemon's floor replayed minute by minute
(``predictor.simulation.token_replay``, what ``predictor backtest`` shows for a token-aware target):
14 days at 1 minute, 20 req/s at night to 200 at the weekday peak, the first 7 to train, the next
7 replayed (``harmonic``, the shipped policy and schedule, each role's profile cold start), KEDA
scaling on the role's work at u = 0.7. Reported per mix and role: the median and [min, max] over
seeds of the pod-hours ratio token-aware / fixed, the shortfall minutes of each, and the mean
floor in weekday working hours (10-16 UTC) and at night (0-6 UTC) of each.

Speed. ``size_role`` against ``pods_for_rates`` on the same rates: one forecast horizon (6 h plus
lead time, 96 points at 5 minutes) and one replay week (10,080 points at 1 minute); medians of
repeated calls, and their ratio.

    python bench/token_sizing.py --out /tmp/token_sizing.md

About a minute on one core, plus about 30 s per replay (mixes × roles × seeds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from predictor.capacity import pod_model, pods_for_rates
from predictor.capacity.demand import OUTPUT_TOKENS, PROMPT_TOKENS, REQUESTS, TokenRates, size_role
from predictor.capacity.demand_compare import average_lengths, compare_sizing
from predictor.config import load_profile
from predictor.forecasting import registry
from predictor.sources.synthetic_tokens import TokenMix, synthetic_token_trace

MIXES = {
    "shift": TokenMix(),
    "strong": TokenMix(
        prompt_tokens_night=500, prompt_tokens_day=4_000, output_tokens_night=500, output_tokens_day=150
    ),
    "flat": TokenMix(
        prompt_tokens_night=1_500, prompt_tokens_day=1_500, output_tokens_night=300, output_tokens_day=300
    ),
}
ROLES = {"prefill": "qwen3-32b-h100-tp2-prefill", "decode": "qwen3-32b-h100-tp2-decode"}
STEP_S = 300
WEEK = 7 * 86_400 // STEP_S


def forecast_week(train: pd.DataFrame, index: pd.DatetimeIndex, model: str) -> pd.DataFrame:
    columns = {}
    for column in (REQUESTS, PROMPT_TOKENS, OUTPUT_TOKENS):
        fitted = registry.make_forecaster(model).fit(train[column], seed=0)
        columns[column] = fitted.predict(index[0], len(index), (0.5, 0.9)).quantile(0.9)
    return pd.DataFrame(columns, index=index)


def quality(seeds: int, models: list[str]) -> list[dict]:
    rows = []
    for mix_name, mix in MIXES.items():
        for model in models:
            runs: dict[str, list[dict]] = {role: [] for role in ROLES}
            for seed in range(seeds):
                trace = synthetic_token_trace(
                    days=28, step_s=STEP_S, base_rps=30, peak_rps=240, seed=seed, mix=mix
                )
                train, test = trace.iloc[:-WEEK], trace.iloc[-WEEK:]
                forecast = forecast_week(train, test.index, model)
                fixed = average_lengths(train)
                for role, profile in ROLES.items():
                    c = compare_sizing(
                        test,
                        forecast,
                        load_profile(profile).capacity,
                        role,
                        utilization=0.7,
                        buffer=0.2,
                        fixed_lengths=fixed,
                    )
                    runs[role].append(
                        {
                            "ratio": c.token_aware.pod_hours / c.fixed.pod_hours,
                            "short_aware": c.token_aware.shortfall_pod_hours,
                            "short_fixed": c.fixed.shortfall_pod_hours,
                            "points_aware": c.token_aware.shortfall_points,
                            "points_fixed": c.fixed.shortfall_points,
                        }
                    )
            for role, values in runs.items():
                rows.append({"mix": mix_name, "model": model, "role": role, "runs": values})
        print(f"quality: mix {mix_name} done", file=sys.stderr)
    return rows


def replays(seeds: int) -> list[dict]:
    from predictor.capacity import pod_model as role_pod
    from predictor.config import PolicySettings, ScheduleSettings
    from predictor.planning import Bounds, configured_cold_start
    from predictor.runtime.targets import cadence_from_schedule, policy_from_settings
    from predictor.simulation.token_replay import NIGHT_HOURS, WORKING_HOURS, replay_tokens

    policy = policy_from_settings(PolicySettings(model="harmonic", history_window_days=7))
    cadence = cadence_from_schedule(ScheduleSettings())
    rows = []
    for mix_name, mix in MIXES.items():
        for role, profile in ROLES.items():
            p = load_profile(profile)
            cold = configured_cold_start(total_s=p.cold_start.total_s, stages_s=p.cold_start.stages_s)
            runs = []
            for seed in range(seeds):
                trace = synthetic_token_trace(
                    days=14, step_s=60, base_rps=20, peak_rps=200, seed=seed, mix=mix
                )
                r = replay_tokens(
                    trace,
                    trace.index[0] + pd.Timedelta(days=7),
                    params=p.capacity,
                    role=role,
                    pod=role_pod(p.capacity, role),
                    policy=policy,
                    cadence=cadence,
                    cold_start=cold,
                    bounds=Bounds(1),
                )
                fixed, aware = r.outcomes["fixed"], r.outcomes["token-aware"]
                runs.append(
                    {
                        "ratio": aware.pod_hours / fixed.pod_hours,
                        "short_aware": aware.shortfall_minutes,
                        "short_fixed": fixed.shortfall_minutes,
                        "short_keda": r.outcomes["reactive"].shortfall_minutes,
                        "day_aware": r.mean_floor("token-aware", WORKING_HOURS),
                        "day_fixed": r.mean_floor("fixed", WORKING_HOURS),
                        "night_aware": r.mean_floor("token-aware", NIGHT_HOURS, weekdays=False),
                        "night_fixed": r.mean_floor("fixed", NIGHT_HOURS, weekdays=False),
                    }
                )
            rows.append({"mix": mix_name, "role": role, "runs": runs})
            print(f"replay: mix {mix_name} {role} done", file=sys.stderr)
    return rows


def spread(values: list[float], digits: int) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def timed(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed() -> list[tuple[str, float, float]]:
    params = load_profile(ROLES["decode"]).capacity
    model = pod_model(params, "decode")
    rng = np.random.default_rng(0)
    out = []
    for label, points, repeats in (
        ("horizon, 96 points", 96, 2_000),
        ("replay week, 10,080 points", 10_080, 200),
    ):
        rps = rng.uniform(5, 200, points)
        rates = TokenRates(rps, rps * rng.uniform(500, 4_000, points), rps * rng.uniform(100, 500, points))
        fixed = timed(lambda rps=rps: pods_for_rates(rps, model, utilization=0.7, buffer=0.2), repeats)
        aware = timed(
            lambda rates=rates: size_role(rates, params, "decode", utilization=0.7, buffer=0.2), repeats
        )
        out.append((label, fixed, aware))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="synthetic traces per mix")
    parser.add_argument(
        "--models", default="seasonal_naive_weekly,harmonic", help="forecasters, comma-separated"
    )
    parser.add_argument("--replay-seeds", type=int, default=3, help="replayed traces per mix and role")
    parser.add_argument("--out", type=Path, help="write the Markdown tables here too")
    args = parser.parse_args()

    started = time.time()
    rows = quality(args.seeds, args.models.split(","))
    header = ["mix", "model", "role", "pod-hours token-aware / fixed", "shortfall pod-h token-aware"]
    header += ["shortfall pod-h fixed", "shortfall points token-aware", "shortfall points fixed"]
    lines = [f"Quality over {args.seeds} seeds per mix: median [min, max]", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        runs = row["runs"]
        cells = [row["mix"], row["model"], row["role"], spread([r["ratio"] for r in runs], 3)]
        cells += [spread([r[key] for r in runs], 1) for key in ("short_aware", "short_fixed")]
        cells += [spread([r[key] for r in runs], 0) for key in ("points_aware", "points_fixed")]
        lines.append("| " + " | ".join(cells) + " |")
    if args.replay_seeds > 0:
        header = ["mix", "role", "pod-hours token-aware / fixed", "short min token-aware", "short min fixed"]
        header += ["short min KEDA", "floor day token-aware", "floor day fixed", "floor night token-aware"]
        header += ["floor night fixed"]
        lines += ["", f"Replay of the daemon's floor over {args.replay_seeds} seeds: median [min, max]", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in replays(args.replay_seeds):
            runs = row["runs"]
            cells = [row["mix"], row["role"], spread([r["ratio"] for r in runs], 3)]
            cells += [spread([r[k] for r in runs], 0) for k in ("short_aware", "short_fixed", "short_keda")]
            keys = ("day_aware", "day_fixed", "night_aware", "night_fixed")
            cells += [spread([r[k] for r in runs], 1) for k in keys]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Speed: median time per call",
        "",
        "| rates | pods_for_rates | size_role | ratio |",
        "|---|---|---|---|",
    ]
    for label, fixed, aware in speed():
        lines.append(f"| {label} | {fixed * 1e6:.0f} µs | {aware * 1e6:.0f} µs | {aware / fixed:.1f}x |")
    lines += ["", f"total {time.time() - started:.0f} s"]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
