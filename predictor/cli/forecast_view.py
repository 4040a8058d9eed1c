"""How `predictor forecast` shows a result: tables for people, a JSON document for programs.

JSON schema (``schema: predictor.forecast/v1``)::

    {
      "schema": "predictor.forecast/v1",
      "target": "llama-chat",                    # or the history file name
      "model": "harmonic",                       # the model that made the forecast
      "fallback_reason": null,                   # why a fallback model was used, if it was
      "generated_at": "2026-03-02T08:00:00Z",    # the "now" of the forecast (--at)
      "trained_on": {"start": "...", "end": "...", "points": 8064},
      "step_s": 300, "quantile": 0.9, "lead_time_s": 920,
      "band": "its own residuals, pooled from 1 h with the backtest's (...)",  # where the quantiles came from
      "policy": {"quantile": 0.9, "buffer": 0.2,  # what sized the floor; source "configured", "flags",
                 "source": "configured", "reason": null},  # or "tuned" (the daemon's choice; reason: why)
      "points": [                                # one per model step from now
        {"t": "...", "mean": 41.2, "p50": 40.8, "p90": 47.9, "p95": 50.3, "pods": 3, "floor": 4,
         "events": ["launch-day"]}            # the known events active at that point ([] if none)
      ],
      "events": [{"name": "launch-day", "event": "launch-day", "effect": "×2.5",
                  "start": "...", "end": "...", "text": "launch-day: ×2.5 from 09:00 to 12:00"}],
      "scores": {"harmonic": {"status": "ok", "mase": 0.61, "wape": 0.08, "coverage": 0.9,
                              "fit_s": 0.02, "folds": 6, "error": null}, ...},
      "clamped": false,                          # whether any series was cut to its bound
      "clamps": [{"series": "p90", "points": 40, "raw": 2.0e7, "bound": 4800.0,
                  "rule": "3× the history's peak (1,600 req/s)", "first": "...", "last": "...",
                  "text": "p90 clamped from 2e+07 to 4,800 req/s: 3× the history's peak (1,600 req/s)"}],
      "floor_now": 2,                            # the floor to apply now
      "changes": [{"at": "...", "kind": "raise", "from": 2, "to": 5, "reason": "..."}],
      "prewarm": {"at": "...", "kind": "raise", "from": 2, "to": 5, "reason": "..."}
    }                                            # prewarm: the next raise after now, or null

``events`` lists the known event windows that overlap the forecast (holidays included); the
forecast values already carry their rate effects, and ``pods`` their floor limits.
``pods`` is what the chosen quantile needs at that moment (sized as the floor is, with the spike
buffer); ``floor`` is the planned floor, which leads ``pods`` by the lead time. A target sized on
its token series adds token columns and a ``tokens`` object (:mod:`predictor.cli.forecast_tokens`).
Rates are req/s, times UTC. A point's values are the clamped ones when a clamp covers it
(``clamps``: one entry per series and rule that cut anything, between ``first`` and ``last``;
``raw`` is the largest value before the cut).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Group
from rich.table import Table
from rich.text import Text

from predictor.cli import forecast_tokens
from predictor.cli.common import human_duration
from predictor.forecasting.base import Clamp, quantile_label
from predictor.planning import PlannedChange, floor_pods
from predictor.planning.planner import limit_pods
from predictor.runtime.forecast import TargetForecast

SCHEMA = "predictor.forecast/v1"


def _iso(t: pd.Timestamp) -> str:
    return t.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def points_frame(tf: TargetForecast) -> pd.DataFrame:
    """The forecast with pods and the planned floor, one row per step from now."""
    frame = tf.forecast.to_frame()
    q = tf.request.quantile
    tokens = forecast_tokens.token_frame(tf)
    if tf.tokens is None or tokens is None:
        pods = floor_pods(tf.forecast.quantile(q), tf.request.pod, tf.request.policy.floor)
    else:
        frame = frame.join(tokens.drop(columns=["work_pods"]))
        pods = forecast_tokens.token_pods(tf, tf.tokens)
    effects = tf.effects
    if effects is not None and effects.any:
        pods = limit_pods(np.asarray(pods, dtype=float), effects.min_pods, effects.max_pods)
    frame["pods"] = pods
    frame["floor"] = tf.plan.to_frame()["floor"].reindex(frame.index)
    frame["events"] = list(effects.names) if effects is not None else [""] * len(frame)
    return frame[frame.index >= tf.now.floor(f"{tf.request.step_s}s")]


def _change(c: PlannedChange | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"at": _iso(c.at), "kind": c.kind, "from": c.from_pods, "to": c.to_pods, "reason": c.reason}


def _clamp(c: Clamp) -> dict[str, Any]:
    return {
        "series": c.series,
        "points": c.points,
        "raw": _number(c.raw),
        "bound": _number(c.bound),
        "rule": c.rule,
        "first": None if c.first is None else _iso(c.first),
        "last": None if c.last is None else _iso(c.last),
        "text": c.describe(),
    }


def _windows(tf: TargetForecast) -> list[Any]:
    """The event windows that overlap the forecast from now."""
    if tf.effects is None:
        return []
    return [w for w in tf.effects.windows if w.end > tf.now]


def _window(w: Any, now: pd.Timestamp) -> dict[str, Any]:
    return {
        "name": w.name,
        "event": w.event,
        "effect": w.effect.describe(),
        "start": _iso(w.start),
        "end": _iso(w.end),
        "text": w.describe(now),
    }


def events_text(tf: TargetForecast) -> Text:
    """One line per known event window in the forecast (what it does, when); empty if none."""
    text = Text()
    level = tf.effects.holiday_level if tf.effects is not None else None
    for w in _windows(tf):
        text.append("event: ", style="bold magenta")
        learned = w.holiday and level is not None and level.ratio is not None
        words = level.describe() if learned and level is not None else None
        text.append(f"{w.describe(tf.now, effect=words)} ({w.start:%a %H:%M}–{w.end:%a %H:%M} UTC)\n")
    return text


def clamp_text(tf: TargetForecast) -> Text:
    """One line per clamp (what was cut, to what, why, and when); empty when nothing was."""
    text = Text()
    for c in tf.forecast.clamps:
        text.append("clamped: ", style="bold yellow")
        text.append(f"{c.describe()}, {c.when()}\n")
    return text


def _clamped_at(tf: TargetForecast, t: pd.Timestamp, hour: pd.Timedelta) -> str:
    """The series clamped somewhere in the hour starting at ``t`` (``p90, p95``), else ''."""
    hit = [
        c.series
        for c in tf.forecast.clamps
        if c.first is not None and c.last is not None and c.first < t + hour and c.last >= t
    ]
    return ", ".join(dict.fromkeys(hit))


def to_json(tf: TargetForecast) -> dict[str, Any]:
    """The documented JSON document (see the module docstring)."""
    frame = points_frame(tf)
    points = []
    for t, row in frame.iterrows():
        point: dict[str, Any] = {"t": _iso(t)}
        skip = {"pods", "floor", "events"}
        point |= {
            name: row[name] if name == "limited_by" else _number(row[name])
            for name in frame.columns
            if name not in skip
        }
        point["pods"] = None if np.isnan(row["pods"]) else int(row["pods"])
        point["floor"] = None if np.isnan(row["floor"]) else int(row["floor"])
        point["events"] = [n for n in str(row["events"]).split(", ") if n]
        points.append(point)
    history = tf.history.dropna()
    return {
        "schema": SCHEMA,
        "target": tf.request.name,
        "model": tf.kind,
        "fallback_reason": tf.fallback_reason,
        "generated_at": _iso(tf.now),
        "trained_on": {
            "start": _iso(history.index[0]) if len(history) else None,
            "end": _iso(history.index[-1]) if len(history) else None,
            "points": len(history),
        },
        "step_s": tf.request.step_s,
        "quantile": tf.request.quantile,
        "lead_time_s": tf.request.lead_time_s,
        "band": tf.calibration,
        "anchor": tf.anchor,
        "policy": {
            "quantile": tf.request.quantile,
            "buffer": tf.request.policy.floor.buffer,
            "source": tf.policy_source,
            "reason": tf.policy_reason,
        },
        "points": points,
        "scores": {
            kind: {
                "status": s.status,
                "mase": _number(s.mase),
                "wape": _number(s.wape),
                "coverage": _number(s.coverage),
                "fit_s": _number(s.fit_s),
                "folds": s.folds,
                "error": s.error,
            }
            for kind, s in tf.scores.items()
        },
        "clamped": tf.forecast.clamped,
        "clamps": [_clamp(c) for c in tf.forecast.clamps],
        "events": [_window(w, tf.now) for w in _windows(tf)],
        "floor_now": tf.plan.floor_now,
        "changes": [_change(c) for c in tf.plan.changes],
        "prewarm": _change(tf.plan.next_raise()),
        "tokens": forecast_tokens.tokens_json(tf),
    }


def summary_text(tf: TargetForecast) -> Text:
    r = tf.request
    history = tf.history.dropna()
    chosen = "chosen by backtest" if r.model == "auto" else "as requested"
    if tf.fallback_reason:
        chosen = f"fallback: {tf.fallback_reason}"
    text = Text()
    text.append(f"Forecast for {r.name}", style="bold")
    text.append(f" as of {tf.now:%Y-%m-%d %H:%M} UTC\n")
    text.append(f"model {tf.kind} ({chosen}); trained on ")
    if len(history):
        days = (history.index[-1] - history.index[0]).total_seconds() / 86_400
        text.append(
            f"{history.index[0]:%Y-%m-%d %H:%M} → {history.index[-1]:%Y-%m-%d %H:%M} ({days:.1f} days)\n"
        )
    text.append(
        f"lead time {human_duration(r.lead_time_s)} (cold start {human_duration(r.cold_start.seconds)}, "
        f"{r.cold_start.detail}, + margin {human_duration(r.margin_s)}); floor bounds "
        f"{r.bounds.baseline}..{r.bounds.upper}\n"
    )
    if tf.anchor:
        text.append(
            f"anchored: {tf.anchor} (the weekdays on which yesterday guided about as well as "
            "last week, or better)\n"
        )
    text.append(f"quantiles from {tf.calibration}\n")
    floor = r.policy.floor
    text.append(f"sized on {quantile_label(r.quantile)} + {floor.buffer:.0%} buffer ({tf.policy_source})")
    if tf.policy_reason:
        text.append(f": {tf.policy_reason}")
    return text


def scores_table(tf: TargetForecast) -> Table:
    table = Table(title="Backtest at the pre-warm horizons (lower MASE is better)", title_justify="left")
    label = quantile_label(tf.request.quantile)
    table.add_column("model", no_wrap=True)
    for column in ("status", "MASE", "WAPE", f"{label} coverage", "fit", "note"):
        table.add_column(column, justify="left" if column in {"status", "note"} else "right")
    for kind, s in tf.scores.items():
        mark = "★ " if kind == tf.kind else "  "
        table.add_row(
            f"{mark}{kind}",
            s.status,
            "-" if math.isnan(s.mase) else f"{s.mase:.3f}",
            "-" if math.isnan(s.wape) else f"{s.wape:.1%}",
            "-" if math.isnan(s.coverage) else f"{s.coverage:.0%}",
            "-" if math.isnan(s.fit_s) else f"{s.fit_s * 1000:.0f} ms",
            s.error or "",
        )
    return table


def hourly_table(tf: TargetForecast) -> Table:
    """One row per hour: mean rate, the highest quantile value, the pods it needs, the highest floor."""
    frame = points_frame(tf)
    label = quantile_label(tf.request.quantile)
    hourly = frame.resample("1h").agg(
        {"mean": "mean", label: "max", "pods": "max", "floor": "max", "events": _joined}
    )
    with_events = any(hourly["events"])
    ahead = human_duration(tf.request.horizon_s)
    title = f"Next {ahead} by the hour (UTC); {label} and floor: the hour's highest"
    table = Table(title=title, title_justify="left")
    columns = ["hour", "mean req/s", f"{label} req/s", "pods", "floor"]
    if tf.forecast.clamped:
        columns.append("clamped")
    if with_events:
        columns.append("events")
    for column in columns:
        table.add_column(column, justify="left" if column in {"hour", "clamped", "events"} else "right")
    end = tf.now + pd.Timedelta(seconds=tf.request.horizon_s)
    for t, row in hourly[hourly.index < end].iterrows():
        cells = [
            f"{t:%a %H:%M}",
            f"{row['mean']:,.1f}",
            f"{row[label]:,.1f}",
            "-" if np.isnan(row["pods"]) else str(int(row["pods"])),
            "-" if np.isnan(row["floor"]) else str(int(row["floor"])),
        ]
        if tf.forecast.clamped:
            cells.append(_clamped_at(tf, t, pd.Timedelta(hours=1)))
        if with_events:
            cells.append(row["events"])
        table.add_row(*cells)
    return table


def _joined(names: pd.Series) -> str:
    """The distinct event names of an hour's points, in order of appearance."""
    found: dict[str, None] = {}
    for value in names:
        for name in str(value).split(", "):
            if name:
                found[name] = None
    return ", ".join(found)


