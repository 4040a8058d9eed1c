"""Configured against observed capacity: is a profile off, and what to size with (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from predictor.capacity.formula import PodModel
from predictor.capacity.observed import ObservedCapacity, rounded
from predictor.errors import CapacityError


@dataclass(frozen=True)
class CapacityComparison:
    """Configured against observed capacity per pod, and whether the profile is off by more than
    ``margin`` (a fraction: 0.25 = 25 %)."""

    configured_rps_per_pod: float
    observed: ObservedCapacity
    margin: float
    ratio: float | None  # observed / configured; for a bound, the bound's ratio
    off: bool
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "configured_rps_per_pod": rounded(self.configured_rps_per_pod),
            "observed": self.observed.to_dict(),
            "margin": self.margin,
            "ratio": rounded(self.ratio),
            "off": self.off,
            "reason": self.reason,
        }


def compare_capacity(
    configured_rps_per_pod: float, observed: ObservedCapacity, *, margin: float
) -> CapacityComparison:
    """Is the configured capacity off from what production shows by more than ``margin``?

    A measured crossing is off either way; a lower bound (``not-reached``) can only show that the
    profile understates capacity, an upper bound (``exceeded``) only that it overstates it.
    """
    if not (math.isfinite(configured_rps_per_pod) and configured_rps_per_pod > 0):
        raise CapacityError(f"configured capacity must be > 0 req/s per pod, got {configured_rps_per_pod}")
    if not (math.isfinite(margin) and margin >= 0):
        raise CapacityError(f"the margin must be a fraction >= 0, got {margin}")
    conf = f"configured {configured_rps_per_pod:.3g} req/s per pod"
    if observed.status == "no-data" or observed.rps_per_pod is None:
        return CapacityComparison(configured_rps_per_pod, observed, margin, None, False,
                                  f"cannot compare with {conf}: {observed.reason}")  # fmt: skip
    ratio = observed.rps_per_pod / configured_rps_per_pod
    change = f"{abs(ratio - 1):.0%} {'above' if ratio >= 1 else 'below'}"
    what = f"observed {observed.rps_per_pod:.3g} req/s per pod"
    if observed.status == "measured":
        off = abs(ratio - 1) > margin
        verdict = (
            "the profile overstates capacity: pods miss the objective at loads it calls safe"
            if off and ratio < 1
            else "the profile understates capacity: it asks for more pods than needed"
            if off
            else "the profile holds"
        )
        reason = f"{what} is {change} {conf} (margin {margin:.0%}): {verdict}"
    elif observed.status == "not-reached":
        upper = observed.upper_rps
        if upper is not None and upper < configured_rps_per_pod * (1 - margin):
            # Met up to a load, missed at a higher one that is still below the configured rate.
            off, ratio = True, upper / configured_rps_per_pod
            reason = (
                f"pods missed the objective at {upper:.3g} req/s, {1 - ratio:.0%} below {conf} "
                f"(margin {margin:.0%}): the profile overstates capacity"
            )
        else:
            off = ratio > 1 + margin
            reason = (
                f"pods met the objective up to {observed.rps_per_pod:.3g} req/s, {change} {conf} "
                f"(margin {margin:.0%}): "
                + ("the profile understates capacity" if off else "no evidence against the profile")
            )
    else:
        off = ratio < 1 - margin
        reason = (
            f"pods missed the objective even at {observed.rps_per_pod:.3g} req/s, {change} {conf} "
            f"(margin {margin:.0%}): "
            + ("the profile overstates capacity" if off else "no evidence against the profile")
        )
    return CapacityComparison(configured_rps_per_pod, observed, margin, ratio, off, reason)


def observed_pod_model(configured: PodModel, observed: ObservedCapacity) -> tuple[PodModel, str]:
    """The pod model to size with when sizing follows production, and why.

    The time a request spends in a pod stays the configured one; the concurrency is scaled so that
    a pod at full use serves the observed rate. ``measured`` uses the crossing; ``not-reached`` uses
    the lower bound only where it exceeds the configured rate (proven capacity), or the load where
    the objective was missed when that is below it; ``exceeded`` the upper bound only where it is
    below (proven shortfall); ``no-data`` keeps the configured model.
    """
    configured_rps = configured.rps_per_pod(1.0)
    rps = observed.rps_per_pod
    if observed.status == "no-data" or rps is None:
        return configured, f"configured capacity: no observation ({observed.reason})"
    if (
        observed.status == "not-reached"
        and observed.upper_rps is not None
        and observed.upper_rps < configured_rps
    ):
        rps = observed.upper_rps  # missed there: capacity is below it
    elif observed.status == "not-reached" and rps <= configured_rps:
        return configured, "configured capacity: production never reached it, so it stands"
    if observed.status == "exceeded" and rps >= configured_rps:
        return configured, "configured capacity: production missed the objective only above it"
    model = PodModel(
        role=configured.role,
        seconds_per_request=configured.seconds_per_request,
        concurrency=rps * configured.seconds_per_request,
        limited_by="observed",
        kv_bound=configured.kv_bound,
        compute_bound=configured.compute_bound,
    )
    return model, f"observed capacity {rps:.3g} req/s per pod ({observed.status})"
