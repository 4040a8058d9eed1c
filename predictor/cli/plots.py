"""Plots for people: PNG files written with matplotlib's non-interactive backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from predictor.cli.common import human_duration
from predictor.cli.forecast_view import points_frame
from predictor.forecasting.base import quantile_label
from predictor.runtime.forecast import TargetForecast


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Lay out, write and release a figure (pyplot keeps every open figure alive otherwise)."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def forecast_plot(tf: TargetForecast, path: Path, *, history_days: float = 2.0) -> Path:
    """History, the forecast band, and pods needed and the planned floor on a second axis."""
    label = quantile_label(tf.request.quantile)
    frame = points_frame(tf)
    history = tf.history[tf.history.index >= tf.now - pd.Timedelta(days=history_days)]

    fig, ax = plt.subplots(figsize=(12, 5.5), dpi=110)
    ax.plot(history.index, history.to_numpy(), color="0.35", lw=1.0, label="history")
    ax.fill_between(
        frame.index, frame["p50"], frame[label], color="C0", alpha=0.25, label=f"forecast p50–{label}"
    )
    ax.plot(frame.index, frame["mean"], color="C0", lw=1.6, label="forecast mean")
    spans = [(c.first, c.last) for c in tf.forecast.clamps if c.first is not None and c.last is not None]
    for n, (first, last) in enumerate(spans):
        end = last + pd.Timedelta(seconds=tf.request.step_s)
        ax.axvspan(
            mdates.date2num(first), mdates.date2num(end), color="C3", alpha=0.08,
            label="clamped to its plausibility bound" if n == 0 else None,
        )  # fmt: skip
    if tf.forecast.clamped:
        ax.text(
            0.99, 0.98, "\n".join(c.describe() for c in tf.forecast.clamps[:4]), transform=ax.transAxes,
            ha="right", va="top", fontsize=8, color="C3",
        )  # fmt: skip
    ax.axvline(tf.now, color="black", ls="--", lw=1)
    ax.annotate(
        "now", (tf.now, 1.0), xycoords=("data", "axes fraction"), xytext=(4, -14), textcoords="offset points"
    )
    ax.set_ylabel("requests per second")
    ax.set_xlabel("time (UTC)")
    ax.set_ylim(bottom=0)

    pods = ax.twinx()
    pods.step(frame.index, frame["pods"], where="post", color="C1", lw=1.2, label=f"pods the {label} needs")
    pods.step(
        frame.index, frame["floor"], where="post", color="C3", lw=2.2, label="planned floor (minReplicaCount)"
    )
    pods.set_ylabel("pods")
    pods.set_ylim(bottom=0, top=max(1.0, float(frame[["pods", "floor"]].max().max())) * 1.25)
    pods.yaxis.set_major_locator(MaxNLocator(integer=True))
    raise_ = tf.plan.next_raise()
    if raise_ is not None:
        pods.axvline(raise_.at, color="C3", ls=":", lw=1.2)
        pods.annotate(
            f"pre-warm {raise_.from_pods}→{raise_.to_pods} at {raise_.at:%H:%M}",
            (raise_.at, raise_.to_pods),
            xytext=(6, 8),
            textcoords="offset points",
            color="C3",
        )

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M", tz="UTC"))
    handles = ax.get_legend_handles_labels()[0] + pods.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + pods.get_legend_handles_labels()[1]
    ax.legend(handles, labels, loc="upper left", fontsize=9, framealpha=0.9)
    ax.set_title(
        f"{tf.request.name}: {tf.kind} forecast from {tf.now:%Y-%m-%d %H:%M} UTC; "
        f"the floor leads demand by the lead time ({human_duration(tf.request.lead_time_s)})"
    )
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
