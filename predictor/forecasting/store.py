"""Fitted models on disk: one versioned JSON file per target in the state directory.

A restarted daemon loads them and forecasts before Prometheus answers. The file holds plain
JSON only (no pickles): the metadata of :class:`ModelArtifact` and the model's ``to_state()``.
Writes are atomic (a temporary file in the same directory, fsync, then ``os.replace``), so a
crash leaves either the old file or the new one, never half of one.

Schema history (``schema_version``):

- 1: ``kind``, ``trained_at``, ``data_start``, ``data_end`` (ISO 8601, UTC), ``step_s``,
  ``scores`` (free-form JSON from model selection), ``model`` (the fitted model's state).
- 2: adds ``inputs`` (what the model was trained on: ``source``, ``step_s``, ``window_days``,
  ``model`` asked for, predictor ``version``; see :class:`TrainingInputs`) and ``fitted_at``
  (when the fit ran). ``trained_at`` is the end of the data the model saw. A version-1 file
  loads with ``inputs`` and ``fitted_at`` None: what it was trained on is unknown.
  ``inputs`` may carry ``events``, the fingerprint of the known events that shaped the fit
  (:func:`predictor.events.fingerprint`); a file without it loads with ``""`` (no events). An
  optional field with a default needs no new version: older code reads such a file too.

A file with a newer version than this code, an unknown model kind or broken JSON raises
:class:`ForecastError`. Golden files in ``tests/golden/models/`` keep old versions loading.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from predictor.errors import ForecastError
from predictor.forecasting import registry
from predictor.forecasting.base import FittedModel

SCHEMA_VERSION = 2
SUFFIX = ".model.json"


@dataclass(frozen=True)
class TrainingInputs:
    """What a model was trained on. A model whose inputs differ from what the configuration asks
    for now is stale and must be retrained.

    ``source`` names the history (e.g. ``prometheus: sum(rate(x[5m]))``); ``step_s`` is the
    model's resolution in seconds; ``window_days`` the training window asked for; ``model`` the
    model asked for (``auto`` or a kind; the kind fitted is the artifact's ``kind``); ``version``
    the predictor version that fitted it; ``events`` the fingerprint of the known events that
    shaped the fit (their windows masked out of training, the holidays measured), ``""`` for none.
    """

    source: str
    step_s: int
    window_days: float
    model: str
    version: str
    events: str = ""

    def differences(self, wanted: TrainingInputs) -> list[str]:
        """What differs from ``wanted``, one phrase each (``step 300 s, now 600 s``); empty if nothing."""
        found = []
        for name, unit in (("source", ""), ("step_s", " s"), ("window_days", " days"), ("model", "")):
            mine, theirs = getattr(self, name), getattr(wanted, name)
            if mine != theirs:
                label = name.removesuffix("_s").removesuffix("_days").replace("_", " ")
                found.append(f"{label} {mine}{unit}, now {theirs}{unit}")
        if self.events != wanted.events:
            found.append("known events changed")
        if self.version != wanted.version:
            found.append(f"fitted by predictor {self.version}, now {wanted.version}")
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "step_s": int(self.step_s),
            "window_days": float(self.window_days),
            "model": self.model,
            "version": self.version,
            "events": self.events,
        }

    @classmethod
    def from_json(cls, doc: Any) -> TrainingInputs:
        if not isinstance(doc, dict):
            raise TypeError(f"inputs must be an object, got {type(doc).__name__}")
        return cls(
            source=str(doc["source"]),
            step_s=int(doc["step_s"]),
            window_days=float(doc["window_days"]),
            model=str(doc["model"]),
            version=str(doc["version"]),
            events=str(doc.get("events", "")),
        )


@dataclass(frozen=True)
class ModelArtifact:
    """A fitted model and what it was trained on.

    ``trained_at`` is the end of the data the model saw (the end of its last bin with data), so
    the model's age says how old its knowledge is; ``fitted_at`` is when the fit ran. Both are
    given by the caller (forecasting never reads the clock). ``data_start`` and ``data_end``
    bound the training window ``[start, end)``; ``step_s`` is its resolution in seconds;
    ``scores`` holds backtest scores (JSON types only), e.g. per candidate model; ``inputs``
    what it was trained on (None when unknown: a version-1 file).
    """

    kind: str
    trained_at: pd.Timestamp
    data_start: pd.Timestamp
    data_end: pd.Timestamp
    step_s: int
    model: FittedModel
    scores: dict[str, Any] = field(default_factory=dict)
    inputs: TrainingInputs | None = None
    fitted_at: pd.Timestamp | None = None
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The document written to disk (current schema)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "trained_at": _iso(self.trained_at, "trained_at"),
            "fitted_at": None if self.fitted_at is None else _iso(self.fitted_at, "fitted_at"),
            "data_start": _iso(self.data_start, "data_start"),
            "data_end": _iso(self.data_end, "data_end"),
            "step_s": int(self.step_s),
            "inputs": None if self.inputs is None else self.inputs.to_json(),
            "scores": self.scores,
            "model": self.model.to_state(),
        }

    @classmethod
    def from_json(cls, doc: Any, *, source: str = "artifact") -> ModelArtifact:
        """Rebuild an artifact from :meth:`to_json` output of this or an older schema."""
        if not isinstance(doc, dict):
            raise ForecastError(f"{source}: not a model artifact (expected a JSON object)")
        version = doc.get("schema_version")
        if not isinstance(version, int) or version < 1:
            raise ForecastError(f"{source}: missing or invalid schema_version {version!r}")
        if version > SCHEMA_VERSION:
            raise ForecastError(
                f"{source}: schema_version {version} is newer than this predictor supports "
                f"({SCHEMA_VERSION}); upgrade predictor or delete the file to retrain"
            )
        kind = doc.get("kind")
        model_class = registry.fitted_model_class(str(kind))  # ForecastError if unknown
        try:
            return cls(
                kind=str(kind),
                trained_at=_timestamp(doc["trained_at"]),
                data_start=_timestamp(doc["data_start"]),
                data_end=_timestamp(doc["data_end"]),
                step_s=int(doc["step_s"]),
                scores=dict(doc.get("scores") or {}),
                model=model_class.from_state(doc["model"]),
                inputs=TrainingInputs.from_json(doc["inputs"]) if doc.get("inputs") is not None else None,
                fitted_at=_timestamp(doc["fitted_at"]) if doc.get("fitted_at") is not None else None,
                schema_version=version,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ForecastError(f"{source}: invalid model artifact: {e!r}") from e


class ModelStore:
    """Model artifacts in ``state_dir``, one file per target name."""

    def __init__(self, state_dir: str | os.PathLike[str]):
        self.state_dir = Path(state_dir)

    def path(self, target_name: str) -> Path:
        """The file of ``target_name``; unsafe characters are replaced and a hash keeps names apart."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", target_name).lstrip(".") or "_"
        if safe != target_name:
            safe += "-" + hashlib.sha256(target_name.encode()).hexdigest()[:8]
        return self.state_dir / f"{safe}{SUFFIX}"

    def save(self, target_name: str, artifact: ModelArtifact) -> Path:
        """Write ``artifact`` atomically; returns the file written."""
        try:
            text = json.dumps(artifact.to_json(), allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as e:
            raise ForecastError(f"{target_name}: artifact is not plain JSON: {e}") from e
        target = self.path(target_name)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=f".{target.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            raise ForecastError(f"{target_name}: cannot write {target}: {e}") from e
        return target

    def load(self, target_name: str) -> ModelArtifact | None:
        """The stored artifact, or None if there is none; ForecastError if it cannot be read."""
        target = self.path(target_name)
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ForecastError(f"{target_name}: cannot read {target}: {e}") from e
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ForecastError(f"{target_name}: corrupt model file {target}: {e}") from e
        return ModelArtifact.from_json(doc, source=str(target))


def _iso(value: pd.Timestamp, name: str) -> str:
    ts = pd.Timestamp(value)
    if ts.tz is None:
        raise ForecastError(f"{name} must be tz-aware, got {value}")
    return ts.tz_convert("UTC").isoformat()


def _timestamp(text: Any) -> pd.Timestamp:
    ts = pd.Timestamp(str(text))
    if ts.tz is None:
        raise ValueError(f"timestamp without a time zone: {text}")
    return ts.tz_convert("UTC")
