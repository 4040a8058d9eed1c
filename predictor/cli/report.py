"""The backtest report: PNG plots and a one-page Markdown summary that embeds them.

Every plot is drawn for the size it is written at (13 × 5-9 inches at 100 dpi): a shortfall of
one minute in a week must still be seen, a bursty trace must not turn the timeline into a
thicket, and no label may leave the figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from predictor.cli.common import human_duration
from predictor.cli.plots import save_figure
from predictor.simulation.replay import BacktestResult
from predictor.simulation.tuning import TuningResult
from predictor.simulation.verdict import verdict

COLOURS = {"reactive": "C1", "predictive": "C0", "tuned": "C4", "oracle": "C2"}
TITLES = {
    "reactive": "reactive only (KEDA)",
    "predictive": "predictive floor + KEDA",
    "tuned": "self-tuned floor + KEDA",
    "oracle": "perfect-foresight floor + KEDA",
}
SHORTFALL_COLOUR = "red"
#: A shortfall span is drawn at least this share of the window wide, so one minute in a week shows.
MIN_SPAN_SHARE = 1 / 300
#: At most this many bins across the window for series that change every minute (about one per
#: pixel at the size the plots are written).
DISPLAY_BINS = 1_200


def _time_axis(ax) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz="UTC"))
    ax.grid(alpha=0.3)


def shortfall_spans(index: pd.DatetimeIndex, short: np.ndarray) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Runs of shortfall minutes as (start, end) times, each at least a visible width wide."""
    if not len(index) or not short.any():
        return []
    step = pd.Timedelta(index.freq) if index.freq is not None else index[1] - index[0]
    window = index[-1] - index[0] + step
    least = window * MIN_SPAN_SHARE
    edges = np.flatnonzero(np.diff(np.r_[0, short.astype(int), 0]))
    spans = []
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        begin, end = index[first], index[stop - 1] + step
        if end - begin < least:
            middle = begin + (end - begin) / 2
            begin, end = middle - least / 2, middle + least / 2
        spans.append((begin, end))
    return spans


def display_bin(index: pd.DatetimeIndex) -> pd.Timedelta:
    """A round bin width that gives about :data:`DISPLAY_BINS` bins over the window (at least a minute)."""
    window = (index[-1] - index[0]).total_seconds() if len(index) > 1 else 60.0
    for minutes in (1, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440):
        if window / (minutes * 60) <= DISPLAY_BINS:
            return pd.Timedelta(minutes=minutes)
    return pd.Timedelta(days=1)


def binned_max(index: pd.DatetimeIndex, values: np.ndarray, width: pd.Timedelta) -> pd.Series:
    """The largest value per bin of ``width`` (a step plot of it hides no peak)."""
    series = pd.Series(np.asarray(values, dtype=float), index=index)
    if width <= pd.Timedelta(minutes=1):
        return series
    return series.resample(width).max()


def binned_min(index: pd.DatetimeIndex, values: np.ndarray, width: pd.Timedelta) -> pd.Series:
    """The smallest value per bin of ``width`` (a step plot of it hides no dip)."""
    series = pd.Series(np.asarray(values, dtype=float), index=index)
    if width <= pd.Timedelta(minutes=1):
        return series
    return series.resample(width).min()


def load_vs_capacity(result: BacktestResult, path: Path) -> Path:
    """Write :func:`load_vs_capacity_figure` to ``path``."""
    return save_figure(load_vs_capacity_figure(result), path)


