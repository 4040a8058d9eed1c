"""``predictor demo``: the whole product on a built-in synthetic LLM trace; no cluster, no network.

1. Generate the built-in trace: five weeks at one-minute resolution, daily and weekly cycles,
   a weekend dip, noise and a few flash crowds (seeded, see :mod:`predictor.sources.synthetic`).
2. Forecast it as of a weekday morning before the ramp, with the Llama-3-70B profile's cold
   start, and show when pre-warming starts and why.
3. Replay the last week under reactive KEDA, predictor's floor and a perfect-foresight oracle,
   exactly as predictor ships (the default policy, the daemon's default schedule, self-tuning
   on the two weeks before when it is on), and write the report (plots and a one-page summary).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from predictor.capacity import pod_model_for_peak
from predictor.cli import checks, forecast_view
from predictor.cli.backtest import comparison_table, run_with_progress, setup_lines, tune_as_daemon
from predictor.cli.common import console, human_duration, reported_errors
from predictor.config import PolicySettings, ScheduleSettings, load_profile
from predictor.planning import Bounds, configured_cold_start
from predictor.runtime.forecast import at_model_step, forecast_target
from predictor.runtime.targets import (
    cadence_from_schedule,
    policy_from_settings,
    request_from_policy,
    tuning_from_settings,
)
from predictor.simulation.replay import BacktestSettings
from predictor.simulation.verdict import verdict
from predictor.sources.synthetic import synthetic_trace

DEMO_PROFILE = "llama-3-70b-h100-tp8"
PEAK_PODS = 20


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the trace, the plots and the report.")] = Path(
        "predictor-demo"
    ),
    days: Annotated[float, typer.Option(help="Days replayed at the end of the trace.")] = 7.0,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic trace.")] = 0,
) -> None:
    """Run forecast and backtest on a built-in synthetic LLM trace and write a report."""
    with reported_errors():
        checks.positive(days, "--days", "days replayed")
        checks.output_dir(out, "--out")  # before the work, not after a minute of replay
        out.mkdir(parents=True, exist_ok=True)
        trace = synthetic_trace(days=35, step_s=60, seed=seed)
        trace_path = out / "trace.csv"
        trace.rename("requests_per_s").to_csv(trace_path, index_label="timestamp", float_format="%.4f")
        console.rule("[bold]predictor demo")
        console.print(
            f"Built-in synthetic LLM trace: {trace.index[0]:%Y-%m-%d} → {trace.index[-1]:%Y-%m-%d}, "
            f"one point a minute, peak {trace.max():.0f} req/s (written to {trace_path})."
        )
        profile = load_profile(DEMO_PROFILE)
        cold = configured_cold_start(total_s=profile.cold_start.total_s, stages_s=profile.cold_start.stages_s)
        policy = PolicySettings()
        pod = pod_model_for_peak(float(trace.max()), PEAK_PODS, utilization=policy.utilization_target)
        console.print(
            f"Pods are sized so the peak needs {PEAK_PODS}; cold start {human_duration(cold.seconds)} "
            f"from the {DEMO_PROFILE} profile's stages.\n"
        )

        # A weekday morning in the replayed week, before the ramp.
        last_day = trace.index[-1].normalize()
        morning = next(
            d + pd.Timedelta(hours=5)
            for d in (last_day - pd.Timedelta(days=k) for k in range(1, 8))
            if d.day_of_week < 5
        )
        shipped = policy_from_settings(policy)
        request = request_from_policy("demo-chat", shipped, pod=pod, cold_start=cold, bounds=Bounds(1, 100))
        history = at_model_step(trace, policy.model_step_s)
        with console.status("forecasting ..."):
            tf = forecast_target(history, request, morning)
        console.print(forecast_view.render(tf))
        from predictor.cli.plots import forecast_plot  # matplotlib loads only when needed

        console.print(f"wrote {forecast_plot(tf, out / 'forecast.png', actuals=history)}\n")

        tuning = tuning_from_settings(policy)
        settings = BacktestSettings(
            policy=shipped,  # exactly as shipped: the policy defaults and the daemon's schedule
            cadence=cadence_from_schedule(ScheduleSettings()),
            cold_start=cold,
            score_days=days,
            peak_pods=PEAK_PODS,
            extra_quantiles=tuple(c.quantile for c in tuning.candidates(shipped)) if tuning.enabled else (),
        )
        result = run_with_progress(trace, settings)
        tuned = tune_as_daemon(trace, result, tuning) if tuning.enabled else None
        if tuned is not None and tuned.tuned:
            result = result.with_row("tuned", tuned.policy.floor, tuning=tuned.to_dict())
            console.print(f"Self-tuning on the two weeks before the replay: {tuned.reason}.\n")
        console.print(comparison_table(result, f"Replay of the last {days:g} days (one step a minute)"))
        for line in setup_lines(result):
            console.print(line)
        from predictor.cli.report import write_report

        summary = write_report(result, out / "report", "built-in synthetic LLM trace", tuning=tuned)
        row = "tuned" if "tuned" in result.outcomes else "predictive"
        reactive, ran = result.outcomes["reactive"], result.outcomes[row]
        extra = ran.pod_hours / reactive.pod_hours - 1
        against_oracle = ran.pod_hours / result.outcomes["oracle"].pod_hours
        console.print(
            f"\nAs shipped, predictor's floor turned {reactive.shortfall_minutes:.0f} minutes of "
            f"under-capacity into {ran.shortfall_minutes:.0f}, for {extra:+.0%} pod-hours against KEDA "
            f"alone ({against_oracle:.2f}× the perfect-foresight oracle). Report: {summary}"
        )
        for line in verdict(result, row=row)[1:]:
            console.print(line)
        console.print(
            "Next: `predictor backtest --history YOUR.csv --counts --report DIR` on your own history, and "
            "`predictor forecast --history YOUR.csv --plot forecast.png`."
        )
