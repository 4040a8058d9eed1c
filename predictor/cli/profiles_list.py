"""The listing of ``predictor profiles``: the serving profiles as a table for 80 columns, a wide table,
or JSON."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.text import Text

from predictor.capacity import pod_model
from predictor.cli.common import CliConsole, console, fmt, new_table, print_json
from predictor.config import ServingProfile, list_profiles, load_profile

_LIMITS = {"compute": "compute", "kv_cache": "KV cache", "prefill_throughput": "prefill tok/s"}


class Output(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"


Output_ = Annotated[
    Output, typer.Option("--output", "-o", help="table (80 columns), wide (every number) or json.")
]


def show_profiles(profiles_dir: Path | None, output: Output) -> None:
    """Print the serving profiles (models/): what one pod serves, which limit binds, cold start."""
    loaded = [load_profile(name, profiles_dir) for name in list_profiles(profiles_dir)]
    rows = [_row(p) for p in loaded]
    if output is Output.json:
        print_json(rows)
        return
    wide = output is Output.wide
    # Wide is wider than a terminal on purpose (like kubectl -o wide): rows are never folded.
    (CliConsole(width=200) if wide else console).print(_table(rows, wide=wide))
    measured = [
        f"{p.name} ({p.calibration.calibrated_at:%Y-%m-%d}, {p.calibration.slo_label})"
        for p in loaded
        if p.calibration is not None
    ]
    if measured:
        console.print("measured by a load test: " + "; ".join(measured), highlight=False)


def _row(p: ServingProfile) -> dict[str, Any]:
    model = pod_model(p.capacity, p.role)
    row: dict[str, Any] = {
        "profile": p.name,
        "role": p.role,
        "limited_by": model.limited_by,
        "concurrency_per_pod": round(model.concurrency, 2),
        "seconds_per_request": round(model.seconds_per_request, 4),
        "rps_per_pod_at_full_use": round(model.rps_per_pod(1.0), 3),
        "cold_start_s": p.cold_start.configured_s,
        "model": p.model,
        "hardware": p.hardware,
        "description": p.description,
        "capacity": p.capacity.model_dump(exclude_none=True),
        "calibrated": p.calibration is not None,
    }
    return row


def _table(rows: list[dict[str, Any]], *, wide: bool) -> Group:
    columns = ["profile", "role", "binds", "per pod", "cold start"]
    if wide:
        columns += ["TTFT", "TPOT", "prompt", "output", "KV tokens", "max conc.", "hardware"]
    table = new_table("Serving profiles", *columns)
    for column in table.columns:
        column.no_wrap = True
    for r in rows:
        c = r["capacity"]
        per_pod = (
            f"{fmt(r['rps_per_pod_at_full_use'])} req/s"
            if r["role"] == "prefill"
            else f"{fmt(round(r['concurrency_per_pod'], 1))} seq"
        )
        cells = [r["profile"], r["role"], _LIMITS[r["limited_by"]], per_pod, fmt(r["cold_start_s"], "s")]
        if wide:
            cells += [
                fmt(c.get("ttft_s"), "s"),
                fmt(c.get("tpot_s"), "s"),
                fmt(c.get("prompt_tokens")),
                fmt(c.get("output_tokens")),
                fmt(c.get("kv_capacity_tokens")),
                fmt(c.get("max_concurrency")),
                r["hardware"],
            ]
        table.add_row(*cells)
    notes = Text(
        "per pod: concurrent sequences C = min(KV-cache bound, compute bound); for a prefill role, "
        "prompts per second at full use. binds: the limit that sets it. --output wide shows every "
        "number, --output json the whole profile."
    )
    return Group(table, notes)
