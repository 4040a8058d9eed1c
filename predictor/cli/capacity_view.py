"""Tables for capacity from evidence: a load-test sweep and its knee; configured against observed."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from predictor.capacity.calibration import Calibration
from predictor.cli.common import fmt
from predictor.config.profiles import ServingProfile
from predictor.runtime.capacity_check import CapacityCheck


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    return table


def _seconds(value: float) -> str:
    return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"


def sweep_table(calibration: Calibration) -> Table:
    """One row per run, by load: what it offered, achieved and measured, and whether it meets."""
    columns = ["run", "offered", "req/s", *(s.stat + " " + s.metric.upper() for s in calibration.slos)]
    table = _table(f"Sweep against {calibration.slo_label}", *columns, "C", "")
    for column in table.columns[2:]:
        column.justify = "right"
    for index, point in enumerate(calibration.points):
        mark = (
            "[green]◀ knee[/green]"
            if index == calibration.knee_index
            else "[green]meets[/green]"
            if point.meets
            else "[red]misses[/red]"
        )
        values = [
            f"[red]{_seconds(v)}[/red]" if v > slo.limit_s else _seconds(v)
            for slo, v in zip(calibration.slos, point.values_s, strict=True)
        ]
        table.add_row(
            Path(point.run.source).name,
            point.run.offered,
            fmt(round(point.rps, 2)),
            *values,
            fmt(round(point.concurrency, 1)),
            mark,
        )
    return table


def calibration_summary(calibration: Calibration, profile: ServingProfile | None) -> Group:
    """The knee, where the objective is crossed, the derived numbers and where each came from."""
    parts: list[Table | Text] = []
    knee = calibration.knee
    if knee is not None:
        crossing = calibration.crossing_rps()
        lines = [
            f"knee: {knee.rps:.3g} req/s per pod at {knee.run.offered} ({Path(knee.run.source).name})"
            + (" — at least: every run meets the objective" if calibration.lower_bound else ""),
        ]
        miss = calibration.first_miss
        if miss is not None and crossing is not None:
            lines.append(
                f"the objective is crossed between {knee.rps:.3g} and {miss.rps:.3g} req/s "
                f"(about {crossing:.3g} by linear interpolation); the profile uses the measured knee"
            )
        parts.append(Text("\n".join(lines)))
    if profile is not None and profile.calibration is not None:
        table = _table("Profile numbers", "number", "value", "from")
        table.columns[1].justify = "right"
        capacity = profile.capacity.model_dump(exclude_none=True)
        for name, source in profile.calibration.sources.items():
            value = (
                fmt(profile.cold_start.configured_s, "s") if name == "cold_start" else fmt(capacity.get(name))
            )
            table.add_row(name, value, source)
        parts.append(table)
    if calibration.notes:
        parts.append(Text("\n".join(f"note: {n}" for n in calibration.notes)))
    return Group(*parts)


def check_view(check: CapacityCheck) -> Group:
    """Configured against observed for one target, the verdict, and the load bins behind it."""
    observed = check.observed
    slo_text = " and ".join(s.label for s in check.slos)
    title = (
        f"{check.target}: capacity per pod, configured against observed "
        f"({check.start:%Y-%m-%d %H:%M} – {check.end:%Y-%m-%d %H:%M} UTC; {slo_text}, from {check.slos_from})"
    )
    table = _table(title, "", "configured", "observed")
    for column in table.columns[1:]:
        column.justify = "right"
    c = check.configured
    bound = {"not-reached": "≥ ", "exceeded": "< "}.get(observed.status, "")
    rps = observed.rps_per_pod
    table.add_row(
        "req/s per pod at full use",
        f"{fmt(round(c.rps_per_pod(1.0), 3))} (C / D)",
        "no data"
        if rps is None
        else f"{fmt(round(rps, 3))}–{fmt(round(observed.upper_rps, 3))} ({observed.status})"
        if observed.upper_rps is not None
        else f"{bound}{fmt(round(rps, 3))} ({observed.status})",
    )
    table.add_row(
        "requests in flight per pod",
        fmt(round(c.concurrency, 1)),
        fmt(None if observed.concurrency is None else round(observed.concurrency, 1)),
    )
    spr = observed.seconds_per_request
    table.add_row(
        "seconds per request",
        fmt(round(c.seconds_per_request, 3), "s"),
        fmt(None if spr is None else round(spr, 3), "s"),
    )
    if observed.kv_usage is not None:
        table.add_row("KV-cache use there", "", f"{observed.kv_usage:.0%}")
    verdict = check.comparison.reason
    style = "red" if check.off else "green"
    lines = [
        f"[{style}]{'OFF' if check.off else 'ok'}[/{style}]: {_escape(verdict)}",
        f"observed: {_escape(observed.reason)}",
        f"sizing uses: {_escape(check.sizing_reason)}",
        *(f"note: {_escape(note)}" for note in observed.notes),
    ]
    return Group(table, Text.from_markup("\n".join(lines)), bins_table(check))


def bins_table(check: CapacityCheck) -> Table:
    """The load bins: how many samples and requests each holds, and the share within the limit."""
    observed = check.observed
    columns = ["load req/s/pod", "samples", "requests"]
    for slo in check.slos:
        columns += [f"≤ {slo.limit_s:g} s", "fit"]
    table = _table(f"Requests within the objective by load per pod (needs ≥ {_percent(check)})", *columns)
    for column in table.columns:
        column.justify = "right"
    for b in observed.bins:
        cells = [fmt(round(b.load_rps, 2)), fmt(b.samples), fmt(round(b.requests))]
        for slo, within, fitted in zip(check.slos, b.within, b.fitted, strict=True):
            mark = "red" if fitted < slo.quantile else "green"
            cells += [f"{within:.2%}", f"[{mark}]{fitted:.2%}[/{mark}]"]
        table.add_row(*cells)
    return table


def _percent(check: CapacityCheck) -> str:
    return ", ".join(f"{s.quantile:.1%}".replace(".0%", "%") for s in check.slos)


def _escape(text: str) -> str:
    return text.replace("[", "\\[")
