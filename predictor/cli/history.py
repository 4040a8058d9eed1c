"""Reading a ``--history`` file for a command: the file-format flags, and the reader's notes on stderr."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from predictor.sources.files import read_history_file

_PANEL = "Input"

TimestampColumn = Annotated[
    str | None,
    typer.Option(help="Timestamp column of --history (default: the first).", rich_help_panel=_PANEL),
]
TimestampFormat = Annotated[
    str | None,
    typer.Option(
        help="strftime format of the timestamps, e.g. '%d/%m/%Y %H:%M' (default: inferred).",
        rich_help_panel=_PANEL,
    ),
]
Separator = Annotated[
    str | None,
    typer.Option(
        help="Column separator of a CSV (default: ',', tab for .tsv, or sniffed).", rich_help_panel=_PANEL
    ),
]


@dataclass(frozen=True)
class FileFormat:
    """How to read a history file beyond its suffix: which column holds the times, how they are written."""

    timestamp_column: str | None = None
    timestamp_format: str | None = None
    sep: str | None = None


def load_history_file(
    path: Path, fmt: FileFormat, *, value_column: str | None, counts: bool, step_s: int
) -> pd.Series:
    """The history in ``path``; each note on how it was read goes to stderr as ``note: FILE: ...``."""
    notes: list[str] = []
    sep = "\t" if fmt.sep in ("\\t", "tab") else fmt.sep
    series = read_history_file(
        path,
        value_column=value_column,
        timestamp_column=fmt.timestamp_column,
        timestamp_format=fmt.timestamp_format,
        sep=sep,
        counts=counts,
        step_s=step_s,
        notes=notes,
    )
    for note in notes:
        sys.stderr.write(f"note: {path.name}: {note}\n")
    return series
