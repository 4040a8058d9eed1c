"""A model carries what it was trained on (schema 2), and a stale one is retrained first.

``tests/golden/models/envelope.v2.json`` was written once by schema 2 and is committed; it must keep
loading in every later version (the version-1 goldens are checked in tests/unit/forecasting). To
write it again, on purpose only: ``PREDICTOR_WRITE_GOLDEN=1 python -m pytest`` on this file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from predictor import __version__
from predictor import events as ev
from predictor.daemon.state import TargetState, inputs_of
from predictor.forecasting import registry
from predictor.forecasting.store import SCHEMA_VERSION, ModelArtifact, ModelStore, TrainingInputs
from predictor.runtime.targets import source_for
from predictor.sources.synthetic import synthetic_trace
from tests.unit.daemon.conftest import settings_for

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "models"
INPUTS = TrainingInputs("prometheus: sum(rate(x[5m]))", 1_800, 15.0, "auto", "0.1.0")


def artifact() -> ModelArtifact:
    history = synthetic_trace(days=15, step_s=1_800, seed=11)
    end = history.index[-1] + pd.Timedelta(seconds=1_800)
    return ModelArtifact(
        kind="seasonal_naive",
        trained_at=end,
        data_start=history.index[0],
        data_end=end,
        step_s=1_800,
        model=registry.make_forecaster("seasonal_naive").fit(history),
        scores={"seasonal_naive": 0.8},
        inputs=INPUTS,
        fitted_at=end + pd.Timedelta(minutes=3),
    )


def test_the_v2_golden_keeps_loading_with_what_it_was_trained_on():
    golden = GOLDEN / "envelope.v2.json"
    if os.environ.get("PREDICTOR_WRITE_GOLDEN") == "1" and SCHEMA_VERSION == 2:
        golden.write_text(json.dumps(artifact().to_json(), indent=1) + "\n")
    doc = json.loads(golden.read_text())
    assert doc["schema_version"] == 2
    loaded = ModelArtifact.from_json(doc, source=str(golden))
    assert loaded.inputs == INPUTS
    assert loaded.trained_at == pd.Timestamp("2026-01-20 00:00", tz="UTC")  # the end of its data
    assert loaded.fitted_at == pd.Timestamp("2026-01-20 00:03", tz="UTC")


def test_the_envelope_round_trips_and_names_what_changed(tmp_path):
    store = ModelStore(tmp_path)
    store.save("chat", artifact())
    loaded = store.load("chat")
    assert loaded is not None and loaded.inputs == INPUTS
    wanted = TrainingInputs("prometheus: sum(rate(y[5m]))", 600, 21.0, "harmonic", "0.2.0")
    assert loaded.inputs.differences(wanted) == [
        "source prometheus: sum(rate(x[5m])), now prometheus: sum(rate(y[5m]))",
        "step 1800 s, now 600 s",
        "window 15.0 days, now 21.0 days",
        "model auto, now harmonic",
        "fitted by predictor 0.1.0, now 0.2.0",
    ]
    assert loaded.inputs.differences(INPUTS) == []


def test_a_version_1_model_is_used_but_retrained_first(tmp_path):
    """An old artifact records no inputs: it still forecasts (same step), but is stale."""
    settings = settings_for(tmp_path, "chat", model_step_s=1_800)
    rt = TargetState.create(settings.targets[0], source_for(settings, settings.targets[0]))
    doc = json.loads((GOLDEN / "seasonal_naive.v1.json").read_text())
    rt.artifact = ModelArtifact.from_json(doc)
    assert rt.artifact.inputs is None and rt.model_problem() is None
    assert rt.stale_inputs() == ["trained by an older predictor that did not record its inputs"]
    assert inputs_of(settings.targets[0]).version == __version__


def test_only_the_events_that_shape_the_fit_make_a_model_stale(tmp_path):
    """A floor schedule is applied at the reconcile: changing it needs no new model; a rate event's
    windows are left out of training, so adding one does."""
    target = settings_for(tmp_path, "chat").targets[0]
    floor = ev.Event("night", ev.Recurring(ev.parse_cron("0 2 * * *"), 3_600), ev.Effect("min_floor", 4))
    rate = ev.Event("campaign", ev.Recurring(ev.parse_cron("0 14 * * *"), 5_400), ev.Effect("multiply", 1.5))
    assert inputs_of(target).events == "" == inputs_of(target, [floor]).events
    assert inputs_of(target, [floor, rate]).events == ev.fingerprint([rate])
    assert inputs_of(target).differences(inputs_of(target, [rate])) == ["known events changed"]
