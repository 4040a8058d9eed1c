"""One target's capacity per pod: configured against observed in production.

:func:`check_capacity` is the one entry point (the CLI's ``profiles observe`` uses it, and so can
the daemon): it reads the target's vLLM per-pod metrics over the recent window, estimates the
capacity per pod at the target's objectives, compares it with the configured one, and says what to
size with under the target's policy. The objectives are the target's ``policy.capacity_slo``, or
else those its calibrated profile was measured at.

*Configured* capacity per pod is what the formula gives at full use, ``C / D`` (req/s), the rate at
which one pod is full by the profile's numbers; *observed* is the rate at which production crosses
the objective (:mod:`predictor.capacity.observed`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from predictor.capacity import PodModel, pod_model
from predictor.capacity.comparison import CapacityComparison, compare_capacity, observed_pod_model
from predictor.capacity.observed import ObservedCapacity, estimate_observed_capacity
from predictor.capacity.slo import Slo
from predictor.config import Settings, TargetSettings, load_profile
from predictor.config.calibration import parse_slos
from predictor.errors import ConfigError
from predictor.sources.vllm_metrics import VllmMetricsSource

STEP_S = 300  # one sample per pod every 5 minutes: a rate over at least two scrapes


@dataclass(frozen=True)
class CapacityCheck:
    """Configured against observed capacity of one target, and what sizing should use."""

    target: str
    start: pd.Timestamp
    end: pd.Timestamp
    slos: tuple[Slo, ...]
    slos_from: str
    configured: PodModel
    comparison: CapacityComparison
    sizing: PodModel
    sizing_reason: str

    @property
    def observed(self) -> ObservedCapacity:
        return self.comparison.observed

    @property
    def off(self) -> bool:
        """True when the profile is off from production by more than the margin."""
        return self.comparison.off

    @property
    def reason(self) -> str:
        """One line: the comparison's verdict."""
        return f"{self.target}: {self.comparison.reason}"

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "window": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "slos": [slo.to_dict() for slo in self.slos],
            "slos_from": self.slos_from,
            **self.comparison.to_dict(),
            "sizing": {
                "rps_per_pod_at_full_use": round(self.sizing.rps_per_pod(1.0), 4),
                "limited_by": self.sizing.limited_by,
                "reason": self.sizing_reason,
            },
        }


def objectives_for(target: TargetSettings, profiles_dir: Path | None = None) -> tuple[tuple[Slo, ...], str]:
    """The target's objectives and where they come from; a ConfigError when it has none."""
    if target.policy.capacity_slo:
        return parse_slos(target.policy.capacity_slo), "policy.capacity_slo"
    name = target.capacity.profile
    if name:
        calibration = load_profile(name, profiles_dir).calibration
        if calibration is not None:
            return calibration.slos, f"profile {name}'s calibration"
    raise ConfigError(
        f"target {target.name}: no objective to observe capacity at; set policy.capacity_slo "
        "(e.g. {ttft_p99_s: 0.5}) or use a calibrated profile"
    )


def metrics_source_for(settings: Settings, target: TargetSettings, selector: str | None = None):
    """The reader of the target's vLLM per-pod metrics; ``selector`` overrides the configured one."""
    chosen = selector or target.pod_metrics_selector
    if not chosen:
        raise ConfigError(
            f"target {target.name}: pod_metrics_selector is not set; give the label matchers of its vLLM "
            'pods, e.g. namespace="inference",model_name="llama-3-70b"'
        )
    return VllmMetricsSource(settings.prometheus, chosen)


def observed_capacity(
    source: VllmMetricsSource,
    target: TargetSettings,
    now: pd.Timestamp,
    *,
    slos: tuple[Slo, ...],
    window_s: float | None = None,
) -> ObservedCapacity:
    """Capacity per pod at ``slos`` over the window before ``now`` (the policy's, unless given)."""
    policy = target.policy
    window = pd.Timedelta(seconds=window_s or policy.observed_capacity_window_s)
    end = now.floor(f"{STEP_S}s")
    metrics = source.read(
        [slo.metric for slo in slos],
        end - window,
        end,
        step_s=STEP_S,
        lookback_s=policy.observed_capacity_warmup_s,
    )
    observed = estimate_observed_capacity(metrics, slos, warmup_s=policy.observed_capacity_warmup_s)
    if observed.status == "no-data" and observed.pods == 0:
        names = ", ".join(h.name for h in metrics.histograms.values())
        reason = f"no per-pod samples of vllm:request_success_total and {names} for {{{source.selector}}}"
        observed = replace(observed, reason=reason)
    return observed


def check_capacity(
    settings: Settings,
    target: TargetSettings,
    now: pd.Timestamp,
    *,
    source: VllmMetricsSource | None = None,
    window_s: float | None = None,
) -> CapacityCheck:
    """Configured against observed capacity of ``target`` as of ``now`` (see the module docstring)."""
    slos, slos_from = objectives_for(target, settings.profiles_dir)
    reader = source or metrics_source_for(settings, target)
    observed = observed_capacity(reader, target, now, slos=slos, window_s=window_s)
    configured = pod_model(target.capacity, target.role)
    comparison = compare_capacity(
        configured.rps_per_pod(1.0), observed, margin=target.policy.capacity_mismatch_margin
    )
    if target.policy.size_with_observed_capacity:
        sizing, sizing_reason = observed_pod_model(configured, observed)
    else:
        sizing, sizing_reason = configured, "configured capacity (policy.size_with_observed_capacity is off)"
    window = pd.Timedelta(seconds=window_s or target.policy.observed_capacity_window_s)
    end = now.floor(f"{STEP_S}s")
    return CapacityCheck(
        target=target.name,
        start=end - window,
        end=end,
        slos=slos,
        slos_from=slos_from,
        configured=configured,
        comparison=comparison,
        sizing=sizing,
        sizing_reason=sizing_reason,
    )
