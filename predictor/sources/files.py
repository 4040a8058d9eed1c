"""History from CSV or Parquet files: exported Prometheus data, the real traces of the benchmarks.

A file has one timestamp column and one value column. By default the first column is the timestamp
and the next one is the value. Each row is one sample labelled with the **start** of its bin:

- timestamps are ISO-like strings (naive ones are UTC; ones with an offset are converted to UTC),
  native Parquet timestamps, or plain numbers, read as Unix seconds;
- values are rates in req/s, or with ``counts=True`` request counts per bin (rate = count / bin length,
  the bin length being the most common spacing of the rows);
- an empty value field (or NaN / NA / null) is a gap, never zero traffic.

The format follows the suffix: ``.csv`` or ``.parquet`` / ``.pq``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from predictor.errors import SourceError
from predictor.sources.regular import bin_range, on_bins, regularise

_MISSING_WORDS = frozenset({"", "nan", "na", "n/a", "null", "none"})
_CSV_SUFFIXES = (".csv",)
_PARQUET_SUFFIXES = (".parquet", ".pq")


def read_history_file(
    path: str | Path,
    *,
    value_column: str | None = None,
    timestamp_column: str | None = None,
    counts: bool = False,
    step_s: int = 300,
) -> pd.Series:
    """The history in ``path`` as a contract series (req/s, UTC, ``step_s`` bins, NaN for gaps).

    Raises ``SourceError`` naming the file for: a missing or unreadable file, an unknown suffix,
    no rows, an unknown column (the message lists the columns), an unparseable timestamp or value
    (the message gives the data row, 1-based), and negative or infinite values.
    """
    points = read_points(path, value_column=value_column, timestamp_column=timestamp_column)
    try:
        return regularise(points, step_s, counts=counts)
    except SourceError as e:
        raise SourceError(f"{path}: {e}") from e


def read_points(
    path: str | Path, *, value_column: str | None = None, timestamp_column: str | None = None
) -> pd.Series:
    """The raw samples of ``path``: values (float, NaN = gap) indexed by UTC sample times, file order."""
    path = Path(path)
    table = _read_table(path)
    columns = [str(c) for c in table.columns]
    table.columns = columns
    ts_col, value_col = _choose_columns(path, columns, timestamp_column, value_column)
    if len(table) == 0:
        raise SourceError(f"{path} has no rows (only a header)")
    times = _parse_times(path, table[ts_col])
    values = _parse_values(path, table[value_col], value_col)
    return pd.Series(values, index=pd.DatetimeIndex(times), name=value_col, dtype=float)


class FileSource:
    """A :class:`~predictor.sources.base.HistorySource` over one CSV or Parquet file.

    The file is parsed again only when its modification time or size changes, so a daemon can
    poll it cheaply while someone keeps exporting into it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        value_column: str | None = None,
        timestamp_column: str | None = None,
        counts: bool = False,
    ) -> None:
        self.path = Path(path)
        self.value_column = value_column
        self.timestamp_column = timestamp_column
        self.counts = counts
        self._cached: tuple[tuple[int, int], pd.Series] | None = None

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp, step_s: int) -> pd.Series:
        """The bins of ``step_s`` wholly inside ``[start, end)``; bins the file does not cover are NaN."""
        history = regularise(self._points(), step_s, counts=self.counts)
        return on_bins(history, bin_range(start, end, step_s))

    def _points(self) -> pd.Series:
        try:
            stat = self.path.stat()
        except OSError as e:
            raise SourceError(f"cannot read history file {self.path}: {e.strerror or e}") from e
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._cached is None or self._cached[0] != stamp:
            points = read_points(
                self.path, value_column=self.value_column, timestamp_column=self.timestamp_column
            )
            self._cached = (stamp, points)
        return self._cached[1]


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise SourceError(f"history file {path} does not exist")
    if not path.is_file():
        raise SourceError(f"history file {path} is not a regular file")
    suffix = path.suffix.lower()
    try:
        if suffix in _CSV_SUFFIXES:
            # Everything as text, so that an empty field stays recognisable as a gap and a bad row
            # can be reported by its number instead of turning the whole column into objects.
            return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        if suffix in _PARQUET_SUFFIXES:
            return pd.read_parquet(path)
    except pd.errors.EmptyDataError as e:
        raise SourceError(f"{path} is empty (no header, no rows)") from e
    except Exception as e:  # pandas and pyarrow raise many kinds; none may reach the caller
        raise SourceError(f"cannot read {path} as {suffix[1:]}: {e}") from e
    known = ", ".join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)
    raise SourceError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; use one of {known}")


