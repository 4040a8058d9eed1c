"""Observed capacity on real traffic shapes: the estimate against the generator's truth.

For each real trace in ``../shared/data/traces/``, its busiest day (the calendar day, in the
trace's own clock, with the largest swing of the 15-minute mean) drives a fleet of five synthetic
vLLM pods (:func:`predictor.sources.synthetic_fleet.churning_fleet`: each pod replaced every
2.5 h, a new one six times slower at half a share of traffic for 12 minutes). The day's rate is
scaled so the fleet's busiest minute asks 12.2 req/s per pod; the pod's truth is 10.9 req/s for
TTFT p99 ≤ 0.5 s and 11.7 for TTFT p99 ≤ 1 s (it saturates at 12.8). The samples are read the way
Prometheus's ``rate()`` reads them at a 5-minute step.

Rows, all in one run on the same samples:

- ``product``: warm-up 15 min, 20 bins, samples within 25 % of their neighbours, a monotone fit;
- ``bins=B,steady=S``: other bin counts and steadiness tolerances (``none`` keeps every sample);
- ``no-warmup``: the product without leaving warming pods out;
- ``raw-bins``: the same bins, the first bin below the percentile, no monotone fit;
- ``naive``: the highest load of any 5-minute sample that met the objective on its own.

Reported: each row's answer on each trace and objective as its error against the truth, with its
status when it is only a bound and ✗ when it is wrong (a measurement more than 10 % off, or a
bound on the wrong side of the truth); per row the number of wrong claims and the median error
of its measurements; and the bins and steadiness chosen by leave-one-trace-out over
the grid of 3 bin counts x 4 tolerances.

    python bench/observed_capacity.py --out /tmp/observed.md --json /tmp/observed.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from predictor.capacity.observed import STEADINESS, ObservedCapacity, PodMetrics, estimate_observed_capacity
from predictor.capacity.slo import Slo
from predictor.sources.synthetic_fleet import as_pod_metrics, churning_fleet, production_samples
from predictor.sources.synthetic_serving import SyntheticPod

TRACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
SLOS = (Slo("ttft", 99, 0.5), Slo("ttft", 99, 1.0))
POD = SyntheticPod()
TOLERANCE = 0.10
BINS = (10, 20, 40)
STEADY = (None, 0.1, 0.25, 0.5)
GRID = [(bins, steady) for bins in BINS for steady in STEADY]


def _variant(bins: int, steadiness: float | None) -> str:
    if (bins, steadiness) == (20, STEADINESS):
        return "product"
    return f"bins={bins},steady={'none' if steadiness is None else f'{steadiness:g}'}"


def _objective(slo: Slo) -> str:
    return f"{slo.key} = {slo.limit_s:g}"


def busiest_day_shape(path: Path) -> tuple[str, np.ndarray]:
    """The day's per-minute rate over its busiest 15 minutes, and which day it is. The day is
    chosen on the trace's own bins (complete days only), then interpolated to one minute."""
    frame = pd.read_csv(path)
    times = pd.to_datetime(frame["timestamp"])
    counts = pd.to_numeric(frame["requests"], errors="coerce")
    step_s = float(pd.Series(times).diff().dt.total_seconds().mode().iloc[0])
    rate = pd.Series(counts.to_numpy() / step_s, index=times).sort_index()
    rate = rate[~rate.index.duplicated()]
    per_day = rate.groupby(rate.index.normalize())
    complete = [day for day, values in per_day if values.notna().sum() >= 0.95 * 86_400 / step_s]
    if not complete:
        raise SystemExit(f"{path.name}: no complete day")
    window = max(1, round(900 / step_s))
    smooth = rate.rolling(window, min_periods=1, center=True).mean()
    day = max(complete, key=lambda d: float(np.ptp(smooth[smooth.index.normalize() == d].to_numpy())))
    around = rate[(rate.index >= day - pd.Timedelta(hours=2)) & (rate.index < day + pd.Timedelta(hours=26))]
    minutes = around.resample("60s").mean().interpolate(limit_direction="both")
    minutes = minutes[(minutes.index >= day) & (minutes.index < day + pd.Timedelta(days=1))]
    peak = float(minutes.rolling(15, min_periods=1, center=True).mean().max())
    return f"{day:%Y-%m-%d}", np.clip(minutes.to_numpy() / peak, 0.02, None)


