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
    if fig.get_layout_engine() is None:  # a figure that chose its own layout keeps it
        fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def forecast_plot(
    tf: TargetForecast, path: Path, *, actuals: pd.Series | None = None, history_days: float = 2.0
) -> Path:
    """Write :func:`forecast_figure` to ``path`` (PNG) at the size it is meant to be read."""
    return save_figure(forecast_figure(tf, actuals=actuals, history_days=history_days), path)


def forecast_figure(
    tf: TargetForecast, *, actuals: pd.Series | None = None, history_days: float = 2.0
) -> plt.Figure:
    """What load will be and what the floor does about it, at a scale where the horizon is readable.

    - top: the last ``history_days`` and the horizon, for context (daily shape, where now is);
    - middle: from half a horizon before now to the end of the horizon: history, the forecast band
      and mean, and the actual load after now when ``actuals`` has it (``--at`` in the past);
    - bottom, on the same time axis: the pods the sizing quantile needs and the planned floor,
      with the next pre-warm marked.

    Known event windows are shaded (one colour per event, named in the legend). Missing data is
    shaded grey, never drawn as zero. Every label is in a legend outside the data,
    so none covers a line.
    """
    label = quantile_label(tf.request.quantile)
    frame = points_frame(tf)
    horizon = pd.Timedelta(seconds=tf.request.horizon_s)
    end = tf.now + horizon
    frame = frame[frame.index <= end]
    after = _after_now(actuals, tf.now, end)
    context = tf.history[tf.history.index >= tf.now - pd.Timedelta(days=history_days)]
    zoom_start = tf.now - horizon / 2

    fig = plt.figure(figsize=(11, 7.6), dpi=100, layout="constrained")
    grid = fig.add_gridspec(3, 1, height_ratios=(1.0, 2.0, 1.2))
    top = fig.add_subplot(grid[0])
    rates = fig.add_subplot(grid[1])
    pods = fig.add_subplot(grid[2], sharex=rates)

    # Context: the last days and the horizon, thin lines only.
    top.plot(context.index, context.to_numpy(), color="0.35", lw=0.8, label="history")
    top.plot(frame.index, frame["mean"], color="C0", lw=1.2, label="forecast mean")
    if after is not None:
        top.plot(after.index, after.to_numpy(), color="black", lw=0.8, label="actual")
    top.axvspan(zoom_start, end, color="C0", alpha=0.08, label="shown below")
    _shade_missing(top, context)
    top.axvline(tf.now, color="black", ls="--", lw=0.8)
    top.set_title(
        f"last {history_days:g} days and the next {human_duration(horizon.total_seconds())}", fontsize=9
    )
    top.set_ylim(bottom=0)
    top.set_ylabel("req/s", fontsize=9)

    # The horizon, readable.
    recent = tf.history[tf.history.index >= zoom_start]
    rates.plot(recent.index, recent.to_numpy(), color="0.35", lw=1.0, label="history")
    rates.fill_between(
        frame.index,
        frame["p50"],
        frame[label],
        color="C0",
        alpha=0.25,
        lw=0,
        label=f"forecast p50 to {label}",
    )
    rates.plot(frame.index, frame["mean"], color="C0", lw=1.6, label="forecast mean")
    _shade_missing(rates, recent)
    if after is not None:
        rates.plot(after.index, after.to_numpy(), color="black", lw=1.2, label="actual after now")
        _shade_missing(rates, after, label=None if missing_spans(recent) else "no data")
    rates.axvline(tf.now, color="black", ls="--", lw=1, label=f"now ({tf.now:%a %H:%M} UTC)")
    rates.set_ylim(bottom=0)
    rates.set_ylabel("requests per second")
    spans = [(c.first, c.last) for c in tf.forecast.clamps if c.first is not None and c.last is not None]
    for n, (first, last) in enumerate(spans):
        clamp_end = last + pd.Timedelta(seconds=tf.request.step_s)
        rates.axvspan(
            mdates.date2num(first), mdates.date2num(clamp_end), color="C3", alpha=0.08,
            label="clamped to its plausibility bound" if n == 0 else None,
        )  # fmt: skip
    _shade_events(tf, (rates, pods), zoom_start, end)
    if tf.forecast.clamped:  # in the title, never over the lines
        rates.set_title("; ".join(c.describe() for c in tf.forecast.clamps[:2]), fontsize=8, color="C3")

    pods.step(frame.index, frame["pods"], where="post", color="C1", lw=1.2, label=f"pods the {label} needs")
    pods.step(frame.index, frame["floor"], where="post", color="C3", lw=2.2, label="planned floor")
    pods.axvline(tf.now, color="black", ls="--", lw=1)
    raise_ = tf.plan.next_raise()
    if raise_ is not None:
        pre = f"pre-warm {raise_.from_pods}→{raise_.to_pods} at {raise_.at:%H:%M}"
        for ax in (rates, pods):
            ax.axvline(raise_.at, color="C3", ls=":", lw=1.4, label=pre if ax is pods else None)
    top_pods = max(1.0, float(frame[["pods", "floor"]].max().max()))
    pods.set_ylim(0, top_pods * 1.15 + 0.5)
    pods.yaxis.set_major_locator(MaxNLocator(integer=True))
    pods.set_ylabel("pods")
    pods.set_xlabel("time (UTC)")
    rates.set_xlim(zoom_start, end)

    for ax in (top, rates, pods):
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0)
    top.xaxis.set_major_formatter(mdates.DateFormatter("%a %d", tz="UTC"))
    top.xaxis.set_major_locator(mdates.DayLocator(tz="UTC"))
    pods.xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M", tz="UTC"))
    plt.setp(rates.get_xticklabels(), visible=False)
    fig.suptitle(
        f"{tf.request.name}: {tf.kind} forecast from {tf.now:%Y-%m-%d %H:%M} UTC; the floor leads "
        f"demand by the lead time ({human_duration(tf.request.lead_time_s)})",
        fontsize=11,
    )
    return fig


