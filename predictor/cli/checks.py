"""Checks of command-line values that no single flag's type can express, made before any work.

Each raises :class:`~predictor.errors.ConfigError` with one line that starts with the flag it is
about, so that ``reported_errors`` prints it and exits 2. Output locations are checked before a
long replay, so that a bad ``--report`` or ``--out`` fails in a second, not after minutes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from predictor.errors import ConfigError

_STAMP = "%Y-%m-%d %H:%M"


def replicas(
    low: int, high: int, *, low_flag: str = "--min-replicas", high_flag: str = "--max-replicas"
) -> None:
    """KEDA's own rules: minReplicaCount >= 0, maxReplicaCount >= 1, min <= max."""
    if low < 0:
        raise ConfigError(f"{low_flag}: must be 0 or more (the ScaledObject's minReplicaCount), got {low}")
    if high < 1:
        raise ConfigError(f"{high_flag}: must be 1 or more (the ScaledObject's maxReplicaCount), got {high}")
    if low > high:
        raise ConfigError(
            f"{low_flag} {low} is above {high_flag} {high}; KEDA requires minReplicaCount <= maxReplicaCount"
        )


def forecast_flags(baseline: int, max_replicas: int, peak_pods: int | None, plot: Path | None) -> None:
    """The flags of ``predictor forecast`` that bound or size the floor, and its plot file."""
    replicas(baseline, max_replicas, low_flag="--baseline")
    positive(peak_pods, "--peak-pods", "pods at the history's peak")
    if plot is not None:
        output_file(plot, "--plot")


def backtest_flags(
    days: float,
    low: int,
    high: int,
    peak_pods: int | None,
    retrain_every: str | None,
    reconcile_every: str | None,
) -> None:
    """The flags of ``predictor backtest`` that size or pace the replay."""
    from predictor.cli.common import parse_duration

    positive(days, "--days", "days replayed")
    replicas(low, high)
    positive(peak_pods, "--peak-pods", "pods at the trace's peak")
    if retrain_every is not None:
        positive(parse_duration(retrain_every, "--retrain-every"), "--retrain-every", "time between retrains")
    if reconcile_every is not None:
        positive(parse_duration(reconcile_every, "--reconcile-every"), "--reconcile-every", "floor refresh")


def outputs(*, report: Path | None = None, export_csv: Path | None = None) -> None:
    if report is not None:
        output_dir(report, "--report")
    if export_csv is not None:
        output_file(export_csv, "--export-csv")


def positive(value: float | None, flag: str, what: str = "") -> None:
    """``value`` > 0 when given."""
    if value is not None and not value > 0:
        raise ConfigError(f"{flag}: must be more than 0{f' ({what})' if what else ''}, got {value:g}")


def replay_window(
    history: pd.Series, start: pd.Timestamp | None, end: pd.Timestamp | None, *, days: float
) -> None:
    """``--start``/``--end`` inside the history and in order; ``--days`` leaves room to train."""
    if start is not None and end is not None and start >= end:
        raise ConfigError(f"--start {start:{_STAMP}} is not before --end {end:{_STAMP}}")
    present = history.dropna()
    if present.empty:
        return  # the replay itself says there is no data
    first, last = present.index[0], present.index[-1]
    span = f"the history runs {first:{_STAMP}} → {last:{_STAMP}} UTC"
    if start is not None and start >= last:
        raise ConfigError(f"--start {start:{_STAMP}} is at or after the end of the data; {span}")
    if end is not None and end <= first:
        raise ConfigError(f"--end {end:{_STAMP}} is at or before the start of the data; {span}")
    if start is None:
        scored_from = (end or last) - pd.Timedelta(days=days)
        if scored_from <= first:
            available = ((end or last) - first).total_seconds() / 86_400
            raise ConfigError(
                f"--days {days:g}: {span} ({available:.1f} days), which leaves nothing before the "
                f"replay to train on; give fewer --days or an earlier history"
            )


def output_dir(path: Path, flag: str) -> None:
    """``path`` is a folder, or can be made one."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag}: {path} exists and is not a folder; give a folder to write into")
    _writable_parent(path, flag)


def output_file(path: Path, flag: str) -> None:
    """``path`` can be written as a file (it is not a folder; its folder exists or can be made)."""
    if path.is_dir():
        raise ConfigError(f"{flag}: {path} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{flag}: {path} cannot be written (permission denied)")
    _writable_parent(path.parent, flag)


def _writable_parent(path: Path, flag: str) -> None:
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{flag}: cannot create {path}: {existing} is not a folder")
    if existing != path and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag}: cannot create {path}: {existing} is not writable")
    if existing == path and not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag}: {path} is not writable")
