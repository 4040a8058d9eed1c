"""The Markdown report of ``forecast_accuracy.py``: per trace, geomeans with spread, targets, LOTO.

Targets (each printed as met or MISSED, from the cells of one run):

- day-ahead geomean MASE of ``auto`` <= 0.85 x Prophet defaults and <= 0.90 x the best
  statsforecast row; at one hour <= 0.85 x Prophet defaults;
- on no trace is ``auto`` more than 5% worse than seasonal naive (pooled MASE per trace and
  horizon), and in at most 5% of cases: a case is one day-ahead origin, or one 24-hour block of
  hourly lead-time refits counted back from the last (one 5-minute bin per refit is too noisy
  to compare on its own);
- ``auto``'s p90 coverage within 0.85-0.95 on every trace, day-ahead and at the pre-warm
  horizons (every bin 15 minutes to 1 hour after each lead-time refit, pooled: one bin per
  refit alone, 24-48 per trace, has a standard error of ~0.05 on a coverage of 0.9);
- no forecast of our models above its plausibility bound at any origin (every row, every mode,
  including the short-history sweep of 1-28 days of training).

Leave-one-trace-out (``--loto``): for each trace, the ``auto`` row (default or variant) with the
lowest geomean MASE over the other traces (over day-ahead, 15 min and 1 h) is chosen and scored
on the trace left out; the LOTO score is the geomean of those held-out scores. A constant chosen
this way is one that generalises to a trace it was not chosen on.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

SHORT = "short 1-28 d"
MODES = ("day-ahead", "15 min", "1 h")
LEAD = "15 min-1 h"  # every bin from 15 minutes to 1 hour after each lead-time refit, pooled
COVERAGE_MODES = ("day-ahead", LEAD)
LOW, HIGH = 0.85, 0.95


@dataclass
class Cell:
    """Sums over the scored bins of one (trace, mode, row)."""

    abs_err: float = 0.0
    actual: float = 0.0
    scaled_err: float = 0.0
    scaled_pinball: float = 0.0
    covered: int = 0
    points: int = 0
    fails: int = 0
    origins: int = 0
    clamped: int = 0
    over_bound: int = 0
    chosen: dict = field(default_factory=dict)
    cases: dict = field(default_factory=dict)  # case -> [scaled error sum, points]
    units: dict = field(default_factory=dict)  # resampling unit -> [covered, points] (coverage interval)

    def add(self, other: Cell) -> None:
        for name in (
            "abs_err", "actual", "scaled_err", "scaled_pinball", "covered", "points", "fails",
            "origins", "clamped", "over_bound",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.chosen = dict(Counter(self.chosen) + Counter(other.chosen))
        for mine_of, theirs in ((self.cases, other.cases), (self.units, other.units)):
            for key, (total, n) in theirs.items():
                mine = mine_of.setdefault(key, [0, 0])
                mine[0] += total
                mine[1] += n

    @property
    def mase(self) -> float:
        return self.scaled_err / self.points if self.points else math.nan

    @property
    def wape(self) -> float:
        return self.abs_err / self.actual if self.actual else math.nan

    @property
    def coverage(self) -> float:
        return self.covered / self.points if self.points else math.nan

    @property
    def pinball(self) -> float:
        return self.scaled_pinball / self.points if self.points else math.nan

    def coverage_interval(self, reps: int = 2_000, level: float = 0.9) -> tuple[float, float]:
        """Bootstrap interval of the coverage, resampling whole units (origins or refit blocks).

        Bins of one origin are not independent; the units are (one day-ahead origin, six
        consecutive lead-time refits), so the interval shows how much of a miss is the sampling
        of origins. NaN under three units.
        """
        counts = np.array(list(self.units.values()), dtype=float)
        if len(counts) < 3:
            return math.nan, math.nan
        rng = np.random.default_rng(0)
        pick = rng.integers(0, len(counts), size=(reps, len(counts)))
        covered, points = counts[pick, 0].sum(axis=1), counts[pick, 1].sum(axis=1)
        share = covered[points > 0] / points[points > 0]
        low, high = np.quantile(share, [(1 - level) / 2, (1 + level) / 2])
        return float(low), float(high)


def fmt(x: float, digits: int = 3) -> str:
    return "—" if not np.isfinite(x) else f"{x:.{digits}f}"


def geomean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v) and v > 0]
    return float(np.exp(np.mean(np.log(finite)))) if finite else math.nan


def _get(cells, name: str, mode: str, row: str) -> Cell:
    return cells.get((name, mode, row), Cell())


def render(cells, names: list[str], rows: list[str], *, loto: bool = False) -> str:
    out = ["## Per trace", ""]
    for name in names:
        out += [f"### {name}", ""]
        head = "| row | " + " | ".join(f"{m} MASE | {m} WAPE | {m} p90 cov | {m} pinball" for m in MODES)
        out += [head + f" | {LEAD} p90 cov | fails | clamped |", "|---" * (4 + 4 * len(MODES)) + "|"]
        for row in rows:
            parts, fails, clamped = [], 0, 0
            for mode in MODES:
                c = _get(cells, name, mode, row)
                parts += [fmt(c.mase), fmt(c.wape), fmt(c.coverage, 2), fmt(c.pinball)]
                fails += c.fails
                clamped += c.clamped
            lead = fmt(_get(cells, name, LEAD, row).coverage, 2)
            out.append(f"| {row} | " + " | ".join(parts) + f" | {lead} | {fails} | {clamped} |")
        origins = {mode: _get(cells, name, mode, "auto").origins for mode in MODES}
        out += ["", f"origins: {origins}"]
        for auto in (r for r in rows if r.startswith("auto")):
            chosen = Counter()
            for mode in MODES:
                chosen.update(_get(cells, name, mode, auto).chosen)
            out.append(f"{auto} chose: {dict(chosen.most_common())}")
        out.append("")

    out += ["## Geomean MASE over traces (min-max over traces)", ""]
    out += [
        "| row | "
        + " | ".join(MODES)
        + " | p90 cov range (day-ahead, 15 min-1 h) | pinball geomean day / 1 h |"
    ]
    out += ["|---" * (len(MODES) + 3) + "|"]
    geo: dict[str, dict[str, float]] = {}
    for row in rows:
        parts, covs = [], []
        geo[row] = {}
        for mode in MODES:
            values = [_get(cells, n, mode, row).mase for n in names]
            geo[row][mode] = geomean(values)
            finite = [v for v in values if np.isfinite(v)]
            spread = f" ({min(finite):.2f}-{max(finite):.2f})" if finite else ""
            parts.append(fmt(geo[row][mode]) + spread)
            covs += [_get(cells, n, mode, row).coverage for n in names]
        covs = [_get(cells, n, m, row).coverage for n in names for m in COVERAGE_MODES]
        covs = [c for c in covs if np.isfinite(c)]
        cov = f"{min(covs):.2f}-{max(covs):.2f}" if covs else "—"
        pin = [geomean([_get(cells, n, m, row).pinball for n in names]) for m in ("day-ahead", "1 h")]
        out.append(f"| {row} | " + " | ".join(parts) + f" | {cov} | {fmt(pin[0])} / {fmt(pin[1])} |")

    out += ["", "## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    out += _targets(cells, names, rows, geo)
    out += _bounds(cells, names, rows)
    if loto:
        out += _loto(cells, names, [r for r in rows if r.startswith("auto")])
    return "\n".join(out) + "\n"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def _targets(cells, names, rows, geo) -> list[str]:
    out = []
    auto = geo.get("auto", {})
    if "prophet_defaults" in geo:
        for mode in ("day-ahead", "1 h"):
            ratio = auto[mode] / geo["prophet_defaults"][mode]
            out.append(
                f"| {mode}: geomean MASE auto <= 0.85 x Prophet defaults | {auto[mode]:.3f} / "
                f"{geo['prophet_defaults'][mode]:.3f} = {ratio:.3f} | {_verdict(ratio <= 0.85)} |"
            )
    sf = [r for r in rows if r.startswith("sf_") and np.isfinite(geo[r]["day-ahead"])]
    if not sf and any(r.startswith("sf_") for r in rows):
        out.append(
            "| day-ahead: geomean MASE auto <= 0.90 x the best statsforecast model | "
            "no statsforecast row scored on every trace (see its fails column) | **MISSED** |"
        )
    if sf:
        best = min(sf, key=lambda r: geo[r]["day-ahead"])
        ratio = auto["day-ahead"] / geo[best]["day-ahead"]
        out.append(
            f"| day-ahead: geomean MASE auto <= 0.90 x the best statsforecast model ({best}) | "
            f"{auto['day-ahead']:.3f} / {geo[best]['day-ahead']:.3f} = {ratio:.3f} | "
            f"{_verdict(ratio <= 0.90)} |"
        )
    worse_cases, all_cases, worst = 0, 0, []
    by_mode = {mode: [0, 0] for mode in MODES}  # worse, all
    for name in names:
        for mode in MODES:
            a, n = _get(cells, name, mode, "auto"), _get(cells, name, mode, "seasonal_naive")
            if np.isfinite(a.mase) and np.isfinite(n.mase) and n.mase > 0:
                worst.append((a.mase / n.mase - 1, name, mode))
            for case, (err, pts) in a.cases.items():
                base = n.cases.get(case)
                if base and pts and base[1] == pts and base[0] > 0:
                    all_cases += 1
                    worse_cases += err > 1.05 * base[0]
                    by_mode[mode][0] += err > 1.05 * base[0]
                    by_mode[mode][1] += 1
    if worst:
        top = max(worst)
        misses = [f"{nm} {md} {r:+.1%}" for r, nm, md in sorted(worst, reverse=True) if r > 0.05]
        out.append(
            f"| on no trace auto > 5% worse than seasonal naive (pooled MASE per trace and horizon) | "
            f"worst {top[1]} {top[2]}: {top[0]:+.1%}{'; over: ' + ', '.join(misses) if misses else ''} | "
            f"{_verdict(top[0] <= 0.05)} |"
        )
    if all_cases:
        share = worse_cases / all_cases
        parts = ", ".join(f"{mode} {w} of {n}" for mode, (w, n) in by_mode.items() if n)
        out.append(
            f"| auto > 5% worse than seasonal naive in <= 5% of cases | {worse_cases} of {all_cases} "
            f"cases = {share:.1%} ({parts}) | {_verdict(share <= 0.05)} |"
        )
    for mode in COVERAGE_MODES:
        covs = [(_get(cells, n, mode, "auto").coverage, n) for n in names]
        bad = []
        for c, n in covs:
            if np.isfinite(c) and not LOW <= c <= HIGH:
                low, high = _get(cells, n, mode, "auto").coverage_interval()
                spread = f" (90% interval {low:.2f}-{high:.2f})" if np.isfinite(low) else ""
                bad.append(f"{n} {c:.3f}{spread}")
        finite = [c for c, _ in covs if np.isfinite(c)]
        if finite:
            out.append(
                f"| {mode}: auto p90 coverage 0.85-0.95 on every trace | {min(finite):.2f}-{max(finite):.2f}"
                f"{'; outside: ' + ', '.join(bad) if bad else ''} | {_verdict(not bad)} |"
            )
    return out


def _bounds(cells, names, rows) -> list[str]:
    once = ("day-ahead", "1 h", SHORT)  # one entry per forecast (a lead-time refit feeds 3 modes)
    over = sum(c.over_bound for (_, m, _), c in cells.items() if m in once)
    origins = sum(c.origins for (_, m, r), c in cells.items() if m in once and not r.startswith("sf_"))
    out = [
        f"| no forecast above its plausibility bound (every row, mode and the 1-28 day sweep) | "
        f"{over} of {origins} forecasts | {_verdict(over == 0)} |",
        "",
        "### Clamped forecasts (origins whose forecast had to be cut to its bound)",
        "",
        "| row | " + " | ".join([*MODES, SHORT]) + " |",
        "|---" * (len(MODES) + 2) + "|",
    ]
    for row in rows:
        if row.startswith("sf_"):
            continue
        parts = []
        for mode in [*MODES, SHORT]:
            c = [_get(cells, n, mode, row) for n in names]
            parts.append(f"{sum(x.clamped for x in c)}/{sum(x.origins for x in c)}")
        out.append(f"| {row} | " + " | ".join(parts) + " |")
    short_fails = Counter()
    for (_, m, _), c in cells.items():
        if m == SHORT:
            short_fails.update(c.chosen if c.fails else {})
    out += [
        "",
        f"Short sweep: fits refused with a stated ForecastError (too little history): {dict(short_fails)}",
    ]
    return out


def _loto(cells, names, autos: list[str]) -> list[str]:
    def score(row: str, subset: list[str]) -> float:
        return geomean([_get(cells, n, m, row).mase for n in subset for m in MODES])

    out = ["", "## Leave-one-trace-out choice among the auto rows", ""]
    out += [
        "| left out | chosen on the others | held-out geomean MASE | default auto there |",
        "|---|---|---|---|",
    ]
    held = []
    for name in names:
        others = [n for n in names if n != name]
        best = min(autos, key=lambda r: score(r, others))
        held.append(score(best, [name]))
        out.append(f"| {name} | {best} | {score(best, [name]):.3f} | {score('auto', [name]):.3f} |")
    out += ["", f"LOTO geomean {geomean(held):.3f}; fixed rows: "]
    out[-1] += ", ".join(f"{r} {score(r, names):.3f}" for r in autos)
    return out
