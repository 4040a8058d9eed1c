"""``predictor run``, ``predictor status`` and ``predictor release``: the daemon and its controls.

Tables are laid out for 80 columns, kubectl style: short upper-case headers, columns separated by
spaces, no box drawing, and the long text (reasons, errors) on lines of its own below the table.
``--output wide`` adds columns; ``--output json`` prints one JSON document instead.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from predictor.actuation.errors import ScaledObjectGone
from predictor.actuation.scaledobject import effective_baseline
from predictor.cli.common import EXIT_FAILURE, parse_time, print_json, reported_errors
from predictor.config import load_settings
from predictor.daemon import logs
from predictor.daemon.clock import ShiftedClock, SystemClock
from predictor.daemon.reconcile import Decision
from predictor.daemon.status import decision_json, read_status, target_status
from predictor.daemon.wiring import build_app, run_forever, run_once
from predictor.errors import ConfigError, PredictorError

ConfigOption = Annotated[Path | None, typer.Option(help="Config file (default $PREDICTOR_CONFIG).")]


class Output(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"


OutputOption = Annotated[
    Output, typer.Option("--output", "-o", help="table (80 columns), wide (more columns) or json.")
]


def run(
    config: ConfigOption = None,
    once: Annotated[
        bool, typer.Option(help="One retrain and one reconcile, print the decisions, and exit.")
    ] = False,
    clock_start: Annotated[
        str | None, typer.Option(help="Run as if now were this time (UTC); for tests, demos and replays.")
    ] = None,
    clock_speed: Annotated[
        float, typer.Option(help="With --clock-start: simulated seconds per real second.")
    ] = 1.0,
    output: OutputOption = Output.table,
) -> None:
    """Run the daemon: retrain on a schedule, reconcile the floors, serve /metrics, /healthz, /readyz.

    SIGTERM drops queued work, lets the running step finish and exits; nothing is left half-written.
    With --once the exit code is 1 when a reconcile failed or every retrain failed.
    """
    with reported_errors():
        settings = load_settings(config)
        if not settings.targets and not settings.kubernetes.namespaces:
            raise ConfigError(f"{config or '(defaults)'}: no targets configured; nothing to run")
        if clock_speed <= 0:
            raise ConfigError(f"--clock-speed: must be above 0, got {clock_speed:g}")
        logs.configure(settings.server.log_format, settings.server.log_level)
        clock = ShiftedClock(parse_time(clock_start), clock_speed) if clock_start else SystemClock()
        app = build_app(settings, clock=clock)
        if not once:
            run_forever(app)
            return
        try:
            result = run_once(app)
        finally:
            app.close()
        at = clock.now()
        if output is Output.json:
            print_json(
                {
                    "at": at.isoformat(),
                    "decisions": [decision_json(d) for d in result.decisions],
                    "retrained": result.retrained,
                    "retrain_failures": result.failed,
                }
            )
        else:
            print(f"Decisions at {at:%Y-%m-%d %H:%M} UTC")
            print(decisions_table(result.decisions, wide=output is Output.wide))
        if result.every_retrain_failed:
            failures = "; ".join(f"{name}: {why}" for name, why in sorted(result.failed.items()))
            sys.stderr.write(f"error: every retrain failed, no target has a new model: {failures}\n")
            raise typer.Exit(EXIT_FAILURE)
        if any(d.action == "failed" for d in result.decisions):
            raise typer.Exit(EXIT_FAILURE)


def decisions_table(decisions: Sequence[Decision], *, wide: bool = False) -> str:
    """The decisions as a table, then each one's reason (and any clamp) on its own line."""
    headers = ["TARGET", "MODE", "STATE", "FLOOR", "ACTION", "NEXT"]
    if wide:
        headers[3:3] = ["MODEL", "BASE"]
    rows = []
    for d in decisions:
        row = [d.target, d.mode, d.state, _floor(d), d.action, d.next_change or "-"]
        if wide:
            row[3:3] = [d.model or "-", _n(d.baseline)]
        rows.append(row)
    notes = [f"{d.target}: {d.reason}" for d in decisions]
    notes += [f"{d.target}: {clamp}" for d in decisions for clamp in d.clamps]
    return layout(headers, rows, notes)