def _after_now(actuals: pd.Series | None, now: pd.Timestamp, end: pd.Timestamp) -> pd.Series | None:
    """The actual load from now to the end of the horizon, or None when the file has none."""
    if actuals is None:
        return None
    after = actuals[(actuals.index >= now) & (actuals.index <= end)]
    return after if after.notna().any() else None


def missing_spans(series: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Runs of NaN bins as (first bin start, end of the last bin)."""
    if series.empty:
        return []
    step = pd.Timedelta(series.index.freq) if series.index.freq is not None else pd.Timedelta(0)
    missing = series.isna().to_numpy()
    spans = []
    i = 0
    while i < len(missing):
        if missing[i]:
            j = i
            while j + 1 < len(missing) and missing[j + 1]:
                j += 1
            spans.append((series.index[i], series.index[j] + step))
            i = j + 1
        else:
            i += 1
    return spans


def _shade_missing(ax: plt.Axes, series: pd.Series, label: str | None = "no data") -> None:
    for k, (first, last) in enumerate(missing_spans(series)):
        ax.axvspan(first, last, color="0.6", alpha=0.35, lw=0, hatch="//", label=label if k == 0 else None)


def event_spans(
    tf: TargetForecast, start: pd.Timestamp, end: pd.Timestamp
) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """The known event windows within ``[start, end]`` as (label, first, last), cut to the span."""
    if tf.effects is None:
        return []
    return [
        (f"{w.label}: {w.effect.describe()}", max(w.start, start), min(w.end, end))
        for w in tf.effects.windows
        if w.end > start and w.start < end
    ]


def _shade_events(
    tf: TargetForecast, axes: tuple[plt.Axes, ...], start: pd.Timestamp, end: pd.Timestamp
) -> None:
    colours: dict[str, str] = {}
    for label, first, last in event_spans(tf, start, end):
        new = label not in colours
        colour = colours.setdefault(label, f"C{4 + len(colours) % 6}")
        for ax in axes:
            ax.axvspan(
                mdates.date2num(first), mdates.date2num(last), color=colour, alpha=0.12, lw=0,
                label=f"event {label}" if new and ax is axes[0] else None,
            )  # fmt: skip
