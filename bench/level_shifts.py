"""Level shifts on the real traces: how the forecasts follow them (a benchmark, not a test).

For each event, day-ahead origins at the midnights of the event day and the two days after it,
and lead-time refits every 3 hours from the event's start over 48 hours, scored like
``forecast_accuracy.py`` (MASE against the training window's daily naive scale, p90 coverage).
The events:

- NASA: the shuttle-launch flash crowd (13 Jul 1995) and the return after the collection gap
  (28 Jul 13:32 to 3 Aug: the models see a level they have not seen for six days);
- Azure: the Monday after the weekend (13 May 2024), the weekend at 0.4x weekdays;
- each Twitter ticker: the day with the largest burst (its highest bin over the median bin of
  the trace), found from the data.

    python bench/level_shifts.py --workers 2 --out /tmp/level.md
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
from accuracy_report import Cell, fmt
from forecast_accuracy import TRACES, load, run_task
from rows import MODELS

from predictor.forecasting import selection

ROWS = ("seasonal_naive", "seasonal_naive_weekly", "harmonic", "sf_autotheta", "auto")


def events(traces: Path) -> list[tuple[str, Path, pd.Timestamp]]:
    """(label, trace, event start) for every event in the module docstring that the data has."""
    found = []
    nasa = traces / "nasa_http_1995_jul_aug16.csv"
    if nasa.exists():
        found.append(("NASA flash crowd", nasa, pd.Timestamp("1995-07-13", tz="UTC")))
        found.append(("NASA after the gap", nasa, pd.Timestamp("1995-08-03", tz="UTC")))
    azure = traces / "azure_llm_2024_code.csv"
    if azure.exists():
        found.append(("Azure Monday after the weekend", azure, pd.Timestamp("2024-05-13", tz="UTC")))
    for path in sorted(traces.glob("nab_twitter_volume_*.csv")):
        history = load(path)
        late = history[history.index >= history.first_valid_index() + pd.Timedelta(days=14)]
        day = late.idxmax().floor("D")
        found.append((f"{path.stem.rsplit('_', 1)[-1]} burst {day:%d %b}", path, day))
    return found


def tasks(path: Path, start: pd.Timestamp, rows: dict) -> list:
    out = [(path, "day", start + pd.Timedelta(days=k), 28, rows) for k in range(3)]
    out += [(path, "lead", start + pd.Timedelta(hours=h), 28, rows) for h in range(0, 48, 3)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not args.traces.is_dir():
        print(f"no traces at {args.traces}", file=sys.stderr)
        return 1
    rows = {r: (r if r.startswith("sf_") else MODELS[r]) for r in ROWS if r != "auto"}
    rows["auto"] = selection.SelectionSettings()
    found = events(args.traces)
    jobs = [(label, task) for label, path, start in found for task in tasks(path, start, rows)]
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    cells: dict[tuple[str, str, str], Cell] = defaultdict(Cell)
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(run_task, [task for _, task in jobs], chunksize=1)
    for (label, _), result in zip(jobs, results, strict=True):
        for (_, mode, row), cell in result.items():
            cells[(label, mode, row)].add(cell)
    modes = ("day-ahead", "1 h")
    out = [
        "| event | " + " | ".join(f"{r} day / 1 h MASE" for r in ROWS) + " |",
        "|---" * (len(ROWS) + 1) + "|",
    ]
    for label, _, _ in found:
        parts = [" / ".join(fmt(cells[(label, m, r)].mase, 2) for m in modes) for r in ROWS]
        out.append(f"| {label} | " + " | ".join(parts) + " |")
    coverage = []
    for label, _, _ in found:
        day, hour = (fmt(cells[(label, m, "auto")].coverage, 2) for m in modes)
        coverage.append(f"{label} {day} / {hour}")
    out += ["", "p90 coverage of auto (day / 1 h): " + "; ".join(coverage)]
    text = "\n".join(out) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
