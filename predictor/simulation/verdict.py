"""What a backtest means, in a few sentences: why predictive equals reactive or costs more, and what to try.

Pure: reads a :class:`~predictor.simulation.replay.BacktestResult` and says, in order, whether the
replay had a model to plan with, whether KEDA alone fell short at all, whether the floor ever
bound, what it avoided and for how much, and the next thing to try.
"""

from __future__ import annotations

import math

import numpy as np

from predictor.forecasting.base import quantile_label
from predictor.simulation.predictive import NO_MODEL, TOO_OLD
from predictor.simulation.replay import BacktestResult

SHORTFALL_GOAL = 0.10  # the share of KEDA alone's shortfall minutes a good floor stays under
COST_GOAL = 1.10  # pod-hours against the oracle's that a good floor stays under
UNPLANNED_LIMIT = 0.10  # share of reconciles without a forecast that makes a replay unrepresentative


def verdict(result: BacktestResult, *, row: str = "predictive") -> tuple[str, ...]:
    """Sentences about the ``row`` policy (``predictive`` or ``tuned``) against KEDA alone and the oracle."""
    reactive, oracle, chosen = result.outcomes["reactive"], result.outcomes["oracle"], result.outcomes[row]
    label = quantile_label(result.settings.policy.quantile) if row == "predictive" else "the tuned quantile"
    lines: list[str] = []
    tape = result.tape
    if not tape.fits:
        return (
            "predictor never had a model: the history before the replay is too short to train on "
            "(a model needs at least a day, two for a backtest choice); start the replay later "
            "(--start) or give more history.",
        )
    unplanned = float(np.mean(np.isin(tape.entry, (NO_MODEL, TOO_OLD)))) if len(tape.entry) else 0.0
    if unplanned > UNPLANNED_LIMIT:
        lines.append(
            f"predictor had no usable forecast for {unplanned:.0%} of the replay (too little history at "
            "its start, or retrains that failed past the age limit): those minutes ran on KEDA alone."
        )
    extra = chosen.pod_hours / reactive.pod_hours - 1 if reactive.pod_hours else math.nan
    against_oracle = chosen.pod_hours / oracle.pod_hours if oracle.pod_hours else math.nan
    bound = bool(np.any(chosen.replicas > result.outcomes["reactive"].replicas))
    tune_hint = "`--tune` finds the cheapest quantile and buffer that meet the objective on your own history"
    if reactive.shortfall_minutes == 0:
        if not bound or abs(extra) < 0.005:
            lines.append(
                "No shortfall to avoid: KEDA alone kept up with every ramp here, and the floor never "
                "rose above what KEDA chose, so both cost the same. The floor is insurance for ramps "
                "steeper than these or for a longer cold start."
            )
        else:
            lines.append(
                f"No shortfall to avoid: KEDA alone kept up with every ramp here (its headroom at "
                f"{result.cluster.utilization:.0%} utilisation follows them), so the floor's {extra:+.0%} "
                f"pod-hours buy nothing on this history. Try {tune_hint}, or a lower --quantile or --buffer."
            )
        return tuple(lines)
    if not bound:
        lines.append(
            f"The floor never rose above what KEDA chose, so pre-warming changed nothing: the {label} "
            f"forecast stays below the load KEDA already covers. Try a higher --quantile or --buffer, "
            f"or {tune_hint}."
        )
        return tuple(lines)
    avoided = reactive.shortfall_minutes - chosen.shortfall_minutes
    lines.append(
        f"predictor avoided {avoided:,.0f} of KEDA alone's {reactive.shortfall_minutes:,.0f} shortfall "
        f"minutes for {extra:+.0%} pod-hours ({against_oracle:.2f}× the perfect-foresight oracle)."
    )
    coverage = next((v for k, v in result.accuracy.items() if k.endswith("_coverage")), math.nan)
    if chosen.shortfall_minutes > SHORTFALL_GOAL * reactive.shortfall_minutes:
        covered = (
            ""
            if math.isnan(coverage)
            else f" (it covered the load one lead time ahead {coverage:.0%} of the time)"
        )
        lines.append(
            "The remaining shortfall means the floor was too low or too late: the "
            f"{label} forecast{covered}. "
            f"Try a higher --quantile or --buffer, check that --cold-start is not shorter than your pods' "
            f"real start-up, or {tune_hint}."
        )
    elif against_oracle > COST_GOAL:
        lines.append(
            f"It costs {against_oracle:.2f}× the oracle: a lower --quantile or --buffer may keep the "
            f"shortfall for less; {tune_hint}."
        )
    return tuple(lines)


def events_verdict(result: BacktestResult) -> tuple[str, ...]:
    """What the known events cost or saved: the predictive row against the same replay without them.

    Empty when the replay had no events (no ``without-events`` row).
    """
    if "without-events" not in result.outcomes:
        return ()
    with_events, without = result.outcomes["predictive"], result.outcomes["without-events"]
    names = ", ".join(dict.fromkeys(e.name for e in result.settings.events))
    extra = with_events.pod_hours - without.pod_hours
    share = extra / without.pod_hours if without.pod_hours else math.nan
    saved = without.shortfall_minutes - with_events.shortfall_minutes
    if abs(extra) < 0.05 and abs(saved) < 0.5:
        return (f"The known events ({names}) changed nothing on this replay.",)
    cost = f"{extra:+,.1f} pod-hours ({share:+.1%})" if not math.isnan(share) else f"{extra:+,.1f} pod-hours"
    if saved >= 0:
        effect = f"avoided {saved:,.0f} of the {without.shortfall_minutes:,.0f} shortfall minutes"
    else:
        effect = f"added {-saved:,.0f} shortfall minutes (from {without.shortfall_minutes:,.0f})"
    return (
        f"With the known events ({names}) the floor cost {cost} and {effect} against the same "
        "replay without them.",
    )
