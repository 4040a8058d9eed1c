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


@dataclass(frozen=True)
class Objective:
    """What a policy must achieve on a replay of the target's own history to be acceptable.

    Met when the shortfall minutes are at most ``shortfall_minutes_per_day`` per replayed day, or at
    most ``shortfall_share`` of what KEDA alone has on the same replay (either suffices).
    """

    shortfall_minutes_per_day: float
    shortfall_share: float

    def allowance(self, days: float, reactive_shortfall_minutes: float) -> float:
        """Shortfall minutes acceptable over ``days`` when KEDA alone has the given shortfall."""
        return max(self.shortfall_minutes_per_day * days, self.shortfall_share * reactive_shortfall_minutes)

    def describe(self) -> str:
        return (
            f"≤ {self.shortfall_minutes_per_day:g} shortfall min/day or ≤ {self.shortfall_share:.0%} "
            "of KEDA alone's"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "shortfall_minutes_per_day": self.shortfall_minutes_per_day,
            "shortfall_share": self.shortfall_share,
        }


@dataclass(frozen=True)
class Tuning:
    """Self-tuning: replay the last ``history_days`` under every (quantile, buffer) candidate and keep
    the cheapest that meets ``objective`` with a ``margin`` (its replayed shortfall at most that share
    of the objective's allowance: the days ahead are not the replayed ones); never below
    ``min_quantile``. When no candidate meets it, the configured policy stays (the least shortfall
    when the configured quantile is below ``min_quantile``). Re-run every
    ``interval_s``. ``reselect`` replays the model choice at every retrain of the tuned days (about 3×
    the cost); off, the model kind chosen at the first retrain is refitted at the later ones."""

    enabled: bool
    history_days: float
    interval_s: int
    min_quantile: float
    quantiles: tuple[float, ...]
    buffers: tuple[float, ...]
    objective: Objective
    reselect: bool = False
    margin: float = 1.0

    def candidates(self, policy: Policy) -> tuple[Policy, ...]:
        """``policy`` with every allowed (quantile, buffer) pair, safest first; ``policy``'s own pair is
        one of them when its quantile is allowed (so that it can be kept)."""
        quantiles = {q for q in self.quantiles if q >= self.min_quantile} or {self.min_quantile}
        pairs = {(q, b) for q in quantiles for b in self.buffers}
        if policy.quantile >= self.min_quantile:
            pairs.add((policy.quantile, policy.floor.buffer))
        return tuple(policy.with_floor(quantile=q, buffer=b) for q, b in sorted(pairs, reverse=True))

    def allows(self, policy: Policy, quantile: float, buffer: float) -> bool:
        """Whether (``quantile``, ``buffer``) is a candidate this tuning may choose for ``policy``."""
        return self.enabled and any(
            abs(c.quantile - quantile) < 1e-9 and abs(c.floor.buffer - buffer) < 1e-9
            for c in self.candidates(policy)
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "history_days": self.history_days,
            "interval_s": self.interval_s,
            "min_quantile": self.min_quantile,
            "quantiles": list(self.quantiles),
            "buffers": list(self.buffers),
            "objective": self.objective.to_dict(),
            "margin": self.margin,
            "reselect": self.reselect,
        }