def layout(headers: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str] = ()) -> str:
    """Columns padded to their widest cell, two spaces apart; ``notes`` below, one a line."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def _floor(d: Decision) -> str:
    if d.floor is None or d.current == d.floor:
        return _n(d.current)
    return f"{_n(d.current)}→{_n(d.floor)}"


def _policy(found: dict) -> str:
    """The sizing quantile and buffer in force, e.g. ``p90+20% tuned``."""
    policy = found.get("policy") or {}
    if "quantile" not in policy:
        return "-"
    return f"p{policy['quantile'] * 100:g}+{policy['buffer']:.0%} {policy.get('source', '')}".strip()


def _wiring_notes(name: str, found: dict) -> list[str]:
    """Self-tuning's choice and a profile flagged OFF, one line each."""
    notes = []
    choice = (found.get("tuning") or {}).get("choice")
    if choice:
        notes.append(f"{name}: self-tuned at {choice['tuned_at']}: {choice['reason']}")
    capacity = found.get("capacity") or {}
    if capacity.get("off"):
        reason = ((capacity.get("check") or {}).get("reason")) or "observed capacity differs from the profile"
        notes.append(f"{name}: capacity OFF: {reason}")
    if capacity.get("sizing"):
        notes.append(f"{name}: sizing: {capacity['sizing']}")
    return notes


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def status(config: ConfigOption = None, output: OutputOption = Output.table) -> None:
    """The managed targets (configured and discovered): state, floor now, planned floor, next change.

    Reads each ScaledObject and the stored models and memory now, and plans as the daemon would
    without changing anything; the daemon's own view (state, last error, next retrain) comes from
    the status file it writes in the state directory after every cycle.
    """
    with reported_errors():
        settings = load_settings(config)
        app = build_app(settings, read_only=True)
        written = read_status(settings.state_dir) or {}
        seen_by_daemon = written.get("targets", {})
        try:
            app.daemon.discover()
            app.daemon.restore()
            decisions = app.daemon.reconcile_all(write_status=False)
            targets = {rt.name: rt for rt in app.daemon.targets.snapshot()}
        finally:
            app.close()
        rows, notes, documents = [], [], []
        now = pd.Timestamp.now(tz="UTC")  # a composition root may read the clock
        for d in decisions:
            seen = seen_by_daemon.get(d.target, {})
            rt = targets.get(d.target)
            here = target_status(rt, d, now) if rt is not None else {}
            state = seen.get("state", d.state)
            error = seen.get("last_error") or (d.reason if d.action == "failed" else None)
            documents.append({**here, "state": state, "last_error": error, "daemon": seen or None})
            row = [d.target, state, _n(d.current), _n(d.floor), d.next_change or "-", d.model or "-"]
            if output is Output.wide:
                origin = rt.origin if rt is not None else "-"
                next_retrain = seen.get("next_retrain_at") or "-"
                row += [d.mode, origin, _n(d.baseline), next_retrain, _policy(seen or here)]
            rows.append(row)
            if error:
                notes.append(f"{d.target}: {error}")
            notes += _wiring_notes(d.target, seen or here)
            notes += [f"{d.target}: {clamp}" for clamp in d.clamps]
            known = here.get("events", {})
            notes += [f"{d.target}: event active: {w['text']}" for w in known.get("active", [])]
            notes += [
                f"{d.target}: event upcoming: {w['text']} (starts {w['start']})"
                for w in known.get("upcoming", [])[:3]
            ]
        if output is Output.json:
            print_json({"daemon_status_written_at": written.get("written_at"), "targets": documents})
        else:
            headers = ["TARGET", "STATE", "FLOOR", "PLANNED", "NEXT CHANGE", "MODEL"]
            if output is Output.wide:
                headers += ["MODE", "ORIGIN", "BASE", "NEXT RETRAIN", "POLICY"]
            print(layout(headers, rows, notes))
            if written:
                print(f"\ndaemon status written at {written.get('written_at')}")
        if not written:
            sys.stderr.write(
                f"no daemon status in {settings.state_dir}: is the daemon running with this state_dir?\n"
            )


def release(
    config: ConfigOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Apply; without it, only show what would change.")
    ] = False,
) -> None:
    """Restore every managed ScaledObject (configured and discovered) to its baseline and remove
    predictor's own annotations, never your declarations (for an uninstall)."""
    with reported_errors():
        settings = load_settings(config)
        if settings.kubernetes.mode == "offline":
            raise ConfigError("kubernetes.mode is offline: there is no cluster to release")
        app = build_app(settings, read_only=True)
        assert app.cluster is not None
        rows, notes = [], []
        failed = False
        try:
            app.daemon.discover()
            app.daemon.restore()
            objects = app.cluster.scaled_objects
            for rt in app.daemon.targets.snapshot():
                ref = str(rt.ref)
                try:
                    view = objects.get(rt.ref)
                    if not view.managed:
                        rows.append([ref, str(view.min_replicas), "-", "not managed by predictor"])
                        continue
                    baseline = effective_baseline(view, rt.memory)
                    if not yes:
                        rows.append([ref, str(view.min_replicas), str(baseline), "would restore"])
                        continue
                    result = objects.restore_baseline(rt.ref, remembered=rt.memory)
                    rows.append([ref, str(view.min_replicas), str(baseline), result.outcome])
                except ScaledObjectGone:
                    rows.append([ref, "-", "-", "gone"])
                except PredictorError as e:
                    failed = True
                    rows.append([ref, "-", "-", "failed"])
                    notes.append(f"{ref}: {e}")
        finally:
            app.close()
        if not yes and any(row[3] == "would restore" for row in rows):
            notes.append("would restore: minReplicaCount back to the baseline; predictor's annotations go")
        print("Release" + ("" if yes else " (dry run: add --yes to apply)"))
        print(layout(["SCALEDOBJECT", "MIN", "BASELINE", "ACTION"], rows, notes))
        if failed:
            raise typer.Exit(EXIT_FAILURE)
