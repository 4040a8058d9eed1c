"""The token columns of ``predictor forecast``, for a target sized on its token series.

Per point (JSON ``points[]``, added to the request-rate fields)::

    "prompt_tokens_per_s_mean": 61755.9, "prompt_tokens_per_s_p90": 70210.3,
    "output_tokens_per_s_mean": 9120.4, "output_tokens_per_s_p90": 10311.7,
    "mean_prompt_tokens": 1890.2, "mean_output_tokens": 262.4,    # mean forecasts' ratios
    "limited_by": "kv_cache"                                      # what binds the role's pod

and one object beside them::

    "tokens": {"role": "decode", "model": "harmonic", "series": ["prompt_tokens_per_s", ...],
               "reason": null}     # the fallbacks, in a sentence (null: every length forecast)

``pods`` is then the role's pods on its own work (prefill: prompt tokens/s; decode: concurrency
against the KV-cache and compute bounds; aggregated: Little's law at the forecast lengths).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table
from rich.text import Text

from predictor.capacity.demand import pods_for_work
from predictor.forecasting.base import quantile_label
from predictor.runtime.demand import TokenDemand
from predictor.runtime.forecast import TargetForecast

_RATES = ("prompt_tokens_per_s", "output_tokens_per_s")
_BINDS = {"kv_cache": "KV cache", "compute": "compute", "prefill_throughput": "throughput"}


def token_pods(tf: TargetForecast, tokens: TokenDemand) -> np.ndarray:
    """The pods the sizing quantile's work needs per point, sized as the floor is."""
    floor = tf.request.policy.floor
    return pods_for_work(tokens.work, utilization=floor.floor_utilization, buffer=floor.buffer)


def token_frame(tf: TargetForecast) -> pd.DataFrame | None:
    """The token columns per forecast point (``None`` for a target sized on the rate alone)."""
    if tf.tokens is None:
        return None
    return tf.tokens.to_frame(quantile_label(tf.request.quantile))


def tokens_json(tf: TargetForecast) -> dict[str, Any] | None:
    """The ``tokens`` object of the JSON document (``None`` without token-aware sizing)."""
    tokens = tf.tokens
    if tokens is None:
        return None
    series = [name for name, f in zip(_RATES, (tokens.prompt, tokens.output), strict=True) if f is not None]
    model = next((f.model for f in (tokens.prompt, tokens.output) if f is not None), None)
    return {"role": tokens.role, "model": model, "series": series, "reason": tokens.reason}


def hourly_token_table(tf: TargetForecast, end: pd.Timestamp) -> Table | None:
    """One row per hour: the token forecasts at the sizing quantile, the lengths, pods, what binds."""
    tokens = tf.tokens
    if tokens is None:
        return None
    label = quantile_label(tf.request.quantile)
    frame = tokens.to_frame(label)
    frame["pods"] = token_pods(tf, tokens)
    frame = frame[frame.index >= tf.now.floor(f"{tf.request.step_s}s")]
    table = Table(
        title=f"Token demand by the hour ({tokens.role}; {label} and pods: the hour's highest)",
        title_justify="left",
    )
    for column in ("hour", f"{label} prompt tok/s", f"{label} output tok/s", "prompt", "output", "pods"):
        table.add_column(column, justify="left" if column == "hour" else "right")
    table.add_column("binds")
    for hour, rows in frame[frame.index < end].groupby(frame.index[frame.index < end].floor("1h")):
        pods = rows["pods"]
        at = pods.idxmax() if pods.notna().any() else rows.index[0]
        table.add_row(
            f"{hour:%a %H:%M}",
            _peak(rows, f"prompt_tokens_per_s_{label}"),
            _peak(rows, f"output_tokens_per_s_{label}"),
            f"{rows['mean_prompt_tokens'].mean():,.0f}",
            f"{rows['mean_output_tokens'].mean():,.0f}",
            "-" if not pods.notna().any() else str(int(pods.max())),
            _BINDS.get(rows.loc[at, "limited_by"], "-"),
        )
    return table


def _peak(rows: pd.DataFrame, column: str) -> str:
    """The hour's highest value of a token forecast, or "profile" where the series is absent."""
    return f"{rows[column].max():,.0f}" if column in rows and rows[column].notna().any() else "profile"


def reason_text(tf: TargetForecast) -> Text | None:
    """The token fallbacks in a sentence, or ``None``."""
    if tf.tokens is None or not tf.tokens.reason:
        return None
    text = Text()
    text.append("token series: ", style="bold yellow")
    text.append(tf.tokens.reason)
    return text
