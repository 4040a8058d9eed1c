"""Forecast accuracy of every model, of ``auto`` and of the reference models on every real trace.

A benchmark, not a test. Reads each ``*.csv`` in ``../shared/data/traces/`` (request counts per
bin, resampled to 5-minute req/s by the project's own file reader, which time-weights bins that
sit off the 5-minute grid; never copied into the repository) and scores, with at most 28 days of
training each time:

- **day-ahead**: train on the history before midnight UTC of day d, forecast all of day d, for
  the last ``--days`` days (default 14);
- **lead-time**: refit every ``--lead-every`` hours (default 1) over the last ``--lead-days`` days
  (default 7) and score the bin that starts 15 minutes and the bin that starts 1 hour after the
  refit;
- **short**: at the last midnight of each trace, train on only 1, 2, 3, 7, 13, 14, 15 and 28
  days and check every forecast of our models against its plausibility bound (values above the
  bound, and how many forecasts had to be clamped to stay under it).

Every day-ahead and lead-time origin needs 2 days of training first. The defaults are sized for
the coverage targets: with 7 day-ahead origins and 24-48 refits (two days) per trace, the
sampling of origins alone moved a trace's coverage by several hundredths (on the same code,
which traces fell outside 0.85-0.95 changed with which refits were scored). 14 origins and 168
hourly refits (every weekday, every hour) cut that sampling error by about 1.4x and 1.9x, and
the report gives a bootstrap interval for each trace outside. Refits every 2 hours are cheaper
but biased where the error depends on the hour of the day (i94's coverage: 0.964 at even hours,
0.939 at every hour).

Rows: every registered model with its defaults, ``prophet_defaults`` (``Prophet()`` exactly as
the library ships it), statsforecast's AutoTheta, MSTL and SeasonalNaive (see ``rows.py``), ``auto`` and any
``--auto-variant``. Metrics per cell, pooled over every scored bin with data (NaN bins skipped):
MASE (scale: seasonal naive at one day on that training window), WAPE, p90 coverage and the
pinball loss at 0.9 scaled like MASE. The report (``accuracy_report.py``) gives per trace, the
geomean over traces with its min/max, the issue's targets as met/MISSED, and, with ``--loto``,
the leave-one-trace-out choice among the ``auto`` variants.

    python bench/forecast_accuracy.py --workers 2 --out /tmp/accuracy.md --json /tmp/accuracy.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from accuracy_report import LEAD, SHORT, Cell, render  # bench/ is on sys.path when run as a script
from rows import AUTO, MODELS, SF_ROWS, sf_forecast

from predictor.forecasting import metrics, registry, selection
from predictor.forecasting.models.common import LogSpaceModel
from predictor.sources.files import read_history_file

TRACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
STEP_S = 300
DAY = 86_400 // STEP_S  # bins per day
TRAIN_CAP = pd.Timedelta(days=28)
MIN_TRAIN = pd.Timedelta(days=2)
LEADS = {"15 min": 3, "1 h": 12}  # bin offset from the origin
SHORT_DAYS = (1, 2, 3, 7, 13, 14, 15, 28)
QUANTILE = 0.9

_HISTORIES: dict[Path, pd.Series] = {}


def load(path: Path) -> pd.Series:
    """The trace at 5-minute steps in req/s, read once per process."""
    if path not in _HISTORIES:
        _HISTORIES[path] = read_history_file(path, counts=True, step_s=STEP_S)
    return _HISTORIES[path]


Task = tuple[Path, str, pd.Timestamp, int]  # trace, 'day' | 'lead' | 'short', origin, train days


def tasks_for(path: Path, days: int, lead_days: int, lead_every_h: int = 1) -> list[Task]:
    """Day-ahead origins (last ``days`` midnights), hourly lead origins, and the short sweep."""
    history = load(path)
    end = history.index[-1] + pd.Timedelta(seconds=STEP_S)
    first = history.first_valid_index()
    last_midnight = (end - pd.Timedelta(days=1)).floor("D")
    found: list[Task] = []
    for k in range(days):
        origin = last_midnight - pd.Timedelta(days=k)
        if origin - first >= MIN_TRAIN:
            found.append((path, "day", origin, 28))
    last_hour = last_lead_origin(history)
    for k in range(0, lead_days * 24, lead_every_h):
        origin = last_hour - pd.Timedelta(hours=k)
        if origin - first >= MIN_TRAIN:
            found.append((path, "lead", origin, 28))
    for length in SHORT_DAYS:
        if last_midnight - first >= pd.Timedelta(days=length):
            found.append((path, "short", last_midnight, length))
    return found


def last_lead_origin(history: pd.Series) -> pd.Timestamp:
    """The latest hourly refit whose scored bins all lie inside the trace."""
    end = history.index[-1] + pd.Timedelta(seconds=STEP_S)
    return (end - pd.Timedelta(seconds=(max(LEADS.values()) + 1) * STEP_S)).floor("h")


def lead_case(history: pd.Series, origin: pd.Timestamp) -> str:
    """The case of a lead-time refit: its 24-hour block, counted back from the last refit.

    Blocks rather than UTC days: refits that start at 23:00 would otherwise make a case of one
    refit (one 5-minute bin) on the first day, too noisy to compare on its own.
    """
    return _block_of(history, origin, 24)


def _block_of(history: pd.Series, origin: pd.Timestamp, hours: int) -> str:
    last = last_lead_origin(history)
    block = int((last - origin) // pd.Timedelta(hours=hours))
    start = last - pd.Timedelta(hours=hours * (block + 1) - 1)
    return f"refits from {start:%Y-%m-%d %H:%M}"


Spec = tuple[str, dict] | selection.SelectionSettings | str  # model row, auto row, statsforecast row


def fit_predict(spec: Spec, train: pd.Series, origin: pd.Timestamp, periods: int):
    """(mean, p90, label, clamped, over the bound) of a row trained on ``train``."""
    if isinstance(spec, str):
        mean, upper = sf_forecast(spec, train, periods, STEP_S)
        return mean, upper, spec, False, False
    if isinstance(spec, selection.SelectionSettings):
        chosen = selection.select_model(train, settings=spec, seed=0)
        model, label = chosen.model, chosen.kind
    else:
        kind, options = spec
        model, label = registry.make_forecaster(kind, **options).fit(train, seed=0), kind
    forecast = model.predict(origin, periods, (0.5, QUANTILE, 0.95))
    over = False
    if isinstance(model, LogSpaceModel):
        ceiling = model.plausibility_bound().ceiling
        over = any(
            bool((v > ceiling * (1 + 1e-9)).any()) for v in [forecast.mean, *forecast.quantiles.values()]
        )
    return np.asarray(forecast.mean), np.asarray(forecast.quantile(QUANTILE)), label, forecast.clamped, over


def _score(
    actual: np.ndarray, mean: np.ndarray, upper: np.ndarray, scale: float, case: str, unit: str
) -> Cell:
    ok = ~np.isnan(actual)
    a, m, q = actual[ok], mean[ok], upper[ok]
    if not a.size or not scale > 0:
        return Cell(origins=1)
    err = np.abs(a - m)
    pinball = np.maximum(QUANTILE * (a - q), (QUANTILE - 1) * (a - q))
    return Cell(
        abs_err=float(err.sum()),
        actual=float(a.sum()),
        scaled_err=float(err.sum() / scale),
        scaled_pinball=float(pinball.sum() / scale),
        covered=int((a <= q).sum()),
        points=int(a.size),
        origins=1,
        cases={case: [float(err.sum() / scale), int(a.size)]},
        units={unit: [int((a <= q).sum()), int(a.size)]},
    )


def run_task(task: tuple[Path, str, pd.Timestamp, int, dict[str, Spec]]) -> dict[tuple[str, str, str], Cell]:
    """Every row at one origin of one trace, keyed by (trace, mode, row)."""
    path, kind_of_task, origin, train_days, rows = task
    name = path.name
    history = load(path)
    start = origin - pd.Timedelta(days=train_days)
    train = history.iloc[history.index.searchsorted(start) : history.index.searchsorted(origin)]
    scale = metrics.naive_scale(train.to_numpy(), DAY)
    periods = DAY if kind_of_task in ("day", "short") else max(LEADS.values()) + 1
    index = pd.date_range(origin, periods=periods, freq=f"{STEP_S}s")
    actual = history.reindex(index).to_numpy()
    if kind_of_task == "day":
        picks = {"day-ahead": slice(None)}
    elif kind_of_task == "lead":
        picks = {m: [i] for m, i in LEADS.items()} | {
            LEAD: slice(min(LEADS.values()), max(LEADS.values()) + 1)
        }
    else:
        picks = {SHORT: slice(None)}
    case = f"{origin:%Y-%m-%d}" if kind_of_task != "lead" else lead_case(history, origin)
    # coverage interval units: an origin, or six consecutive refits (their bins are correlated)
    unit = case if kind_of_task != "lead" else _block_of(history, origin, 6)
    cells: dict[tuple[str, str, str], Cell] = {}
    for row, spec in rows.items():
        if kind_of_task == "short" and isinstance(spec, str):
            continue  # the bound check is about our models
        try:
            mean, upper, label, clamped, over = fit_predict(spec, train, origin, periods)
        except Exception as exc:  # a benchmark reports failures, it does not stop on them
            for mode in picks:
                cells[(name, mode, row)] = Cell(fails=1, origins=1, chosen={type(exc).__name__: 1})
            continue
        for mode, pick in picks.items():
            cell = _score(actual[pick], mean[pick], upper[pick], scale, case, unit)
            cell.clamped, cell.over_bound = int(clamped), int(over)
            if isinstance(spec, selection.SelectionSettings):
                cell.chosen = {label: 1}
            cells[(name, mode, row)] = cell
    return cells


def auto_variant(spec: str) -> selection.SelectionSettings:
    """``NAME/folds=4/min_gain=0.05/candidates=a+b`` -> those SelectionSettings (NAME is the row)."""
    settings = selection.SelectionSettings()
    for change in spec.split("/")[1:]:
        key, _, value = change.partition("=")
        current = getattr(settings, key)
        if isinstance(current, tuple):
            parsed = tuple(type(current[0])(v) for v in value.split("+"))
        elif isinstance(current, bool):
            parsed = value.lower() in ("1", "true", "yes")
        else:
            parsed = type(current)(value)
        settings = replace(settings, **{key: parsed})
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--only", default="", help="comma-separated substrings of trace names")
    parser.add_argument("--days", type=int, default=14, help="day-ahead: the last N days")
    parser.add_argument("--lead-days", type=int, default=7, help="lead-time: refits over the last N days")
    parser.add_argument("--lead-every", type=int, default=1, help="lead-time: refit every N hours")
    parser.add_argument("--no-short", action="store_true", help="skip the short-history bound sweep")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", default=",".join([*MODELS, *SF_ROWS]), help="comma-separated model rows")
    parser.add_argument(
        "--auto-variant",
        action="append",
        default=[],
        metavar="NAME/FIELD=VALUE/...",
        help="an extra auto row with other SelectionSettings, tuples joined by +; "
        "e.g. f4/folds=4/candidates=seasonal_naive+harmonic+mstl/horizons_s=900+3600+14400",
    )
    parser.add_argument("--loto", action="store_true", help="leave-one-trace-out choice among auto rows")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--json", type=Path, help="write the raw cells here")
    args = parser.parse_args(argv)
    if not args.traces.is_dir():
        print(f"no traces at {args.traces}: nothing to benchmark", file=sys.stderr)
        return 1
    paths = sorted(args.traces.glob("*.csv"))
    if args.only:
        paths = [p for p in paths if any(s in p.name for s in args.only.split(","))]
    names = [p.name for p in paths]
    rows: dict[str, Spec] = {}
    for row in filter(None, args.models.split(",")):
        if row not in SF_ROWS and row not in MODELS:
            known = ", ".join([*MODELS, *SF_ROWS])
            print(f"--models: unknown row {row!r} (rows: {known})", file=sys.stderr)
            return 2
        rows[row] = row if row in SF_ROWS else MODELS[row]
    if any(row in SF_ROWS for row in rows) and importlib.util.find_spec("statsforecast") is None:
        print(
            "statsforecast is not installed: pip install -e '.[dev,bench]' (or leave the sf_* rows out "
            "of --models)",
            file=sys.stderr,
        )
        return 1
    rows[AUTO] = selection.SelectionSettings()
    for variant in args.auto_variant:
        rows[f"{AUTO}_{variant.split('/')[0]}"] = auto_variant(variant)
    tasks = [t for p in paths for t in tasks_for(p, args.days, args.lead_days, args.lead_every)]
    if args.no_short:
        tasks = [t for t in tasks if t[1] != "short"]
    tasks.sort(key=lambda t: t[1] != "short")  # the long training windows last: better packing
    print(f"{len(names)} traces, {len(tasks)} origins, rows: {', '.join(rows)}", file=sys.stderr)
    cells: dict[tuple[str, str, str], Cell] = defaultdict(Cell)
    started = time.perf_counter()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"  # one core per worker: fresh (spawned) workers read this when numpy loads
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        jobs = [(*t, rows) for t in tasks]
        for done, result in enumerate(pool.imap_unordered(run_task, jobs), start=1):
            for key, cell in result.items():
                cells[key].add(cell)
            if done % 20 == 0 or done == len(tasks):
                print(
                    f"  {done}/{len(tasks)} origins, {time.perf_counter() - started:.0f} s", file=sys.stderr
                )
    elapsed = time.perf_counter() - started
    text = f"Accuracy benchmark ({len(tasks)} origins, {elapsed:.0f} s, {args.workers} workers)\n\n"
    text += render(cells, names, list(rows), loto=args.loto)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        raw = {"|".join(k): vars(c) for k, c in cells.items()}
        args.json.write_text(json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
