"""Forecast accuracy of every model and of ``auto`` on every real trace (a benchmark, not a test).

Reads each ``*.csv`` in ``../shared/data/traces/`` (request counts per bin, resampled to 5-minute
req/s; never copied into the repository) and scores, with at most 28 days of training each time:

- **day-ahead**: train on the history before midnight UTC of day d, forecast all of day d, for
  the last ``--days`` days;
- **lead-time-ahead**: refit every hour over the last ``--lead-days`` days and score the bin that
  starts 15 minutes and the bin that starts 1 hour after the refit.

Every origin needs 2 days of training first. Rows: every registered model with its defaults,
``prophet_defaults`` (``Prophet()`` exactly as the library ships it: the reference of the
issue's target), ``auto`` and any ``--auto-variant``. Metrics: WAPE, MASE (scale: seasonal
naive at one day on that training window) and p90 coverage, pooled over every scored bin with
data; NaN bins are skipped. A model that cannot fit at an origin (e.g. weekly naive under a
week) is counted in ``fails`` and left out of that cell. The Markdown ends with the issue's
targets: auto's mean MASE against Prophet's, and auto against seasonal naive on every trace.

    python bench/forecast_accuracy.py --workers 2 --out /tmp/accuracy.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from rows import AUTO, MODELS  # bench/rows.py: the script's folder is on sys.path

from predictor.forecasting import metrics, registry, selection
from predictor.sources.files import read_history_file

TRACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
STEP_S = 300
DAY = 86_400 // STEP_S  # bins per day
TRAIN_CAP = pd.Timedelta(days=28)
MIN_TRAIN = pd.Timedelta(days=2)
LEADS = {"15 min": 3, "1 h": 12}  # bin offset from the origin
MODES = ("day-ahead", *LEADS)


@dataclass
class Cell:
    """Sums over the scored bins of one (trace, mode, model)."""

    abs_err: float = 0.0
    actual: float = 0.0
    scaled_err: float = 0.0
    covered: int = 0
    points: int = 0
    fails: int = 0
    origins: int = 0
    chosen: Counter = field(default_factory=Counter)

    def add(self, other: Cell) -> None:
        for name in ("abs_err", "actual", "scaled_err", "covered", "points", "fails", "origins"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.chosen.update(other.chosen)

    @property
    def mase(self) -> float:
        return self.scaled_err / self.points if self.points else float("nan")

    @property
    def wape(self) -> float:
        return self.abs_err / self.actual if self.actual else float("nan")

    @property
    def coverage(self) -> float:
        return self.covered / self.points if self.points else float("nan")


_HISTORIES: dict[Path, pd.Series] = {}


def load(path: Path) -> pd.Series:
    """The trace at 5-minute steps in req/s, read once per process."""
    if path not in _HISTORIES:
        _HISTORIES[path] = read_history_file(path, counts=True, step_s=STEP_S)
    return _HISTORIES[path]


def tasks_for(path: Path, days: int, lead_days: int) -> list[tuple[Path, str, pd.Timestamp]]:
    """(trace, 'day' | 'lead', origin) for the last ``days`` whole days and hourly lead origins."""
    history = load(path)
    end = history.index[-1] + pd.Timedelta(seconds=STEP_S)
    first = history.first_valid_index()
    last_midnight = (end - pd.Timedelta(days=1)).floor("D")
    found = []
    for k in range(days):
        origin = last_midnight - pd.Timedelta(days=k)
        if origin - first >= MIN_TRAIN:
            found.append((path, "day", origin))
    last_hour = (end - pd.Timedelta(seconds=(max(LEADS.values()) + 1) * STEP_S)).floor("h")
    for k in range(lead_days * 24):
        origin = last_hour - pd.Timedelta(hours=k)
        if origin - first >= MIN_TRAIN:
            found.append((path, "lead", origin))
    return found


Spec = tuple[str, dict] | selection.SelectionSettings  # a model row, or an auto row


def fit_predict(spec: Spec, train: pd.Series, origin: pd.Timestamp, periods: int):
    """(mean, p90, fitted kind) of a row trained on ``train``, forecasting from ``origin``."""
    if isinstance(spec, selection.SelectionSettings):
        chosen = selection.select_model(train, settings=spec, seed=0)
        model, label = chosen.model, chosen.kind
    else:
        kind, options = spec
        model, label = registry.make_forecaster(kind, **options).fit(train, seed=0), kind
    forecast = model.predict(origin, periods, (0.9,))
    return np.asarray(forecast.mean), np.asarray(forecast.quantile(0.9)), label


def run_task(task: tuple[Path, str, pd.Timestamp, dict[str, Spec]]) -> dict[tuple[str, str, str], Cell]:
    """Every row at one origin of one trace, keyed by (trace, mode, row)."""
    path, kind_of_task, origin, rows = task
    name = path.name
    history = load(path)
    train = history.iloc[history.index.searchsorted(origin - TRAIN_CAP) : history.index.searchsorted(origin)]
    scale = metrics.naive_scale(train.to_numpy(), DAY)
    periods = DAY if kind_of_task == "day" else max(LEADS.values()) + 1
    index = pd.date_range(origin, periods=periods, freq=f"{STEP_S}s")
    actual = history.reindex(index).to_numpy()
    picks = {"day-ahead": slice(None)} if kind_of_task == "day" else {m: [i] for m, i in LEADS.items()}
    cells: dict[tuple[str, str, str], Cell] = {}
    for model, spec in rows.items():
        try:
            mean, p90, label = fit_predict(spec, train, origin, periods)
        except Exception as exc:  # a benchmark reports failures, it does not stop on them
            for mode in picks:
                cells[(name, mode, model)] = Cell(fails=1, origins=1, chosen=Counter({type(exc).__name__: 1}))
            continue
        for mode, pick in picks.items():
            a, m, q = actual[pick], mean[pick], p90[pick]
            ok = ~np.isnan(a)
            a, m, q = a[ok], m[ok], q[ok]
            err = np.abs(a - m)
            cells[(name, mode, model)] = Cell(
                abs_err=float(err.sum()),
                actual=float(a.sum()),
                scaled_err=float(err.sum() / scale) if scale > 0 else 0.0,
                covered=int((a <= q).sum()),
                points=int(a.size) if scale > 0 else 0,
                origins=1,
                chosen=Counter({label: 1}) if isinstance(spec, selection.SelectionSettings) else Counter(),
            )
    return cells


def fmt(x: float, digits: int = 3) -> str:
    return "—" if not np.isfinite(x) else f"{x:.{digits}f}"


def render(cells: dict[tuple[str, str, str], Cell], names: list[str], rows: list[str]) -> str:
    out = ["## Per trace", ""]
    for name in names:
        out += [f"### {name}", ""]
        head = "| model | " + " | ".join(f"{m} MASE | {m} WAPE | {m} p90 cov" for m in MODES) + " | fails |"
        out += [head, "|---" * (2 + 3 * len(MODES)) + "|"]
        for model in rows:
            parts, fails = [], 0
            for mode in MODES:
                c = cells.get((name, mode, model), Cell())
                parts += [fmt(c.mase), fmt(c.wape), fmt(c.coverage, 2)]
                fails += c.fails
            out.append(f"| {model} | " + " | ".join(parts) + f" | {fails} |")
        origins = {mode: cells.get((name, mode, AUTO), Cell()).origins for mode in MODES}
        out += ["", f"origins: {origins}"]
        for auto in (r for r in rows if r.startswith(AUTO)):
            chosen = sum((cells.get((name, mode, auto), Cell()).chosen for mode in MODES), Counter())
            out.append(f"{auto} chose: {dict(chosen.most_common())}")
        out.append("")

    out += ["## Mean MASE over traces", "", "| model | " + " | ".join(MODES) + " | all |", "|---" * 5 + "|"]
    means = {}
    for model in rows:
        per_mode = [np.nanmean([cells.get((n, mode, model), Cell()).mase for n in names]) for mode in MODES]
        means[model] = [*per_mode, float(np.mean(per_mode))]
        out.append(f"| {model} | " + " | ".join(fmt(x) for x in means[model]) + " |")

    out += ["", "## Targets", "", "| check | " + " | ".join(MODES) + " | all |", "|---" * 5 + "|"]
    for reference in ("prophet_defaults", "prophet"):
        if reference in means:
            gain = [1 - a / p for a, p in zip(means[AUTO], means[reference], strict=True)]
            cols = " | ".join(f"{g:+.1%}" for g in gain)
            out.append(f"| auto vs {reference}, mean MASE lower by (>= 10%) | {cols} |")
    for name in names:
        ratios = []
        for mode in MODES:
            auto, naive = (
                cells.get((name, mode, AUTO), Cell()),
                cells.get((name, mode, "seasonal_naive"), Cell()),
            )
            ratios.append(auto.mase / naive.mase - 1 if naive.points else float("nan"))
        worst = max((r for r in ratios if np.isfinite(r)), default=float("nan"))
        verdict = "met" if worst <= 0.05 else "MISSED"
        cols = " | ".join("—" if not np.isfinite(r) else f"{r:+.1%}" for r in ratios)
        out.append(f"| {name}: auto vs seasonal naive MASE (<= +5%) | {cols} | {verdict} |")
    return "\n".join(out) + "\n"


def auto_variant(spec: str) -> selection.SelectionSettings:
    """``NAME/folds=4/min_gain=0.05/candidates=a+b`` -> those SelectionSettings (NAME is the row)."""
    settings = selection.SelectionSettings()
    for change in spec.split("/")[1:]:
        key, _, value = change.partition("=")
        current = getattr(settings, key)
        if isinstance(current, tuple):
            parsed = tuple(type(current[0])(v) for v in value.split("+"))
        else:
            parsed = type(current)(value)
        settings = replace(settings, **{key: parsed})
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--days", type=int, default=7, help="day-ahead: the last N days")
    parser.add_argument(
        "--lead-days", type=int, default=2, help="lead-time-ahead: hourly over the last N days"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model rows")
    parser.add_argument(
        "--auto-variant",
        action="append",
        default=[],
        metavar="NAME/FIELD=VALUE/...",
        help="an extra auto row with other SelectionSettings, tuples joined by +; "
        "e.g. f4/folds=4/candidates=seasonal_naive+harmonic+mstl/horizons_s=900+3600+14400",
    )
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--json", type=Path, help="write the raw cells here")
    args = parser.parse_args(argv)
    if not args.traces.is_dir():
        print(f"no traces at {args.traces}: nothing to benchmark", file=sys.stderr)
        return 1
    paths = sorted(args.traces.glob("*.csv"))
    names = [p.name for p in paths]
    rows: dict[str, Spec] = {name: MODELS[name] for name in args.models.split(",") if name}
    rows[AUTO] = selection.SelectionSettings()
    for variant in args.auto_variant:
        rows[f"{AUTO}_{variant.split('/')[0]}"] = auto_variant(variant)
    tasks = [(*t, rows) for p in paths for t in tasks_for(p, args.days, args.lead_days)]
    print(f"{len(names)} traces, {len(tasks)} origins, rows: {', '.join(rows)}", file=sys.stderr)
    cells: dict[tuple[str, str, str], Cell] = defaultdict(Cell)
    started = time.perf_counter()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # one core per worker: fresh (spawned) workers read this when numpy loads
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for done, result in enumerate(pool.imap_unordered(run_task, tasks), start=1):
            for key, cell in result.items():
                cells[key].add(cell)
            if done % 10 == 0 or done == len(tasks):
                print(
                    f"  {done}/{len(tasks)} origins, {time.perf_counter() - started:.0f} s", file=sys.stderr
                )
    text = f"Accuracy benchmark ({len(tasks)} origins, {time.perf_counter() - started:.0f} s)\n\n"
    text += render(cells, names, list(rows))
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        raw = {"|".join(k): {**vars(c), "chosen": dict(c.chosen)} for k, c in cells.items()}
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
