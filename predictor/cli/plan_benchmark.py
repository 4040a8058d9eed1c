"""``predictor plan`` with a calibrated profile: the formula's pod count and the benchmark's, side
by side, and which one the plan uses.

The benchmark's count sizes each pod at ``u`` of its measured knee: ``ceil(λ / (knee × u))``, with
the same utilisation and spike buffer as the formula. The plan uses it when it applies, that is
when the request shape and numbers are the ones the load test measured; flags that change a
capacity number, or a role other than aggregated, describe another workload, and the plan uses
the formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from predictor.capacity import Sizing, size
from predictor.capacity.calibration import knee_pod_model
from predictor.cli.common import fmt
from predictor.config import load_profile
from predictor.config.calibration import ProfileCalibration


@dataclass(frozen=True)
class FormulaAgainstBenchmark:
    """Both pod counts for one request rate, and which one is used and why."""

    profile: str
    calibration: ProfileCalibration
    formula: Sizing
    benchmark: Sizing
    uses: str  # "benchmark" or "formula"
    reason: str

    @property
    def used(self) -> Sizing:
        return self.benchmark if self.uses == "benchmark" else self.formula


def formula_against_benchmark(
    profile: str | None,
    profiles_dir: Path | None,
    formula: Sizing,
    *,
    flags_given: list[str],
) -> FormulaAgainstBenchmark | None:
    """The comparison when ``profile`` is calibrated, else None. ``flags_given`` are the capacity
    flags set on the command line (they change what the load test measured)."""
    if not profile:
        return None
    calibration = load_profile(profile, profiles_dir).calibration
    if calibration is None:
        return None
    knee = calibration.knee
    model = knee_pod_model(knee.rps_per_pod, knee.concurrency, formula.role)
    benchmark = size(formula.rps, model, utilization=formula.utilization, buffer=formula.buffer)
    bound = " (a lower bound: every run met the objective)" if knee.lower_bound else ""
    if formula.role != "aggregated":
        uses, reason = "formula", f"the load test measured aggregated serving, not the {formula.role} role"
    elif flags_given:
        uses = "formula"
        verb = "changes" if len(flags_given) == 1 else "change"
        reason = f"{', '.join(flags_given)} {verb} what the load test measured"
    else:
        uses = "benchmark"
        reason = f"measured: the load test's knee at {calibration.slo_label}{bound}"
    return FormulaAgainstBenchmark(profile, calibration, formula, benchmark, uses, reason)


def comparison_view(c: FormulaAgainstBenchmark) -> Group:
    knee = c.calibration.knee
    title = (
        f"Formula against benchmark (profile {c.profile}, calibrated "
        f"{c.calibration.calibrated_at:%Y-%m-%d} at {c.calibration.slo_label})"
    )
    table = Table(title=title, title_justify="left")
    for column in ("", "formula", "benchmark"):
        table.add_column(column, justify="left" if not column else "right")
    f, b = c.formula, c.benchmark
    table.add_row(
        "req/s per pod at full use",
        f"C / D = {fmt(f.per_pod_concurrency)} / {fmt(f.duration_s, 's')}"
        f" = {f.per_pod_concurrency / f.duration_s:.3g}",
        f"knee {knee.rps_per_pod:.3g} ({Path(knee.file).name})",
    )
    table.add_row(
        "pods",
        f"ceil({f.exact_pods:.2f}) = [bold]{f.pods}[/bold]",
        f"ceil({fmt(b.rps)} / ({knee.rps_per_pod:.3g} × {fmt(b.utilization)}))"
        f" = ceil({b.exact_pods:.2f}) = [bold]{b.pods}[/bold]",
    )
    table.add_row(
        "with spike buffer", f"[bold]{f.pods_with_buffer}[/bold]", f"[bold]{b.pods_with_buffer}[/bold]"
    )
    verdict = Text.from_markup(f"uses the [bold]{c.uses}[/bold]: {c.reason.replace('[', chr(92) + '[')}")
    return Group(table, verdict)


def comparison_json(c: FormulaAgainstBenchmark) -> dict[str, Any]:
    """Keys added to ``plan --json``: both sizings, and which one the top-level numbers are."""
    return {
        "uses": c.uses,
        "uses_reason": c.reason,
        "formula": c.formula.to_dict(),
        "benchmark": {**c.benchmark.to_dict(), "knee_rps_per_pod": c.calibration.knee.rps_per_pod},
    }
