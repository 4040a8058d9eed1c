"""``harmonic`` under two weeks of history: the weekend gets its own level and shape.

Without weekly terms, one daily curve fitted to weekdays and a weekend sits between the two, and
a day ahead (when the recent-level correction has faded) a weekday is under-forecast by ~20%.
The weekend is Saturday and Sunday of the data's clock, from the daily trough to the next, so
it is found wherever the clock puts the traffic (UTC, local time, an anonymising offset).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictor.forecasting.models import fourier, harmonic
from predictor.forecasting.store import SCHEMA_VERSION, ModelArtifact
from predictor.sources.synthetic import synthetic_trace

STEP_S = 300
PER_DAY = 86_400 // STEP_S
GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "models"


def _traces(clock_shift_h: int) -> tuple[pd.Series, pd.Series]:
    """(noisy trace, true pattern) from Monday 5 January, weekends at 0.45 of weekdays."""
    noisy = synthetic_trace(days=10, step_s=STEP_S, noise=0.08, bursts=2, seed=3)
    truth = synthetic_trace(days=10, step_s=STEP_S, noise=0.0, bursts=0, seed=3)
    for series in (noisy, truth):
        series.index = series.index + pd.Timedelta(hours=clock_shift_h)
    return noisy, truth


@pytest.mark.parametrize("clock_shift_h", [0, -9, 5])
def test_weekday_level_is_recovered_a_day_after_a_weekend(clock_shift_h: int) -> None:
    """Six days (Wednesday to Monday, weekend included), then the whole next weekday."""
    noisy, truth = _traces(clock_shift_h)
    train = noisy.iloc[2 * PER_DAY : 8 * PER_DAY]
    actual = truth.iloc[8 * PER_DAY : 9 * PER_DAY].to_numpy()
    model = harmonic.Harmonic().fit(train)
    forecast = model.predict(truth.index[8 * PER_DAY], PER_DAY).mean
    level = forecast.mean() / actual.mean()
    wape = np.abs(forecast - actual).sum() / actual.sum()
    # Before the weekend terms: level 0.82, WAPE 0.18.
    assert 0.93 < level < 1.07, f"day-ahead weekday level {level:.3f} of the truth"
    assert wape < 0.08, f"day-ahead WAPE {wape:.3f}"
    assert len(model.weekend_coef) == 1 + 2 * fourier.WEEKEND_HARMONICS
    loaded = harmonic.HarmonicModel.from_state(model.to_state())
    np.testing.assert_allclose(loaded.predict(truth.index[8 * PER_DAY], PER_DAY).mean, forecast)


@pytest.mark.parametrize(
    ("first_day", "last_day", "why"),
    [(0, 5, "weekdays only"), (1, 5.5, "half a Saturday"), (5, 7, "a weekend only")],
)
def test_without_both_kinds_of_day_no_weekend_terms(first_day: int, last_day: float, why: str) -> None:
    noisy, _ = _traces(0)
    model = harmonic.Harmonic().fit(noisy.iloc[first_day * PER_DAY : round(last_day * PER_DAY)])
    assert len(model.weekend_coef) == 0, why
    assert len(model.coef) == 1 + 2 * fourier.DAILY_HARMONICS


def test_state_without_weekend_fields_loads_as_before() -> None:
    """Artifacts written before the weekend terms existed load as a model without them."""
    noisy, _ = _traces(0)
    model = harmonic.Harmonic().fit(noisy.iloc[2 * PER_DAY : 8 * PER_DAY])
    state = model.to_state()
    for field in ("weekend_coef", "weekend_shift_s"):
        del state["params"][field]
    loaded = harmonic.HarmonicModel.from_state(state)
    assert len(loaded.weekend_coef) == 0
    # The next Tuesday: no weekend terms involved, so both predict the same.
    start = noisy.index[8 * PER_DAY]
    np.testing.assert_allclose(loaded.predict(start, PER_DAY).mean, model.predict(start, PER_DAY).mean)


def test_golden_v1_file_with_weekend_terms_keeps_loading() -> None:
    """A schema v1 artifact with weekend terms (written once, like ``test_store``'s golden files;
    ``PREDICTOR_WRITE_GOLDEN=1`` writes it again) loads and predicts what it predicted then."""
    golden, expected_file = GOLDEN / "harmonic_weekend.v1.json", GOLDEN / "harmonic_weekend.v1.expected.json"
    start = pd.Timestamp("2026-01-13 03:00", tz="UTC")  # Tuesday, three hours after the data
    if os.environ.get("PREDICTOR_WRITE_GOLDEN") == "1" and SCHEMA_VERSION == 1:
        history = synthetic_trace(days=10, step_s=1_800, seed=11).iloc[2 * 48 : 8 * 48]
        artifact = ModelArtifact(
            kind="harmonic",
            trained_at=pd.Timestamp("2026-01-13 00:10", tz="UTC"),
            data_start=history.index[0],
            data_end=history.index[-1] + pd.Timedelta(seconds=1_800),
            step_s=1_800,
            scores={},
            model=harmonic.Harmonic().fit(history),
        )
        golden.write_text(json.dumps(artifact.to_json(), indent=1) + "\n")
        written = artifact.model.predict(start, 48, (0.5, 0.9)).to_frame()
        expected_file.write_text(json.dumps({c: written[c].tolist() for c in written}, indent=1) + "\n")
    artifact = ModelArtifact.from_json(json.loads(golden.read_text()), source=str(golden))
    assert len(artifact.model.weekend_coef) == 1 + 2 * fourier.WEEKEND_HARMONICS
    forecast = artifact.model.predict(start, 48, (0.5, 0.9)).to_frame()
    for column, values in json.loads(expected_file.read_text()).items():
        np.testing.assert_allclose(forecast[column].to_numpy(), values, rtol=1e-9, err_msg=column)
