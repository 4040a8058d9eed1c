"""The policy flags, declared once for every command that plans a floor (forecast, backtest).

Each flag maps to one field of ``PolicySettings``; :func:`policy_from_flags` applies the flags that
were given on top of a base policy (the defaults, or a target's own) and validates the result like
the configuration file, so a bad value is one line naming the flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from predictor.cli.common import parse_duration, policy_with
from predictor.config import PolicySettings

POLICY = "Policy (default: the shipped policy, or the target's with --config)"

Model = Annotated[
    str | None,
    typer.Option(
        help="auto, or a model: seasonal_naive, harmonic, mstl, prophet, ...", rich_help_panel=POLICY
    ),
]
Quantile = Annotated[
    float | None,
    typer.Option(help="Forecast quantile that sizes the floor, e.g. 0.9.", rich_help_panel=POLICY),
]
Buffer = Annotated[
    float | None,
    typer.Option(help="Spike buffer on the floor, a fraction (0.2 = 20%).", rich_help_panel=POLICY),
]
Utilization = Annotated[
    float | None,
    typer.Option(help="Target utilisation of a pod that KEDA scales on, (0, 1].", rich_help_panel=POLICY),
]
FloorUtilization = Annotated[
    float | None,
    typer.Option(help="Share of a pod's capacity the floor is sized at, (0, 1].", rich_help_panel=POLICY),
]
TrainDays = Annotated[float | None, typer.Option(help="Days of history to train on.", rich_help_panel=POLICY)]
Horizon = Annotated[str | None, typer.Option(help="How far ahead to plan, e.g. 6h.", rich_help_panel=POLICY)]
ColdStart = Annotated[
    str | None,
    typer.Option(
        help="Cold start of a pod, e.g. 10m (default: the target's, or the profile's stages).",
        rich_help_panel=POLICY,
    ),
]


@dataclass(frozen=True)
class PolicyFlags:
    """The policy flags as given on the command line; None = not given."""

    model: str | None = None
    quantile: float | None = None
    buffer: float | None = None
    utilization: float | None = None
    train_days: float | None = None
    horizon: str | None = None
    floor_utilization: float | None = None


def policy_from_flags(base: PolicySettings, flags: PolicyFlags) -> PolicySettings:
    """``base`` with the given flags applied; a ConfigError naming the flag on a bad value."""
    return policy_with(
        base,
        {
            "--model": ("model", flags.model),
            "--quantile": ("forecast_quantile", flags.quantile),
            "--buffer": ("spike_buffer", flags.buffer),
            "--utilization": ("utilization_target", flags.utilization),
            "--train-days": ("history_window_days", flags.train_days),
            "--horizon": ("horizon_s", parse_duration(flags.horizon, "--horizon") if flags.horizon else None),
            "--floor-utilization": ("floor_utilization", flags.floor_utilization),
        },
    )
