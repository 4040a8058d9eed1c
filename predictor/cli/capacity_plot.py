"""The calibration plot: latency against load per pod, the objective's line and the knee."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, NullFormatter

from predictor.capacity.calibration import Calibration
from predictor.capacity.slo import SLO_METRICS
from predictor.cli.plots import save_figure

MEETS, MISSES = "C2", "C3"


def _seconds_tick(value: float, _position: object = None) -> str:
    return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"


def calibration_figure(calibration: Calibration) -> plt.Figure:
    """One panel per objective: its statistic at each run against the run's load per pod, green
    where the run meets every objective and red where it misses, the limit as a dashed line and
    the knee as a dotted one."""
    slos = calibration.slos
    fig, axes = plt.subplots(len(slos), 1, figsize=(9, 3.6 * len(slos) + 0.6), dpi=100, squeeze=False)
    points = calibration.points
    x = [p.rps for p in points]
    knee = calibration.knee
    for i, (ax, slo) in enumerate(zip(axes[:, 0], slos, strict=True)):
        y = [p.values_s[i] for p in points]
        ax.plot(x, y, color="0.5", lw=1.2, zorder=1, label=f"{slo.stat} {SLO_METRICS[slo.metric]}")
        for meets, color, label in ((True, MEETS, "runs that meet it"), (False, MISSES, "runs that miss")):
            chosen = [(px, py) for px, py, p in zip(x, y, points, strict=True) if p.meets is meets]
            if chosen:
                ax.scatter(*zip(*chosen, strict=True), color=color, s=36, zorder=2, label=label)
        for px, py, p in zip(x, y, points, strict=True):
            # Past saturation a pod completes less than it is sent: say what the run offered.
            if p.run.request_rate != float("inf") and p.run.request_rate > px * 1.05:
                ax.annotate(f"sent {p.run.request_rate:g}", (px, py), xytext=(-8, 4),
                            textcoords="offset points", ha="right", fontsize=7, color="0.3")  # fmt: skip
        ax.axhline(slo.limit_s, color=MISSES, ls="--", lw=1.2, label=f"objective {slo.label}")
        if knee is not None:
            bound = "≥ " if calibration.lower_bound else ""
            ax.axvline(
                knee.rps, color=MEETS, ls=":", lw=1.6, label=f"knee {bound}{knee.rps:.3g} req/s per pod"
            )
        # Latency climbs by orders of magnitude past saturation: a log scale when it does.
        if max(y) > 10 * min(y):
            ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(_seconds_tick))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel(f"{SLO_METRICS[slo.metric]} {slo.stat}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    axes[-1, 0].set_xlabel("load per pod: request throughput achieved, req/s")
    title = f"Load test of one pod: {len(points)} runs against {calibration.slo_label}"
    if knee is None:
        title += " (no run meets it)"
    axes[0, 0].set_title(title)
    return fig


def calibration_plot(calibration: Calibration, path: Path) -> Path:
    """Write :func:`calibration_figure` to ``path`` (PNG)."""
    return save_figure(calibration_figure(calibration), path)
