"""``predictor events list``: the known events and holidays ahead, in local time and UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from predictor import events as ev
from predictor.cli.common import console, parse_duration, print_json, reported_errors
from predictor.config import Settings, TargetSettings, load_settings
from predictor.config.events import events_for
from predictor.errors import ConfigError

app = typer.Typer(help="Known events and holiday calendars: list the windows ahead.", no_args_is_help=True)

DEFAULT_SPAN = "7d"
SCHEMA = "predictor.events/v1"


@dataclass(frozen=True)
class Listed:
    """One window and the targets it applies to."""

    window: ev.ActiveWindow
    targets: tuple[str, ...]


@app.command("list")
def list_events(
    config: Annotated[Path | None, typer.Option(help="Config file; default $PREDICTOR_CONFIG.")] = None,
    target: Annotated[str | None, typer.Option(help="Only the events of this target.")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="From this time (ISO; naive = UTC). Default: now.")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", help=f"Until this time (ISO), or a span after --from like 30d. Default: {DEFAULT_SPAN}."
        ),
    ] = None,
    output: Annotated[str, typer.Option(help="table (80 columns) or json.")] = "table",
) -> None:
    """List the windows of the known events and holidays between --from and --to.

    Each window shows its local time (the event's time zone), its start in UTC, its effect and
    the targets it applies to. Exit 2 with one line on a bad config file or flag.
    """
    with reported_errors():
        if output not in ("table", "json"):
            raise ConfigError(f"--output: {output!r} is not one of table, json")
        # The CLI is a composition root: it may read the clock.
        first = _time(start, "--from") if start else pd.Timestamp.now(tz="UTC").floor("min")
        last = _until(end or DEFAULT_SPAN, first)
        settings = load_settings(config)
        listed = resolve(settings, first, last, target)
        if output == "json":
            print_json(to_json(listed, first, last))
        else:
            render(listed, first, last)


def resolve(settings: Settings, start: pd.Timestamp, end: pd.Timestamp, target: str | None) -> list[Listed]:
    """The windows in ``[start, end)`` with the targets each applies to, in time order."""
    targets = [_find(settings, target)] if target else list(settings.targets)
    by_window: dict[tuple[Any, ...], tuple[ev.ActiveWindow, list[str]]] = {}
    if not targets:  # a file with events but no targets yet: the top-level ones
        lists: list[tuple[str | None, list[ev.Event]]] = [(None, _top_level(settings))]
    else:
        lists = [(t.name, events_for(settings, t)) for t in targets]
    for name, found in lists:
        for w in ev.windows(found, start, end):
            key = (w.event, w.name, w.start, w.end, w.effect)
            _, names = by_window.setdefault(key, (w, []))
            if name is not None:
                names.append(name)
    ordered = sorted(by_window.values(), key=lambda item: (item[0].start, item[0].event))
    return [Listed(w, tuple(names)) for w, names in ordered]


def to_json(listed: list[Listed], start: pd.Timestamp, end: pd.Timestamp) -> dict[str, Any]:
    """The ``predictor.events/v1`` document (schema in the README)."""
    return {
        "schema": SCHEMA,
        "from": _iso(start),
        "to": _iso(end),
        "windows": [
            {
                "event": item.window.event,
                "name": item.window.name,
                "kind": _kind(item.window),
                "effect": _effect_json(item.window.effect),
                "description": item.window.effect.describe(),
                "start": _iso(item.window.start),
                "end": _iso(item.window.end),
                "timezone": item.window.timezone,
                "start_local": item.window.start.tz_convert(item.window.timezone).isoformat(),
                "end_local": item.window.end.tz_convert(item.window.timezone).isoformat(),
                "targets": list(item.targets),
            }
            for item in listed
        ],
    }


def render(listed: list[Listed], start: pd.Timestamp, end: pd.Timestamp) -> None:
    """The windows as a table that fits 80 columns."""
    span = f"{start:%a %d %b %Y %H:%M} to {end:%a %d %b %Y %H:%M} UTC"
    if not listed:
        console.print(f"No known events or holidays from {span}.", soft_wrap=True)
        return
    console.print(f"Known events from {span}", soft_wrap=True)
    table = Table(box=None, pad_edge=False, padding=(0, 1))
    table.add_column("local time", no_wrap=True)
    table.add_column("UTC", no_wrap=True)
    table.add_column("event", overflow="fold")
    table.add_column("effect", overflow="fold")
    table.add_column("targets", overflow="fold")
    everyone = {t for item in listed for t in item.targets}
    fallbacks = sorted({item.window.effect.describe() for item in listed if item.window.holiday})
    for item in listed:
        w = item.window
        targets = "all" if set(item.targets) == everyone else ", ".join(item.targets) or "-"
        effect = "holiday*" if w.holiday else w.effect.describe()
        table.add_row(_local_span(w), _utc_span(w), w.name, effect, targets)
    console.print(table)
    if fallbacks:
        console.print(
            f"* like the history's past holidays; {' or '.join(fallbacks)} when it holds none", soft_wrap=True
        )


def _local_span(w: ev.ActiveWindow) -> str:
    """``Thu 05 Mar 09:00–12:00 CET``, ``Fri 25 Dec all day PST``."""
    start, end = w.start.tz_convert(w.timezone), w.end.tz_convert(w.timezone)
    zone = start.tzname() or w.timezone
    if start == start.normalize() and end == end.normalize() and end - start <= pd.Timedelta(hours=25):
        return f"{start:%a %d %b} all day {zone}"
    return f"{start:%a %d %b} {_clock_span(start, end)} {zone}"


def _utc_span(w: ev.ActiveWindow) -> str:
    """``08:00–11:00``; the weekday when the UTC day differs from the local one."""
    local_day = w.start.tz_convert(w.timezone).date()
    day = "" if w.start.date() == local_day else f"{w.start:%a} "
    return day + _clock_span(w.start, w.end)


def _clock_span(start: pd.Timestamp, end: pd.Timestamp) -> str:
    days = (end.normalize() - start.normalize()).days
    later = f"+{days}d" if days > 0 and not (days == 1 and end == end.normalize()) else ""
    return f"{start:%H:%M}–{end:%H:%M}{later}"


def _kind(w: ev.ActiveWindow) -> str:
    return "holiday" if w.holiday else "recurring" if w.recurring else "one-off"


def _effect_json(effect: ev.Effect) -> dict[str, Any]:
    if effect.kind in ("like", "holiday"):
        return {"kind": effect.kind, "like": ev.WEEKDAYS[effect.weekday]}
    value: float | int = int(effect.value) if effect.kind in ("min_floor", "max_floor") else effect.value
    return {"kind": effect.kind, "value": value}


def _top_level(settings: Settings) -> list[ev.Event]:
    found = [e.to_event() for e in settings.events]
    if settings.holidays is not None and not settings.holidays.empty:
        found.append(settings.holidays.to_event())
    return found


def _find(settings: Settings, name: str) -> TargetSettings:
    for target in settings.targets:
        if target.name == name:
            return target
    known = ", ".join(t.name for t in settings.targets) or "none configured"
    raise ConfigError(f"--target: no target named {name!r} (targets: {known})")


def _time(text: str, flag: str) -> pd.Timestamp:
    try:
        moment = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{flag}: {text!r} is not a time like 2026-03-02T08:00 (UTC) or 2026-03-02"
        ) from None
    if moment is pd.NaT:
        raise ConfigError(f"{flag}: {text!r} is not a time like 2026-03-02T08:00 (UTC) or 2026-03-02")
    return moment.tz_localize("UTC") if moment.tz is None else moment.tz_convert("UTC")


def _until(text: str, start: pd.Timestamp) -> pd.Timestamp:
    if re.fullmatch(r"\d+(\.\d+)?[smhdw]", text.strip().lower()):
        try:
            seconds = parse_duration(text)
        except typer.BadParameter as e:
            raise ConfigError(f"--to: {e.message}") from None
        end = start + pd.Timedelta(seconds=seconds)
    else:
        end = _time(text, "--to")
    if end <= start:
        raise ConfigError(f"--to: {_iso(end)} is not after --from {_iso(start)}")
    return end


def _iso(moment: pd.Timestamp) -> str:
    return moment.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
