"""The backtest report: PNG plots and a one-page Markdown summary that embeds them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from predictor.cli.common import human_duration
from predictor.cli.plots import save_figure
from predictor.simulation.replay import POLICIES, BacktestResult

COLOURS = {"reactive": "C1", "predictive": "C0", "oracle": "C2"}
TITLES = {
    "reactive": "reactive only (KEDA)",
    "predictive": "predictive floor + KEDA",
    "oracle": "perfect-foresight floor + KEDA",
}


def _time_axis(ax) -> None:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %H:%M", tz="UTC"))
    ax.grid(alpha=0.3)


def load_vs_capacity(result: BacktestResult, path: Path) -> Path:
    """Load against Ready capacity, one panel per policy, shortfall in red."""
    fig, axes = plt.subplots(len(POLICIES), 1, figsize=(13, 9), dpi=100, sharex=True, sharey=True)
    for ax, name in zip(axes, POLICIES, strict=True):
        outcome = result.outcomes[name]
        capacity = outcome.ready * result.cluster.pod_rps
        ax.plot(result.index, result.load, color="0.25", lw=0.8, label="load (req/s)")
        ax.step(result.index, capacity, where="post", color=COLOURS[name], lw=1.2, label="Ready capacity")
        short = np.nan_to_num(result.load) > capacity
        ax.fill_between(
            result.index, capacity, result.load, where=short, color="red", alpha=0.5, label="shortfall"
        )
        ax.set_title(
            f"{TITLES[name]}: {outcome.shortfall_minutes:.0f} shortfall minutes, "
            f"{outcome.pod_hours:,.0f} pod-hours",
            fontsize=10,
            loc="left",
        )
        ax.set_ylabel("req/s")
        _time_axis(ax)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (UTC)")
    fig.suptitle("Load against Ready capacity (Ready pods × capacity per pod at 100 %)")
    return save_figure(fig, path)


def floor_timeline(result: BacktestResult, path: Path) -> Path:
    """The predictive floor, the oracle's, and the replicas each policy ran."""
    fig, ax = plt.subplots(figsize=(13, 5), dpi=100)
    p, r = result.outcomes["predictive"], result.outcomes["reactive"]
    ax.step(
        result.index,
        r.replicas,
        where="post",
        color=COLOURS["reactive"],
        lw=1,
        alpha=0.8,
        label="replicas, reactive",
    )
    ax.step(
        result.index,
        p.replicas,
        where="post",
        color=COLOURS["predictive"],
        lw=1,
        label="replicas, predictive",
    )
    ax.step(result.index, p.floor, where="post", color="C3", lw=2, label="predictive floor (minReplicaCount)")
    ax.step(
        result.index,
        result.outcomes["oracle"].floor,
        where="post",
        color=COLOURS["oracle"],
        lw=1,
        ls="--",
        label="oracle floor",
    )
    ax.set_ylabel("pods")
    ax.set_xlabel("time (UTC)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper right", fontsize=8)
    lead = human_duration(result.settings.cold_start.lead_time_s(result.settings.policy.floor.margin_s))
    ax.set_title(
        f"Floor timeline: the predictive floor rises one lead time ({lead}) before the load", loc="left"
    )
    _time_axis(ax)
    return save_figure(fig, path)


def cost_vs_shortfall(result: BacktestResult, path: Path) -> Path:
    """Each policy as a point: pod-hours against shortfall minutes (lower left is better)."""
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    for name in POLICIES:
        o = result.outcomes[name]
        ax.scatter(o.pod_hours, o.shortfall_minutes, s=120, color=COLOURS[name], zorder=3)
        ax.annotate(
            f"{name}\n{o.pod_hours:,.0f} pod-h, {o.shortfall_minutes:.0f} min",
            (o.pod_hours, o.shortfall_minutes),
            xytext=(8, 6),
            textcoords="offset points",
            fontsize=9,
        )
    ax.set_xlabel("cost: pod-hours (starting and Ready pods)")
    ax.set_ylabel("shortfall minutes (load above Ready capacity)")
    ax.set_title("Cost against shortfall (lower left is better)", loc="left")
    ax.grid(alpha=0.3)
    ax.margins(x=0.25, y=0.2)
    return save_figure(fig, path)


def summary_markdown(result: BacktestResult, name: str) -> str:
    s = result.summary()
    setup, acc = s["setup"], s["forecast_accuracy"]
    oracle = result.outcomes["oracle"]
    reactive = result.outcomes["reactive"]
    rows = []
    for policy in POLICIES:
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
    return "\n".join(
        [
            f"# Backtest: {name}",
            "",
            f"Replay of {s['window']['start']} → {s['window']['end']} ({s['window']['minutes']:,} minutes), "
            f"cold start {human_duration(setup['cold_start_s'])}, "
            f"lead time {human_duration(setup['lead_time_s'])}, target utilisation {setup['utilization']}, "
            f"floor sized on the p{setup['quantile'] * 100:g} forecast, "
            f"models: {', '.join(setup['models_fitted']) or 'none'}. "
            f"One pod serves {setup['pod_rps']:.4g} req/s at 100 %.",
            "",
            "| policy | pod-hours | × oracle | shortfall min | × reactive | unserved | scale events |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *rows,
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
        ]
    )


def write_report(result: BacktestResult, directory: Path, name: str) -> Path:
    """Write the three plots and ``summary.md`` into ``directory``; returns the summary's path."""
    directory.mkdir(parents=True, exist_ok=True)
    load_vs_capacity(result, directory / "load_vs_capacity.png")
    floor_timeline(result, directory / "floor_timeline.png")
    cost_vs_shortfall(result, directory / "cost_vs_shortfall.png")
    summary = directory / "summary.md"
    summary.write_text(summary_markdown(result, name), encoding="utf-8")
    return summary