def prewarm_text(tf: TargetForecast) -> Text:
    """The floor now, when pre-warming starts next and why, and the changes after it."""
    plan = tf.plan
    text = Text()
    text.append(f"Floor now: {plan.floor_now}", style="bold")
    if plan.change_now is not None:
        text.append(f" ({plan.change_now.reason})")
    text.append("\n")
    nxt = plan.next_raise()
    if nxt is None:
        text.append("No pre-warming needed", style="bold")
        text.append(f" in the next {human_duration(tf.request.horizon_s)}.")
        return text
    wait = human_duration((nxt.at - plan.now).total_seconds())
    text.append(f"Pre-warming starts at {nxt.at:%a %H:%M} UTC (in {wait})", style="bold green")
    text.append(f": {nxt.reason}.")
    later = [c for c in plan.changes if c.at > nxt.at]
    if later:
        steps = ", ".join(f"{c.at:%H:%M} {c.from_pods}→{c.to_pods}" for c in later[:12])
        more = f" and {len(later) - 12} more" if len(later) > 12 else ""
        text.append(f"\nThen: {steps}{more}.")
    return text


def render(tf: TargetForecast) -> Group:
    parts: list[Text | Table] = [summary_text(tf), Text(""), scores_table(tf), hourly_table(tf)]
    end = tf.now + pd.Timedelta(seconds=tf.request.horizon_s)
    extra = (forecast_tokens.hourly_token_table(tf, end), forecast_tokens.reason_text(tf))
    parts += [part for part in extra if part is not None]
    if tf.forecast.clamped:
        parts.append(clamp_text(tf))
    if _windows(tf):
        parts.append(events_text(tf))
    return Group(*parts, prewarm_text(tf))
