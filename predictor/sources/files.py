"""History from CSV, TSV or Parquet files: exported Prometheus data, the real traces of the benchmarks.

A file has one timestamp column and one value column. By default the first column is the timestamp
and the next one is the value. Each row is one sample labelled with the **start** of its bin:

- timestamps are text (ISO 8601 and the like; see :mod:`predictor.sources.timestamps` for day/month
  order and ``timestamp_format``), native Parquet timestamps (a column or the frame's DatetimeIndex),
  or plain numbers, read as Unix seconds, milliseconds, microseconds or nanoseconds by their size;
  times without a zone are UTC;
- values are rates in req/s, or with ``counts=True`` request counts per bin (rate = count / bin length,
  the bin length being the most common spacing of the rows);
- an empty value field (or NaN / NA / null) is a gap, never zero traffic;
- duplicate timestamps are merged into the mean of their values.

The format follows the suffix: ``.csv``, ``.tsv`` (tab-separated) or ``.parquet`` / ``.pq``. A ``.csv``
whose header has no comma but semicolons, tabs or bars is read with that separator; ``sep`` sets it.

Readers append what a person should know about how the file was read (naive times taken as UTC,
duplicates merged, a unit or day/month order inferred, values that look like counts) to ``notes``,
one sentence each; the CLI prints them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from predictor.errors import SourceError
from predictor.sources.regular import bin_range, on_bins, regularise
from predictor.sources.timestamps import NAIVE_NOTE, text_times, unix_times

_MISSING_WORDS = frozenset({"", "nan", "na", "n/a", "null", "none"})
_CSV_SUFFIXES = (".csv", ".tsv")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_OTHER_SEPARATORS = (";", "\t", "|")
_SHOWN_SEPARATOR = {"\t": "tab", ";": "';'", "|": "'|'", ",": "','"}


def read_history_file(
    path: str | Path,
    *,
    value_column: str | None = None,
    timestamp_column: str | None = None,
    timestamp_format: str | None = None,
    sep: str | None = None,
    counts: bool = False,
    step_s: int = 300,
    notes: list[str] | None = None,
) -> pd.Series:
    """The history in ``path`` as a contract series (req/s, UTC, ``step_s`` bins, NaN for gaps).

    Raises ``SourceError`` naming the file for: a missing or unreadable file, an unknown suffix,
    no rows, an unknown column (the message lists the columns), an unparseable or ambiguous
    timestamp or value (the message gives the data row, 1-based), and negative or infinite values.
    What the reader decided on its own is appended to ``notes``.
    """
    notes = [] if notes is None else notes
    points = read_points(
        path,
        value_column=value_column,
        timestamp_column=timestamp_column,
        timestamp_format=timestamp_format,
        sep=sep,
        counts=counts,
        notes=notes,
    )
    try:
        return regularise(points, step_s, counts=counts)
    except SourceError as e:
        raise SourceError(f"{path}: {e}") from e


def read_points(
    path: str | Path,
    *,
    value_column: str | None = None,
    timestamp_column: str | None = None,
    timestamp_format: str | None = None,
    sep: str | None = None,
    counts: bool | None = None,
    notes: list[str] | None = None,
) -> pd.Series:
    """The raw samples of ``path``: values (float, NaN = gap) indexed by UTC sample times, file order.

    With ``counts=False``, values written as integers (no decimal point) get a note that they may
    be counts per bin.
    """
    path = Path(path)
    notes = [] if notes is None else notes
    table = _read_table(path, sep, notes)
    columns = [str(c) for c in table.columns]
    table.columns = columns
    ts_col, value_col = _choose_columns(path, columns, timestamp_column, value_column)
    if len(table) == 0:
        raise SourceError(f"{path} has no rows (only a header)")
    times = _parse_times(path, table[ts_col], timestamp_format, notes)
    values = _parse_values(path, table[value_col], value_col)
    if counts is False and _written_as_counts(table[value_col], values):
        notes.append(
            f"every value in column {value_col!r} is written as a whole number: if they are request "
            "counts per bin rather than req/s, read them as counts (--counts, or history_counts: true)"
        )
    duplicates = int(times.duplicated().sum())
    if duplicates:
        notes.append(
            f"{duplicates} row(s) repeat an earlier timestamp: the rows of each timestamp are merged "
            "into the mean of their values"
        )
    return pd.Series(values, index=pd.DatetimeIndex(times), name=value_col, dtype=float)


def _written_as_counts(column: pd.Series, values: np.ndarray) -> bool:
    present = values[~np.isnan(values)]
    if present.size < 10 or present.max() <= 1:
        return False
    if pd.api.types.is_numeric_dtype(column.dtype):
        return pd.api.types.is_integer_dtype(column.dtype)
    text = column.astype("string").fillna("").str.strip()
    return bool(text[text != ""].str.fullmatch(r"\d+").all())


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
        self.notes: list[str] = []  # how the file was read, from its last parse
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
            notes: list[str] = []
            points = read_points(
                self.path,
                value_column=self.value_column,
                timestamp_column=self.timestamp_column,
                counts=self.counts,
                notes=notes,
            )
            self._cached, self.notes = (stamp, points), notes
        return self._cached[1]


def _read_table(path: Path, sep: str | None, notes: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise SourceError(f"history file {path} does not exist")
    if not path.is_file():
        raise SourceError(f"history file {path} is not a regular file")
    suffix = path.suffix.lower()
    try:
        if suffix in _CSV_SUFFIXES:
            sep = sep or ("\t" if suffix == ".tsv" else _sniffed_separator(path, notes))
            # Everything as text, so that an empty field stays recognisable as a gap and a bad row
            # can be reported by its number instead of turning the whole column into objects.
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
        if suffix in _PARQUET_SUFFIXES:
            return _with_index_as_column(pd.read_parquet(path))
    except pd.errors.EmptyDataError as e:
        raise SourceError(f"{path} is empty (no header, no rows)") from e
    except UnicodeDecodeError as e:
        raise SourceError(
            f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})"
        ) from e
    except Exception as e:  # pandas and pyarrow raise many kinds; none may reach the caller
        raise SourceError(f"cannot read {path} as {suffix[1:]}: {e}") from e
    known = ", ".join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)
    raise SourceError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; use one of {known}")


def _sniffed_separator(path: Path, notes: list[str]) -> str:
    """',' unless the header line has none but one of ';', tab or '|' (a spreadsheet's export)."""
    with path.open("rb") as f:
        header = f.readline().decode("utf-8", errors="replace")
    if "," in header:
        return ","
    for candidate in _OTHER_SEPARATORS:
        if candidate in header:
            notes.append(f"columns are separated by {_SHOWN_SEPARATOR[candidate]} (set --sep to change it)")
            return candidate
    return ","


def _with_index_as_column(table: pd.DataFrame) -> pd.DataFrame:
    """A frame saved with its times as the index (df.to_parquet of a series) gets them as a column."""
    if isinstance(table.index, pd.DatetimeIndex):
        name = table.index.name or "timestamp"
        return table.rename_axis(name).reset_index()
    return table


def _choose_columns(
    path: Path, columns: list[str], timestamp_column: str | None, value_column: str | None
) -> tuple[str, str]:
    listed = ", ".join(repr(c) for c in columns)
    for wanted, role in ((timestamp_column, "timestamp"), (value_column, "value")):
        if wanted is not None and wanted not in columns:
            raise SourceError(f"{path} has no {role} column {wanted!r}; its columns are: {listed}")
    if len(columns) < 2:
        hint = " (if its columns are separated by something else than ',', give --sep)"
        raise SourceError(
            f"{path} needs a timestamp column and a value column; its columns are: {listed}"
            f"{hint if path.suffix.lower() in _CSV_SUFFIXES else ''}"
        )
    ts_col = timestamp_column if timestamp_column is not None else columns[0]
    if value_column is None:
        value_column = next(c for c in columns if c != ts_col)
    if value_column == ts_col:
        raise SourceError(f"{path}: column {ts_col!r} cannot be both the timestamp and the value")
    return ts_col, value_column


def _parse_times(
    path: Path, column: pd.Series, timestamp_format: str | None, notes: list[str]
) -> pd.DatetimeIndex:
    try:
        if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column.dtype):
            parsed = pd.DatetimeIndex(column)
            if parsed.tz is None:
                notes.append(NAIVE_NOTE)
            parsed = parsed.tz_localize("UTC") if parsed.tz is None else parsed.tz_convert("UTC")
        elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            parsed = unix_times(column, notes)
        else:
            text = column.astype("string").fillna("").str.strip()
            numbers = pd.to_numeric(text, errors="coerce")
            if timestamp_format is None and numbers.notna().all():
                parsed = unix_times(numbers, notes)
            else:
                parsed = text_times(text, notes, timestamp_format=timestamp_format)
    except SourceError as e:
        raise SourceError(f"{path}: column {column.name!r}: {e}") from e
    _fail_on_missing(path, column, np.asarray(parsed.isna()), "timestamp")
    return parsed.as_unit("us")


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
