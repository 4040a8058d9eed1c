"""Cost of fitting: time and peak memory per target, and a 200-target retrain on 2 cores.

Every target is a seeded synthetic trace of 28 days at 5-minute steps (8,064 bins). For each
row (``auto`` = backtest + selection + refit, then each model alone) one call is fit + a
one-day predict. Everything runs in spawned worker processes with one BLAS thread each:

1. **time, one core**: one warmed-up worker, the rows in turn on each of ``--targets`` seeds
   (both Prophet rows on ``--prophet-targets`` of them, they are slow); the median per row and
   its ratio to Prophet's with the library defaults (``prophet_defaults``, the reference);
2. **memory**: per row, a fresh process warms up on 8 days (so lazy imports are not counted),
   then fits ``--memory-targets`` targets: the median tracemalloc peak (Python and numpy
   allocations), the growth of the process's peak RSS over the warm-up (a lower bound: it hides
   whatever the warm-up already reached), and the peak RSS of its children (Prophet's CmdStan);
3. **fleet**: ``--fleet`` targets through ``auto`` with ``--workers`` processes; wall time.

    python bench/forecast_cost.py --out /tmp/cost.md
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import time
import tracemalloc

import pandas as pd
from rows import AUTO, MODELS  # bench/rows.py: the script's folder is on sys.path

from predictor.forecasting import registry, selection
from predictor.sources.synthetic import synthetic_trace

STEP_S = 300
DAYS = 28
ROWS = (AUTO, *MODELS)
REFERENCE = "prophet_defaults"
SLOW = ("prophet", "prophet_defaults")


def history(seed: int) -> pd.Series:
    return synthetic_trace(days=DAYS, step_s=STEP_S, seed=seed)


def fit_predict(row: str, train: pd.Series) -> str:
    """Fit ``row`` (auto: select) on ``train`` and forecast the next day; returns the fitted kind."""
    if row == AUTO:
        chosen = selection.select_model(train, seed=0)
        model, kind = chosen.model, chosen.kind
    else:
        kind, options = MODELS[row]
        model = registry.make_forecaster(kind, **options).fit(train, seed=0)
    model.predict(train.index[-1] + pd.Timedelta(seconds=STEP_S), 86_400 // STEP_S)
    return kind


def time_rows(seeds: list[int], prophet_seeds: int) -> dict[str, list[float]]:
    """Seconds per call, per row; runs in one worker, so on one core."""
    times: dict[str, list[float]] = {row: [] for row in ROWS}
    warm_up = history(seeds[0]).iloc[-8 * 86_400 // STEP_S :]
    for row in ROWS:  # lazy imports and first-call caches are a one-off for a long-running daemon
        fit_predict(row, warm_up)
    for n, seed in enumerate(seeds):
        train = history(seed)
        for row in ROWS:
            if row in SLOW and n >= prophet_seeds:
                continue
            started = time.perf_counter()
            try:
                fit_predict(row, train)
            except Exception as exc:
                print(f"  {row} failed on seed {seed}: {exc}", file=sys.stderr)
                continue
            times[row].append(time.perf_counter() - started)
        print(f"  timed seed {seed} ({n + 1}/{len(seeds)})", file=sys.stderr)
    return times


def memory_of(row: str, seeds: list[int]) -> tuple[float, float, float]:
    """(tracemalloc peak MiB, own peak-RSS growth MiB, children's peak RSS MiB) in a fresh process."""
    trains = [history(seed) for seed in seeds]
    # Warm up on 8 days: lazy imports (statsmodels, prophet) land before the baseline, and the
    # shorter fit's own peak stays under the 28-day one, so the growth below is the fit's.
    fit_predict(row, trains[0].iloc[-8 * 86_400 // STEP_S :])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peaks = []
    for train in trains:
        tracemalloc.start()
        fit_predict(row, train)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    kib = 1024
    return statistics.median(peaks) / kib**2, (rss_after - rss_before) / kib, children / kib


def fleet_target(train: pd.Series) -> tuple[str, float]:
    started = time.perf_counter()
    kind = fit_predict(AUTO, train)
    return kind, time.perf_counter() - started


def render(times, memory, fleet, args) -> str:
    prophet = statistics.median(times[REFERENCE]) if times[REFERENCE] else float("nan")
    out = [
        f"### Time per target, one core (28 days at 5 min; median of {args.targets} targets, "
        f"Prophet {args.prophet_targets})",
        "",
        "| row | median s | p90 s | max s | row / Prophet defaults | Prophet defaults / row |",
        "|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        ts = sorted(times[row])
        if not ts:
            out.append(f"| {row} | failed | | | | |")
            continue
        med = statistics.median(ts)
        p90 = ts[min(len(ts) - 1, int(0.9 * len(ts)))]
        out.append(
            f"| {row} | {med:.3f} | {p90:.3f} | {ts[-1]:.3f} | {med / prophet:.3f} | {prophet / med:.1f}x |"
        )
    out += [
        "",
        f"### Peak memory per target (median of {args.memory_targets} targets, fresh process per row)",
        "",
        "| row | tracemalloc peak MiB | process peak RSS growth MiB | child process peak RSS MiB |",
        "|---|---|---|---|",
    ]
    for row in ROWS:
        traced, rss, child = memory[row]
        out.append(f"| {row} | {traced:.1f} | {rss:.1f} | {child:.1f} |")
    wall, per_target, kinds = fleet
    out += [
        "",
        f"### Fleet: {args.fleet} targets through auto, {args.workers} worker processes",
        "",
        f"wall time {wall:.1f} s (target: under 120 s); per target median "
        f"{statistics.median(per_target):.3f} s, max {max(per_target):.3f} s; chosen: {dict(kinds)}",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--prophet-targets", type=int, default=10)
    parser.add_argument("--memory-targets", type=int, default=3)
    parser.add_argument("--fleet", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="also write the Markdown here")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # one core per process: spawned workers read this when numpy loads
    ctx = multiprocessing.get_context("spawn")

    print("timing, one worker ...", file=sys.stderr)
    with ctx.Pool(1) as pool:
        times = pool.apply(time_rows, (list(range(args.targets)), args.prophet_targets))
    print("memory, a fresh process per row ...", file=sys.stderr)
    memory = {}
    for row in ROWS:
        with ctx.Pool(1) as pool:
            try:
                memory[row] = pool.apply(memory_of, (row, list(range(100, 100 + args.memory_targets))))
            except Exception as exc:
                print(f"  {row} failed: {exc}", file=sys.stderr)
                memory[row] = (float("nan"),) * 3
        print(f"  {row}: {memory[row]}", file=sys.stderr)
    print(f"fleet of {args.fleet} with {args.workers} workers ...", file=sys.stderr)
    trains = [history(seed) for seed in range(1000, 1000 + args.fleet)]
    with ctx.Pool(args.workers) as pool:
        pool.map(abs, range(args.workers))  # start the workers (and their imports) before the clock
        started = time.perf_counter()
        results = pool.map(fleet_target, trains, chunksize=1)
        wall = time.perf_counter() - started
    kinds: dict[str, int] = {}
    for kind, _ in results:
        kinds[kind] = kinds.get(kind, 0) + 1
    text = render(times, memory, (wall, [s for _, s in results], kinds), args)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