def naive(metrics: PodMetrics, slo: Slo) -> float | None:
    """The highest load of any sample whose own share within the limit met the percentile."""
    from predictor.capacity.fitting import share_within

    load = metrics.throughput_rps.to_numpy()
    buckets = {b: f.to_numpy() for b, f in metrics.histograms[slo.metric].bucket_rps.items()}
    within, total = share_within(buckets, slo.limit_s)
    with np.errstate(invalid="ignore", divide="ignore"):
        meets = (total > 0) & (within / total >= slo.quantile) & np.isfinite(load)
    return float(load[meets].max()) if meets.any() else None


def raw_crossing(observed: ObservedCapacity) -> float | None:
    """The first bin whose measured share is below the percentile, interpolated like the product."""
    slo, bins = observed.slos[0], observed.bins
    for j, b in enumerate(bins):
        if b.within[0] < slo.quantile:
            if j == 0:
                return b.load_rps
            lo = bins[j - 1]
            share = (lo.within[0] - slo.quantile) / (lo.within[0] - b.within[0])
            return lo.load_rps + share * (b.load_rps - lo.load_rps)
    return bins[-1].load_rps if bins else None


def verdict(value: float | None, status: str, upper: float | None, truth: float) -> str:
    """``right``: a measurement within 10 % of the truth; ``bound``: a bound on the right side of
    it (not-reached at or below, exceeded at or above, within 10 %); ``wrong``: anything else."""
    if value is None:
        return "bound"  # no data claims nothing
    if status == "measured":
        return "right" if abs(value / truth - 1) <= TOLERANCE else "wrong"
    if status == "not-reached":
        below_upper = upper is None or upper >= truth * (1 - TOLERANCE)
        return "bound" if value <= truth * (1 + TOLERANCE) and below_upper else "wrong"
    return "bound" if value >= truth * (1 - TOLERANCE) else "wrong"


def error(value: float | None, truth: float) -> float | None:
    return None if value is None else value / truth - 1


def run_trace(path: Path) -> dict:
    started = time.perf_counter()
    day, shape = busiest_day_shape(path)
    start = pd.Timestamp("2026-03-02", tz="UTC")
    fleet = churning_fleet(start, shape=shape, noise=0.0)
    samples = production_samples(POD, fleet.load_rps, slowdown=fleet.slowdown, seed=1)
    lives = {pod: [born.ceil("300s")] for pod, born in fleet.born.items()}
    lives |= {pod: [start] for pod in fleet.load_rps.columns if pod not in fleet.born}  # no earlier data
    metrics = as_pod_metrics(samples, lives)
    rows: dict[str, dict] = {}
    for slo in SLOS:
        truth = POD.truth_rps(slo)
        found = {}
        for bins, steadiness in GRID:
            observed = estimate_observed_capacity(
                metrics, [slo], warmup_s=900, bins=bins, steadiness=steadiness
            )
            found[_variant(bins, steadiness)] = (observed.rps_per_pod, observed.status, observed.upper_rps)
            if (bins, steadiness) == (20, STEADINESS):
                found["raw-bins"] = (raw_crossing(observed), "measured", None)
        cold = estimate_observed_capacity(metrics, [slo], warmup_s=0)
        found["no-warmup"] = (cold.rps_per_pod, cold.status, cold.upper_rps)
        found["naive"] = (naive(metrics, slo), "measured", None)
        rows[_objective(slo)] = {
            "truth_rps": truth,
            **{
                name: {
                    "rps": v,
                    "status": st,
                    "upper": up,
                    "error": error(v, truth),
                    "verdict": verdict(v, st, up, truth),
                }
                for name, (v, st, up) in found.items()
            },
        }
    load = fleet.load_rps.to_numpy()
    return {
        "trace": path.name,
        "day": day,
        "per_pod_p10_p90": [float(np.nanpercentile(load, 10)), float(np.nanpercentile(load, 90))],
        "seconds": time.perf_counter() - started,
        "objectives": rows,
    }