def load_vs_capacity_figure(result: BacktestResult) -> Figure:
    """Load against Ready capacity, one panel per policy, every shortfall minute marked in red."""
    rows = result.rows
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(13, 2.6 * len(rows) + 1), dpi=100, sharex=True, sharey=True
    )
    width = display_bin(result.index)
    per = "" if width <= pd.Timedelta(minutes=1) else human_duration(width.total_seconds())
    peak, dip = (f", max per {per}", f", min per {per}") if per else ("", "")
    for ax, name in zip(np.atleast_1d(axes), rows, strict=True):
        outcome = result.outcomes[name]
        capacity = outcome.ready * result.cluster.pod_rps
        load = binned_max(result.index, result.load, width)
        ax.step(load.index, load.to_numpy(), where="post", color="0.25", lw=0.8, label=f"load{peak}")
        ready = binned_min(result.index, capacity, width)
        ax.step(
            ready.index,
            ready.to_numpy(),
            where="post",
            color=COLOURS[name],
            lw=1.2,
            label=f"Ready capacity{dip}",
        )
        short = np.nan_to_num(result.load) > capacity + 1e-9
        for n, (begin, end) in enumerate(shortfall_spans(result.index, short)):
            ax.axvspan(
                begin, end, color=SHORTFALL_COLOUR, alpha=0.35, lw=0, label="shortfall" if n == 0 else None
            )
        ax.set_title(
            f"{TITLES[name]}: {outcome.shortfall_minutes:.0f} shortfall minutes, "
            f"{outcome.pod_hours:,.0f} pod-hours",
            fontsize=10,
            loc="left",
        )
        ax.set_ylabel("req/s")
        _time_axis(ax)
        ax.legend(loc="upper right", fontsize=8)
    top = max(
        float(np.nanmax(result.load)),
        *(float(result.outcomes[n].ready.max()) * result.cluster.pod_rps for n in rows),
    )
    np.atleast_1d(axes)[0].set_ylim(0, top * 1.3)  # the panels share y; room for the legend
    np.atleast_1d(axes)[-1].set_xlabel("time (UTC)")
    fig.suptitle("Load against Ready capacity (Ready pods × capacity per pod at 100 %), req/s", fontsize=11)
    return fig


def floor_timeline(result: BacktestResult, path: Path) -> Path:
    """Write :func:`floor_timeline_figure` to ``path``."""
    return save_figure(floor_timeline_figure(result), path)


def floor_timeline_figure(result: BacktestResult) -> Figure:
    """The floors that were set (exact), and the replicas each policy ran (max per display bin)."""
    fig, ax = plt.subplots(figsize=(13, 5), dpi=100)
    width = display_bin(result.index)
    per = "" if width <= pd.Timedelta(minutes=1) else f", max per {human_duration(width.total_seconds())}"
    reactive = binned_max(result.index, result.outcomes["reactive"].replicas, width)
    ax.fill_between(
        reactive.index,
        0,
        reactive.to_numpy(),
        step="post",
        color=COLOURS["reactive"],
        alpha=0.18,
        lw=0,
        label=f"replicas, KEDA alone{per}",
    )
    predictive = binned_max(result.index, result.outcomes["predictive"].replicas, width)
    ax.step(
        predictive.index,
        predictive.to_numpy(),
        where="post",
        color=COLOURS["predictive"],
        lw=0.9,
        alpha=0.8,
        label=f"replicas, predictive{per}",
    )
    oracle = binned_max(result.index, result.outcomes["oracle"].floor, width)
    ax.step(
        oracle.index,
        oracle.to_numpy(),
        where="post",
        color=COLOURS["oracle"],
        lw=1.2,
        ls="--",
        label=f"oracle floor (no shortfall){per}",
    )
    ax.step(
        result.index,
        result.outcomes["predictive"].floor,
        where="post",
        color="C3",
        lw=2.2,
        label="predictive floor (minReplicaCount)",
    )
    if "tuned" in result.outcomes:
        ax.step(
            result.index,
            result.outcomes["tuned"].floor,
            where="post",
            color=COLOURS["tuned"],
            lw=1.6,
            label="self-tuned floor",
        )
    ax.set_ylabel("pods")
    ax.set_xlabel("time (UTC)")
    highest = max(float(np.nanmax(line.get_ydata())) for line in ax.get_lines())
    ax.set_ylim(0, max(highest, float(reactive.max()), 1.0) * 1.35)  # room for the legend above the lines
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9, ncols=2)
    lead = human_duration(result.settings.cold_start.lead_time_s(result.settings.policy.floor.margin_s))
    ax.set_title(
        f"Floor timeline: the predictive floor rises one lead time ({lead}) before the load", loc="left"
    )
    _time_axis(ax)
    return fig


