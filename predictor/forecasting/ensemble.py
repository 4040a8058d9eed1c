"""``ensemble``: a weighted geometric mean of fitted models, the combination ``auto`` may choose.

Pure selection on six backtest origins is noisy: the best model on the backtest is often not
the best on the next day, and a close second would have done as well. Combining the
candidates by their backtest error is steadier (forecast combination, e.g. Bates and Granger
1969; the M4 competition's winners combined too). The combination is taken in log space,
``log(y + c) = sum_i w_i log(y_i + c)``, like the models' own errors: a burst forecast by one
member moves it by a factor, not by the burst's size. Weights are ``mae_i ** -power``
normalised (``power`` 2 is inverse mean squared error weighting for errors of one shape),
from the same rolling-origin backtest that scores every candidate; its quantiles come from
that backtest too. The model can hold weights per lead-time bucket (``edges_s``); ``auto``
uses one bucket (see :mod:`predictor.forecasting.combination` for why).

State: ``{"edges_s": [...], "members": [{"kind", "weights", "state"}], ...}`` plus the shared fields of
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
    """Members (fitted models of one history) and their weights by lead time.

    ``edges_s[b]`` is the first lead time (seconds after the end of training) of bucket ``b``;
    each member has one weight per bucket, and the weights of a bucket sum to 1.
    """

    kind: ClassVar[str] = "ensemble"

    def __init__(
        self,
        *,
        members: Sequence[tuple[str, LogSpaceModel, float | Sequence[float]]],
        edges_s: Sequence[float] = (0.0,),
        **common_args: Any,
    ):
        super().__init__(**common_args)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.edges_s = tuple(float(e) for e in edges_s)
        weights = np.array(
            [np.broadcast_to(np.asarray(w, dtype=float), len(self.edges_s)) for _, _, w in members]
        )
        totals = weights.sum(axis=0)
        if not (np.isfinite(weights).all() and (weights >= 0).all() and (totals > 0).all()):
            raise ValueError("ensemble weights must be non-negative with a positive sum per bucket")
        self.weights = weights / totals  # [member, bucket]
        self.members = [(kind, model) for kind, model, _ in members]

    def centre(self, index: pd.DatetimeIndex, steps_ahead: np.ndarray) -> np.ndarray:
        horizon_s = np.maximum(np.asarray(steps_ahead, dtype=float), 0.0) * self.step_s
        bucket = np.searchsorted(np.asarray(self.edges_s), horizon_s, side="right") - 1
        mu = np.zeros(len(index))
        for (_, model), weights in zip(self.members, self.weights, strict=True):
            rate = np.maximum(np.exp(model.centre(index, steps_ahead)) - model.offset, 0.0)
            mu += weights[bucket] * np.log(rate + self.offset)
        return mu

    def describe(self) -> str:
        """``harmonic 0.62, seasonal_naive_weekly 0.38`` (mean weight over the lead-time buckets)."""
        mean = self.weights.mean(axis=1)
        order = np.argsort(-mean)
        return ", ".join(f"{self.members[i][0]} {mean[i]:.2f}" for i in order)

    def _params(self) -> dict[str, Any]:
        return {
            "edges_s": list(self.edges_s),
            "members": [
                {"kind": k, "weights": w.tolist(), "state": m.to_state()}
                for (k, m), w in zip(self.members, self.weights, strict=True)
            ],
        }

    @classmethod
    def _from_params(cls, params: Mapping[str, Any], **common_args: Any) -> EnsembleModel:
        from predictor.forecasting import registry  # the registry imports this module

        members = []
        for member in params["members"]:
            model = registry.fitted_model_class(str(member["kind"])).from_state(member["state"])
            if not isinstance(model, LogSpaceModel):
                raise ValueError(f"ensemble member {member['kind']!r} is not a log-space model")
            members.append((str(member["kind"]), model, [float(w) for w in member["weights"]]))
        return cls(members=members, edges_s=[float(e) for e in params["edges_s"]], **common_args)