def _score(rows: list[dict], slo: str, name: str) -> tuple[int, float]:
    """(wrong claims, median |error| of the measurements): fewer wrong claims first."""
    answers = [r["objectives"][slo][name] for r in rows]
    wrong = sum(a["verdict"] == "wrong" for a in answers)
    measured = [abs(a["error"]) for a in answers if a["status"] == "measured" and a["error"] is not None]
    return wrong, statistics.median(measured) if measured else math.inf


def leave_one_out(results: list[dict]) -> list[tuple[str, str, str, str, float | None]]:
    """For each trace held out: the (bins, steadiness) with the fewest wrong claims (then the
    lowest median |error| of measurements) on the other traces, and its answer on the held-out one."""
    chosen = []
    for slo in (_objective(s) for s in SLOS):
        for held in results:
            others = [r for r in results if r is not held]
            best = min(GRID, key=lambda g: _score(others, slo, _variant(*g)))
            answer = held["objectives"][slo][_variant(*best)]
            chosen.append((held["trace"], slo, _variant(*best), answer["verdict"], answer["error"]))
    return chosen


def _cell(row: dict) -> str:
    if row["error"] is None:
        return "no data"
    status = f" {row['status']}" if row["status"] != "measured" else ""
    mark = {"right": "", "bound": "", "wrong": " ✗"}[row["verdict"]]
    return f"{row['error']:+.1%}{status}{mark}"


def markdown(results: list[dict], loo: list[tuple[str, str, str, str, float | None]]) -> str:
    names = [
        "product",
        *(_variant(20, steady) for steady in STEADY if steady != STEADINESS),
        *(_variant(bins, STEADINESS) for bins in BINS if bins != 20),
        "no-warmup",
        "raw-bins",
        "naive",
    ]
    lines = []
    for slo in (_objective(s) for s in SLOS):
        truth = results[0]["objectives"][slo]["truth_rps"]
        lines += [f"### {slo} (truth {truth:.3f} req/s per pod)", ""]
        lines += ["| trace | day | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for r in results:
            cells = [_cell(r["objectives"][slo][name]) for name in names]
            lines.append(f"| {r['trace']} | {r['day']} | " + " | ".join(cells) + " |")
        wrong, median = [], []
        for name in names:
            count, typical = _score(results, slo, name)
            wrong.append(str(count))
            median.append("-" if math.isinf(typical) else f"{typical:.1%}")
        lines += ["| **wrong claims** | | " + " | ".join(wrong) + " |"]
        lines += ["| **median abs error of measurements** | | " + " | ".join(median) + " |", ""]
    lines += ["### Bins and steadiness by leave-one-trace-out", ""]
    lines += ["| held out | objective | chosen on the others | held-out answer |", "|---|---|---|---|"]
    lines += [f"| {t} | {s} | {b} | {v} ({'-' if e is None else f'{e:+.1%}'}) |" for t, s, b, v, e in loo]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--out", type=Path, help="Markdown table")
    parser.add_argument("--json", type=Path, help="All numbers as JSON")
    args = parser.parse_args()
    if not args.traces.is_dir():
        print(f"no traces at {args.traces}: this benchmark needs ../shared/data/traces/", file=sys.stderr)
        return 1
    results = []
    for path in sorted(args.traces.glob("*.csv")):
        results.append(run_trace(path))
        print(f"{path.name}: {results[-1]['seconds']:.1f} s", file=sys.stderr)
    loo = leave_one_out(results)
    text = markdown(results, loo)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(
            json.dumps({"results": results, "leave_one_out": loo}, indent=2), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
