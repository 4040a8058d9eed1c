"""``predictor backtest`` on a target that reads token series: token-aware against fixed lengths.

Replays the target's request and token history for its role (see
:mod:`predictor.simulation.token_replay`): KEDA alone, the floor sized at fixed mean lengths, the
floor sized on the forecast tokens, and the oracle, all in the role's pods. The JSON document
gains a ``tokens`` object (:meth:`~predictor.simulation.token_replay.TokenReplay.summary`).
"""

from __future__ import annotations

import pandas as pd
from rich.console import Group
from rich.text import Text

from predictor.capacity import pod_model
from predictor.cli.common import new_table
from predictor.config import Settings, TargetSettings
from predictor.planning import Bounds, ColdStart
from predictor.runtime.policy import Cadence, Policy
from predictor.runtime.targets import demand_source_for
from predictor.simulation.token_replay import NIGHT_HOURS, ROWS, WORKING_HOURS, TokenReplay, replay_tokens

REPLAY_STEP_S = 60


def run_token_replay(
    settings: Settings,
    target: TargetSettings,
    *,
    first: pd.Timestamp,
    start: pd.Timestamp,
    last: pd.Timestamp,
    policy: Policy,
    cadence: Cadence,
    cold_start: ColdStart,
    bounds: Bounds,
) -> TokenReplay:
    """Read the target's three series from ``first`` to ``last`` and replay them from ``start``."""
    frame = demand_source_for(settings, target).fetch(first, last, REPLAY_STEP_S)
    return replay_tokens(
        frame,
        start,
        params=target.capacity,
        role=target.role,
        pod=pod_model(target.capacity, target.role),
        policy=policy,
        cadence=cadence,
        cold_start=cold_start,
        bounds=bounds,
    )


def token_table(replay: TokenReplay) -> Group:
    """The four floors side by side in the role's pods, and what token-aware sizing saved."""
    table = new_table(
        f"Token-aware against fixed-length sizing ({replay.role} pods)",
        "policy",
        "pod-hours",
        "short min",
        "unserved",
        "floor day",
        "floor night",
    )
    for column in table.columns[1:]:
        column.justify = "right"
    for row in ROWS:
        o = replay.outcomes[row]
        day = "-" if row == "reactive" else f"{replay.mean_floor(row, WORKING_HOURS):.1f}"
        night = "-" if row == "reactive" else f"{replay.mean_floor(row, NIGHT_HOURS, weekdays=False):.1f}"
        table.add_row(
            "KEDA alone" if row == "reactive" else row,
            f"{o.pod_hours:,.1f}",
            f"{o.shortfall_minutes:,.0f}",
            f"{o.unserved_fraction:.3%}",
            day,
            night,
        )
    prompt, output = replay.fixed_lengths
    fixed = f"{prompt:,.0f} prompt" + ("" if output is None else f" and {output:,.0f} output")
    lines = [
        f"token-aware sizing saves {replay.pod_hours_saved:,.1f} pod-hours and avoids "
        f"{replay.shortfall_avoided_minutes:,.0f} shortfall minutes against fixed lengths "
        f"({fixed} tokens per request, the means before the replay).",
        f"floor day: mean floor on weekdays {WORKING_HOURS[0]:02d}:00-{WORKING_HOURS[1]:02d}:00 UTC; "
        f"night: {NIGHT_HOURS[0]:02d}:00-{NIGHT_HOURS[1]:02d}:00 UTC. KEDA scales on the role's work.",
    ]
    if replay.reason:
        lines.append(replay.reason)
    return Group(table, Text("\n".join(lines), style="dim"))
