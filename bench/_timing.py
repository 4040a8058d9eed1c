"""The timing loop the cost benchmarks share: CPU and wall seconds of one call, repeated.

CPU seconds of this process are less sensitive to other load on a shared machine than wall
seconds; both are reported, as the median of ``--runs``. :func:`table_main` is the command line
of such a benchmark: ``--runs`` and ``--out``, each row printed to stderr as it is measured and the
whole Markdown table to stdout (and to ``--out``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


def timed(call: Callable[[], T]) -> tuple[T, float, float]:
    """``call()``'s result, and the CPU seconds (this process) and wall seconds it took."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, time.process_time() - cpu, time.perf_counter() - wall


@dataclass(frozen=True)
class Runs(Generic[T]):
    """What ``runs`` repeats of one measurement returned, and their CPU and wall seconds."""

    results: list[T]
    cpu_s: list[float]
    wall_s: list[float]

    @property
    def last(self) -> T:
        return self.results[-1]

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(self.cpu_s)

    @property
    def median_wall_s(self) -> float:
        return statistics.median(self.wall_s)


def repeat(measure: Callable[[], tuple[T, float, float]], runs: int) -> Runs[T]:
    """``measure()`` (a result with its CPU and wall seconds, e.g. from :func:`timed`) ``runs`` times."""
    done = [measure() for _ in range(runs)]
    return Runs([d[0] for d in done], [d[1] for d in done], [d[2] for d in done])


def table_main(description: str, header: list[str], rows: Callable[[int], Iterable[str]]) -> int:
    """Parse ``--runs`` and ``--out``, then print the table: ``header`` and the rows that
    ``rows(runs)`` yields (each on stderr too, as soon as it is measured)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=argparse.FileType("w"))
    args = parser.parse_args()
    lines = list(header)
    for row in rows(args.runs):
        lines.append(row)
        print(row, file=sys.stderr)
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write(text + "\n")
    return 0
