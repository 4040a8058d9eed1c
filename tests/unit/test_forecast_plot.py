"""The forecast plot draws what answers the question: the horizon at a readable scale, the actual
load after --at beside the forecast, gaps marked, and no label over a line. Checked on the figure's
artists and data, not on pixels."""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle

from predictor.capacity import pod_model_for_peak
from predictor.cli.plots import forecast_figure, forecast_plot, missing_spans
from predictor.config import PolicySettings
from predictor.planning import Bounds, configured_cold_start
from predictor.runtime.forecast import forecast_target
from predictor.runtime.targets import policy_from_settings, request_from_policy
from predictor.sources.synthetic import synthetic_trace

NOW = pd.Timestamp("2026-01-22T05:00", tz="UTC")
GAP = (pd.Timestamp("2026-01-21T10:00", tz="UTC"), pd.Timestamp("2026-01-21T13:00", tz="UTC"))
LATE_GAP = (pd.Timestamp("2026-01-22T08:00", tz="UTC"), pd.Timestamp("2026-01-22T08:30", tz="UTC"))


@pytest.fixture(scope="module")
def series() -> pd.Series:
    trace = synthetic_trace(days=21, step_s=300, seed=3)
    for first, last in (GAP, LATE_GAP):
        trace[(trace.index >= first) & (trace.index < last)] = np.nan
    return trace


@pytest.fixture(scope="module")
def figure(series):
    policy = PolicySettings(model="seasonal_naive")
    pod = pod_model_for_peak(float(series.max()), 20, utilization=policy.utilization_target)
    request = request_from_policy(
        "chat",
        policy_from_settings(policy),
        pod=pod,
        cold_start=configured_cold_start(total_s=600),
        bounds=Bounds(1, 100),
    )
    tf = forecast_target(series, request, NOW)
    fig = forecast_figure(tf, actuals=series)
    yield tf, fig
    import matplotlib.pyplot as plt

    plt.close(fig)


def lines(ax) -> dict[str, object]:
    return {line.get_label(): line for line in ax.get_lines()}


def x_range(ax) -> tuple[pd.Timestamp, pd.Timestamp]:
    low, high = ax.get_xlim()
    return tuple(pd.Timestamp(mdates.num2date(v)) for v in (low, high))


def test_the_horizon_fills_most_of_the_main_panel(figure):
    tf, fig = figure
    top, rates, pods = fig.axes
    start, end = x_range(rates)
    horizon = pd.Timedelta(seconds=tf.request.horizon_s)
    assert end == NOW + horizon
    assert (end - NOW) / (end - start) >= 0.6  # not squeezed into the right tenth
    assert x_range(pods) == (start, end)  # pods and floor on the same time axis
    context_start, context_end = x_range(top)
    assert context_start <= NOW - pd.Timedelta(days=1.9) and context_end >= NOW + horizon * 0.9


def test_actuals_after_now_are_drawn_beside_the_forecast(figure, series):
    _, fig = figure
    rates = fig.axes[1]
    actual = lines(rates)["actual after now"]
    times = pd.DatetimeIndex(actual.get_xdata())
    assert times.min() >= NOW and times.max() > NOW + pd.Timedelta(hours=5)
    expected = series[(series.index >= NOW) & (series.index <= times.max())]
    np.testing.assert_allclose(actual.get_ydata(), expected.to_numpy())  # NaN stays NaN, not 0
    assert "forecast mean" in lines(rates)
    assert any(
        isinstance(c, PolyCollection) and c.get_label().startswith("forecast p50") for c in rates.collections
    )


def test_missing_data_is_shaded(figure):
    _, fig = figure
    top, rates, _ = fig.axes

    def shaded(ax):
        return [
            (
                pd.Timestamp(mdates.num2date(p.get_x())),
                pd.Timestamp(mdates.num2date(p.get_x() + p.get_width())),
            )
            for p in ax.patches
            if isinstance(p, Rectangle) and p.get_hatch() == "//"
        ]

    assert GAP in shaded(top)
    assert LATE_GAP in shaded(rates)  # a gap in the actuals after now is marked too


def test_no_text_sits_on_the_data_and_legends_are_outside(figure):
    _, fig = figure
    for ax in fig.axes:
        assert len(ax.texts) == 0  # no annotations inside the plot area
        legend = ax.get_legend()
        assert legend is not None
        fig.canvas.draw()
        assert legend.get_window_extent().x0 >= ax.get_window_extent().x1  # right of the axes
    labels = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert any(label.startswith("pre-warm ") for label in labels)


def test_missing_spans_of_a_series():
    index = pd.date_range("2026-01-01", periods=6, freq="5min", tz="UTC")
    spans = missing_spans(pd.Series([1, np.nan, np.nan, 2, 3, np.nan], index=index))
    step = pd.Timedelta(minutes=5)
    assert spans == [(index[1], index[2] + step), (index[5], index[5] + step)]


def test_the_png_is_written_at_its_reading_size(figure, tmp_path):
    tf, _ = figure
    path = forecast_plot(tf, tmp_path / "f.png")
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert (width, height) == (1100, 760)