@dataclass(frozen=True)
class Point:
    """One policy in the cost-against-shortfall plane."""

    label: str
    pod_hours: float
    shortfall_minutes: float
    colour: str
    size: float = 120
    marker: str = "o"


def cost_vs_shortfall_points(
    points: Sequence[Point], *, title: str, allowance: float | None = None, labelled: int = 8
) -> Figure:
    """Points of pod-hours against shortfall minutes; axes start at zero, labels stay inside.

    ``allowance`` draws the objective's shortfall bound; only the first ``labelled`` points carry
    a text label (the rest are drawn unlabelled, so a large search stays readable).
    """
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=100)
    xs = np.array([p.pod_hours for p in points], dtype=float)
    ys = np.array([p.shortfall_minutes for p in points], dtype=float)
    span_x = float(xs.max() - xs.min()) or max(float(xs.max()), 1.0) * 0.1
    top = max(float(ys.max()), allowance or 0.0, 1.0)
    ax.set_xlim(max(0.0, float(xs.min()) - 0.15 * span_x), float(xs.max()) + 0.15 * span_x)
    ax.set_ylim(0, top * 1.25)
    middle_x = (ax.get_xlim()[0] + ax.get_xlim()[1]) / 2
    for n, p in enumerate(points):
        ax.scatter(
            p.pod_hours,
            p.shortfall_minutes,
            s=p.size,
            color=p.colour,
            marker=p.marker,
            zorder=3,
            clip_on=False,
        )
        if n < labelled:
            right = p.pod_hours <= middle_x  # labels point towards the middle of the plot
            ax.annotate(
                f"{p.label}\n{p.pod_hours:,.0f} pod-h, {p.shortfall_minutes:.0f} min",
                (p.pod_hours, p.shortfall_minutes),
                xytext=(8 if right else -8, 6),
                textcoords="offset points",
                ha="left" if right else "right",
                fontsize=9,
            )
    if allowance is not None:
        ax.axhline(allowance, color="0.4", ls=":", lw=1)
        ax.annotate(
            f"objective: ≤ {allowance:.0f} min",
            (ax.get_xlim()[1], allowance),
            xytext=(-4, 4),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color="0.3",
        )
    ax.set_xlabel("cost: pod-hours (starting and Ready pods)")
    ax.set_ylabel("shortfall minutes (load above Ready capacity)")
    ax.set_title(title, loc="left")
    ax.grid(alpha=0.3)
    return fig


def cost_vs_shortfall(result: BacktestResult, path: Path) -> Path:
    """Each replayed policy as a point: pod-hours against shortfall minutes (lower left is better)."""
    points = [
        Point(name, result.outcomes[name].pod_hours, result.outcomes[name].shortfall_minutes, COLOURS[name])
        for name in result.rows
    ]
    return save_figure(
        cost_vs_shortfall_points(points, title="Cost against shortfall (lower left is better)"), path
    )


def tuning_plot(tuning: TuningResult, path: Path) -> Path:
    """Write :func:`tuning_figure` to ``path``."""
    return save_figure(tuning_figure(tuning), path)


def tuning_figure(tuning: TuningResult) -> Figure:
    """The self-tuning search: every candidate, the chosen one, KEDA alone, and the objective."""
    chosen = tuning.chosen
    points = [
        Point("KEDA alone", tuning.reactive_pod_hours, tuning.reactive_shortfall_minutes, COLOURS["reactive"])
    ]
    if chosen is not None:
        points.append(
            Point(
                f"chosen: {chosen.label}",
                chosen.pod_hours,
                chosen.shortfall_minutes,
                COLOURS["tuned"],
                180,
                "*",
            )
        )
    points += [
        Point(c.label, c.pod_hours, c.shortfall_minutes, "C0" if c.meets else "0.55", 40)
        for c in tuning.candidates
        if c != chosen
    ]
    return cost_vs_shortfall_points(
        points,
        title=f"Self-tuning: {len(tuning.candidates)} candidates over {tuning.days:.1f} d "
        "(blue: meet the objective)",
        allowance=tuning.allowance_minutes,
        labelled=2,
    )


