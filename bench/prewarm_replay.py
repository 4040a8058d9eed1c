"""Benchmark: the shipped and the self-tuned floor against reactive KEDA and the oracle on real traces.

For every trace in ../shared/data/traces/ and a cold start of 10 and 20 minutes, in one run:

- ``reactive``: KEDA alone (the floor is the baseline, 1);
- ``shipped``: the configured policy untuned (``PolicySettings()`` and the daemon's default
  schedule: a retrain every 3 h, a reconcile every minute, p90, the shipped floor sizing and
  buffer), what the daemon runs with ``tune: false`` or before a target has 3 days of history;
- ``tuned``: as the daemon ships (``tune: true`` is the default): the configured policy
  self-tuned as the daemon does, on the 14 days *before* the scored window only (no peeking),
  then replayed over the scored window;
- ``oracle``: the cheapest floor with no shortfall, knowing the future.

The scored window is the last 7 days of a trace (the last 2 days when it is shorter than three
weeks); pods are sized so the peak of the replayed history needs 20 at utilisation 0.7.
Targets: shortfall minutes at most 10 % of reactive's (at most 10 minutes where reactive has
fewer than 100), and pod-hours at most 1.10 × the oracle's.

Besides the four rows, every job replays a grid of floor policies on the same forecasts (one
forecast run per trace and cold start serves every floor policy): floor utilisation × quantile ×
buffer on the scored window, quantile × buffer on the tuning window, the two window sizings, and
ablations of the planner's rules. The grid feeds the leave-one-trace-out choice of the shipped
constants and of the tuner's rule (printed at the end, and in ``--json``): the choice is the one
meeting both targets on the most (trace, cold start) pairs, then the one nearest the targets on
the others (:func:`miss`).

    python bench/prewarm_replay.py --workers 2 --out /tmp/prewarm.md --json /tmp/prewarm.json

About 35 minutes on 2 shared cores (one trace and cold start per worker process); ``--analyse
FILE.json`` reprints the tables of a saved ``--json`` without replaying.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

TRACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
SHORTFALL_SHARE, SHORTFALL_FLOOR_MIN, REACTIVE_FEW = 0.10, 10.0, 100.0
COST_TARGET = 1.10
PEAK_PODS = 20
GRID_FLOOR_UTILIZATION = (0.9, 1.0)
GRID_QUANTILES = (0.7, 0.8, 0.9, 0.95)
GRID_BUFFERS = (0.0, 0.1, 0.2, 0.3)
POOLED = tuple(itertools.product((0.8, 0.9), (0.0, 0.2)))
# Tuner rules compared by leave-one-trace-out: (minimum quantile, share of the objective's allowance
# a candidate must stay within on the tuning window, what to run when no candidate meets it).
# Listed safest first: on a tie the first is chosen.
TUNER_RULES = tuple(itertools.product((0.9, 0.8, 0.7), (1.0, 0.5), ("least shortfall", "shipped")))


def key(fu: float, q: float, b: float) -> str:
    return f"fu{fu:g}/q{q:g}/b{b:g}"


def job(trace: str, cold_s: int, folder: str) -> dict:
    import numpy as np
    import pandas as pd

    from predictor.capacity import pod_model_for_peak
    from predictor.config import PolicySettings, ScheduleSettings
    from predictor.planning import Bounds, configured_cold_start, planner
    from predictor.runtime.targets import cadence_from_schedule, policy_from_settings, tuning_from_settings
    from predictor.simulation import oracle_floor, reactive_floor, simulate
    from predictor.simulation.predictive import record_forecasts, replay_floor
    from predictor.simulation.replay import cluster_for
    from predictor.simulation.tuning import choose, tuning_window
    from predictor.sources.files import read_history_file

    started = time.perf_counter()
    settings = PolicySettings()
    policy, tuning = policy_from_settings(settings), tuning_from_settings(settings)
    cadence = cadence_from_schedule(ScheduleSettings())
    cold = configured_cold_start(total_s=cold_s)
    load = read_history_file(Path(folder) / trace, counts=True, step_s=60)
    span_days = (load.index[-1] - load.index[0]).total_seconds() / 86_400
    score_days = 7.0 if span_days >= 21 else 2.0
    end = load.index[-1] + pd.Timedelta(minutes=1)
    scored_start = end - pd.Timedelta(days=score_days)
    window = tuning_window(load, scored_start, tuning, cadence)
    first = scored_start if isinstance(window, str) else window[0]
    kept = load[(load.index >= first - pd.Timedelta(days=policy.train_days)) & (load.index < end)]
    pod = pod_model_for_peak(float(kept.max()), PEAK_PODS, utilization=policy.floor.utilization)
    bounds = Bounds(1, 100)
    cluster = cluster_for(pod, policy, cold, bounds, step_s=60.0)
    tape = record_forecasts(
        kept, first, pod=pod, cold_start=cold, policy=policy, cadence=cadence, quantiles=GRID_QUANTILES
    )
    forecast_s = time.perf_counter() - started

    scored_tape = tape.between(scored_start, end)
    scored = kept[kept.index >= scored_start].to_numpy()

    def outcome(floor_policy, on_tape=scored_tape, values=scored) -> dict:
        run = replay_floor(on_tape, floor_policy, pod=pod, bounds=bounds)
        return simulate(values, run.floor, cluster).totals()

    rows = {
        "reactive": simulate(scored, reactive_floor(len(scored), cluster), cluster).totals(),
        "shipped": outcome(policy.floor),
        "oracle": simulate(scored, oracle_floor(scored, cluster), cluster).totals(),
    }
    grid = {
        key(fu, q, b): outcome(policy.with_floor(floor_utilization=fu, quantile=q, buffer=b).floor)
        for fu in GRID_FLOOR_UTILIZATION
        for q in GRID_QUANTILES
        for b in GRID_BUFFERS
    }
    pooled = {
        key(policy.floor.floor_utilization, q, b): outcome(
            policy.with_floor(quantile=q, buffer=b, window="pooled").floor
        )
        for q, b in POOLED
    }
    ablations = _ablations(policy, outcome, planner, np)

    tune: dict = {"reason": window} if isinstance(window, str) else {}
    tune_grid: dict = {}
    if not isinstance(window, str):
        tune_tape = tape.between(window[0], scored_start)
        values = kept[(kept.index >= window[0]) & (kept.index < scored_start)].to_numpy()
        result = choose(tune_tape, values, policy, tuning=tuning, pod=pod, bounds=bounds, cluster=cluster)
        rows["tuned"] = outcome(result.policy.floor)
        tune = result.to_dict()
        tune_grid = {
            key(policy.floor.floor_utilization, q, b): outcome(
                policy.with_floor(quantile=q, buffer=b).floor, tune_tape, values
            )
            for q in GRID_QUANTILES
            for b in GRID_BUFFERS
        }
        tune_grid["reactive"] = simulate(values, reactive_floor(len(values), cluster), cluster).totals()
    else:
        rows["tuned"] = rows["shipped"]
    return {
        "trace": trace,
        "cold_start_s": cold_s,
        "score_days": score_days,
        "history_days": round(span_days, 1),
        "rows": rows,
        "grid": grid,
        "pooled": pooled,
        "ablations": ablations,
        "tune": tune,
        "tune_grid": tune_grid,
        "models": sorted({kind for _, kind in tape.fits}),
        "policy": policy.to_dict(),
        "forecast_s": round(forecast_s, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _ablations(policy, outcome, planner, np) -> dict:
    """The shipped policy with one planner change undone at a time, on the same forecasts.

    Floor utilisation and the window sizing are settings. The two rules without a setting are
    undone by swapping the planner's function for the previous rule, in this worker process only:
    the buffer applied after rounding (``ceil(ceil(x) × (1 + b))``), and lowering without
    looking at the hold window.
    """
    out = {
        "shipped": outcome(policy.floor),
        "keda_utilization": outcome(policy.with_floor(floor_utilization=0.7).floor),
    }
    sizing, hold = planner.floor_pods, planner.hold_steps

    def rounded_then_buffered(rates, model, floor_policy):
        pods = planner.pods_for_rates(rates, model, utilization=floor_policy.floor_utilization)
        return np.maximum(0.0, np.ceil(pods * (1.0 + floor_policy.buffer) - 1e-9)) + 0.0

    try:
        planner.floor_pods = rounded_then_buffered
        out["buffer_after_rounding"] = outcome(policy.floor)
        planner.floor_pods = sizing
        planner.hold_steps = lambda *args: 0
        out["no_hold"] = outcome(policy.floor)
        planner.floor_pods = rounded_then_buffered
        out["previous_planner"] = outcome(policy.with_floor(floor_utilization=0.7).floor)
    finally:
        planner.floor_pods, planner.hold_steps = sizing, hold
    return out


def allowed_shortfall(reactive_min: float) -> float:
    return SHORTFALL_FLOOR_MIN if reactive_min < REACTIVE_FEW else SHORTFALL_SHARE * reactive_min


def met(row: dict, totals: dict) -> tuple[bool, bool]:
    reactive, oracle = row["rows"]["reactive"], row["rows"]["oracle"]
    short_ok = totals["shortfall_minutes"] <= allowed_shortfall(reactive["shortfall_minutes"]) + 1e-9
    cost_ok = totals["pod_hours"] <= COST_TARGET * oracle["pod_hours"] + 1e-9
    return short_ok, cost_ok


def ratios(row: dict, totals: dict) -> str:
    reactive, oracle = row["rows"]["reactive"], row["rows"]["oracle"]
    r = reactive["shortfall_minutes"]
    short = f"{totals['shortfall_minutes']:.0f}/{r:.0f}"
    return f"{short} min, {totals['pod_hours'] / oracle['pod_hours']:.3f}×"


def main_table(rows: list[dict]) -> str:
    lines = [
        "| trace | cold | scored | reactive min | shipped min | tuned min | oracle pod-h "
        "| reactive ×o | shipped ×o | tuned ×o | shipped met | tuned met | tuned to |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        p = row["rows"]
        o = p["oracle"]["pod_hours"]

        def flag(name: str, row: dict = row, p: dict = p) -> str:
            short_ok, cost_ok = met(row, p[name])
            return "yes" if short_ok and cost_ok else ("cost" if short_ok else "short" if cost_ok else "both")

        tuned_to = (
            f"p{row['tune']['quantile'] * 100:g}+{row['tune']['buffer']:.0%}"
            if row["tune"].get("tuned")
            else "not tuned"
        )
        lines.append(
            f"| {row['trace'].removesuffix('.csv')} | {row['cold_start_s'] / 60:.0f} "
            f"| {row['score_days']:.0f} d "
            f"| {p['reactive']['shortfall_minutes']:.0f} | {p['shipped']['shortfall_minutes']:.0f} "
            f"| {p['tuned']['shortfall_minutes']:.0f} | {o:,.0f} "
            f"| {p['reactive']['pod_hours'] / o:.3f} | {p['shipped']['pod_hours'] / o:.3f} "
            f"| {p['tuned']['pod_hours'] / o:.3f} | {flag('shipped')} | {flag('tuned')} | {tuned_to} |"
        )
    return "\n".join(lines)


def miss(row: dict, totals: dict) -> float:
    """How far a result lies outside the two targets: log excess of cost plus log excess of shortfall.

    0 when both targets are met; a shortfall or a cost twice its target adds log 2 each.
    """
    oracle = row["rows"]["oracle"]["pod_hours"]
    allowed = allowed_shortfall(row["rows"]["reactive"]["shortfall_minutes"])
    cost = max(1.0, totals["pod_hours"] / (COST_TARGET * oracle))
    short = max(1.0, (totals["shortfall_minutes"] + 1) / (allowed + 1))
    return math.log(cost) + math.log(short)


def score(rows: list[dict], pick) -> tuple[int, float, float, float]:
    """(pairs meeting both targets, summed miss, geomean cost × oracle, geomean shortfall share)."""
    hits, misses, costs, shorts = 0, 0.0, [], []
    for row in rows:
        totals = pick(row)
        short_ok, cost_ok = met(row, totals)
        hits += short_ok and cost_ok
        misses += miss(row, totals)
        costs.append(totals["pod_hours"] / row["rows"]["oracle"]["pod_hours"])
        allowed = allowed_shortfall(row["rows"]["reactive"]["shortfall_minutes"])
        shorts.append((totals["shortfall_minutes"] + 1) / (allowed + 1))
    return (
        hits,
        misses,
        math.exp(statistics.fmean(map(math.log, costs))),
        math.exp(statistics.fmean(map(math.log, shorts))),
    )


def loto(rows: list[dict], choices: dict, label: str) -> str:
    """Leave one trace out: choose on the other traces, score on the one left out.

    The choice: the most (trace, cold start) pairs meeting both targets, then the least summed
    :func:`miss` (the distance to the targets of the pairs that miss).
    """
    traces = sorted({r["trace"] for r in rows})

    def best(train: list[dict]) -> str:
        return max(choices, key=lambda c: (score(train, choices[c])[0], -score(train, choices[c])[1]))

    lines = [
        f"| held-out trace | {label} chosen on the others | met | miss | cost ×oracle | shortfall min |",
        "|---|---|---:|---:|---|---|",
    ]
    picks, held_hits, held_miss = [], 0, 0.0
    for held in traces:
        train = [r for r in rows if r["trace"] != held] or rows
        test = [r for r in rows if r["trace"] == held]
        choice = best(train)
        picks.append(choice)
        hits, misses, _, _ = score(test, choices[choice])
        held_hits, held_miss = held_hits + hits, held_miss + misses
        cost = ", ".join(
            f"{choices[choice](r)['pod_hours'] / r['rows']['oracle']['pod_hours']:.3f}" for r in test
        )
        short = ", ".join(
            f"{choices[choice](r)['shortfall_minutes']:.0f}/{r['rows']['reactive']['shortfall_minutes']:.0f}"
            for r in test
        )
        name = held.removesuffix(".csv")
        lines.append(f"| {name} | {choice} | {hits}/{len(test)} | {misses:.2f} | {cost} | {short} |")
    overall = best(rows)
    hits, misses, cost, _ = score(rows, choices[overall])
    lines += [
        "",
        f"Held out: {held_hits}/{len(rows)} pairs met, summed miss {held_miss:.2f}. "
        f"Chosen on all traces: {overall} ({hits}/{len(rows)} met, miss {misses:.2f}, geomean cost "
        f"×oracle {cost:.3f}); chosen per fold: "
        f"{', '.join(f'{c} ×{picks.count(c)}' for c in sorted(set(picks)))}.",
    ]
    return "\n".join(lines)


def tuner_choice(row: dict, min_q: float, margin: float, fallback: str = "least shortfall") -> dict:
    """What the tuner with this rule picks on the tuning window, scored on the scored window."""
    if not row["tune_grid"]:
        return row["rows"]["shipped"]
    fu = row["policy"]["floor_utilization"]
    tune = row["tune_grid"]
    allowance = margin * row["tune"]["allowance_minutes"]
    from predictor.config import PolicySettings

    s = PolicySettings()
    candidates = [
        (q, b)
        for q in GRID_QUANTILES
        for b in GRID_BUFFERS
        if q >= min_q and q in s.tune_quantiles and b in s.tune_buffers
    ]
    figures = {c: tune[key(fu, *c)] for c in candidates}
    meeting = [c for c in candidates if figures[c]["shortfall_minutes"] <= allowance + 1e-9]
    if meeting:
        pick = min(meeting, key=lambda c: (round(figures[c]["pod_hours"], 6), -c[0], -c[1]))
    elif fallback == "shipped":
        return row["rows"]["shipped"]
    else:
        pick = min(
            candidates,
            key=lambda c: (
                figures[c]["shortfall_minutes"],
                figures[c]["unserved_fraction"],
                figures[c]["pod_hours"],
            ),
        )
    return row["grid"][key(fu, *pick)]


def ablation_table(rows: list[dict]) -> str:
    names = ["previous_planner", "keda_utilization", "buffer_after_rounding", "no_hold", "shipped"]
    lines = [
        "| variant | met (pairs) | miss | geomean cost ×oracle | geomean (shortfall+1)/(allowed+1) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        hits, misses, cost, short = score(rows, lambda r, n=name: r["ablations"][n])
        lines.append(f"| {name} | {hits}/{len(rows)} | {misses:.2f} | {cost:.3f} | {short:.3f} |")
    return "\n".join(lines)


def window_table(rows: list[dict]) -> str:
    fu = rows[0]["policy"]["floor_utilization"]
    lines = [
        "| quantile + buffer | max: met, miss, cost ×o, short | pooled: met, miss, cost ×o, short |",
        "|---|---|---|",
    ]
    for q, b in POOLED:
        k = key(fu, q, b)
        m = score(rows, lambda r, k=k: r["grid"][k])
        p = score(rows, lambda r, k=k: r["pooled"][k])
        lines.append(
            f"| p{q * 100:g} + {b:.0%} | {m[0]}, {m[1]:.2f}, {m[2]:.3f}, {m[3]:.2f} "
            f"| {p[0]}, {p[1]:.2f}, {p[2]:.3f}, {p[3]:.2f} |"
        )
    return "\n".join(lines)


def best_achievable(rows: list[dict]) -> str:
    """Per trace and cold start missing a target: the best pairs any floor policy of the grid reaches.

    The cheapest policy meeting the shortfall target (its cost × oracle), and the policy with the
    least shortfall within the cost target (its shortfall minutes).
    """
    lines = [
        "| trace | cold | shipped: short / ×oracle | cheapest meeting the shortfall target "
        "| least shortfall within 1.10 × oracle |",
        "|---|---:|---|---|---|",
    ]
    for row in rows:
        shipped = row["rows"]["shipped"]
        tuned = row["rows"]["tuned"]
        if all(met(row, shipped)) and all(met(row, tuned)):
            continue
        oracle = row["rows"]["oracle"]["pod_hours"]
        grid = {**row["grid"], **{f"pooled/{k}": v for k, v in row["pooled"].items()}}
        short_ok = [(k, v) for k, v in grid.items() if met(row, v)[0]]
        cost_ok = [(k, v) for k, v in grid.items() if met(row, v)[1]]
        cheapest = (
            "none"
            if not short_ok
            else "{}: {:.0f} min, {:.3f}×".format(
                *min(
                    ((k, v["shortfall_minutes"], v["pod_hours"] / oracle) for k, v in short_ok),
                    key=lambda x: x[2],
                )
            )
        )
        safest = (
            "none"
            if not cost_ok
            else "{}: {:.0f} min, {:.3f}×".format(
                *min(
                    ((k, v["shortfall_minutes"], v["pod_hours"] / oracle) for k, v in cost_ok),
                    key=lambda x: (x[1], x[2]),
                )
            )
        )
        lines.append(
            f"| {row['trace'].removesuffix('.csv')} | {row['cold_start_s'] / 60:.0f} "
            f"| {ratios(row, shipped)} | {cheapest} | {safest} |"
        )
    return "\n".join(lines)


def report(rows: list[dict], note: str) -> str:
    shipped = rows[0]["policy"]
    q, b = shipped["quantile"], shipped["buffer"]
    floor_utilization = {
        f"floor_utilization {fu:g}": (lambda r, k=key(fu, q, b): r["grid"][k])
        for fu in GRID_FLOOR_UTILIZATION
    }
    full_grid = {
        key(fu, q, b): (lambda r, k=key(fu, q, b): r["grid"][k])
        for fu in GRID_FLOOR_UTILIZATION
        for q in GRID_QUANTILES
        for b in GRID_BUFFERS
    }
    tuner_rules = {
        f"min p{q * 100:g}, margin {m:g}, else {f}": (lambda r, q=q, m=m, f=f: tuner_choice(r, q, m, f))
        for q, m, f in TUNER_RULES
    }
    sections = [
        "## Rows",
        main_table(rows),
        "",
        "## Where a target is missed: the best pairs any floor policy of the grid reaches",
        best_achievable(rows),
        "",
        "## Each planner change undone, shipped policy otherwise",
        ablation_table(rows),
        "",
        "## Window sizing: max of per-point quantiles against the pooled quantile",
        window_table(rows),
        "",
        f"## Leave-one-trace-out: floor utilisation (at the shipped p{q * 100:g} + {b:.0%})",
        loto(rows, floor_utilization, "floor utilisation"),
        "",
        "## Leave-one-trace-out: the tuner's rule",
        loto(rows, tuner_rules, "rule"),
        "",
        "## Leave-one-trace-out over the whole grid (floor utilisation / quantile / buffer), for reference",
        loto(rows, full_grid, "constants"),
        "",
        note,
    ]
    return "\n".join(sections)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cold-starts", default="600,1200", help="cold starts to replay, seconds")
    parser.add_argument("--only", default="", help="comma-separated substrings of trace names to keep")
    parser.add_argument("--out", type=Path, help="write the Markdown tables here")
    parser.add_argument("--json", type=Path, help="write every job's figures (rows, grids, tuning) here")
    parser.add_argument("--analyse", type=Path, help="only print the tables of an earlier --json file")
    args = parser.parse_args()
    if args.analyse:
        print(report(json.loads(args.analyse.read_text(encoding="utf-8")), f"From {args.analyse}."))
        return 0
    if not args.traces.is_dir():
        print(f"no traces at {args.traces}: this benchmark reads ../shared/data/traces/", file=sys.stderr)
        return 1
    keep = [k for k in args.only.split(",") if k]
    traces = [t for t in sorted(args.traces.glob("*.csv")) if not keep or any(k in t.name for k in keep)]
    colds = [int(c) for c in args.cold_starts.split(",")]
    jobs = [(t.name, cold) for t in traces for cold in colds]
    started = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(job, name, cold, str(args.traces)) for name, cold in jobs]
        for done, future in enumerate(futures, 1):
            row = future.result()
            rows.append(row)
            p = row["rows"]
            print(
                f"[{done}/{len(jobs)}] {row['trace']} cold {row['cold_start_s']} s: "
                f"shipped {ratios(row, p['shipped'])}, tuned {ratios(row, p['tuned'])} "
                f"({row['seconds']:.0f} s, forecasts {row['forecast_s']:.0f} s)",
                file=sys.stderr,
            )
    wall = time.perf_counter() - started
    note = (
        f"Wall time {wall:.0f} s with {args.workers} workers; per job median "
        f"{statistics.median(r['seconds'] for r in rows):.0f} s "
        f"(forecast run {statistics.median(r['forecast_s'] for r in rows):.0f} s)."
    )
    text = report(rows, note)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
