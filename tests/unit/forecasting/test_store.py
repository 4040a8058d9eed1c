"""Persistence: atomic versioned JSON, clear errors, and golden files of schema v1.

The golden files in ``tests/golden/models/`` were written once by schema v1 and are committed;
they must keep loading (and predicting) in every later version. To write them again, on purpose
only: ``PREDICTOR_WRITE_GOLDEN=1 python -m pytest tests/unit/forecasting/test_store.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictor.errors import ForecastError
from predictor.forecasting import registry
from predictor.forecasting.store import SCHEMA_VERSION, ModelArtifact, ModelStore
from predictor.sources.synthetic import synthetic_trace

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "models"
KINDS = sorted(registry.FORECASTERS)
STEP_S = 1_800  # small golden files: 15 days at 30-minute steps
TRAINED_AT = pd.Timestamp("2026-01-20 00:10", tz="UTC")


def _history() -> pd.Series:
    return synthetic_trace(days=15, step_s=STEP_S, seed=11)


def _artifact(kind: str) -> ModelArtifact:
    history = _history()
    return ModelArtifact(
        kind=kind,
        trained_at=TRAINED_AT,
        data_start=history.index[0],
        data_end=history.index[-1] + pd.Timedelta(seconds=STEP_S),
        step_s=STEP_S,
        scores={"mase": 0.8, "candidates": {kind: {"mase": 0.8, "coverage_p90": 0.9}}},
        model=registry.make_forecaster(kind).fit(history),
    )


@pytest.fixture(scope="module")
def artifacts() -> dict[str, ModelArtifact]:
    return {kind: _artifact(kind) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(kind: str, artifacts: dict[str, ModelArtifact], tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "state")
    artifact = artifacts[kind]
    path = store.save("default/llama-70b", artifact)
    loaded = store.load("default/llama-70b")
    assert loaded is not None
    assert (loaded.kind, loaded.step_s, loaded.scores) == (kind, STEP_S, artifact.scores)
    assert (loaded.trained_at, loaded.data_start, loaded.data_end) == (
        artifact.trained_at,
        artifact.data_start,
        artifact.data_end,
    )
    start = artifact.data_end + pd.Timedelta(hours=2)
    np.testing.assert_allclose(loaded.model.predict(start, 24).mean, artifact.model.predict(start, 24).mean)
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file is left behind"


def test_missing_model_is_none(tmp_path: Path) -> None:
    assert ModelStore(tmp_path).load("nothing-here") is None


def test_target_names_cannot_escape_or_collide(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    names = ["a/b", "a_b", "../etc/passwd", "ns/x.y"]
    paths = {store.path(n) for n in names}
    assert len(paths) == len(names)
    assert all(p.parent == tmp_path for p in paths)


def _write(store: ModelStore, name: str, text: str) -> None:
    store.state_dir.mkdir(parents=True, exist_ok=True)
    store.path(name).write_text(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"schema_version": 1, "kind": "harm', "corrupt"),
        ("[1, 2]", "not a model artifact"),
        ('{"kind": "harmonic"}', "schema_version"),
        ('{"schema_version": 99, "kind": "harmonic"}', "newer"),
        ('{"schema_version": 1, "kind": "arima"}', "unknown model kind"),
        ('{"schema_version": 1, "kind": "harmonic", "trained_at": "2026-01-01T00:00:00+00:00"}', "invalid"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    store = ModelStore(tmp_path)
    _write(store, "t", text)
    with pytest.raises(ForecastError, match=message):
        store.load("t")


def test_broken_model_state_is_a_clear_error(artifacts: dict[str, ModelArtifact], tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    for kind in ("harmonic", "prophet"):
        doc = artifacts[kind].to_json()
        doc["model"]["params"] = (
            {"coef": "oops"} if kind == "harmonic" else {"prophet_json": "{", "log_space": 1}
        )
        _write(store, kind, json.dumps(doc))
        with pytest.raises(ForecastError, match=kind):
            store.load(kind)


def test_naive_timestamps_are_refused(artifacts: dict[str, ModelArtifact], tmp_path: Path) -> None:
    artifact = artifacts["seasonal_naive"]
    naive = ModelArtifact(**{**artifact.__dict__, "trained_at": pd.Timestamp("2026-01-20 00:10")})
    with pytest.raises(ForecastError, match="tz-aware"):
        ModelStore(tmp_path).save("t", naive)


def test_unwritable_state_dir_is_a_clear_error(artifacts: dict[str, ModelArtifact], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ForecastError, match="cannot write"):
        ModelStore(blocker / "state").save("t", artifacts["seasonal_naive"])


@pytest.mark.parametrize("kind", KINDS)
def test_golden_v1_files_keep_loading(kind: str, artifacts: dict[str, ModelArtifact]) -> None:
    """An old artifact loads, and predicts what it predicted when it was written."""
    golden = GOLDEN / f"{kind}.v1.json"
    expected_file = GOLDEN / f"{kind}.v1.expected.json"
    start = pd.Timestamp("2026-01-20 03:00", tz="UTC")  # three hours after the end of its data
    if os.environ.get("PREDICTOR_WRITE_GOLDEN") == "1" and SCHEMA_VERSION == 1:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(artifacts[kind].to_json(), indent=1) + "\n")
        written = artifacts[kind].model.predict(start, 48, (0.5, 0.9, 0.95)).to_frame()
        expected_file.write_text(json.dumps({c: written[c].tolist() for c in written}, indent=1) + "\n")
    doc = json.loads(golden.read_text())
    assert doc["schema_version"] == 1
    artifact = ModelArtifact.from_json(doc, source=str(golden))
    assert artifact.kind == kind
    assert artifact.trained_at == TRAINED_AT
    forecast = artifact.model.predict(start, 48, (0.5, 0.9, 0.95)).to_frame()
    expected = json.loads(expected_file.read_text())
    for column, values in expected.items():
        np.testing.assert_allclose(forecast[column].to_numpy(), values, rtol=1e-9, err_msg=column)