def summary_markdown(result: BacktestResult, name: str, *, tuning: TuningResult | None = None) -> str:
    s = result.summary()
    setup, acc = s["setup"], s["forecast_accuracy"]
    oracle = result.outcomes["oracle"]
    reactive = result.outcomes["reactive"]
    rows = []
    for policy in result.rows:
        o = result.outcomes[policy]
        cost = o.pod_hours / oracle.pod_hours if oracle.pod_hours else float("nan")
        short = (
            f"{o.shortfall_minutes / reactive.shortfall_minutes:.0%}" if reactive.shortfall_minutes else "-"
        )
        rows.append(
            f"| {policy} | {o.pod_hours:,.1f} | {cost:.3f} | {o.shortfall_minutes:,.0f} | {short} | "
            f"{o.unserved_fraction:.4%} | {o.scale_events} |"
        )
    coverage = next((v for k, v in acc.items() if k.endswith("_coverage")), None)
    row = "tuned" if "tuned" in result.outcomes else "predictive"
    tuned = (
        []
        if tuning is None
        else [
            "## Self-tuning",
            f"{tuning.reason}.",
            "",
            *(["![self-tuning](tuning.png)", ""] if tuning.tuned else []),
        ]
    )
    return "\n".join(
        [
            f"# Backtest: {name}",
            "",
            f"Replay of {s['window']['start']} → {s['window']['end']} ({s['window']['minutes']:,} minutes), "
            f"cold start {human_duration(setup['cold_start_s'])} ({setup['cold_start_source']}), "
            f"lead time {human_duration(setup['lead_time_s'])}, KEDA at utilisation {setup['utilization']}, "
            f"models: {', '.join(setup['models_fitted']) or 'none'}. "
            f"One pod serves {setup['pod_rps']:.4g} req/s at 100 %.",
            "",
            f"Floor: {setup['floor']}. Retrain every {human_duration(setup['cadence']['retrain_every_s'])}, "
            f"reconcile every {human_duration(setup['cadence']['reconcile_every_s'])}.",
            "",
            "| policy | pod-hours | × oracle | shortfall min | × reactive | unserved | scale events |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            *verdict(result, row=row),
            "",
            "Forecast made one lead time ahead, over the window: "
            f"WAPE {acc['wape']}, MASE {acc['mase']} (against the one-day seasonal naive), "
            f"p{setup['quantile'] * 100:g} coverage {coverage}.",
            "",
            "Definitions: *pod-hours* counts every allocated pod, starting or Ready; a *shortfall minute* "
            "is a minute whose load exceeds Ready pods × capacity per pod; *unserved* is the share of "
            "requests above that capacity. Minutes with no data are left out, never counted as zero.",
            "",
            "## Load against Ready capacity",
            "![load against capacity](load_vs_capacity.png)",
            "",
            "## Floor timeline",
            "![floor timeline](floor_timeline.png)",
            "",
            "## Cost against shortfall",
            "![cost against shortfall](cost_vs_shortfall.png)",
            "",
            *tuned,
        ]
    )


def write_report(
    result: BacktestResult, directory: Path, name: str, *, tuning: TuningResult | None = None
) -> Path:
    """Write the plots and ``summary.md`` into ``directory``; returns the summary's path."""
    directory.mkdir(parents=True, exist_ok=True)
    load_vs_capacity(result, directory / "load_vs_capacity.png")
    floor_timeline(result, directory / "floor_timeline.png")
    cost_vs_shortfall(result, directory / "cost_vs_shortfall.png")
    if tuning is not None and tuning.tuned:
        tuning_plot(tuning, directory / "tuning.png")
    summary = directory / "summary.md"
    summary.write_text(summary_markdown(result, name, tuning=tuning), encoding="utf-8")
    return summary
