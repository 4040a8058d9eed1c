"""One target's whole policy as a value: how to forecast, and how the forecast becomes a floor.

Built once from the configuration (:func:`predictor.runtime.targets.policy_from_settings`) or from
the command-line flags, and handed as it is to the daemon's planner and to the replay, so that the
two cannot drift apart. :class:`Cadence` is the rhythm of the work (retrain and reconcile
intervals), built from the schedule settings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from predictor.planning import FloorPolicy


@dataclass(frozen=True)
class Policy:
    """How one target is forecast and floored. Durations in seconds.

    ``model`` is ``auto`` or a forecaster kind; ``step_s`` the model's resolution; ``train_days``
    the training window; ``horizon_s`` how far ahead the plan reaches; past ``max_forecast_age_s``
    of the model's age the floor steps back to the baseline; ``floor`` turns the forecast into pods.
    """

    model: str
    step_s: int
    train_days: float
    horizon_s: int
    max_forecast_age_s: float
    floor: FloorPolicy

    @property
    def quantile(self) -> float:
        """The forecast quantile that sizes the floor."""
        return self.floor.quantile

    @property
    def quantiles(self) -> tuple[float, ...]:
        """The quantiles predicted: p50, p90, p95 and the one that sizes the floor."""
        return tuple(sorted({0.5, 0.9, 0.95, self.floor.quantile}))

    def with_floor(self, **changes: object) -> Policy:
        """This policy with some floor settings changed (e.g. ``quantile=0.8``)."""
        return replace(self, floor=replace(self.floor, **changes))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """Every setting that shapes the forecast and the floor, flat and JSON-ready."""
        return {
            "model": self.model,
            "step_s": self.step_s,
            "train_days": self.train_days,
            "horizon_s": self.horizon_s,
            "max_forecast_age_s": self.max_forecast_age_s,
            **self.floor.to_dict(),
        }


@dataclass(frozen=True)
class Cadence:
    """How often the work runs: a retrain every ``retrain_every_s``, a reconcile every
    ``reconcile_every_s`` (seconds)."""

    retrain_every_s: int
    reconcile_every_s: int

    def to_dict(self) -> dict[str, object]:
        return {"retrain_every_s": self.retrain_every_s, "reconcile_every_s": self.reconcile_every_s}
