"""``ensemble``: a weighted geometric mean of fitted models, the combination ``auto`` may choose.

Pure selection on six backtest origins is noisy: the best model on the backtest is often not
the best on the next day, and a close second would have done as well. Combining the
candidates by their backtest error is steadier (forecast combination, e.g. Bates and Granger
1969; the M4 competition's winners combined too). The combination is taken in log space,
``log(y + c) = sum_i w_i log(y_i + c)``, like the models' own errors: a burst forecast by one
member moves it by a factor, not by the burst's size. Weights are ``mae_i ** -power``
normalised (``power`` 2 is inverse mean squared error weighting for errors of one shape),
from the same rolling-origin backtest that scores every candidate, and its quantiles come
from that backtest too (:func:`predictor.forecasting.selection` calibrates it).

State: ``{"members": [{"kind", "weight", "state"}], ...}`` plus the shared fields of
:class:`~predictor.forecasting.models.common.LogSpaceModel`; each member keeps its own state
and loads through the registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from predictor.forecasting.models.common import LogSpaceModel


class EnsembleModel(LogSpaceModel):
    """Members (fitted models of one history) and their weights (positive, summing to 1)."""

    kind: ClassVar[str] = "ensemble"

    def __init__(self, *, members: Sequence[tuple[str, LogSpaceModel, float]], **common_args: Any):
        super().__init__(**common_args)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        total = float(sum(w for _, _, w in members))
        if not np.isfinite(total) or total <= 0 or any(w < 0 for _, _, w in members):
            raise ValueError("ensemble weights must be non-negative with a positive sum")
        self.members = [(kind, model, float(w) / total) for kind, model, w in members]

    def centre(self, index: pd.DatetimeIndex, steps_ahead: np.ndarray) -> np.ndarray:
        mu = np.zeros(len(index))
        for _, model, weight in self.members:
            rate = np.maximum(np.exp(model.centre(index, steps_ahead)) - model.offset, 0.0)
            mu += weight * np.log(rate + self.offset)
        return mu

    def describe(self) -> str:
        """``harmonic 0.62, seasonal_naive_weekly 0.38``."""
        return ", ".join(f"{kind} {w:.2f}" for kind, _, w in sorted(self.members, key=lambda m: -m[2]))

    def _params(self) -> dict[str, Any]:
        return {
            "members": [{"kind": k, "weight": w, "state": m.to_state()} for k, m, w in self.members],
        }

    @classmethod
    def _from_params(cls, params: Mapping[str, Any], **common_args: Any) -> EnsembleModel:
        from predictor.forecasting import registry  # the registry imports this module

        members = []
        for member in params["members"]:
            model = registry.fitted_model_class(str(member["kind"])).from_state(member["state"])
            if not isinstance(model, LogSpaceModel):
                raise ValueError(f"ensemble member {member['kind']!r} is not a log-space model")
            members.append((str(member["kind"]), model, float(member["weight"])))
        return cls(members=members, **common_args)
