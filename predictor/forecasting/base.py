"""The one interface every forecaster implements.

``Forecaster.fit(history)`` returns a :class:`FittedModel`; ``FittedModel.predict(start, periods,
quantiles)`` returns a :class:`Forecast` with the mean and the requested quantiles. A fitted
model can forecast any window at or after the start of its training data, so a daemon that
cannot reach Prometheus keeps forecasting from the last fit. ``to_state``/``from_state``
round-trip a fitted model through plain JSON types (no pickles).

``history`` follows :mod:`predictor.sources.base`: a regular tz-aware UTC series in req/s with
NaN gaps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95)
DAY_S = 86_400
WEEK_S = 7 * DAY_S


def quantile_label(q: float) -> str:
    """0.9 -> 'p90', 0.95 -> 'p95', 0.975 -> 'p97.5'."""
    pct = round(q * 100, 3)
    return f"p{int(pct)}" if float(pct).is_integer() else f"p{pct:g}"


@dataclass(frozen=True)
class Clamp:
    """One forecast series cut down to its plausibility bound, for the reasons people read.

    ``series`` is ``mean`` or a quantile label (``p90``); ``points`` how many of its points were
    cut; ``raw`` the largest value before the cut and ``bound`` the value it was cut to there
    (req/s); ``rule`` says where the bound comes from (e.g. "3× the history's peak");
    ``first`` and ``last`` are the labels of the first and last point cut (UTC), when known.
    """

    series: str
    points: int
    raw: float
    bound: float
    rule: str
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None

    def describe(self) -> str:
        """``p90 clamped from 2e+07 to 4,800 req/s: 3× the history's peak``."""
        return f"{self.series} clamped from {self.raw:.3g} to {self.bound:,.0f} req/s: {self.rule}"

    def when(self) -> str:
        """``Mon 08:00 → Mon 14:30 UTC (40 points)``, or the number of points alone."""
        if self.first is None or self.last is None:
            return f"{self.points} points"
        return f"{self.first:%a %H:%M} → {self.last:%a %H:%M} UTC ({self.points} points)"


@dataclass(frozen=True)
class Forecast:
    """Predicted request rate (req/s) on a regular UTC index.

    Invariants: every array has ``len(index)`` finite values >= 0, and quantile arrays are
    non-decreasing in the quantile (p50 <= p90 <= p95 point by point). ``clamps`` lists the
    series that were cut to their plausibility bound (empty when none was).
    """

    index: pd.DatetimeIndex
    mean: np.ndarray
    quantiles: Mapping[float, np.ndarray]
    model: str
    clamps: tuple[Clamp, ...] = ()

    @property
    def clamped(self) -> bool:
        """Whether any series of this forecast was cut to its plausibility bound."""
        return bool(self.clamps)

    def quantile(self, q: float) -> np.ndarray:
        """The forecast at quantile ``q`` (must be one that was requested)."""
        for known, values in self.quantiles.items():
            if abs(known - q) < 1e-9:
                return values
        raise KeyError(f"quantile {q} was not predicted (have {sorted(self.quantiles)})")

    def to_frame(self) -> pd.DataFrame:
        """Columns ``mean`` and one per quantile (``p50``, ``p90``, ...)."""
        columns = {"mean": self.mean} | {quantile_label(q): v for q, v in sorted(self.quantiles.items())}
        return pd.DataFrame(columns, index=self.index)


class FittedModel(ABC):
    """A trained model that can forecast."""

    kind: ClassVar[str]

    @abstractmethod
    def predict(
        self, start: pd.Timestamp, periods: int, quantiles: Sequence[float] = DEFAULT_QUANTILES
    ) -> Forecast:
        """Forecast ``periods`` steps from ``start`` (tz-aware, aligned to the model's step)."""

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """Everything needed to rebuild the model, as JSON-serialisable types only."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: Mapping[str, Any]) -> FittedModel:
        """Rebuild a model from :meth:`to_state` output."""


class Forecaster(ABC):
    """A model family with its settings; ``fit`` trains it on one history."""

    kind: ClassVar[str]
    #: History needed to fit, seconds; shorter history raises ForecastError.
    min_history_s: ClassVar[int]

    @abstractmethod
    def fit(self, history: pd.Series, *, seed: int = 0) -> FittedModel:
        """Train on ``history``; raises :class:`~predictor.errors.ForecastError` when it cannot."""
