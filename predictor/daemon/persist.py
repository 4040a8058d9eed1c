"""Files in the state directory besides the models: each target's memory, and the status file.

``<target>.memory.json`` holds the planner's memory as this daemon last knew it (see
:class:`~predictor.actuation.scaledobject.FloorMemory`), the uid of the ScaledObject it is about,
the start-ups seen for the learned cold start, and self-tuning's choice (quantile, buffer, reason,
when), so that a restarted daemon sizes with the tuned policy at once and re-tunes on schedule.
The ScaledObject's own annotations are the
shared record (every replica reads them); this file covers what they cannot: dry-run and
offline targets, which write nothing to the cluster, and bookkeeping someone removed by hand.

Every write is atomic (a temporary file in the same directory, then ``os.replace``), so a reader
never sees half a file and a SIGTERM never leaves one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from predictor.actuation.scaledobject import FloorMemory
from predictor.daemon.cold_start import StartupLog
from predictor.daemon.state import TunedChoice
from predictor.forecasting.store import ModelStore

MEMORY_SUFFIX = ".memory.json"
_TIMES = ("last_raise_at", "last_lower_at", "model_trained_at", "updated_at")


@dataclass
class SavedTarget:
    """What is kept of one target between two processes (besides its model)."""

    uid: str | None = None
    memory: FloorMemory = field(default_factory=FloorMemory)
    startups: StartupLog = field(default_factory=StartupLog)
    tuned: TunedChoice | None = None

    def to_json(self) -> dict[str, Any]:
        memory = {
            name: (value.isoformat() if isinstance(value, datetime) else value)
            for name in FloorMemory.__dataclass_fields__
            for value in [getattr(self.memory, name)]
        }
        doc = {"schema_version": 1, "uid": self.uid, "memory": memory, "startups": self.startups.to_json()}
        if self.tuned is not None:  # absent in older files: they load as "not tuned yet"
            doc["tuned"] = self.tuned.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> SavedTarget:
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        raw = doc.get("memory") or {}
        values: dict[str, Any] = {
            name: (datetime.fromisoformat(raw[name]) if name in _TIMES and raw.get(name) else raw.get(name))
            for name in FloorMemory.__dataclass_fields__
        }
        return cls(
            uid=doc.get("uid"),
            memory=FloorMemory(**values),
            startups=StartupLog.from_json(doc.get("startups")),
            tuned=TunedChoice.from_json(doc.get("tuned")),
        )


class TargetFiles:
    """``<state_dir>/<target>.memory.json``, named like the model files (same safe names)."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        self._names = ModelStore(state_dir)  # one scheme of safe file names per target

    def path(self, target: str) -> Path:
        model = self._names.path(target)
        return model.with_name(model.name.removesuffix(".model.json") + MEMORY_SUFFIX)

    def load(self, target: str) -> SavedTarget | None:
        """The saved state, or None if there is none; ValueError if it cannot be read."""
        try:
            text = self.path(target).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ValueError(f"cannot read {self.path(target)}: {e}") from e
        try:
            return SavedTarget.from_json(json.loads(text))
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{self.path(target)} is not a target memory file: {e}") from e

    def save(self, target: str, saved: SavedTarget) -> None:
        write_atomically(self.path(target), json.dumps(saved.to_json(), separators=(",", ":")))

    def delete(self, target: str) -> None:
        self.path(target).unlink(missing_ok=True)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``; OSError on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