def _choose_columns(
    path: Path, columns: list[str], timestamp_column: str | None, value_column: str | None
) -> tuple[str, str]:
    listed = ", ".join(repr(c) for c in columns)
    for wanted, role in ((timestamp_column, "timestamp"), (value_column, "value")):
        if wanted is not None and wanted not in columns:
            raise SourceError(f"{path} has no {role} column {wanted!r}; its columns are: {listed}")
    if len(columns) < 2:
        raise SourceError(f"{path} needs a timestamp column and a value column; its columns are: {listed}")
    ts_col = timestamp_column if timestamp_column is not None else columns[0]
    if value_column is None:
        value_column = next(c for c in columns if c != ts_col)
    if value_column == ts_col:
        raise SourceError(f"{path}: column {ts_col!r} cannot be both the timestamp and the value")
    return ts_col, value_column


def _parse_times(path: Path, column: pd.Series) -> pd.DatetimeIndex:
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column.dtype):
        parsed = pd.DatetimeIndex(column)
        parsed = parsed.tz_localize("UTC") if parsed.tz is None else parsed.tz_convert("UTC")
        _fail_on_missing(path, column, np.asarray(parsed.isna()), "timestamp")
        return parsed.as_unit("us")
    if pd.api.types.is_numeric_dtype(column.dtype):
        return _unix_seconds(path, column.astype(float))
    text = column.astype("string").fillna("").str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        return _unix_seconds(path, numbers.astype(float))
    with warnings.catch_warnings():
        # pandas warns when it cannot infer one format; rows it cannot parse are reported below.
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(text, utc=True, errors="coerce")
        retry = parsed.isna() & (text != "")
        if retry.any():
            # The format is inferred from the first row; rows written another way get a second chance.
            parsed[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    _fail_on_missing(path, column, np.asarray(parsed.isna()), "timestamp")
    return pd.DatetimeIndex(parsed).as_unit("us")


def _unix_seconds(path: Path, seconds: pd.Series) -> pd.DatetimeIndex:
    bad = ~np.isfinite(seconds.to_numpy())
    _fail_on_missing(path, seconds, bad, "timestamp")
    micros = np.round(seconds.to_numpy() * 1e6).astype(np.int64)
    return pd.DatetimeIndex(micros.astype("datetime64[us]")).tz_localize("UTC")


def _parse_values(path: Path, column: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan)
    text = column.astype("string").fillna("").str.strip()
    values = pd.to_numeric(text.replace(r"^(?i:n/a|na|null|none)$", "", regex=True), errors="coerce")
    unparsed = values.isna() & ~text.str.lower().isin(_MISSING_WORDS)
    if unparsed.any():
        row = int(np.argmax(unparsed.to_numpy()))
        raise SourceError(
            f"{path}: value {text.iloc[row]!r} in column {name!r} is not a number "
            f"({_where(path, row)}; {int(unparsed.sum())} such row(s))"
        )
    return values.to_numpy(dtype=float, na_value=np.nan)


def _fail_on_missing(path: Path, column: pd.Series, bad: np.ndarray, what: str) -> None:
    if bad.any():
        row = int(np.argmax(bad))
        raise SourceError(
            f"{path}: cannot parse {what} {str(column.iloc[row])!r} "
            f"({_where(path, row)}; {int(bad.sum())} such row(s))"
        )


def _where(path: Path, row: int) -> str:
    if path.suffix.lower() in _CSV_SUFFIXES:
        return f"data row {row + 1}, line {row + 2} of the file"
    return f"row {row + 1}"
